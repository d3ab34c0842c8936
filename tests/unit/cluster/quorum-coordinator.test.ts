import { describe, expect, it } from 'vitest'
import {
  MAX_READ_KEYS, PointRead, StatementWrite, writeFailureLine,
  type PointReadEffect, type ShardBatchSpec, type StatementWriteEffect
} from '../../../src/cluster/quorum/coordinator'
import { isScratchBirdError, type ScratchBirdError } from '../../../src/core/errors'
import { encodeUuidV8 } from '../../../src/core/hlc'
import type { ReplicaWrite, VersionedRow } from '../../../src/storage/engine'
import { asHlcTs, asNodeId, asShardId, asXid, type NodeId, type ShardId } from '../../../src/core/ids'

// The statement-level quorum coordinator (src/cluster/quorum/coordinator.ts): shard batches →
// per-shard write machines, hint targets, the statement's answer and the failure report; point
// reads → per-key machines whose sends are grouped into one request per replica, repair writes.

const T0 = 1_767_225_600_000
const enc = new TextEncoder()
const vid = (ts: number, counter = 0): Uint8Array => encodeUuidV8({ ts: T0 + ts, counter, nodeId: 1, random: 0 })
const rw = (pk: number, ts: number, row: string | null = `v${ts}`): ReplicaWrite => ({ tableId: 5, pk: [BigInt(pk)], versionId: vid(ts), row: row === null ? null : enc.encode(row) })
const vr = (ts: number, row: string | null = `v${ts}`): VersionedRow => ({ versionId: vid(ts), row: row === null ? null : enc.encode(row) })

/** Shard s is placed on nodes [s, s+1, s+2] (mod 5, 1-based). */
const placement = (shard: ShardId, n: number): NodeId[] => Array.from({ length: n }, (_, i) => asNodeId(((shard + i - 1) % 5) + 1))

function statement (batches: ShardBatchSpec[], alive: (id: number) => boolean = () => true): StatementWrite {
  let seq = 100
  return new StatementWrite({ batches, xid: asXid(77n), commitHlc: asHlcTs(9n), replicas: placement, alive, nowMs: 0, timeoutMs: 1000, nextReqId: () => ++seq })
}

const spec = (shard: ShardId, w: number, writes: ReplicaWrite[]): ShardBatchSpec => ({ shard, replicationFactor: 3, writeQuorum: w, writes })
const of = <T extends StatementWriteEffect['type']>(out: StatementWriteEffect[], t: T): Array<StatementWriteEffect & { type: T }> =>
  out.filter((e): e is StatementWriteEffect & { type: T } => e.type === t)

