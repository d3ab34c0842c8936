import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyLww, compareVersions } from '../../src/cluster/quorum/lww'
import { QuorumRead, type ReadOutput } from '../../src/cluster/quorum/read'
import type { QuorumMessage, Versioned } from '../../src/cluster/quorum/types'
import { QuorumWrite, type WriteOutput } from '../../src/cluster/quorum/write'
import { preferenceList } from '../../src/cluster/placement'
import { initHashing } from '../../src/core/hash'
import { Hlc } from '../../src/core/hlc'
import { SeededRng } from '../../src/core/rng'
import { formatUuid } from '../../src/core/uuid'
import { SimNetwork } from './network'

// Seeded simulation of the leaderless quorum coordinator (DESIGN §6 "Mode 3", §10): 3–5 replicas
// (in-memory maps applying applyLww, durable across restarts), 2–3 coordinators each with its own
// Hlc on a clock offset up to ±CLOCK_OFFSET_MAX_MS, N = 3 from rendezvous placement, W and R drawn
// in 1..3 per seed, writes, deletes and reads of a few keys from random coordinators (acknowledged
// writes are often read back at once). Every seed runs three phases:
//  calm   no loss, no faults, accurate liveness: every operation succeeds and no hint is created.
//  faults up to 10 % loss, replicas stopping and restarting (a send to a stopped replica is
//         refused → onFail), partitions of replicas and coordinators, stale liveness views, replica
//         RPC errors before or after applying.
//  heal   partitions healed, replicas restarted; hints (kept per target by each coordinator,
//         delivered every HINT_INTERVAL_MS to targets it can reach, deleted on ack) drain.
// Then, without anti-entropy:
//  - every replica of a key holds the same version, and no other node holds the key;
//  - no acknowledged write is lost: that version is ≥ every acknowledged one;
//  - nothing never written appears (neither made up nor a write refused up front): it is the
//    highest versionId among the writes that were sent, acknowledged or of unknown outcome — each
//    reached every replica by apply or hint; every value a read returned was sent too;
//  - with W + R > N, a read started after a write was acknowledged returned it or a newer one
//    (the quorums are strict, so this holds in the faults phase as well, not only in the calm one);
//  - per write: exactly one of ack or hint per replica, no hint for a write refused up front;
//    per coordinator: version ids strictly increase; a fresh read returns the converged version
//    and repairs nothing.
// Coordinators do not crash here: a hint lost with its coordinator is anti-entropy's to repair.
//
// Replay one seed: SEED=<n> npx vitest run tests/sim/quorum.sim.test.ts
// More seeds:      SIM_SEEDS=<count> npx vitest run tests/sim/quorum.sim.test.ts
// Counts of what the seeds exercised: SIM_STATS=1 …

const SIM_SEEDS = Number(process.env.SIM_SEEDS ?? 100)
const SEED_LIST = process.env.SEED !== undefined && process.env.SEED !== '' ? [Number(process.env.SEED)] : Array.from({ length: SIM_SEEDS }, (_, i) => i + 1)

const N = 3
const EPOCH_MS = 1_767_225_600_000
const MIN_DELAY_MS = 1
const MAX_DELAY_MS = 50
const MAX_LOSS = 0.1
const CLOCK_OFFSET_MAX_MS = 200
/** Timeouts are drawn in this range: above the largest round trip, so the calm phase never times out. */
const MIN_TIMEOUT_MS = 200
const MAX_TIMEOUT_MS = 600
const CALM_MS = 3_000
const CALM_OPS = 20
const FAULT_MS = 10_000
const FAULT_OPS = 50
/** Hint delivery round (the shell's is 10 s; shorter here so a seed runs quickly). */
const HINT_INTERVAL_MS = 100
/** A hint sent but not acknowledged is sent again after this. */
const HINT_RETRY_MS = 300
const HINTS_PER_ROUND = 20
/** After heal, every write decided and every hint delivered within this. */
const DRAIN_BOUND_MS = 30_000
const RPC_ERROR_PROBABILITY = 0.03
const STALE_VIEW_PROBABILITY = 0.15
/** Chance that an acknowledged write is read back within MAX_DELAY_MS / 2 (from any coordinator). */
const READ_BACK_PROBABILITY = 0.6

