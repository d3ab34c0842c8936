import { beforeAll, describe, expect, it } from 'vitest'
import { AntiEntropyScheduler, forcedRoundOptions, nextPeer, type HeldShard, type ScheduledRequest } from '../../../src/cluster/anti-entropy/scheduler'
import type { AeReply } from '../../../src/cluster/anti-entropy/types'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { rowKey } from '../../../src/storage/keys'
import { SimReplica } from '../../sim/anti-entropy-replica'

const INTERVAL = 60_000
const WALL = 1_767_225_600_000
const n = asNodeId
const s = asShardId

beforeAll(async () => { await initHashing() })

/** Rng whose next() is always 0: shards are due at first sight + 0. */
const zeroRng = { next: () => 0, fill: (b: Uint8Array) => { b.fill(0) } }

const empty: AeReply = { op: 'roots', windows: [] }

/** Answers every roots request with an empty forest: each round completes after one step. */
function answerAll (sch: AntiEntropyScheduler, reqs: ScheduledRequest[], now: number): ScheduledRequest[] {
  const more: ScheduledRequest[] = []
  for (const r of reqs) more.push(...sch.onReply(r.shard, r.round, r.request.id, empty, now))
  return more
}

describe('nextPeer', () => {
  it('takes the next live peer after the last one in node-id order, wrapping around', () => {
    const peers = [n(5), n(2), n(9)]
    const all = (): boolean => true
    expect(nextPeer(peers, undefined, all)).toBe(2)
    expect(nextPeer(peers, n(2), all)).toBe(5)
    expect(nextPeer(peers, n(9), all)).toBe(2)
    expect(nextPeer(peers, n(2), p => p !== 5)).toBe(9)
    expect(nextPeer(peers, n(2), () => false)).toBeUndefined()
  })
})

describe('AntiEntropyScheduler', () => {
  const held: HeldShard[] = [{ shard: s(1), peers: [n(2), n(3)] }]

  it('runs a round per interval per shard, with each live peer in turn, and records completions', () => {
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL }, zeroRng)
    const peersSeen: NodeId[] = []
    for (let t = 0; t <= 4 * INTERVAL; t += 1000) {
      const reqs = sch.tick(t, WALL + t, held, () => true)
      if (reqs.length > 0) {
        peersSeen.push(reqs[0]!.peer)
        expect(reqs.map(r => r.request.op)).toEqual(['roots', 'roots'])
        expect(answerAll(sch, reqs, t)).toEqual([])
      }
    }
    expect(peersSeen).toEqual([n(2), n(3), n(2), n(3), n(2)])
    const st = sch.status()[0]!
    expect(st.peers.get(n(2))!.lastCompleted!.startedAtMs).toBe(WALL + 4 * INTERVAL)
    expect(st.peers.get(n(3))!.lastCompleted!.startedAtMs).toBe(WALL + 3 * INTERVAL)
    const rs = sch.repairState(s(1), WALL)
    expect(rs.peers.get(n(2))!.verifiedThroughMs).toBe(WALL + 4 * INTERVAL - 60_000)
    const events = sch.drainEvents()
    expect(events.filter(e => e.type === 'round-finished').length).toBe(5)
  })

  it('skips peers gossip marks down, and aborts a running round whose peer goes down', () => {
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL }, zeroRng)
    const first = sch.tick(0, WALL, held, p => p !== 2)
    expect(first[0]!.peer).toBe(3)
    sch.tick(1000, WALL + 1000, held, p => p !== 3)
    const st = sch.status()[0]!
    expect(st.running).toBeUndefined()
    expect(st.peers.get(n(3))!.lastAttempt).toEqual({ startedAtMs: WALL, outcome: 'aborted', reason: 'peer-down' })
    expect(sch.tick(2000, WALL + 2000, held, () => false)).toEqual([]) // nobody alive: nothing starts
  })

  it('bounds concurrent rounds over all shards and starts the others when they finish', () => {
    const many: HeldShard[] = [1, 2, 3, 4].map(i => ({ shard: s(i), peers: [n(2)] }))
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL, maxConcurrentRounds: 2 }, zeroRng)
    const a = sch.tick(0, WALL, many, () => true)
    expect(new Set(a.map(r => r.shard))).toEqual(new Set([1, 2]))
    expect(sch.tick(10, WALL + 10, many, () => true)).toEqual([])
    answerAll(sch, a, 20)
    const b = sch.tick(30, WALL + 30, many, () => true)
    expect(new Set(b.map(r => r.shard))).toEqual(new Set([3, 4]))
  })

  it('ignores replies tagged with an earlier round of the shard', () => {
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL, round: { requestTimeoutMs: 100, retries: 0 } }, zeroRng)
    const first = sch.tick(0, WALL, held, () => true)
    sch.tick(100, WALL + 100, held, () => true) // timed out
    expect(sch.force(s(1))).toBe(true)
    const second = sch.tick(200, WALL + 200, held, () => true)
    expect(second[0]!.round).not.toBe(first[0]!.round)
    for (const r of first) expect(sch.onReply(r.shard, r.round, r.request.id, empty, 210)).toEqual([])
    expect(sch.status()[0]!.running).toBeDefined()
  })

  it('cancels the round of a shard this node no longer holds', () => {
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL }, zeroRng)
    sch.tick(0, WALL, held, () => true)
    sch.tick(10, WALL + 10, [], () => true)
    const st = sch.status()[0]!
    expect(st.running).toBeUndefined()
    expect(st.peers.get(n(2))!.lastAttempt!.reason).toBe('cancelled')
  })

  it('spreads first rounds over the first interval with the injected Rng; restore() brings records back', () => {
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL }, new SeededRng(7))
    expect(sch.tick(0, WALL, held, () => true)).toEqual([])
    const due = sch.status()[0]!.nextDueAt
    expect(due).toBeGreaterThan(0)
    expect(due).toBeLessThan(INTERVAL)
    const back = new AntiEntropyScheduler({ intervalMs: INTERVAL }, zeroRng)
    back.restore(s(1), new Map([[n(2), { verifiedThroughMs: WALL - 5 }]]))
    expect(back.repairState(s(1), 0).peers.get(n(2))!.verifiedThroughMs).toBe(WALL - 5)
  })
})