describe('StatementWrite', () => {
  it('one machine per shard batch: every replica gets its shard\'s whole batch under the statement\'s xid and commit HLC', () => {
    const a = [rw(1, 10), rw(2, 11)]
    const b = [rw(3, 12, null)]
    const sw = statement([spec(asShardId(1), 2, a), spec(asShardId(4), 2, b)])
    const out = sw.start(0)
    const applies = of(out, 'apply')
    expect(applies.map(e => [e.batch.shard, e.to])).toEqual([[1, 1], [1, 2], [1, 3], [4, 4], [4, 5], [4, 1]])
    for (const e of applies) {
      expect(e.batch.xid).toBe(77n)
      expect(e.batch.commitHlc).toBe(9n)
      expect(e.batch.writes).toEqual(e.batch.shard === 1 ? a : b)
    }
    const [r1, r4] = [applies[0]!.reqId, applies[3]!.reqId]
    expect(r1).not.toBe(r4)
    expect(sw.onAck(r1, asNodeId(1), 1)).toEqual([])
    expect(sw.onAck(r1, asNodeId(3), 2)).toEqual([]) // shard 1 reached W, shard 4 not yet: no answer
    expect(sw.outcome).toBeNull()
    expect(sw.onAck(r4, asNodeId(5), 3)).toEqual([])
    expect(sw.onAck(r4, asNodeId(4), 4)).toEqual([{ type: 'succeeded' }])
    expect(sw.finished).toBe(false) // replica 2 of shard 1 and 1 of shard 4 may still ack
    const late = sw.tick(1000)
    expect(of(late, 'hint').map(h => [h.batch.shard, h.to])).toEqual([[1, 2], [4, 1]])
    expect(sw.finished).toBe(true)
  })

  it('fails with the first failed batch (in batch order) once every batch is decided, with a report per failed batch', () => {
    const sw = statement([spec(asShardId(1), 3, [rw(1, 10)]), spec(asShardId(2), 3, [rw(2, 10)])], id => id !== 4)
    const out = sw.start(0)
    // Shard 2 is on [2, 3, 4]: node 4 is down, W = 3 cannot be reached → refused at once, nothing sent.
    expect(of(out, 'apply').every(e => e.batch.shard === 1)).toBe(true)
    expect(of(out, 'hint')).toEqual([])
    const refused = of(out, 'batch-failed')
    expect(refused).toHaveLength(1)
    expect(refused[0]!.report).toMatchObject({ shard: 2, w: 3, replicas: [2, 3, 4], acked: [], missing: ['Node 4 offline'] })
    expect(refused[0]!.report.error.details).toMatchObject({ reason: 'not_enough_alive' })
    expect(sw.outcome).toBeNull() // shard 1 is still open
    const req = of(out, 'apply')[0]!.reqId
    sw.onAck(req, asNodeId(1), 1)
    const failed = sw.onFail(req, asNodeId(2), 'SB_CLOCK_OFFSET_EXCEEDED', 2)
    expect(failed.map(e => e.type)).toEqual(['batch-failed', 'hint', 'failed'])
    const report = of(failed, 'batch-failed')[0]!.report
    expect(report).toMatchObject({ shard: 1, acked: [1], missing: ['Node 2 failed: SB_CLOCK_OFFSET_EXCEEDED', 'Node 3 no answer'] })
    expect(writeFailureLine(report)).toBe('Quorum write failed: Shard 001, W=3, ACKs=1 (Node 2 failed: SB_CLOCK_OFFSET_EXCEEDED, Node 3 no answer)')
    const answer = of(failed, 'failed')[0]!.error
    // The first batch in batch order (shard 1), although shard 2 failed first.
    expect(answer).toBe(report.error)
    expect(isScratchBirdError(answer, 'SB_QUORUM_NOT_ACHIEVED')).toBe(true)
    expect(of(failed, 'hint')[0]).toMatchObject({ to: 2, batch: { shard: 1 } })
  })

  it('a timeout fails the statement and hints every replica that did not ack', () => {
    const sw = statement([spec(asShardId(3), 2, [rw(1, 10)])])
    const req = of(sw.start(0), 'apply')[0]!.reqId
    sw.onAck(req, asNodeId(4), 5)
    expect(sw.tick(999)).toEqual([])
    const out = sw.tick(1000)
    expect(out.map(e => e.type)).toEqual(['batch-failed', 'hint', 'hint', 'failed'])
    expect(of(out, 'hint').map(h => h.to)).toEqual([3, 5])
    expect(writeFailureLine(of(out, 'batch-failed')[0]!.report)).toBe('Quorum write failed: Shard 003, W=2, ACKs=1 (Node 3 no answer, Node 5 no answer)')
    expect((of(out, 'failed')[0]!.error as ScratchBirdError).details).toMatchObject({ reason: 'timeout', available_replicas: 1 })
    expect(sw.finished).toBe(true)
  })

  it('ignores acks and failures of requests it did not send', () => {
    const sw = statement([spec(asShardId(1), 1, [rw(1, 10)])])
    sw.start(0)
    expect(sw.onAck(999, asNodeId(1), 1)).toEqual([])
    expect(sw.onFail(999, asNodeId(1), 'X', 1)).toEqual([])
    expect(sw.outcome).toBeNull()
  })
})