type Wire = QuorumMessage | { type: 'rpc-error', reqId: number, from: number }
type Phase = 'calm' | 'faults' | 'heal'

interface WriteRec {
  op: number
  key: string
  version: Versioned
  coord: number
  phase: Phase
  startAt: number
  status: 'pending' | 'succeeded' | 'refused' | 'failed'
  decidedAt: number
}

interface ReadRec {
  op: number
  key: string
  coord: number
  phase: Phase
  startAt: number
  status: 'pending' | 'succeeded' | 'failed'
  result: Versioned | null
  repairs: number
}

interface Hint { key: Uint8Array, version: Versioned, sentAt: number | null }

type Pending =
  | { kind: 'write', m: QuorumWrite, rec: WriteRec, hinted: number[] }
  | { kind: 'read', m: QuorumRead, rec: ReadRec }
  | { kind: 'hint', target: number, hint: Hint }

interface Coord {
  id: number
  address: string
  hlc: Hlc
  lastVersionId: Uint8Array | null
  nextReq: number
  pending: Map<number, Pending>
  /** target replica → hints not yet acknowledged (the durable hint log). */
  hints: Map<number, Hint[]>
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const hex = (v: Versioned | null | undefined): string => v == null ? 'none' : `${formatUuid(v.versionId)}${v.row === null ? '(tombstone)' : ''}`
const replicaAddr = (id: number): string => `r${id}`
const coordAddr = (id: number): string => `c${id}`

const stats = {
  seeds: 0,
  writes: 0,
  writesSucceeded: 0,
  writesRefused: 0,
  writesFailedAfterSend: 0,
  reads: 0,
  readsSucceeded: 0,
  readsFailed: 0,
  readAfterAckChecked: 0,
  hintsCreated: 0,
  hintsDelivered: 0,
  repairs: 0,
  refusedSends: 0,
  rpcErrors: 0
}

function int (rng: SeededRng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1))
}

function pick<T> (rng: SeededRng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)]!
}

function sameVersion (a: Versioned | undefined | null, b: Versioned | undefined | null): boolean {
  if (a == null || b == null) return a == null && b == null
  if (compareVersions(a, b) !== 0) return false
  if (a.row === null || b.row === null) return a.row === b.row
  return Buffer.from(a.row).equals(Buffer.from(b.row))
}

class QuorumSim {
  readonly net: SimNetwork<Wire>
  readonly replicaIds: number[]
  readonly stores = new Map<number, Map<string, Versioned>>()
  readonly coords: Coord[] = []
  readonly keys: string[]
  readonly prefs = new Map<string, number[]>()
  readonly writes: WriteRec[] = []
  readonly reads: ReadRec[] = []
  readonly w: number
  readonly r: number
  readonly writeTimeoutMs: number
  readonly readTimeoutMs: number
  readonly ctx: string
  phase: Phase = 'calm'
  private ops = 0
  /** address → partition side while partitioned (mirrors what SimNetwork was told). */
  private groups: Map<string, number> | null = null
  private partitionEpoch = 0

  constructor (readonly seed: number, readonly rng: SeededRng) {
    const m = int(rng, 3, 5)
    const c = int(rng, 2, 3)
    this.w = int(rng, 1, 3)
    this.r = int(rng, 1, 3)
    this.writeTimeoutMs = int(rng, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)
    this.readTimeoutMs = int(rng, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)
    this.net = new SimNetwork<Wire>(rng, { minDelayMs: MIN_DELAY_MS, maxDelayMs: MAX_DELAY_MS, lossProbability: 0 })
    this.replicaIds = Array.from({ length: m }, (_, i) => i + 1)
    this.keys = Array.from({ length: int(rng, 2, 5) }, (_, i) => `k${i}`)
    this.keys.forEach((k, i) => this.prefs.set(k, preferenceList(i, this.replicaIds, N)))
    this.ctx = `seed=${seed} replicas=${m} coordinators=${c} keys=${this.keys.length} W=${this.w} R=${this.r}`
    for (const id of this.replicaIds) {
      this.stores.set(id, new Map())
      this.startReplica(id)
    }
    for (let i = 0; i < c; i++) {
      const id = 101 + i
      const address = coordAddr(id)
      const offset = Math.round((rng.next() * 2 - 1) * CLOCK_OFFSET_MAX_MS)
      const coord: Coord = {
        id,
        address,
        hlc: new Hlc({
          nodeId: id,
          rng: new SeededRng(rng.u32()),
          clock: { now: () => EPOCH_MS + this.net.localTime(address), monotonic: () => this.net.localTime(address) }
        }),
        lastVersionId: null,
        nextReq: 1,
        pending: new Map(),
        hints: new Map()
      }
      this.coords.push(coord)
      this.net.start(address, offset, (from, msg, localNow) => this.coordReceive(coord, from, msg, localNow))
      this.net.every(address, rng.next() * HINT_INTERVAL_MS, HINT_INTERVAL_MS, localNow => this.deliverHints(coord, localNow))
    }
  }

