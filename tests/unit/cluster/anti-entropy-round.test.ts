import { beforeAll, describe, expect, it } from 'vitest'
import { antiEntropyLogLine } from '../../../src/cluster/anti-entropy/log-lines'
import { RepairRound, type RoundOptions } from '../../../src/cluster/anti-entropy/round'
import type { AeEvent, AeReply, AeRequest } from '../../../src/cluster/anti-entropy/types'
import { ScratchBirdError } from '../../../src/core/errors'
import { initHashing } from '../../../src/core/hash'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { rowKey } from '../../../src/storage/keys'
import { bucketOf, MERKLE_BUCKETS } from '../../../src/storage/merkle/tree'
import type { VersionId } from '../../../src/storage/types'
import { keyId, SimReplica } from '../../sim/anti-entropy-replica'

const EPOCH = 1_767_225_600_000
const WINDOW = 60_000
const NOW = EPOCH + 10 * WINDOW
const TOL = 5_000

beforeAll(async () => { await initHashing() })

const key = (i: number): Uint8Array => rowKey(3, [BigInt(i)])
const ver = (msAfterEpoch: number, node = 1, random = 1): VersionId => encodeUuidV8({ ts: EPOCH + msAfterEpoch, counter: 0, nodeId: node, random })
const row = (s: string): Uint8Array => Buffer.from(s)

function replica (maxLeaves = 1000): SimReplica { return new SimReplica(WINDOW, 10_000, maxLeaves) }

function newRound (opts: Partial<RoundOptions> = {}): RepairRound {
  return new RepairRound({ shard: asShardId(1), peer: asNodeId(2), startWallMs: NOW, inFlightToleranceMs: TOL, maxBusyPercent: 100, ...opts })
}

/** Drives a round to its end against two replicas, answering everything at once; returns the ops seen. */
function drive (round: RepairRound, local: SimReplica, peer: SimReplica, tamper?: (r: AeRequest, reply: AeReply) => AeReply): { ops: string[], events: AeEvent[] } {
  const ops: string[] = []
  const events: AeEvent[] = []
  let reqs = round.start(0)
  while (reqs.length > 0) {
    const replies = reqs.map(r => {
      ops.push(`${r.side}:${r.op}`)
      const reply = (r.side === 'local' ? local : peer).handle(r, NOW)
      return { id: r.id, reply: tamper === undefined ? reply : tamper(r, reply) }
    })
    reqs = []
    for (const { id, reply } of replies) reqs.push(...round.onReply(id, reply, 0))
    events.push(...round.drainEvents())
  }
  events.push(...round.drainEvents())
  return { ops, events }
}

function rootsOf (r: SimReplica): Map<number, bigint> {
  r.forest.seal(NOW)
  return new Map(r.forest.list().map(w => [w.window, w.root]))
}

