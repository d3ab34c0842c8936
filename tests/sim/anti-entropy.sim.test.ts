import { beforeAll, describe, expect, it } from 'vitest'
import { antiEntropyLogLine } from '../../src/cluster/anti-entropy/log-lines'
import { servable, serveVerdict, tombstonePurgeVerdict } from '../../src/cluster/anti-entropy/purge-rules'
import { RepairRound } from '../../src/cluster/anti-entropy/round'
import { AntiEntropyScheduler, type ScheduledRequest } from '../../src/cluster/anti-entropy/scheduler'
import type { AeEvent, AeReply, AeRequestBody, RoundResult } from '../../src/cluster/anti-entropy/types'
import { initHashing } from '../../src/core/hash'
import { encodeUuidV8, uuidv8Timestamp } from '../../src/core/hlc'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../src/core/ids'
import { SeededRng } from '../../src/core/rng'
import { rowKey } from '../../src/storage/keys'
import { compareVersionIds } from '../../src/storage/lww'
import type { VersionId } from '../../src/storage/types'
import { keyId, SimReplica } from './anti-entropy-replica'
import { SimNetwork } from './network'
import { simSeeds } from './seeds'

// Seeded simulation of anti-entropy (DESIGN §6 "Anti-entropy", §10) running the shipped machines —
// AntiEntropyScheduler and RepairRound (src/cluster/anti-entropy/), the purge and stale-replica
// rules (purge-rules.ts) — over the simulated network, against 3 replicas of 2–3 shards, each an
// in-memory store with the pure Merkle forest (anti-entropy-replica.ts). What is simulated is the
// I/O around them: the shard ops (local: answered by the node's own replica; peer: a message over
// the lossy network to the peer's), ticks, crashes.
//
// Per seed: 10 minutes of writes (inserts, updates, deletes) to 30 keys per shard; each replica
// misses each write with probability 20 % (dropped writes and deletes: hints lost or never stored;
// no hint is ever delivered), some writes reach a replica up to 10 s late (in flight); one replica
// is down for a while — in half the seeds longer than the tombstone grace period — and misses
// everything meanwhile. Anti-entropy runs throughout over up to 10 % message loss, and a purge step
// every 10 s on each up replica drops tombstones the purge rule allows. After the writes stop it
// runs until every node has completed two rounds of every shard with every peer. Then:
//  - every replica holds the same latest version of every key: the newest one written (a purged
//    tombstone counts when that replica purged exactly that version), and the same Merkle forest
//    (every window's root);
//  - no deleted key was visible again at any purge step or at the end (the newest version over
//    all replicas of a deleted key is never a live row);
//  - no round found a conflict or a key it could not repair;
//  - a replica back from an outage longer than the grace period is not servable until a round
//    completed, then is; the other replicas stayed servable throughout;
//  - the log lines read as the seeds print them.
// Negative test: the same schedules with a naive purge (by age alone) resurrect a delete in some
// seed. Bytes: a round's traffic grows with the differences, not with the data size.
//
// Replay one seed: SEED=<n> npx vitest run tests/sim/anti-entropy.sim.test.ts

const SEED_LIST = simSeeds({ ...process.env, SIM_SEEDS: process.env.SIM_SEEDS ?? '50' })

const EPOCH_MS = 1_767_225_600_000
const WINDOW_MS = 60_000
const SEAL_GRACE_MS = 10_000
const INTERVAL_MS = 40_000
/** The shell's tick; a round's held step or timeout wakes it earlier (nextWakeAt). */
const TICK_MS = 1_000
const TOLERANCE_MS = 5_000
const REQUEST_TIMEOUT_MS = 2_000
const GRACE_MS = 240_000
const PURGE_EVERY_MS = 10_000
const WRITE_END_MS = 480_000
const LATE_MAX_MS = 10_000
const RUN_LIMIT_MS = WRITE_END_MS + 1_800_000
const NODES = [1, 2, 3].map(asNodeId)
const KEYS_PER_SHARD = 30
const DROP_PROBABILITY = 0.2
const TABLE = 7

type PurgeMode = 'rule' | 'naive'