describe('AntiEntropyScheduler with replicas', () => {
  it('a round cut by its budget resumes with the same peer after the last window it walked', () => {
    const WINDOW = 60_000
    const local = new SimReplica(WINDOW, 0, 100)
    const peer = new SimReplica(WINDOW, 0, 100)
    for (let w = 0; w < 3; w++) local.apply({ key: rowKey(1, [BigInt(w)]), versionId: encodeUuidV8({ ts: WALL + w * WINDOW, counter: 0, nodeId: 1, random: 1 }), row: Buffer.from('r') }, WALL)
    const one: HeldShard[] = [{ shard: s(1), peers: [n(2)] }]
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL, round: { maxLeaves: 1, maxBusyPercent: 100 } }, zeroRng)
    const run = (t: number): void => {
      let reqs = sch.tick(t, WALL + 10 * WINDOW + t, one, () => true)
      while (reqs.length > 0) {
        const next: ScheduledRequest[] = []
        for (const r of reqs) next.push(...sch.onReply(r.shard, r.round, r.request.id, (r.request.side === 'local' ? local : peer).handle(r.request, WALL + 10 * WINDOW), t))
        reqs = next
      }
    }
    const windowsRepaired = (): number[] => sch.drainEvents().filter(e => e.type === 'window-repaired').map(e => (e as { report: { window: number } }).report.window)
    const w0 = Math.floor(WALL / WINDOW)
    run(0)
    expect(windowsRepaired()).toEqual([w0])
    expect(sch.status()[0]!.peers.get(n(2))!.lastAttempt!.reason).toBe('budget')
    run(INTERVAL)
    expect(windowsRepaired()).toEqual([w0 + 1])
    run(2 * INTERVAL)
    expect(windowsRepaired()).toEqual([w0 + 2])
    run(3 * INTERVAL)
    expect(sch.status()[0]!.peers.get(n(2))!.lastAttempt!.outcome).toBe('completed')
    expect(peer.rows.size).toBe(3)
  })
})

describe('AntiEntropyScheduler: forced rounds (REPAIR TABLE / SHARD)', () => {
  it('repair a key younger than the minute a scheduled round leaves in flight, and still claim verification only up to a minute back', () => {
    const WINDOW = 60_000
    const NOW = WALL + 10 * WINDOW
    const local = new SimReplica(WINDOW, 0, 100)
    const peer = new SimReplica(WINDOW, 0, 100)
    // Written 20 s ago, on this replica only (its hint to the peer was lost).
    local.apply({ key: rowKey(1, [7n]), versionId: encodeUuidV8({ ts: NOW - 20_000, counter: 0, nodeId: 1, random: 1 }), row: Buffer.from('r') }, NOW)
    const one: HeldShard[] = [{ shard: s(1), peers: [n(2)] }]
    const sch = new AntiEntropyScheduler({ intervalMs: INTERVAL, round: { maxBusyPercent: 100 } }, zeroRng)
    const run = (t: number): void => {
      let reqs = sch.tick(t, NOW + t, one, () => true)
      while (reqs.length > 0) {
        const next: ScheduledRequest[] = []
        for (const r of reqs) next.push(...sch.onReply(r.shard, r.round, r.request.id, (r.request.side === 'local' ? local : peer).handle(r.request, NOW + t), t))
        reqs = next
      }
    }
    run(0) // the scheduled round: the key is in flight
    expect(sch.status()[0]!.peers.get(n(2))!.lastAttempt!.outcome).toBe('completed')
    expect(peer.rows.size).toBe(0)
    expect(sch.force(s(1))).toBe(true)
    run(1000) // forced: repaired now
    expect(peer.rows.size).toBe(1)
    expect(sch.repairState(s(1), NOW).peers.get(n(2))!.verifiedThroughMs).toBe(NOW + 1000 - 60_000)
  })
})

describe('forcedRoundOptions', () => {
  it('repairs keys older than 5 s at up to half the time busy, never slower or more careful than configured', () => {
    expect(forcedRoundOptions(undefined)).toMatchObject({ repairToleranceMs: 5_000, maxBusyPercent: 50 })
    expect(forcedRoundOptions({ maxBusyPercent: 100, inFlightToleranceMs: 1_000, maxKeysPerRequest: 16 })).toEqual({ maxBusyPercent: 100, inFlightToleranceMs: 1_000, maxKeysPerRequest: 16, repairToleranceMs: 5_000 })
    expect(forcedRoundOptions({ repairToleranceMs: 0 }).repairToleranceMs).toBe(0)
  })
})