describe('RepairRound', () => {
  it('equal replicas: roots only, completed, verified up to start − tolerance', () => {
    const a = replica(); const b = replica()
    for (const r of [a, b]) r.apply({ key: key(1), versionId: ver(1000), row: row('x') }, EPOCH)
    const round = newRound()
    const { ops, events } = drive(round, a, b)
    expect(ops).toEqual(['local:roots', 'peer:roots'])
    const res = round.result!
    expect(res.outcome).toBe('completed')
    expect(res.windowsCompared).toBe(1)
    expect(res.windowsDiverged).toBe(0)
    expect(res.verifiedThroughMs).toBe(NOW - TOL)
    expect(events.map(e => e.type)).toEqual(['round-finished'])
  })

  it('repairs both directions in one round and logs the seed lines', () => {
    const a = replica(); const b = replica()
    a.apply({ key: key(1), versionId: ver(1000), row: row('only a') }, EPOCH)
    b.apply({ key: key(2), versionId: ver(2000), row: row('only b') }, EPOCH)
    b.apply({ key: key(3), versionId: ver(3000), row: null }, EPOCH) // a delete a missed
    const round = newRound()
    const { events } = drive(round, a, b)
    const res = round.result!
    expect(res.outcome).toBe('completed')
    expect(res.rowsRepaired).toBe(3)
    expect(rootsOf(a)).toEqual(rootsOf(b))
    expect(b.rows.get(keyId(key(1)))!.row).toEqual(row('only a'))
    expect(a.rows.get(keyId(key(2)))!.row).toEqual(row('only b'))
    expect(a.rows.get(keyId(key(3)))!.row).toBeNull()
    const lines = events.map(e => antiEntropyLogLine(e).msg)
    expect(lines).toContain('Anti-entropy: Window 29453760 diverged (Shard 001), repair initiated')
    expect(lines).toContain('Anti-entropy: Repaired 3 rows (Shard 001, Window 29453760)')
    expect(res.bytesExchanged).toBeGreaterThan(MERKLE_BUCKETS * 8)
  })

  it('adopts a leaf the lagging side already superseded, without moving data', () => {
    const a = replica(); const b = replica()
    const v1 = ver(1000); const v2 = ver(WINDOW + 1000)
    a.apply({ key: key(1), versionId: v1, row: row('v1') }, EPOCH)
    a.apply({ key: key(1), versionId: v2, row: row('v2') }, EPOCH)
    b.apply({ key: key(1), versionId: v2, row: row('v2') }, EPOCH) // missed v1, holds the newer v2
    const round = newRound()
    const { ops } = drive(round, a, b)
    expect(round.result!.windows).toEqual([{ window: Math.floor((EPOCH + 1000) / WINDOW), inFlight: 0, rowsRepaired: 0, leavesAdopted: 1, conflicts: 0, unrepairable: 0 }])
    expect(ops.filter(o => o.endsWith(':read') || o.endsWith(':apply'))).toEqual([])
    expect(rootsOf(a)).toEqual(rootsOf(b))
  })

  it('ships the holder\'s newer version, then adopts the older leaf: both windows agree after one round', () => {
    const a = replica(); const b = replica()
    const v1 = ver(1000); const v2 = ver(WINDOW + 1000)
    a.apply({ key: key(1), versionId: v1, row: row('v1') }, EPOCH)
    a.apply({ key: key(1), versionId: v2, row: null }, EPOCH)
    const round = newRound()
    const { ops } = drive(round, a, b)
    expect(round.result!.outcome).toBe('completed')
    expect(round.result!.verifiedThroughMs).toBe(NOW - TOL)
    expect(b.rows.get(keyId(key(1)))!.versionId).toEqual(v2)
    expect(rootsOf(a)).toEqual(rootsOf(b))
    expect(ops).toContain('local:read')
    expect(ops).toContain('peer:apply')
  })

  it('leaves writes younger than the tolerance alone (in flight) and still completes', () => {
    const a = replica(); const b = replica()
    a.apply({ key: key(1), versionId: ver(10 * WINDOW - TOL + 1), row: row('fresh') }, EPOCH)
    const round = newRound()
    drive(round, a, b)
    const res = round.result!
    expect(res.outcome).toBe('completed')
    expect(res.windowsDiverged).toBe(0)
    expect(res.rowsRepaired).toBe(0)
    expect(b.rows.size).toBe(0)
    expect(res.verifiedThroughMs).toBe(NOW - TOL)
  })

  it('same version with another row hash is a conflict: not repaired, round not verified, WARNING line', () => {
    const a = replica(); const b = replica()
    const v = ver(1000)
    a.apply({ key: key(1), versionId: v, row: row('one') }, EPOCH)
    b.apply({ key: key(1), versionId: v, row: row('two') }, EPOCH)
    const round = newRound()
    const { events } = drive(round, a, b)
    const res = round.result!
    expect(res.outcome).toBe('completed')
    expect(res.windows[0]!.conflicts).toBe(1)
    expect(res.verifiedThroughMs).toBeNull()
    const rep = events.find(e => e.type === 'window-repaired')!
    expect(antiEntropyLogLine(rep).level).toBe('WARNING')
    expect(a.rows.get(keyId(key(1)))!.row).toEqual(row('one'))
  })

  it('a holder without the data (tombstone purged) makes the key unrepairable, never a resurrection', () => {
    const a = replica(); const b = replica()
    a.apply({ key: key(1), versionId: ver(1000), row: null }, EPOCH)
    a.purge(key(1))
    const round = newRound()
    drive(round, a, b)
    expect(round.result!.windows[0]!.unrepairable).toBe(1)
    expect(round.result!.verifiedThroughMs).toBeNull()
    expect(b.rows.size).toBe(0)
  })

  it('a malformed peer reply aborts the round (SB_RPC_MALFORMED) and nothing of it is applied', () => {
    const a = replica(); const b = replica()
    b.apply({ key: key(1), versionId: ver(1000), row: row('b') }, EPOCH)
    const round = newRound()
    drive(round, a, b, (r, reply) => r.side === 'peer' && reply.op === 'buckets' ? { op: 'buckets', hashes: reply.hashes.slice(1) } : reply)
    expect(round.result!.outcome).toBe('aborted')
    expect(round.result!.reason).toBe('bad-reply')
    expect((round.result!.error as ScratchBirdError).code).toBe('SB_RPC_MALFORMED')
    expect(a.rows.size).toBe(0)
  })

  it('a leaf of a bucket not asked for is malformed', () => {
    const a = replica(); const b = replica()
    b.apply({ key: key(1), versionId: ver(1000), row: row('b') }, EPOCH)
    let other = 0
    while (bucketOf(key(other)) === bucketOf(key(1))) other++
    const round = newRound()
    drive(round, a, b, (r, reply) => r.side === 'peer' && reply.op === 'leaves'
      ? { op: 'leaves', more: false, leaves: [...reply.leaves, { key: key(other), version: ver(1000), rowHash: 1n }] }
      : reply)
    expect(round.result!.reason).toBe('bad-reply')
    expect(a.rows.size).toBe(0)
  })

  it('a version id that is not a UUIDv8-HLC in a peer leaf or read is malformed, not a crash', () => {
    const notV8 = new Uint8Array(16).fill(0x44) // version nibble 4
    for (const op of ['leaves', 'read'] as const) {
      const a = replica(); const b = replica()
      a.apply({ key: key(1), versionId: ver(1000), row: row('a') }, EPOCH)
      b.apply({ key: key(2), versionId: ver(1000), row: row('b') }, EPOCH)
      const round = newRound()
      drive(round, a, b, (r, reply) => {
        if (r.side !== 'peer' || reply.op !== op) return reply
        if (reply.op === 'leaves') return { ...reply, leaves: reply.leaves.map(l => ({ ...l, version: notV8 })) }
        if (reply.op === 'read') return { ...reply, versions: reply.versions.map(v => v === null ? v : { ...v, versionId: notV8 }) }
        return reply
      })
      expect(round.result!.reason, op).toBe('bad-reply')
      expect(a.rows.has(keyId(key(2))), op).toBe(false)
    }
  })

  it('continues cut leaves replies (`more`) until every differing bucket is walked', () => {
    const a = replica(2); const b = replica(2)
    for (let i = 0; i < 40; i++) a.apply({ key: key(i), versionId: ver(1000 + i), row: row(`r${i}`) }, EPOCH)
    const round = newRound({ maxBucketsPerLeaves: 16 })
    const { ops } = drive(round, a, b)
    expect(round.result!.outcome).toBe('completed')
    expect(round.result!.rowsRepaired).toBe(40)
    expect(ops.filter(o => o === 'local:leaves').length).toBeGreaterThan(40 / 2)
    expect(rootsOf(a)).toEqual(rootsOf(b))
  })

  it('one bucket larger than a leaves reply ends the round (bucket-too-large)', () => {
    const a = replica(1); const b = replica(1)
    const keys: Uint8Array[] = []
    for (let i = 0; keys.length < 2; i++) if (bucketOf(key(i)) === bucketOf(key(0))) keys.push(key(i))
    for (const k of keys) a.apply({ key: k, versionId: ver(1000), row: row('r') }, EPOCH)
    const round = newRound()
    drive(round, a, b)
    expect(round.result!.reason).toBe('bucket-too-large')
  })

  it('sends an unanswered request again under a new id, ignores the late answer, gives up after the retries', () => {
    const round = newRound({ requestTimeoutMs: 100, retries: 2 })
    const first = round.start(0)
    expect(first.map(r => r.op)).toEqual(['roots', 'roots'])
    const local = first.find(r => r.side === 'local')!
    const peer = first.find(r => r.side === 'peer')!
    expect(round.onReply(local.id, { op: 'roots', windows: [] }, 10)).toEqual([])
    expect(round.tick(99)).toEqual([])
    const again = round.tick(100)
    expect(again.map(r => `${r.side}:${r.op}`)).toEqual(['peer:roots'])
    expect(again[0]!.id).not.toBe(peer.id)
    expect(round.onReply(peer.id, { op: 'roots', windows: [] }, 150)).toEqual([]) // the first attempt's answer: ignored
    expect(round.done).toBe(false)
    expect(round.tick(200).length).toBe(1)
    expect(round.tick(300)).toEqual([])
    expect(round.result!.reason).toBe('timeout')
  })

  it('holds the next step back to keep its busy time under maxBusyPercent', () => {
    const round = newRound({ maxBusyPercent: 10 })
    const reqs = round.start(0)
    round.onReply(reqs[0]!.id, { op: 'roots', windows: [{ window: 1, sealed: true, root: 5n, leaves: 1 }] }, 50)
    expect(round.onReply(reqs[1]!.id, { op: 'roots', windows: [] }, 100)).toEqual([]) // 100 ms busy → next step at 1000 ms
    expect(round.nextWakeAt()).toBe(1000)
    expect(round.tick(999)).toEqual([])
    expect(round.tick(1000).map(r => r.op)).toEqual(['buckets', 'buckets'])
  })

  it('a leaves budget aborts with the last window walked; the next round starts after it', () => {
    const a = replica(); const b = replica()
    for (let w = 0; w < 3; w++) a.apply({ key: key(w), versionId: ver(w * WINDOW + 1000), row: row('r') }, EPOCH)
    const first = newRound({ maxLeaves: 1 })
    drive(first, a, b)
    expect(first.result!.reason).toBe('budget')
    const walked = first.result!.lastWindow!
    expect(walked).toBe(Math.floor((EPOCH + 1000) / WINDOW))
    const next = newRound({ resumeAfterWindow: walked })
    const { events } = drive(next, a, b)
    const order = events.filter(e => e.type === 'window-diverged').map(e => (e as { window: number }).window)
    expect(order).toEqual([walked + 1, walked + 2])
  })

  it('an unreachable peer aborts with peer-down; a local failure with local-error', () => {
    const r1 = newRound()
    const q1 = r1.start(0)
    r1.onError(q1.find(r => r.side === 'peer')!.id, new ScratchBirdError('SB_NODE_UNREACHABLE', 'gone'), 5)
    expect(r1.result!.reason).toBe('peer-down')
    const r2 = newRound()
    const q2 = r2.start(0)
    r2.onError(q2.find(r => r.side === 'local')!.id, new Error('worker died'), 5)
    expect(r2.result!.reason).toBe('local-error')
  })

  it('a peer keeping no forest (anti_entropy.enabled false: SB_FEATURE_NOT_SUPPORTED) aborts with peer-disabled, and the log line says purges wait for it', () => {
    const r = newRound()
    const q = r.start(0)
    r.onError(q.find(x => x.side === 'peer')!.id, new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'shard 1 keeps no Merkle forest (anti_entropy.enabled is false)'), 5)
    expect(r.result!.reason).toBe('peer-disabled')
    const line = antiEntropyLogLine({ type: 'round-finished', result: r.result! })
    expect(line.level).toBe('WARNING')
    expect(line.msg).toMatch(/^Anti-entropy: Round with Node \d+ aborted \(peer-disabled\) \(Shard \d{3}\): .*; Node \d+ has anti_entropy\.enabled false, so leaderless tombstones of Shard \d{3} are not purged/)
    // any other peer failure stays peer-error, with no such sentence
    const other = newRound()
    other.onError(other.start(0).find(x => x.side === 'peer')!.id, new ScratchBirdError('SB_BAD_ARGUMENT', 'x'), 5)
    expect(other.result!.reason).toBe('peer-error')
    expect(antiEntropyLogLine({ type: 'round-finished', result: other.result! }).msg).not.toMatch(/enabled false/)
  })
})