type Msg =
  | { readonly kind: 'req', readonly shard: ShardId, readonly round: number, readonly id: number, readonly body: AeRequestBody }
  | { readonly kind: 'rep', readonly shard: ShardId, readonly round: number, readonly id: number, readonly reply: AeReply }

interface Truth { versionId: VersionId, row: Uint8Array | null }

interface SeedOutcome {
  seed: number
  reachedTwoRounds: boolean
  resurrected: string | null
  divergent: string[]
  /** Shards whose replicas' Merkle forests (every window's root) still differ at the end. */
  forestsDiffer: string[]
  unresolved: number
  rowsRepaired: number
  purged: number
  stale: { longOutage: boolean, staleOnReturn: boolean | null, servableAtEnd: boolean }
  healthyNotServable: number
  badLogLines: string[]
  roundsCompleted: number
  roundsAborted: number
}

const addr = (n: NodeId): string => `n${n}`

function runSeed (seed: number, mode: PurgeMode): SeedOutcome {
  const rng = new SeededRng(seed)
  const sim = new SimNetwork<Msg>(rng, { minDelayMs: 1, maxDelayMs: 50, lossProbability: rng.next() * 0.1 })
  const shards = Array.from({ length: rng.next() < 0.5 ? 2 : 3 }, (_, i) => asShardId(i))
  const down = NODES[Math.floor(rng.next() * NODES.length)]!
  const longOutage = rng.next() < 0.5
  const downStart = 60_000 + Math.floor(rng.next() * 140_000)
  const downFor = longOutage ? GRACE_MS + 60_000 + Math.floor(rng.next() * 140_000) : 20_000 + Math.floor(rng.next() * 100_000)
  const offsets = new Map(NODES.map(n => [n, Math.floor(rng.next() * 400) - 200]))

  const out: SeedOutcome = {
    seed,
    reachedTwoRounds: false,
    resurrected: null,
    divergent: [],
    forestsDiffer: [],
    unresolved: 0,
    rowsRepaired: 0,
    purged: 0,
    stale: { longOutage, staleOnReturn: null, servableAtEnd: false },
    healthyNotServable: 0,
    badLogLines: [],
    roundsCompleted: 0,
    roundsAborted: 0
  }

  const replicas = new Map(NODES.map(n => [n, new Map(shards.map(s => [s, new SimReplica(WINDOW_MS, SEAL_GRACE_MS, 24)]))]))
  const purgedBy = new Map(NODES.map(n => [n, new Map<string, VersionId>()]))
  const truth = new Map<string, Map<string, Truth>>(shards.map(s => [String(s), new Map()]))
  const completed: Array<{ node: NodeId, result: RoundResult }> = []
  const schedulers = new Map<NodeId, AntiEntropyScheduler>()
  const life = new Map<NodeId, number>(NODES.map(n => [n, 0]))
  const peersOf = (n: NodeId): NodeId[] => NODES.filter(p => p !== n)
  const wall = (n: NodeId): number => EPOCH_MS + sim.localTime(addr(n))

  const newScheduler = (): AntiEntropyScheduler => new AntiEntropyScheduler({
    intervalMs: INTERVAL_MS,
    maxConcurrentRounds: 2,
    round: { inFlightToleranceMs: TOLERANCE_MS, maxBusyPercent: 50, requestTimeoutMs: REQUEST_TIMEOUT_MS, maxKeysPerRequest: 16, maxBucketsPerLeaves: 8 }
  }, rng)

  const onEvents = (n: NodeId, events: AeEvent[]): void => {
    for (const e of events) {
      const line = antiEntropyLogLine(e).msg
      if (e.type === 'window-diverged' && !/^Anti-entropy: Window \d+ diverged \(Shard \d{3}\), repair initiated$/.test(line)) out.badLogLines.push(line)
      if (e.type === 'window-repaired') {
        out.unresolved += e.report.conflicts + e.report.unrepairable
        out.rowsRepaired += e.report.rowsRepaired
        if (e.report.conflicts + e.report.unrepairable === 0 && !/^Anti-entropy: Repaired \d+ rows \(Shard \d{3}, Window \d+\)$/.test(line)) out.badLogLines.push(line)
      }
      if (e.type === 'round-finished') {
        if (e.result.outcome === 'completed') { out.roundsCompleted++; completed.push({ node: n, result: e.result }) } else out.roundsAborted++
      }
    }
  }

  const wakers = new Map<NodeId, () => void>()
  const pendingWake = new Map<NodeId, number>()
  const dispatch = (n: NodeId, reqs: ScheduledRequest[]): void => {
    const l = life.get(n)!
    for (const r of reqs) {
      const { side, id, ...body } = r.request
      if (side === 'local') {
        // the shard worker answers on a later turn, as the rings do
        sim.after(1, () => {
          if (life.get(n) !== l || !sim.isUp(addr(n))) return
          const reply = replicas.get(n)!.get(r.shard)!.handle(body, wall(n))
          dispatch(n, schedulers.get(n)!.onReply(r.shard, r.round, id, reply, sim.localTime(addr(n))))
        })
      } else {
        sim.send(addr(n), addr(r.peer), { kind: 'req', shard: r.shard, round: r.round, id, body })
      }
    }
    onEvents(n, schedulers.get(n)!.drainEvents())
    wakers.get(n)?.()
  }

  const handler = (n: NodeId) => (from: string, msg: Msg, localNow: number): void => {
    if (msg.kind === 'req') {
      const reply = replicas.get(n)!.get(msg.shard)!.handle(msg.body, EPOCH_MS + localNow)
      sim.send(addr(n), from, { kind: 'rep', shard: msg.shard, round: msg.round, id: msg.id, reply })
    } else {
      dispatch(n, schedulers.get(n)!.onReply(msg.shard, msg.round, msg.id, msg.reply, localNow))
    }
  }

  const checkResurrection = (): void => {
    if (out.resurrected !== null) return
    for (const s of shards) {
      for (const [k, t] of truth.get(String(s))!) {
        if (t.row !== null) continue
        let newest: Truth | undefined
        for (const n of NODES) {
          const v = replicas.get(n)!.get(s)!.rows.get(k)
          if (v !== undefined && (newest === undefined || compareVersionIds(v.versionId, newest.versionId) > 0)) newest = v
        }
        if (newest !== undefined && newest.row !== null) {
          out.resurrected = `shard ${s} key ${Buffer.from(k, 'latin1').toString('hex')} at ${sim.now} ms`
          if (process.env.SIM_DEBUG !== undefined) {
            console.log(out.resurrected, 'truth', uuidv8Timestamp(t.versionId) - EPOCH_MS, 'down', down, downStart, downFor)
            for (const n of NODES) {
              const v = replicas.get(n)!.get(s)!.rows.get(k)
              console.log('node', n, v === undefined ? 'none' : [uuidv8Timestamp(v.versionId) - EPOCH_MS, v.row === null ? 'tomb' : 'live', v.writtenAt - EPOCH_MS], 'purged', purgedBy.get(n)!.has(`${s}/${k}`), JSON.stringify([...schedulers.get(n)!.repairState(s, EPOCH_MS).peers].map(([p, r]) => [p, r.lastCompletedAtMs === undefined ? null : r.lastCompletedAtMs - EPOCH_MS, r.verifiedThroughMs === undefined ? null : r.verifiedThroughMs - EPOCH_MS])))
            }
          }
        }
      }
    }
  }

  const purgeStep = (n: NodeId): void => {
    const now = wall(n)
    const sched = schedulers.get(n)!
    for (const s of shards) {
      const rep = replicas.get(n)!.get(s)!
      const state = sched.repairState(s, EPOCH_MS)
      if (n !== down && !servable(state, peersOf(n), now, GRACE_MS)) out.healthyNotServable++
      for (const v of [...rep.rows.values()]) {
        if (v.row !== null) continue
        const age = { versionTsMs: uuidv8Timestamp(v.versionId), localWriteMs: v.writtenAt }
        const ok = mode === 'naive'
          ? now - Math.max(age.versionTsMs, age.localWriteMs) > GRACE_MS
          : tombstonePurgeVerdict(age, peersOf(n), state, now, GRACE_MS).purge
        if (!ok) continue
        rep.purge(v.key)
        purgedBy.get(n)!.set(`${s}/${keyId(v.key)}`, v.versionId)
        out.purged++
      }
    }
    checkResurrection()
  }

  const held = shards.map(shard => ({ shard, peers: NODES }))
  const tickNode = (n: NodeId, sched: AntiEntropyScheduler): void => {
    const localNow = sim.localTime(addr(n))
    dispatch(n, sched.tick(localNow, EPOCH_MS + localNow, held.map(h => ({ shard: h.shard, peers: peersOf(n) })), p => sim.isUp(addr(p))))
  }

  const boot = (n: NodeId, sched: AntiEntropyScheduler): void => {
    schedulers.set(n, sched)
    sim.start(addr(n), offsets.get(n)!, handler(n))
    const l = life.get(n)!
    let nextPurge = sim.now + PURGE_EVERY_MS
    sim.every(addr(n), sim.now + Math.floor(rng.next() * TICK_MS), TICK_MS, () => {
      tickNode(n, sched)
      if (sim.now >= nextPurge) { nextPurge += PURGE_EVERY_MS; purgeStep(n) }
    })
    wakers.set(n, () => {
      const at = sched.nextWakeAt()
      if (at === undefined) return
      const globalAt = at - offsets.get(n)!
      if (globalAt >= sim.now + TICK_MS || pendingWake.get(n) === globalAt) return
      pendingWake.set(n, globalAt)
      sim.at(globalAt, () => {
        if (pendingWake.get(n) === globalAt) pendingWake.delete(n)
        if (life.get(n) === l && sim.isUp(addr(n))) tickNode(n, sched)
      })
    })
  }

  for (const n of NODES) boot(n, newScheduler())

  // The outage: the process stops (rounds in flight die with it); its repair records were
  // persisted and come back with the new process, its data too.
  sim.at(downStart, () => {
    sim.stop(addr(down))
    life.set(down, life.get(down)! + 1)
  })
  const staleSince = new Map<ShardId, number | null>()
  sim.at(downStart + downFor, () => {
    const before = schedulers.get(down)!.status()
    const sched = newScheduler()
    for (const st of before) {
      sched.restore(st.shard, new Map([...st.peers].map(([p, r]) => [p, { ...(r.lastCompleted !== undefined ? { lastCompleted: r.lastCompleted } : {}), ...(r.verifiedThroughMs !== undefined ? { verifiedThroughMs: r.verifiedThroughMs } : {}) }])))
    }
    // As the node's shell judges it on return (serveVerdict): stale since now, until a round with every peer
    for (const s of shards) staleSince.set(s, serveVerdict(sched.repairState(s, EPOCH_MS), peersOf(down), wall(down), GRACE_MS, null).staleSinceMs)
    const stale = shards.some(s => staleSince.get(s) !== null)
    out.stale.staleOnReturn = stale
    boot(down, sched)
  })

  // Writes: a coordinator stamps a UUIDv8-HLC and sends it to the three replicas; each may miss it.
  let counter = 0
  let t = 0
  while (t < WRITE_END_MS) {
    t += 500 + Math.floor(rng.next() * 3000)
    const at = t
    const shard = shards[Math.floor(rng.next() * shards.length)]!
    const k = rowKey(TABLE, [BigInt(Math.floor(rng.next() * KEYS_PER_SHARD))])
    const coordinator = NODES[Math.floor(rng.next() * NODES.length)]!
    const draws = NODES.map(() => ({ drop: rng.next() < DROP_PROBABILITY, late: rng.next() < 0.05 ? Math.floor(rng.next() * LATE_MAX_MS) : 0 }))
    const del = rng.next() < 0.35
    const random = Math.floor(rng.next() * 2 ** 40)
    const image = Buffer.from(`row ${seed}/${at}/${random}`)
    sim.at(at, () => {
      const id = encodeUuidV8({ ts: EPOCH_MS + sim.now, counter: counter++ & 0xfff, nodeId: coordinator, random })
      const tr = truth.get(String(shard))!
      const cur = tr.get(keyId(k))
      const row = del && cur !== undefined && cur.row !== null ? null : new Uint8Array(image)
      NODES.forEach((n, i) => {
        const d = draws[i]!
        if (d.drop) return
        // the newest version any replica received is the truth (a write no replica got never happened)
        const apply = (): void => {
          if (!sim.isUp(addr(n))) return
          replicas.get(n)!.get(shard)!.apply({ key: k, versionId: id, row }, wall(n))
          const best = tr.get(keyId(k))
          if (best === undefined || compareVersionIds(id, best.versionId) > 0) tr.set(keyId(k), { versionId: id, row })
        }
        if (d.late > 0) sim.after(d.late, apply); else apply()
      })
    })
  }

  // Run until every node completed two rounds of every shard with every peer after the writes settled.
  const settledAt = EPOCH_MS + WRITE_END_MS + LATE_MAX_MS + TOLERANCE_MS + 1_000
  const twoRoundsEach = (): boolean => NODES.every(n => shards.every(s => peersOf(n).every(p =>
    completed.filter(c => c.node === n && c.result.shard === s && c.result.peer === p && c.result.startedAtMs >= settledAt).length >= 2)))
  let now = 0
  while (now < RUN_LIMIT_MS) {
    now += 5_000
    sim.runUntil(now)
    if (now > WRITE_END_MS && twoRoundsEach()) { out.reachedTwoRounds = true; break }
  }
  checkResurrection()

  for (const s of shards) {
    for (const [k, tv] of truth.get(String(s))!) {
      for (const n of NODES) {
        const v = replicas.get(n)!.get(s)!.rows.get(k)
        const same = v !== undefined
          ? compareVersionIds(v.versionId, tv.versionId) === 0
          : tv.row === null && purgedBy.get(n)!.has(`${s}/${k}`) && compareVersionIds(purgedBy.get(n)!.get(`${s}/${k}`)!, tv.versionId) === 0
        if (!same) out.divergent.push(`node ${n} shard ${s} key ${Buffer.from(k, 'latin1').toString('hex')}`)
      }
    }
  }
  for (const s of shards) {
    const rootsOf = (n: NodeId): string => {
      const f = replicas.get(n)!.get(s)!.forest
      f.seal(wall(n))
      return f.list().map(w => `${w.window}:${w.root}`).join(',')
    }
    if (NODES.some(n => rootsOf(n) !== rootsOf(NODES[0]!))) out.forestsDiffer.push(`shard ${s}`)
  }
  out.stale.servableAtEnd = shards.every(s => serveVerdict(schedulers.get(down)!.repairState(s, EPOCH_MS), peersOf(down), wall(down), GRACE_MS, staleSince.get(s) ?? null).serving)
  return out
}