  get now (): number { return this.net.now }

  fail (message: string): never {
    throw new Error(`${this.ctx} t=${Math.round(this.now)}: ${message}`)
  }

  // ---- replicas -------------------------------------------------------------------------------

  startReplica (id: number): void {
    const store = this.stores.get(id)!
    this.net.start(replicaAddr(id), 0, (from, msg) => {
      const faulty = this.phase === 'faults'
      if (msg.type === 'apply') {
        // An RPC error may come before the apply (nothing stored) or after it (stored, unacknowledged).
        const err = faulty && this.rng.next() < RPC_ERROR_PROBABILITY ? (this.rng.next() < 0.5 ? 'before' : 'after') : null
        if (err !== 'before') {
          const key = dec.decode(msg.key)
          store.set(key, applyLww(store.get(key), msg.version).store)
        }
        if (err !== null) stats.rpcErrors++
        this.send(replicaAddr(id), from, err === null ? { type: 'apply-ack', reqId: msg.reqId, from: id } : { type: 'rpc-error', reqId: msg.reqId, from: id })
      } else if (msg.type === 'read') {
        if (faulty && this.rng.next() < RPC_ERROR_PROBABILITY) {
          stats.rpcErrors++
          this.send(replicaAddr(id), from, { type: 'rpc-error', reqId: msg.reqId, from: id })
          return
        }
        this.send(replicaAddr(id), from, { type: 'read-reply', reqId: msg.reqId, from: id, version: store.get(dec.decode(msg.key)) ?? null })
      } else {
        this.fail(`replica ${id} got a ${msg.type}`)
      }
    })
  }

  /** Copies the message, as the wire would: no object is shared between hosts. */
  send (from: string, to: string, msg: Wire): void {
    this.net.send(from, to, structuredClone(msg))
  }

  reachable (a: string, b: string): boolean {
    if (!this.net.isUp(a) || !this.net.isUp(b)) return false
    return this.groups === null || this.groups.get(a) === this.groups.get(b)
  }

  // ---- coordinators ---------------------------------------------------------------------------

  /** What the coordinator's gossip says of the key's replicas; in the faults phase sometimes stale. */
  aliveView (coord: Coord, replicas: readonly number[]): Set<number> {
    const view = new Set(replicas.filter(id => this.reachable(coord.address, replicaAddr(id))))
    if (this.phase === 'faults' && this.rng.next() < STALE_VIEW_PROBABILITY) {
      const id = pick(this.rng, replicas)
      if (view.has(id)) view.delete(id)
      else view.add(id)
    }
    return view
  }

  /** Sends to a replica; a stopped one refuses the connection (→ onFail soon), a partitioned one is silent. */
  sendToReplica (coord: Coord, to: number, msg: QuorumMessage): void {
    if (this.net.isUp(replicaAddr(to))) { this.send(coord.address, replicaAddr(to), msg); return }
    stats.refusedSends++
    this.net.after(1 + this.rng.next() * 4, () => {
      this.coordReceive(coord, replicaAddr(to), { type: 'rpc-error', reqId: msg.reqId, from: to }, this.net.localTime(coord.address))
    })
  }