describe('PointRead', () => {
  const pks = [[1n], [2n], [3n]]
  const reads = (out: PointReadEffect[]): Array<[number, readonly number[]]> => out.flatMap(e => e.type === 'read' ? [[e.to, e.indexes] as [number, readonly number[]]] : [])

  function pointRead (over: { r?: number, alive?: (id: number) => boolean, pks?: bigint[][] } = {}): PointRead {
    let seq = 0
    return new PointRead({ tableId: 5, pks: over.pks ?? pks, replicas: [asNodeId(1), asNodeId(2), asNodeId(3)], r: over.r ?? 2, alive: over.alive ?? (() => true), nowMs: 0, timeoutMs: 500, nextReqId: () => ++seq })
  }

  it('sends one read per replica carrying every key its machines asked for', () => {
    expect(reads(pointRead().start(0))).toEqual([[1, [0, 1, 2]], [2, [0, 1, 2]], [3, [0, 1, 2]]])
    expect(reads(pointRead({ alive: id => id !== 2 }).start(0))).toEqual([[1, [0, 1, 2]], [3, [0, 1, 2]]])
  })

  it('answers per key with the newest of R replies (a tombstone reads as null), then repairs stale replicas with one write each', () => {
    const pr = pointRead()
    pr.start(0)
    expect(pr.onReply(asNodeId(1), [0, 1, 2], [vr(5), null, vr(7, null)], 1)).toEqual([])
    const out = pr.onReply(asNodeId(2), [0, 1, 2], [vr(6), vr(3), vr(4)], 2)
    expect(out[0]).toEqual({ type: 'answered', rows: [enc.encode('v6'), enc.encode('v3'), null] })
    const repairs = out.slice(1)
    expect(repairs).toEqual([
      { type: 'repair', to: 1, write: { tableId: 5, pk: [1n], versionId: vid(6), row: enc.encode('v6') } },
      { type: 'repair', to: 1, write: { tableId: 5, pk: [2n], versionId: vid(3), row: enc.encode('v3') } },
      { type: 'repair', to: 2, write: { tableId: 5, pk: [3n], versionId: vid(7), row: null } }
    ])
    // The third replica answers late with an old version of key 0: repaired too.
    expect(pr.onReply(asNodeId(3), [0, 1, 2], [vr(1), vr(3), vr(7, null)], 3)).toEqual([
      { type: 'repair', to: 3, write: { tableId: 5, pk: [1n], versionId: vid(6), row: enc.encode('v6') } }
    ])
    expect(pr.finished).toBe(true)
  })

  it('a reply of the wrong shape counts as that replica failing', () => {
    const pr = pointRead({ r: 3 })
    pr.start(0)
    const out = pr.onReply(asNodeId(1), [0, 1, 2], [vr(1)], 1)
    expect(out).toHaveLength(1)
    expect(out[0]!.type).toBe('failed')
    expect(((out[0] as { error: ScratchBirdError }).error).details).toMatchObject({ reason: 'replicas_failed', required_replicas: 3 })
  })

  it('fails once, not once per key, when R can no longer be reached', () => {
    const pr = pointRead()
    pr.start(0)
    expect(pr.onFail(asNodeId(1), [0, 1, 2], 1)).toEqual([])
    const out = pr.onFail(asNodeId(3), [0, 1, 2], 2)
    expect(out.map(e => e.type)).toEqual(['failed'])
    expect(pr.onReply(asNodeId(2), [0, 1, 2], [null, null, null], 3)).toEqual([])
  })

  it('fewer than R alive fails at once without sending; a deadline fails an unanswered read', () => {
    const down = pointRead({ r: 3, alive: id => id !== 1 }).start(0)
    expect(down.map(e => e.type)).toEqual(['failed'])
    const pr = pointRead()
    pr.start(0)
    pr.onReply(asNodeId(1), [0, 1, 2], [null, null, null], 1)
    expect(pr.tick(499)).toEqual([])
    const out = pr.tick(500)
    expect(out.map(e => e.type)).toEqual(['failed'])
    expect(((out[0] as { error: ScratchBirdError }).error).message).toBe('Read requires R=2 nodes, only 1 answered within read_timeout_ms')
  })

  it(`refuses more than ${MAX_READ_KEYS} keys with a coded error`, () => {
    let caught: unknown
    try { pointRead({ pks: Array.from({ length: MAX_READ_KEYS + 1 }, (_, i) => [BigInt(i)]) }) } catch (e) { caught = e }
    expect(isScratchBirdError(caught, 'SB_BAD_ARGUMENT')).toBe(true)
  })
})