beforeAll(async () => { await initHashing() })

describe('anti-entropy simulation', () => {
  it(`converges without hints, never resurrects a delete, purges only by the rule (${SEED_LIST.length} seeds)`, () => {
    const totals = { rowsRepaired: 0, purged: 0, staleOnReturn: 0, completed: 0, aborted: 0 }
    for (const seed of SEED_LIST) {
      const o = runSeed(seed, 'rule')
      const ctx = `seed ${seed} (replay: SEED=${seed})`
      expect(o.resurrected, `${ctx}: a deleted key came back`).toBeNull()
      expect(o.reachedTwoRounds, `${ctx}: two completed rounds with every peer`).toBe(true)
      expect(o.divergent, `${ctx}: replicas differ`).toEqual([])
      expect(o.forestsDiffer, `${ctx}: Merkle forests differ`).toEqual([])
      expect(o.unresolved, `${ctx}: conflicts or unrepairable keys`).toBe(0)
      expect(o.healthyNotServable, `${ctx}: a replica that was never away was not servable`).toBe(0)
      if (o.stale.longOutage) expect(o.stale.staleOnReturn, `${ctx}: back after more than the grace period, not stale`).toBe(true)
      expect(o.stale.servableAtEnd, `${ctx}: the returned replica is still stale after its rounds`).toBe(true)
      expect(o.badLogLines, `${ctx}: log lines`).toEqual([])
      totals.rowsRepaired += o.rowsRepaired
      totals.purged += o.purged
      totals.staleOnReturn += o.stale.staleOnReturn === true ? 1 : 0
      totals.completed += o.roundsCompleted
      totals.aborted += o.roundsAborted
    }
    if (process.env.SIM_STATS !== undefined) console.log('anti-entropy sim', totals)
    // the seeds exercised what they claim to
    expect(totals.rowsRepaired).toBeGreaterThan(SEED_LIST.length * 10)
    if (SEED_LIST.length >= 10) {
      expect(totals.purged).toBeGreaterThan(0)
      expect(totals.staleOnReturn).toBeGreaterThan(0)
      expect(totals.aborted).toBeGreaterThan(0)
    }
  })

  it('a naive purge (by age alone) resurrects a delete in some seed', () => {
    let hit: string | null = null
    for (const seed of SEED_LIST) {
      const r = runSeed(seed, 'naive').resurrected
      if (r !== null) { hit = `seed ${seed}: ${r}`; break }
    }
    if (process.env.SIM_STATS !== undefined) console.log('naive purge resurrected:', hit)
    expect(hit, 'no seed resurrected under the naive purge: the negative test proves nothing').not.toBeNull()
  })
})