  startWrite (coord: Coord, key: string, row: Uint8Array | null): void {
    const versionId = coord.hlc.generate()
    if (coord.lastVersionId !== null && compareVersions({ versionId, row }, { versionId: coord.lastVersionId, row }) <= 0) {
      this.fail(`coordinator ${coord.id} HLC went backwards`)
    }
    coord.lastVersionId = versionId
    const version: Versioned = { versionId, row }
    const rec: WriteRec = { op: this.ops++, key, version, coord: coord.id, phase: this.phase, startAt: this.now, status: 'pending', decidedAt: -1 }
    this.writes.push(rec)
    stats.writes++
    const replicas = this.prefs.get(key)!
    const localNow = this.net.localTime(coord.address)
    const reqId = coord.nextReq++
    const m = new QuorumWrite({ reqId, key: enc.encode(key), version, replicas, w: this.w, alive: this.aliveView(coord, replicas), deadlineMs: localNow + this.writeTimeoutMs })
    const p: Pending = { kind: 'write', m, rec, hinted: [] }
    coord.pending.set(reqId, p)
    this.net.after(this.writeTimeoutMs, () => this.onWrite(coord, p, m.tick(this.net.localTime(coord.address))))
    this.onWrite(coord, p, m.start(localNow))
  }

  onWrite (coord: Coord, p: Pending & { kind: 'write' }, outs: WriteOutput[]): void {
    const { m, rec } = p
    for (const o of outs) {
      if (o.type === 'send') this.sendToReplica(coord, o.to, o.msg)
      else if (o.type === 'hint') {
        if (p.hinted.includes(o.to) || m.acked.includes(o.to)) this.fail(`write ${rec.op}: second hint or hint for an acked replica ${o.to}`)
        p.hinted.push(o.to)
        stats.hintsCreated++
        const queue = coord.hints.get(o.to) ?? []
        queue.push({ key: o.key, version: o.version, sentAt: null })
        coord.hints.set(o.to, queue)
      } else {
        if (rec.status !== 'pending') this.fail(`write ${rec.op} decided twice`)
        rec.decidedAt = this.now
        if (o.type === 'succeeded') {
          rec.status = 'succeeded'
          stats.writesSucceeded++
          if (o.acked.length < this.w) this.fail(`write ${rec.op} succeeded with ${o.acked.length} acks < W`)
          // Read the key back soon, often before every replica has the write (the check of scenario step 4).
          if (this.phase !== 'heal' && this.rng.next() < READ_BACK_PROBABILITY) {
            this.net.after(this.rng.next() * MAX_DELAY_MS / 2, () => this.startRead(pick(this.rng, this.coords), rec.key))
          }
        } else if (o.error.details.reason === 'not_enough_alive') {
          rec.status = 'refused'
          stats.writesRefused++
        } else {
          rec.status = 'failed'
          stats.writesFailedAfterSend++
        }
      }
    }
    if (m.finished) {
      coord.pending.delete(m.reqId)
      const replicas = this.prefs.get(rec.key)!
      if (rec.status === 'refused') {
        if (p.hinted.length > 0) this.fail(`write ${rec.op} refused up front but hinted`)
      } else {
        // Exactly one of ack or hint per replica.
        const covered = [...m.acked, ...p.hinted].sort()
        if (covered.join() !== [...replicas].sort().join()) this.fail(`write ${rec.op}: acked ${m.acked} + hinted ${p.hinted} ≠ replicas ${replicas}`)
      }
    }
  }

  startRead (coord: Coord, key: string): void {
    const rec: ReadRec = { op: this.ops++, key, coord: coord.id, phase: this.phase, startAt: this.now, status: 'pending', result: null, repairs: 0 }
    this.reads.push(rec)
    stats.reads++
    const replicas = this.prefs.get(key)!
    const localNow = this.net.localTime(coord.address)
    const reqId = coord.nextReq++
    const m = new QuorumRead({ reqId, key: enc.encode(key), replicas, r: this.r, alive: this.aliveView(coord, replicas), deadlineMs: localNow + this.readTimeoutMs })
    const p: Pending = { kind: 'read', m, rec }
    coord.pending.set(reqId, p)
    this.net.after(this.readTimeoutMs, () => this.onRead(coord, p, m.tick(this.net.localTime(coord.address))))
    this.onRead(coord, p, m.start(localNow))
  }

