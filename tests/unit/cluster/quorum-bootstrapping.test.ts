import { describe, expect, it } from 'vitest'
import { PointRead, StatementWrite, type ShardBatchSpec, type StatementWriteEffect } from '../../../src/cluster/quorum/coordinator'
import { QuorumWrite } from '../../../src/cluster/quorum/write'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asHlcTs, asNodeId, asShardId, asXid, type NodeId, type ShardId } from '../../../src/core/ids'
import type { ReplicaWrite } from '../../../src/storage/engine'

// Who counts toward W and R while a shard's newest replica is being bootstrapped (issue 14 item 4,
// catalog/replica-bootstrap.ts): it is sent every write (and hinted when down) but its ack does not
// count and its failure cannot fail the write; quorum reads never ask it.

const n = (x: number): NodeId => asNodeId(x)
const T0 = 1_767_225_600_000
const rw: ReplicaWrite = { tableId: 5, pk: [1n], versionId: encodeUuidV8({ ts: T0, counter: 0, nodeId: 1, random: 0 }), row: new Uint8Array([1]) }
const placement = (_shard: ShardId, k: number): NodeId[] => [n(1), n(2), n(3)].slice(0, k)

function machine (voters: NodeId[] | undefined, w: number, alive: (id: number) => boolean = () => true): QuorumWrite<string> {
  return new QuorumWrite<string>({ reqId: 1, batch: 'b', replicas: [n(1), n(2), n(3)], w, alive, deadlineMs: 1000, ...(voters === undefined ? {} : { voters }) })
}

describe('QuorumWrite with voters (a replica being bootstrapped)', () => {
  it('sends to every replica, but the bootstrapping one\'s ack does not count toward W', () => {
    const m = machine([n(1), n(2)], 2)
    expect(m.start(0).filter(o => o.type === 'send').map(o => (o as { to: number }).to)).toEqual([1, 2, 3])
    expect(m.onAck(n(3), 1)).toEqual([])
    expect(m.onAck(n(1), 2)).toEqual([])
    expect(m.outcome).toBeNull()
    expect(m.onAck(n(2), 3)).toEqual([{ type: 'succeeded', acked: [1, 2] }])
    expect(m.acked).toEqual([1, 2])
    expect(m.finished).toBe(true)
  })

  it('without voters every replica counts (the same acks succeed at once)', () => {
    const m = machine(undefined, 2)
    m.start(0)
    m.onAck(n(3), 1)
    expect(m.onAck(n(1), 2)).toEqual([{ type: 'succeeded', acked: [3, 1] }])
  })

  it('fewer live voters than W fails at once, nothing sent, even with the bootstrapping replica alive', () => {
    const m = machine([n(1), n(2)], 2, id => id !== 2)
    const out = m.start(0)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ type: 'failed', error: { code: 'SB_QUORUM_NOT_ACHIEVED', details: { available_replicas: 1, required_replicas: 2, reason: 'not_enough_alive' } } })
  })

  it('W above the voters (W=3 while one of 3 bootstraps) is SB_QUORUM_NOT_ACHIEVED, not a crash', () => {
    const out = machine([n(1), n(2)], 3).start(0)
    expect(out[0]).toMatchObject({ type: 'failed', error: { code: 'SB_QUORUM_NOT_ACHIEVED' } })
  })

  it('a failing voter fails the write once W is out of reach; a failing bootstrapping replica only gets a hint', () => {
    const m = machine([n(1), n(2)], 2)
    m.start(0)
    expect(m.onFail(n(3), 1)).toEqual([{ type: 'hint', to: 3, batch: 'b' }])
    expect(m.outcome).toBeNull()
    const out = m.onFail(n(2), 2)
    expect(out.map(o => o.type)).toEqual(['failed', 'hint'])
  })

  it('a bootstrapping replica that is down is hinted like any replica', () => {
    const m = machine([n(1), n(2)], 2, id => id !== 3)
    expect(m.start(0)).toContainEqual({ type: 'hint', to: 3, batch: 'b' })
  })
})

describe('StatementWrite / PointRead count only the ready replicas', () => {
  const spec = (counted: number | undefined, w: number): ShardBatchSpec => ({ shard: asShardId(0), replicationFactor: 3, writeQuorum: w, writes: [rw], ...(counted === undefined ? {} : { countedReplicas: counted }) })
  const stmt = (b: ShardBatchSpec): StatementWrite => {
    let seq = 0
    return new StatementWrite({ batches: [b], xid: asXid(7n), commitHlc: asHlcTs(9n), replicas: placement, alive: () => true, nowMs: 0, timeoutMs: 1000, nextReqId: () => ++seq })
  }
  const outcome = (out: StatementWriteEffect[]): string | undefined => out.find(e => e.type === 'succeeded' || e.type === 'failed')?.type

  it('countedReplicas 2 of N=3: the third replica is sent the batch, its ack alone leaves W=2 unreached', () => {
    const sw = stmt(spec(2, 2))
    const applies = sw.start(0).filter(e => e.type === 'apply') as Array<StatementWriteEffect & { type: 'apply' }>
    expect(applies.map(a => a.to)).toEqual([1, 2, 3])
    const req = applies[0]!.reqId
    expect(outcome(sw.onAck(req, n(3), 1))).toBeUndefined()
    expect(outcome(sw.onAck(req, n(1), 2))).toBeUndefined()
    expect(outcome(sw.onAck(req, n(2), 3))).toBe('succeeded')
  })

  it('countedReplicas 2 of N=3: the bootstrapping replica is pending — W voters and its ack too; down, the write fails, not acknowledged without it', () => {
    const sw = stmt(spec(2, 2))
    const req = (sw.start(0).find(e => e.type === 'apply') as { reqId: number }).reqId
    expect(outcome(sw.onAck(req, n(1), 1))).toBeUndefined()
    expect(outcome(sw.onAck(req, n(2), 2))).toBeUndefined()
    expect(outcome(sw.onAck(req, n(3), 3))).toBe('succeeded')
    let seq = 0
    const down = new StatementWrite({ batches: [spec(2, 2)], xid: asXid(7n), commitHlc: asHlcTs(9n), replicas: placement, alive: id => id !== 3, nowMs: 0, timeoutMs: 1000, nextReqId: () => ++seq })
    const failed = down.start(0).find(e => e.type === 'failed') as { error: { code: string, details: Record<string, unknown> } } | undefined
    expect(failed?.error).toMatchObject({ code: 'SB_QUORUM_NOT_ACHIEVED', details: { pending_replicas: [3] } })
  })

  it('without countedReplicas the third replica counts', () => {
    const sw = stmt(spec(undefined, 2))
    const req = (sw.start(0).find(e => e.type === 'apply') as { reqId: number }).reqId
    sw.onAck(req, n(3), 1)
    expect(outcome(sw.onAck(req, n(1), 2))).toBe('succeeded')
  })

  it('a read asked of the ready replicas with R above them fails SB_QUORUM_NOT_ACHIEVED (R=3 while one of 3 bootstraps)', () => {
    let seq = 0
    expect(() => new PointRead({ tableId: 5, pks: [[1n]], replicas: [n(1), n(2)], r: 3, alive: () => true, nowMs: 0, timeoutMs: 1000, nextReqId: () => ++seq }))
      .toThrow(expect.objectContaining({ code: 'SB_QUORUM_NOT_ACHIEVED', details: { available_replicas: 2, required_replicas: 3, reason: 'not_enough_alive' } }))
  })
})