// ---- bytes ∝ differences, not data size: one round between two replicas, driven synchronously

function bytesOfRound (rows: number, differences: number, seed: number): { bytes: number, repaired: number, dataBytes: number } {
  const rng = new SeededRng(seed)
  const a = new SimReplica(WINDOW_MS, SEAL_GRACE_MS, 1000)
  const b = new SimReplica(WINDOW_MS, SEAL_GRACE_MS, 1000)
  const start = EPOCH_MS
  let dataBytes = 0
  const version = (i: number): VersionId => encodeUuidV8({ ts: start + (i % (3 * WINDOW_MS)), counter: 0, nodeId: 1 + (i % 3), random: Math.floor(rng.next() * 2 ** 40) })
  for (let i = 0; i < rows; i++) {
    const v = { key: rowKey(TABLE, [BigInt(i)]), versionId: version(i * 97), row: new Uint8Array(100).fill(i & 0xff) }
    dataBytes += v.key.length + 16 + v.row.length
    a.apply(v, start); b.apply(v, start)
  }
  // the differences: rows only one side got, updates and deletes only one side got
  for (let d = 0; d < differences; d++) {
    const target = d % 2 === 0 ? a : b
    const key = rowKey(TABLE, [BigInt(d < differences / 2 ? rows + d : d)])
    target.apply({ key, versionId: version(rows * 97 + d * 13), row: d % 3 === 0 ? null : new Uint8Array(100).fill(7) }, start)
  }
  const now = start + 5 * WINDOW_MS
  const round = new RepairRound({ shard: asShardId(1), peer: asNodeId(2), startWallMs: now, inFlightToleranceMs: TOLERANCE_MS, maxBusyPercent: 100 })
  let reqs = round.start(0)
  while (reqs.length > 0) {
    const replies = reqs.map(r => ({ id: r.id, reply: (r.side === 'local' ? a : b).handle(r, now) }))
    reqs = []
    for (const { id, reply } of replies) reqs.push(...round.onReply(id, reply, 0))
  }
  const res = round.result!
  expect(res.outcome).toBe('completed')
  return { bytes: res.bytesExchanged, repaired: res.rowsRepaired, dataBytes }
}

describe('anti-entropy traffic', () => {
  it('grows with the number of differences, not with the data size', () => {
    for (const seed of [1]) {
      const small = bytesOfRound(500, 20, seed)
      const big = bytesOfRound(5_000, 20, seed)
      const moreDiffs = bytesOfRound(500, 200, seed)
      expect(small.repaired).toBe(20)
      expect(big.repaired).toBe(20)
      expect(moreDiffs.repaired).toBe(200)
      // 10× the data, same differences: nearly the same traffic, a small part of the data
      expect(big.bytes).toBeLessThan(small.bytes * 1.5)
      expect(big.bytes).toBeLessThan(big.dataBytes / 10)
      // 10× the differences: the traffic grows with them
      expect(moreDiffs.bytes - small.bytes).toBeGreaterThan(180 * 100)
      if (process.env.SIM_STATS !== undefined) console.log('anti-entropy bytes', { seed, small, big, moreDiffs })
    }
  })
})