  onRead (coord: Coord, p: Pending & { kind: 'read' }, outs: ReadOutput[]): void {
    const { m, rec } = p
    for (const o of outs) {
      if (o.type === 'send') this.sendToReplica(coord, o.to, o.msg)
      else if (o.type === 'repair') {
        if (rec.status !== 'succeeded') this.fail(`read ${rec.op}: repair before the answer`)
        rec.repairs++
        stats.repairs++
        this.sendToReplica(coord, o.to, o.msg)
      } else {
        if (rec.status !== 'pending') this.fail(`read ${rec.op} decided twice`)
        if (o.type === 'succeeded') {
          rec.status = 'succeeded'
          rec.result = o.version
          stats.readsSucceeded++
        } else {
          rec.status = 'failed'
          stats.readsFailed++
        }
      }
    }
    if (m.finished) coord.pending.delete(m.reqId)
  }

  coordReceive (coord: Coord, _from: string, msg: Wire, localNow: number): void {
    const p = coord.pending.get(msg.reqId)
    if (p === undefined) return // a machine already finished, or an ack of a read repair
    if (msg.type === 'read-reply' && msg.version !== null) coord.hlc.update(msg.version.versionId) // remote event (DESIGN §3)
    switch (p.kind) {
      case 'write':
        if (msg.type === 'apply-ack') this.onWrite(coord, p, p.m.onAck(msg.from, localNow))
        else if (msg.type === 'rpc-error') this.onWrite(coord, p, p.m.onFail(msg.from, localNow))
        break
      case 'read':
        if (msg.type === 'read-reply') this.onRead(coord, p, p.m.onReply(msg.from, msg.version, localNow))
        else if (msg.type === 'rpc-error') this.onRead(coord, p, p.m.onFail(msg.from, localNow))
        break
      case 'hint': {
        coord.pending.delete(msg.reqId)
        const queue = coord.hints.get(p.target) ?? []
        const i = queue.indexOf(p.hint)
        if (msg.type === 'apply-ack' && i >= 0) {
          queue.splice(i, 1)
          stats.hintsDelivered++
        } else if (msg.type === 'rpc-error') {
          p.hint.sentAt = null // retry next round
        }
        break
      }
    }
  }

  /** One hint round: targets this coordinator can reach get up to HINTS_PER_ROUND hints each. */
  deliverHints (coord: Coord, localNow: number): void {
    for (const [target, queue] of coord.hints) {
      if (queue.length === 0 || !this.reachable(coord.address, replicaAddr(target))) continue
      let sent = 0
      for (const hint of queue) {
        if (sent >= HINTS_PER_ROUND) break
        if (hint.sentAt !== null && localNow - hint.sentAt < HINT_RETRY_MS) continue
        hint.sentAt = localNow
        const reqId = coord.nextReq++
        coord.pending.set(reqId, { kind: 'hint', target, hint })
        this.sendToReplica(coord, target, { type: 'apply', reqId, key: hint.key, version: hint.version })
        sent++
      }
    }
  }

  // ---- scenario -------------------------------------------------------------------------------

  /** `count` random operations at random times in [from, from + span). */
  scheduleOps (from: number, span: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.net.at(from + this.rng.next() * span, () => {
        const coord = pick(this.rng, this.coords)
        const key = pick(this.rng, this.keys)
        const x = this.rng.next()
        if (x < 0.55) this.startWrite(coord, key, enc.encode(`${key}=${this.ops}`))
        else if (x < 0.7) this.startWrite(coord, key, null)
        else this.startRead(coord, key)
      })
    }
  }

  /** Stops and partitions at random times in [from, from + span), each lasting a while. */
  scheduleFaults (from: number, span: number): void {
    let t = from + this.rng.next() * 500
    while (t < from + span) {
      const at = t
      if (this.rng.next() < 0.55) {
        const id = pick(this.rng, this.replicaIds)
        const downFor = 200 + this.rng.next() * 2800
        this.net.at(at, () => {
          if (!this.net.isUp(replicaAddr(id))) return
          this.net.stop(replicaAddr(id))
          this.net.after(downFor, () => { if (!this.net.isUp(replicaAddr(id))) this.startReplica(id) })
        })
      } else {
        const hosts = [...this.replicaIds.map(replicaAddr), ...this.coords.map(c => c.address)]
        const duration = 300 + this.rng.next() * 2700
        this.net.at(at, () => {
          const side = new Map(hosts.map(h => [h, this.rng.next() < 0.5 ? 0 : 1]))
          this.groups = side
          this.net.partition([0, 1].map(g => hosts.filter(h => side.get(h) === g)))
          const epoch = ++this.partitionEpoch
          this.net.after(duration, () => { if (this.partitionEpoch === epoch) this.heal() })
        })
      }
      t += 300 + this.rng.next() * 900
    }
  }

  heal (): void {
    this.partitionEpoch++
    this.groups = null
    this.net.heal()
  }

  /** Every write machine finished and every hint log empty. */
  drained (): boolean {
    return this.coords.every(c => [...c.pending.values()].every(p => p.kind !== 'write') && [...c.hints.values()].every(q => q.length === 0))
  }

  runUntil (pred: () => boolean, deadline: number): boolean {
    while (!pred()) {
      if (this.now >= deadline) return false
      this.net.runUntil(Math.min(deadline, this.now + 50))
    }
    return true
  }
}

function scenario (seed: number): void {
  const rng = new SeededRng(seed)
  const sim = new QuorumSim(seed, rng)
  const { ctx } = sim
  stats.seeds++

  // (1) Calm: no loss, no faults.
  sim.scheduleOps(0, CALM_MS - MAX_TIMEOUT_MS, CALM_OPS)
  sim.net.runUntil(CALM_MS)
  const calmWrites = sim.writes.filter(w => w.phase === 'calm')
  const calmReads = sim.reads.filter(r => r.phase === 'calm')
  expect(calmWrites.filter(w => w.status !== 'succeeded').map(w => w.op), `${ctx}: every calm write succeeds`).toEqual([])
  expect(calmReads.filter(r => r.status !== 'succeeded').map(r => r.op), `${ctx}: every calm read succeeds`).toEqual([])
  expect(sim.coords.flatMap(c => [...c.hints.values()].flat()).length, `${ctx}: the calm phase creates no hints`).toBe(0)

  // (2) Faults.
  sim.phase = 'faults'
  sim.net.options.lossProbability = rng.next() * MAX_LOSS
  sim.scheduleOps(CALM_MS, FAULT_MS, FAULT_OPS)
  sim.scheduleFaults(CALM_MS, FAULT_MS)
  sim.net.runUntil(CALM_MS + FAULT_MS)

  // (3) Heal: everyone back, the hint logs drain. Some loss stays: hints are retried until acked.
  sim.phase = 'heal'
  sim.heal()
  for (const id of sim.replicaIds) if (!sim.net.isUp(replicaAddr(id))) sim.startReplica(id)
  sim.net.options.lossProbability = Math.min(sim.net.options.lossProbability, 0.02)
  const drainedBy = sim.now + DRAIN_BOUND_MS
  expect(sim.runUntil(() => sim.drained(), drainedBy), `${ctx}: every write decided and every hint delivered within ${DRAIN_BOUND_MS} ms of the heal`).toBe(true)
  sim.net.runUntil(sim.now + 2 * MAX_DELAY_MS) // let the last messages land (they carry nothing new)

  // (4) With W + R > N, a read started after a write was acknowledged returns that write or a newer
  // one: the W replicas that applied it and the R that answered share one, and a replica's store
  // only moves forward. Quorums are strict (hints never count), so this holds through the faults too.
  if (sim.w + sim.r > N) {
    for (const read of sim.reads) {
      if (read.status !== 'succeeded') continue
      for (const wr of sim.writes) {
        if (wr.key !== read.key || wr.status !== 'succeeded' || wr.decidedAt >= read.startAt) continue
        stats.readAfterAckChecked++
        if (read.result === null || compareVersions(read.result, wr.version) < 0) {
          expect.fail(`${ctx}: read ${read.op} (${read.phase}) of ${read.key} at ${read.startAt} returned ${hex(read.result)}, older than write ${wr.op} ${hex(wr.version)} acknowledged at ${wr.decidedAt}`)
        }
      }
    }
  }

  // Every write is decided.
  expect(sim.writes.filter(w => w.status === 'pending').map(w => w.op), `${ctx}: undecided writes`).toEqual([])
  // Nothing a read returned was made up: it is a version some coordinator sent.
  const sentIds = new Set(sim.writes.filter(w => w.status === 'succeeded' || w.status === 'failed').map(w => `${w.key}/${hex(w.version)}`))
  for (const read of sim.reads) {
    if (read.status === 'succeeded' && read.result !== null && !sentIds.has(`${read.key}/${hex(read.result)}`)) {
      expect.fail(`${ctx}: read ${read.op} of ${read.key} returned ${hex(read.result)}, which no coordinator sent`)
    }
  }

  for (const key of sim.keys) {
    const replicas = sim.prefs.get(key)!
    const held = replicas.map(id => sim.stores.get(id)!.get(key))
    // (a) Convergence without anti-entropy: the replicas of the key agree.
    for (let i = 1; i < held.length; i++) {
      if (!sameVersion(held[0], held[i])) {
        expect.fail(`${ctx}: ${key} diverged: ${replicas.map((id, j) => `replica ${id} holds ${hex(held[j])}`).join(', ')}`)
      }
    }
    for (const id of sim.replicaIds) {
      if (!replicas.includes(id) && sim.stores.get(id)!.has(key)) expect.fail(`${ctx}: replica ${id} is not in ${key}'s preference list ${replicas} but holds it`)
    }
    const final = held[0]
    const keyWrites = sim.writes.filter(w => w.key === key)
    // (b) No acknowledged write is lost.
    for (const w of keyWrites) {
      if (w.status === 'succeeded' && (final === undefined || compareVersions(final, w.version) < 0)) {
        expect.fail(`${ctx}: ${key}: acknowledged write ${w.op} ${hex(w.version)} lost; replicas hold ${hex(final)}`)
      }
    }
    // (c) Nothing that was never written: the final version is a sent write (not one refused up front) …
    const sent = keyWrites.filter(w => w.status === 'succeeded' || w.status === 'failed')
    if (final !== undefined && !sent.some(w => sameVersion(w.version, final))) {
      const refused = keyWrites.find(w => w.status === 'refused' && compareVersions(w.version, final) === 0)
      expect.fail(`${ctx}: ${key}: replicas hold ${hex(final)}, ${refused !== undefined ? `write ${refused.op}, refused up front` : 'which nobody wrote'}`)
    }
    // … and it is the highest of them (every sent write reached every replica by apply or hint).
    const highest = sent.reduce<WriteRec | null>((best, w) => best === null || compareVersions(w.version, best.version) > 0 ? w : best, null)
    expect(hex(final), `${ctx}: ${key}: final version is the highest-versionId write sent (write ${highest?.op})`).toBe(hex(highest?.version))
  }

  // A read now (no loss: R may be N), from any coordinator, returns the converged version and repairs nothing.
  sim.net.options.lossProbability = 0
  const finals: ReadRec[] = []
  for (const key of sim.keys) {
    const coord = pick(rng, sim.coords)
    sim.startRead(coord, key)
    finals.push(sim.reads[sim.reads.length - 1]!)
  }
  sim.net.runUntil(sim.now + MAX_TIMEOUT_MS + 1)
  for (const read of finals) {
    const expected = sim.stores.get(sim.prefs.get(read.key)![0]!)!.get(read.key) ?? null
    expect(read.status, `${ctx}: final read of ${read.key}`).toBe('succeeded')
    expect(hex(read.result), `${ctx}: final read of ${read.key}`).toBe(hex(expected))
    expect(read.repairs, `${ctx}: final read of ${read.key} repairs nothing`).toBe(0)
  }
}

describe('leaderless quorum simulation', () => {
  beforeAll(async () => { await initHashing() })

  for (const seed of SEED_LIST) {
    it(`seed=${seed}`, () => { scenario(seed) })
  }

  it.skipIf(SEED_LIST.length < 20)('the seeds exercise every path', () => {
    expect(stats.writesSucceeded).toBeGreaterThan(0)
    expect(stats.writesRefused, 'writes refused up front (fewer than W alive)').toBeGreaterThan(0)
    expect(stats.writesFailedAfterSend, 'writes failed after sending (timeout or replica failures)').toBeGreaterThan(0)
    expect(stats.readsFailed).toBeGreaterThan(0)
    expect(stats.readAfterAckChecked, 'reads after acknowledged writes checked with W + R > N').toBeGreaterThan(0)
    expect(stats.hintsDelivered).toBeGreaterThan(0)
    expect(stats.repairs).toBeGreaterThan(0)
    expect(stats.refusedSends).toBeGreaterThan(0)
    expect(stats.rpcErrors).toBeGreaterThan(0)
  })

  afterAll(() => {
    if (process.env.SIM_STATS !== undefined) console.log(JSON.stringify(stats, null, 1))
  })
})
