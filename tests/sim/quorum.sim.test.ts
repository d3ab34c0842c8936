import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hintsOf } from '../../src/cluster/hints/batches'
import { HintDelivery } from '../../src/cluster/hints/delivery'
import { HintDeliveryRunner } from '../../src/cluster/hints/runner'
import { ShardedHintLog, type HintRequester } from '../../src/cluster/hints/sharded-log'
import { ShardHints } from '../../src/shard/hint-ops'
import { HintStore } from '../../src/storage/hint-store'
import { preferenceList } from '../../src/cluster/placement'
import {
  PointRead, StatementWrite, type PointReadEffect, type ShardBatchSpec, type StatementWriteEffect
} from '../../src/cluster/quorum/coordinator'
import { isScratchBirdError } from '../../src/core/errors'
import { initHashing } from '../../src/core/hash'
import { Hlc, uuidv8Counter, uuidv8Timestamp } from '../../src/core/hlc'
import { SeededRng } from '../../src/core/rng'
import { formatUuid } from '../../src/core/uuid'
import { ShardEngine, type ReplicaWrite, type VersionedRow } from '../../src/storage/engine'
import type { Tuple } from '../../src/storage/keys'
import { MemoryKv, MemoryStore } from '../../src/storage/kv-memory'
import { compareVersionIds } from '../../src/storage/lww'
import { hlcTs, type HlcTs, type Xid } from '../../src/storage/types'
import { makeXid } from '../../src/storage/xid'
import { SimNetwork } from './network'
import { simSeeds } from './seeds'
import { asNodeId, asShardId, type NodeId, type ShardId, shardIds } from '../../src/core/ids'

// Seeded simulation of leaderless quorum replication (DESIGN §6 "Mode 3", §10) running the shipped
// code: coordinators drive the production coordinator (cluster/quorum/coordinator.ts:
// StatementWrite, PointRead — which run the QuorumWrite / QuorumRead machines), keep hints in a
// hint log shaped as the node's — ShardedHintLog over the shard hint ops (src/shard/hint-ops.ts)
// on one HintStore per shard over MemoryKv (records from cluster/hints/batches.ts) — and deliver them with
// HintDeliveryRunner on the HintDelivery scheduler (cluster/hints/runner.ts, delivery.ts);
// replicas are ShardEngines over MemoryKv answering REPLICA_APPLY with applyVersions (the
// production LWW rule, storage/row-write.ts) and REPLICA_READ with getVersionedMany. What is
// simulated is only the I/O around them (the node's shell, src/node/quorum.ts, does the same with
// RPC and timers): the network, RPC timeouts and errors, crashes (a crashed replica's engines and
// a crashed coordinator's hint store are dropped, their data kept: a restart reopens them).
//
// 3–5 replica nodes, 2–3 shards placed by rendezvous hashing with N = 3, 2–3 coordinators each
// with its own Hlc on a clock offset up to ±CLOCK_OFFSET_MAX_MS, W and R drawn in 1..3 per seed.
// Statements write (insert/update or delete) one or two keys, possibly on two shards (one batch
// per shard, one xid); reads read one or two keys of a shard; acknowledged writes are often read
// back at once. Every seed runs these phases:
//  calm   no loss, no faults, accurate liveness: every operation succeeds and no hint is created.
//  faults up to 10 % loss, replicas and coordinators crashing and restarting (a send to a stopped
//         replica is refused), partitions of replicas and coordinators, stale liveness views,
//         replica RPC errors before or after applying.
//  heal   partitions healed, everyone restarted; the hint stores drain through HintDelivery.
//  repair one read of every key with R = N. In a quarter of the seeds the coordinators' hint logs
//         hold only a handful of hints per target (SB_HINT_LOG_FULL beyond, dropped as the shell
//         does), and a coordinator crash loses the hints its machines in flight had not emitted
//         yet (anti-entropy's in production): then replicas may stay stale after the heal and this
//         read's repairs must fix them; otherwise hints alone made the replicas agree and it
//         repairs nothing. Hints already stored survive a coordinator crash and are delivered.
// Then, without anti-entropy:
//  - replicas converge: every replica of a key holds the same version (engine getVersioned);
//  - no acknowledged write is lost: that version is ≥ every acknowledged one;
//  - no deleted row comes back, nothing never written appears: the version held is the highest
//    version id among the writes that were sent (acknowledged or of unknown outcome) — each
//    reached every replica by apply or hint (where hints were refused or lost: a version that
//    was sent, and no acknowledged one lost); every row a read returned was sent too;
//  - with W + R > N, a read started after a write was acknowledged returned it or a newer one;
//  - per shard batch: exactly one of ack or hint per replica, no hint for a batch refused up
//    front; per coordinator: version ids strictly increase; a fresh read returns the converged
//    rows and repairs nothing.
//
// Replay one seed: SEED=<n> npx vitest run tests/sim/quorum.sim.test.ts
// More seeds:      SIM_SEEDS=<count> npx vitest run tests/sim/quorum.sim.test.ts
// Counts of what the seeds exercised: SIM_STATS=1 …

const SEED_LIST = simSeeds()

const N = 3
const TABLE = 1
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
/** HintDelivery's round period (production: 10 s) and how often it is ticked (production: 1 s). */
const HINT_INTERVAL_MS = 100
const HINT_TICK_MS = 25
const HINT_RATE = 200
/** After heal, every write decided and every hint delivered within this. */
const DRAIN_BOUND_MS = 30_000
const RPC_ERROR_PROBABILITY = 0.03
const STALE_VIEW_PROBABILITY = 0.15
/** Chance that an acknowledged write is read back within MAX_DELAY_MS / 2 (from any coordinator). */
const READ_BACK_PROBABILITY = 0.6
/** Share of fault events that crash a coordinator (the rest crash a replica or partition the network). */
const COORDINATOR_CRASH_SHARE = 0.15
/** Share of seeds whose coordinators keep at most a handful of hints per target (SB_HINT_LOG_FULL beyond). */
const CAPPED_HINT_LOG_PROBABILITY = 0.25
/** The simulated time one storage operation may take: the loop lets promises settle every step. */
const STEP_MS = 1

type Request =
  | { type: 'apply', shard: ShardId, writes: ReplicaWrite[], commitHlc: HlcTs, xid?: Xid }
  | { type: 'read', shard: ShardId, tableId: number, pks: Tuple[] }
type Wire =
  | { type: 'call', callId: number, req: Request }
  | { type: 'ok', callId: number, versions?: Array<VersionedRow | null> }
  | { type: 'error', callId: number, code: string }
type Phase = 'calm' | 'faults' | 'heal'

interface WriteRec {
  op: number
  key: number
  versionId: Uint8Array
  row: Uint8Array | null
  coord: number
  phase: Phase
  startAt: number
  /** 'crashed': its coordinator crashed before the row's batch was decided (unknown outcome). */
  status: 'pending' | 'succeeded' | 'refused' | 'failed' | 'crashed'
  decidedAt: number
}

interface ReadRec {
  op: number
  key: number
  coord: number
  phase: Phase
  startAt: number
  status: 'pending' | 'succeeded' | 'failed'
  row: Uint8Array | null
  repairs: number
}

interface Call { onOk: (versions: Array<VersionedRow | null> | undefined) => void, onErr: (code: string) => void }

interface Coord {
  id: NodeId
  address: string
  offsetMs: number
  /** Bumped on every crash: callbacks of an earlier life do nothing. */
  life: number
  /** Hint store open and delivery running (a restart reopens the store first). */
  ready: boolean
  /** The hint stores' data, per shard: it survives a crash (HintStore.open rescans it). */
  hintData: Map<ShardId, MemoryStore>
  hlc: Hlc
  lastVersionId: Uint8Array | null
  xids: bigint
  nextReq: number
  nextCall: number
  calls: Map<number, Call>
  /** Unfinished statements and their rows. */
  writes: Map<StatementWrite, WriteRec[]>
  hints: ShardedHintLog
  /** Closes the per-shard hint stores (a crash drops them; their data stays in hintData). */
  closeHints: () => Promise<void>
  runner: HintDeliveryRunner
}

interface Replica {
  id: NodeId
  shards: ShardId[]
  stores: Map<ShardId, MemoryStore>
  kvs: MemoryKv[]
  engines: Map<ShardId, ShardEngine> | null
  life: number
}

const enc = new TextEncoder()
const hex = (b: Uint8Array | null | undefined): string => b == null ? 'none' : Buffer.from(b).toString('hex')
const verStr = (v: { versionId: Uint8Array, row: Uint8Array | null } | null | undefined): string =>
  v == null ? 'none' : `${formatUuid(v.versionId)}${v.row === null ? '(tombstone)' : `=${Buffer.from(v.row).toString()}`}`
const replicaAddr = (id: number): string => `r${id}`
const coordAddr = (id: number): string => `c${id}`

const stats = {
  seeds: 0,
  statements: 0,
  multiShardStatements: 0,
  writesSucceeded: 0,
  writesRefused: 0,
  writesFailedAfterSend: 0,
  reads: 0,
  readsSucceeded: 0,
  readsFailed: 0,
  readAfterAckChecked: 0,
  hintsStored: 0,
  hintsDelivered: 0,
  hintsRefused: 0,
  repairRoundRepairs: 0,
  repairs: 0,
  refusedSends: 0,
  rpcErrors: 0,
  replicaCrashes: 0,
  coordinatorCrashes: 0,
  hintsKeptOverCrash: 0,
  writesCrashed: 0
}

function int (rng: SeededRng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1))
}

function pick<T> (rng: SeededRng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)]!
}

function sameVersion (a: VersionedRow | null | undefined, b: VersionedRow | null | undefined): boolean {
  if (a == null || b == null) return a == null && b == null
  if (compareVersionIds(a.versionId, b.versionId) !== 0) return false
  if (a.row === null || b.row === null) return a.row === b.row
  return Buffer.from(a.row).equals(Buffer.from(b.row))
}

/** The node shell's commit HLC (src/node/hlc-ts.ts nextHlcTs): a fresh local HLC event. */
function nextTs (hlc: Hlc): HlcTs {
  const id = hlc.generate()
  return hlcTs(uuidv8Timestamp(id), uuidv8Counter(id))
}

class QuorumSim {
  readonly net: SimNetwork<Wire>
  readonly replicaIds: NodeId[]
  readonly replicas = new Map<number, Replica>()
  readonly coords: Coord[] = []
  readonly keys: number[]
  readonly shards: number
  readonly prefs = new Map<ShardId, NodeId[]>()
  readonly writes: WriteRec[] = []
  readonly reads: ReadRec[] = []
  readonly w: number
  readonly r: number
  readonly writeTimeoutMs: number
  readonly readTimeoutMs: number
  readonly ctx: string
  phase: Phase = 'calm'
  /** Hints this seed's coordinators stored, and those their full hint logs refused. */
  hintsStored = 0
  hintsRefused = 0
  /** Statements a coordinator crash cut short (their remaining hints never made). */
  hintsLost = 0
  /** Most hints a coordinator keeps per target: small in some seeds, so read repair has work left. */
  readonly hintCap: number | undefined
  private ops = 0
  /** Storage operations in flight (engines, hint stores): they finish within one step. */
  private busy = 0
  private error: Error | null = null
  /** address → partition side while partitioned (mirrors what SimNetwork was told). */
  private groups: Map<string, number> | null = null
  private partitionEpoch = 0

  constructor (readonly seed: number, readonly rng: SeededRng) {
    const m = int(rng, 3, 5)
    const c = int(rng, 2, 3)
    this.shards = int(rng, 2, 3)
    this.w = int(rng, 1, 3)
    this.r = int(rng, 1, 3)
    this.writeTimeoutMs = int(rng, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)
    this.readTimeoutMs = int(rng, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)
    this.hintCap = rng.next() < CAPPED_HINT_LOG_PROBABILITY ? int(rng, 1, 6) : undefined
    this.net = new SimNetwork<Wire>(rng, { minDelayMs: MIN_DELAY_MS, maxDelayMs: MAX_DELAY_MS, lossProbability: 0 })
    this.replicaIds = Array.from({ length: m }, (_, i) => asNodeId(i + 1))
    this.keys = Array.from({ length: int(rng, 2, 5) }, (_, i) => i)
    for (const s of shardIds(this.shards)) this.prefs.set(s, preferenceList(s, this.replicaIds, N))
    this.ctx = `seed=${seed} replicas=${m} coordinators=${c} shards=${this.shards} keys=${this.keys.length} W=${this.w} R=${this.r}${this.hintCap !== undefined ? ` hint-cap=${this.hintCap}` : ''}`
    for (const id of this.replicaIds) {
      const shards = [...this.prefs].filter(([, p]) => p.includes(id)).map(([s]) => s)
      this.replicas.set(id, { id, shards, stores: new Map(shards.map(s => [s, new MemoryStore()])), kvs: [], engines: null, life: 0 })
    }
    for (let i = 0; i < c; i++) {
      const id = asNodeId(101 + i)
      const address = coordAddr(id)
      const offset = Math.round((rng.next() * 2 - 1) * CLOCK_OFFSET_MAX_MS)
      this.coords.push({
        id,
        address,
        offsetMs: offset,
        life: 0,
        ready: false,
        hintData: new Map(),
        hlc: new Hlc({
          nodeId: id,
          rng: new SeededRng(rng.u32()),
          clock: { now: () => EPOCH_MS + this.net.localTime(address), monotonic: () => this.net.localTime(address) }
        }),
        lastVersionId: null,
        xids: 0n,
        nextReq: 1,
        nextCall: 1,
        calls: new Map(),
        writes: new Map(),
        hints: null as unknown as ShardedHintLog, // opened in init()
        closeHints: async () => {},
        runner: null as unknown as HintDeliveryRunner
      })
      this.net.start(address, offset, (_from, msg) => this.coordReceive(this.coords[i]!, msg))
    }
  }

  async init (): Promise<void> {
    for (const c of this.coords) this.startCoord(c)
    for (const id of this.replicaIds) this.startReplica(id)
    await this.settle()
  }

  /**
   * Starts (or restarts after a crash) a coordinator: its hint store is opened over the data that
   * survived (HintStore.open rescans it), then a HintDeliveryRunner on a fresh HintDelivery
   * scheduler ticks every HINT_TICK_MS. Its Hlc carries on (production restores it from the
   * persisted high-water mark).
   */
  startCoord (c: Coord): void {
    const life = ++c.life
    c.ready = false
    c.calls = new Map()
    c.writes = new Map()
    if (c.life > 1) this.net.start(c.address, c.offsetMs, (_from, msg) => this.coordReceive(c, msg))
    void this.io(this.openHintLog(c)).then(({ log: store, shardHints }) => {
      if (c.life !== life) { void this.io(shardHints.close()); return }
      if (life > 1) for (const t of store.stats().values()) stats.hintsKeptOverCrash += t.count
      c.hints = store
      c.closeHints = () => shardHints.close()
      c.runner = new HintDeliveryRunner({
        store: this.tracked(store),
        scheduler: new HintDelivery({ intervalMs: HINT_INTERVAL_MS, ratePerSecond: HINT_RATE }),
        send: (target, g) => this.callP(c, target, { type: 'apply', shard: g.shard, xid: g.xid, commitHlc: nextTs(c.hlc), writes: [...g.writes] }, this.writeTimeoutMs),
        alive: id => this.reachable(c.address, replicaAddr(id)),
        clock: { now: () => EPOCH_MS + this.net.localTime(c.address), monotonic: () => this.net.localTime(c.address) },
        onEvent: e => {
          if (c.life !== life) return // a crashed life's delivery failing on its closed store
          if (e.type === 'delivered') stats.hintsDelivered += e.count
          else if (e.type !== 'delivery-failed') this.fail(`hint delivery: ${e.type}`)
        }
      })
      this.net.every(c.address, this.now + this.rng.next() * HINT_TICK_MS, HINT_TICK_MS, () => this.deliveryTick(c))
      c.ready = true
    }, (e: unknown) => this.fail(`coordinator ${c.id}: hint store did not open: ${String(e)}`))
  }

  /** As the node: one HintStore per shard, served by the shard hint ops, summed by ShardedHintLog. */
  async openHintLog (c: Coord): Promise<{ log: ShardedHintLog, shardHints: ShardHints }> {
    const stores = new Map<ShardId, HintStore>()
    for (const shard of shardIds(this.shards)) {
      if (!c.hintData.has(shard)) c.hintData.set(shard, new MemoryStore())
      stores.set(shard, await HintStore.open(MemoryKv.open(c.hintData.get(shard)), { sync: false }))
    }
    const shardHints = new ShardHints(stores, undefined, 0)
    const request = ((op: keyof ShardHints['handlers'], req: never) => Promise.resolve(shardHints.handlers[op](req))) as HintRequester
    const log = new ShardedHintLog({ shardCount: { shards: this.shards }, request, maxMessageBytes: 1 << 20, maxHintsPerTarget: this.hintCap })
    await log.load()
    return { log, shardHints }
  }

  /**
   * A coordinator crash: in-flight statements die undecided (their rows' outcome is unknown, and
   * the hints their machines had not emitted yet are gone — anti-entropy's to repair, as the
   * read-repair round does here); stored hints survive in its hint store.
   */
  crashCoord (c: Coord): void {
    this.net.stop(c.address)
    c.life++
    stats.coordinatorCrashes++
    if (c.ready) {
      c.runner.stop()
      void this.io(c.closeHints())
    }
    c.ready = false
    for (const recs of c.writes.values()) {
      this.hintsLost++
      for (const rec of recs) {
        if (rec.status !== 'pending') continue
        rec.status = 'crashed'
        rec.decidedAt = this.now
        stats.writesCrashed++
      }
    }
    c.writes = new Map()
    c.calls = new Map()
  }

  /** Coordinators up with their hint store open. */
  upCoords (): Coord[] { return this.coords.filter(c => c.ready && this.net.isUp(c.address)) }

  get now (): number { return this.net.now }

  fail (message: string): never {
    const e = new Error(`${this.ctx} t=${Math.round(this.now)}: ${message}`)
    this.error ??= e
    throw e
  }

  key (k: number): Tuple { return [BigInt(k)] }
  shardOf (k: number): ShardId { return asShardId(k % this.shards) }

  // ---- the event loop -------------------------------------------------------------------------

  /** Tracks a storage operation; the loop lets it finish before simulated time moves on. */
  io<T> (p: Promise<T>): Promise<T> {
    this.busy++
    return p.finally(() => { this.busy-- })
  }

  async settle (): Promise<void> {
    for (let i = 0; this.busy > 0; i++) {
      if (i < 500) await Promise.resolve()
      else if (i < 600) await new Promise(resolve => setImmediate(resolve))
      else this.fail(`${this.busy} storage operation(s) did not finish`)
    }
    if (this.error !== null) throw this.error
  }

  async runUntil (t: number): Promise<void> {
    while (this.now < t) {
      this.net.runUntil(Math.min(t, this.now + STEP_MS))
      await this.settle()
    }
    await this.settle()
  }

  async runUntilTrue (pred: () => boolean, deadline: number): Promise<boolean> {
    while (!pred()) {
      if (this.now >= deadline) return false
      await this.runUntil(Math.min(deadline, this.now + 50))
    }
    return true
  }

  // ---- replicas: ShardEngines over MemoryKv -----------------------------------------------------

  startReplica (id: NodeId): void {
    const rep = this.replicas.get(id)!
    const life = ++rep.life
    rep.kvs = []
    rep.engines = null
    const opening = rep.shards.map(s => {
      const kv = MemoryKv.open(rep.stores.get(s)!)
      rep.kvs.push(kv)
      return ShardEngine.open(kv, { shardId: s, nodeId: id, durability: 'none', clock: { now: () => EPOCH_MS + this.net.localTime(replicaAddr(id)), monotonic: () => this.net.localTime(replicaAddr(id)) } }).then(e => [s, e] as const)
    })
    void this.io(Promise.all(opening)).then(es => { if (rep.life === life) rep.engines = new Map(es) }, e => this.fail(`replica ${id} did not open: ${String(e)}`))
    this.net.start(replicaAddr(id), 0, (from, msg) => this.replicaReceive(rep, life, from, msg))
  }

  /** A crash: the process stops, its engines are dropped, the stores stay (reopen = crash recovery). */
  stopReplica (id: number): void {
    const rep = this.replicas.get(id)!
    this.net.stop(replicaAddr(id))
    rep.life++
    rep.engines = null
    for (const kv of rep.kvs) void kv.close()
    rep.kvs = []
    stats.replicaCrashes++
  }

  replicaReceive (rep: Replica, life: number, from: string, msg: Wire): void {
    if (msg.type !== 'call') this.fail(`replica ${rep.id} got a ${msg.type}`)
    const { callId, req } = msg
    const reply = (m: Wire): void => { if (rep.life === life) this.send(replicaAddr(rep.id), from, m) }
    const engine = rep.engines?.get(req.shard)
    if (engine === undefined) {
      if (rep.engines !== null) this.fail(`replica ${rep.id} asked for shard ${req.shard} it does not hold`)
      reply({ type: 'error', callId, code: 'SB_SHUTTING_DOWN' })
      return
    }
    const faulty = this.phase === 'faults'
    if (req.type === 'apply') {
      // An RPC error may come before the apply (nothing stored) or after it (stored, unacknowledged).
      const err = faulty && this.rng.next() < RPC_ERROR_PROBABILITY ? (this.rng.next() < 0.5 ? 'before' : 'after') : null
      if (err !== null) stats.rpcErrors++
      if (err === 'before') { reply({ type: 'error', callId, code: 'SB_INJECTED' }); return }
      void this.io(engine.applyVersions({ writes: req.writes, commitHlc: req.commitHlc, xid: req.xid })).then(
        () => reply(err === null ? { type: 'ok', callId } : { type: 'error', callId, code: 'SB_INJECTED' }),
        (e: unknown) => {
          if (rep.life !== life) return // crashed meanwhile
          if (!isScratchBirdError(e)) this.fail(`replica ${rep.id} apply: ${String(e)}`)
          reply({ type: 'error', callId, code: e.code })
        })
    } else {
      if (faulty && this.rng.next() < RPC_ERROR_PROBABILITY) {
        stats.rpcErrors++
        reply({ type: 'error', callId, code: 'SB_INJECTED' })
        return
      }
      void this.io(engine.getVersionedMany(req.tableId, req.pks)).then(
        vs => reply({ type: 'ok', callId, versions: vs.map(v => v ?? null) }),
        (e: unknown) => { if (rep.life === life) this.fail(`replica ${rep.id} read: ${String(e)}`) })
    }
  }

  /** Copies the message, as the wire would: no object is shared between hosts. */
  send (from: string, to: string, msg: Wire): void {
    this.net.send(from, to, structuredClone(msg))
  }

  reachable (a: string, b: string): boolean {
    if (!this.net.isUp(a) || !this.net.isUp(b)) return false
    return this.groups === null || this.groups.get(a) === this.groups.get(b)
  }

  // ---- coordinators: the node shell's I/O around the production machines -----------------------

  /** A shard request with a timeout (the shell's call(): worker or cluster RPC). A stopped replica refuses at once. */
  call (coord: Coord, to: number, req: Request, timeoutMs: number, onOk: Call['onOk'], onErr: Call['onErr']): void {
    const callId = coord.nextCall++
    coord.calls.set(callId, { onOk, onErr })
    const failLater = (code: string, after: number): void => {
      this.net.after(after, () => {
        const c = coord.calls.get(callId)
        if (c === undefined) return
        coord.calls.delete(callId)
        c.onErr(code)
      })
    }
    if (!this.net.isUp(replicaAddr(to))) {
      stats.refusedSends++
      failLater('ECONNREFUSED', 1 + this.rng.next() * 4)
      return
    }
    this.send(coord.address, replicaAddr(to), { type: 'call', callId, req })
    failLater('SB_TIMEOUT', timeoutMs)
  }

  callP (coord: Coord, to: number, req: Request, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.call(coord, to, req, timeoutMs, () => resolve(), code => reject(new Error(code))))
  }

  coordReceive (coord: Coord, msg: Wire): void {
    if (msg.type === 'call') this.fail(`coordinator ${coord.id} got a call`)
    const c = coord.calls.get(msg.callId)
    if (c === undefined) return // timed out already
    coord.calls.delete(msg.callId)
    if (msg.type === 'ok') c.onOk(msg.versions)
    else c.onErr(msg.code)
  }

  /** What the coordinator's gossip says of a replica; in the faults phase sometimes wrong. */
  aliveView (coord: Coord): (id: NodeId) => boolean {
    const view = new Set(this.replicaIds.filter(id => this.reachable(coord.address, replicaAddr(id))))
    if (this.phase === 'faults' && this.rng.next() < STALE_VIEW_PROBABILITY) {
      const id = pick(this.rng, this.replicaIds)
      if (view.has(id)) view.delete(id)
      else view.add(id)
    }
    return id => view.has(id)
  }

  startStatement (coord: Coord, keys: number[]): void {
    stats.statements++
    const recs: WriteRec[] = []
    const byShard = new Map<ShardId, ReplicaWrite[]>()
    for (const key of keys) {
      const versionId = coord.hlc.generate()
      if (coord.lastVersionId !== null && compareVersionIds(versionId, coord.lastVersionId) <= 0) this.fail(`coordinator ${coord.id} HLC went backwards`)
      coord.lastVersionId = versionId
      const op = this.ops++
      const row = this.rng.next() < 0.75 ? enc.encode(`k${key}=${op}`) : null
      recs.push({ op, key, versionId, row, coord: coord.id, phase: this.phase, startAt: this.now, status: 'pending', decidedAt: -1 })
      const shard = this.shardOf(key)
      const list = byShard.get(shard) ?? []
      list.push({ tableId: TABLE, pk: this.key(key), versionId, row })
      byShard.set(shard, list)
    }
    if (byShard.size > 1) stats.multiShardStatements++
    this.writes.push(...recs)
    const batches: ShardBatchSpec[] = [...byShard].map(([shard, writes]) => ({ shard, replicationFactor: N, writeQuorum: this.w, writes }))
    const now = (): number => this.net.localTime(coord.address)
    const sw = new StatementWrite({
      batches,
      xid: makeXid(coord.id, ++coord.xids),
      commitHlc: nextTs(coord.hlc),
      replicas: (shard, n) => this.prefs.get(shard)!.slice(0, n),
      alive: this.aliveView(coord),
      nowMs: now(),
      timeoutMs: this.writeTimeoutMs,
      nextReqId: () => coord.nextReq++
    })
    coord.writes.set(sw, recs)
    const life = coord.life
    const hinted = new Map<number, number[]>() // reqId → replicas hinted
    const handle = (effects: StatementWriteEffect[]): void => {
      if (coord.life !== life) return // the coordinator crashed: nothing of this statement goes on
      for (const e of effects) {
        switch (e.type) {
          case 'apply':
            this.call(coord, e.to, { type: 'apply', ...e.batch }, this.writeTimeoutMs,
              () => handle(sw.onAck(e.reqId, e.to, now())),
              code => handle(sw.onFail(e.reqId, e.to, code, now())))
            break
          case 'hint': {
            const m = sw.machines.find(x => x.batch === e.batch)!
            const list = hinted.get(m.reqId) ?? []
            if (list.includes(e.to) || m.acked.includes(e.to)) this.fail(`statement of ops ${recs.map(r => r.op)}: second hint or hint for an acked replica ${e.to}`)
            list.push(e.to)
            hinted.set(m.reqId, list)
            const hints = hintsOf(e.to, e.batch, Math.floor(EPOCH_MS + now()))
            stats.hintsStored += hints.length
            this.hintsStored += hints.length
            void this.io(coord.hints.add(hints)).catch((err: unknown) => {
              // As the shell: a refused hint is logged and dropped (hints never count toward W).
              if (!isScratchBirdError(err, 'SB_HINT_LOG_FULL')) this.fail(`hint store: ${String(err)}`)
              this.hintsRefused += hints.length
              stats.hintsRefused += hints.length
            })
            break
          }
          case 'batch-failed': break
          case 'succeeded':
          case 'failed': {
            // The statement's answer: every batch reached W, or the first failed batch's error.
            if (sw.machines.some(m => m.outcome === null)) this.fail('statement answered before every batch was decided')
            const firstFailed = sw.machines.find(m => m.outcome!.type === 'failed')?.outcome
            if (e.type === 'succeeded' ? firstFailed !== undefined : firstFailed?.type !== 'failed' || e.error !== firstFailed.error) {
              this.fail(`statement of ops ${recs.map(r => r.op)} answered ${e.type}, its batches ${sw.machines.map(m => m.outcome!.type)}`)
            }
            break
          }
        }
      }
      // Per row: the outcome of its shard's batch.
      for (const m of sw.machines) {
        const o = m.outcome
        if (o === null) continue
        for (const rec of recs) {
          if (rec.status !== 'pending' || this.shardOf(rec.key) !== m.batch.shard) continue
          rec.decidedAt = this.now
          if (o.type === 'succeeded') {
            rec.status = 'succeeded'
            stats.writesSucceeded++
            if (o.acked.length < this.w) this.fail(`write ${rec.op} succeeded with ${o.acked.length} acks < W`)
            if (this.phase !== 'heal' && this.rng.next() < READ_BACK_PROBABILITY) {
              this.net.after(this.rng.next() * MAX_DELAY_MS / 2, () => {
                const up = this.upCoords()
                if (up.length > 0) this.startRead(pick(this.rng, up), [rec.key])
              })
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
      if (sw.finished && coord.writes.delete(sw)) {
        for (const m of sw.machines) {
          const h = hinted.get(m.reqId) ?? []
          if (m.outcome?.type === 'failed' && m.outcome.error.details.reason === 'not_enough_alive') {
            if (h.length > 0) this.fail(`batch ${m.reqId} refused up front but hinted`)
          } else if ([...m.acked, ...h].sort().join() !== [...m.replicas].sort().join()) {
            this.fail(`batch ${m.reqId}: acked ${m.acked} + hinted ${h} ≠ replicas ${m.replicas}`)
          }
        }
      }
    }
    handle(sw.start(now()))
    if (!sw.finished) this.net.after(this.writeTimeoutMs, () => handle(sw.tick(now())))
  }

  startRead (coord: Coord, keys: number[], r = this.r): ReadRec[] {
    const shard = this.shardOf(keys[0]!)
    const recs = keys.map(key => {
      const rec: ReadRec = { op: this.ops++, key, coord: coord.id, phase: this.phase, startAt: this.now, status: 'pending', row: null, repairs: 0 }
      stats.reads++
      return rec
    })
    this.reads.push(...recs)
    const now = (): number => this.net.localTime(coord.address)
    const life = coord.life
    const pr = new PointRead({
      tableId: TABLE,
      pks: keys.map(k => this.key(k)),
      replicas: this.prefs.get(shard)!,
      r,
      alive: this.aliveView(coord),
      nowMs: now(),
      timeoutMs: this.readTimeoutMs,
      nextReqId: () => coord.nextReq++
    })
    const handle = (effects: PointReadEffect[]): void => {
      if (coord.life !== life) return
      for (const e of effects) {
        switch (e.type) {
          case 'read': {
            const { to, indexes } = e
            this.call(coord, to, { type: 'read', shard, tableId: TABLE, pks: indexes.map(i => pr.pks[i]!) }, this.readTimeoutMs, versions => {
              // The shell's observeVersions: every version from a peer is a remote HLC event.
              let refused = false
              for (const v of versions ?? []) {
                if (v === null) continue
                try { coord.hlc.update(v.versionId) } catch { refused = true }
              }
              handle(refused ? pr.onFail(to, indexes, now()) : pr.onReply(to, indexes, versions ?? [], now()))
            }, () => handle(pr.onFail(to, indexes, now())))
            break
          }
          case 'answered':
          case 'failed':
            for (const [i, rec] of recs.entries()) {
              if (rec.status !== 'pending') this.fail(`read ${rec.op} decided twice`)
              if (e.type === 'answered') {
                rec.status = 'succeeded'
                rec.row = e.rows[i]!
                stats.readsSucceeded++
              } else {
                rec.status = 'failed'
                stats.readsFailed++
              }
            }
            break
          case 'repair': {
            const rec = recs.find(r => this.key(r.key)[0] === e.write.pk[0])!
            if (rec.status !== 'succeeded') this.fail(`read ${rec.op}: repair before the answer`)
            rec.repairs++
            stats.repairs++
            this.call(coord, e.to, { type: 'apply', shard, writes: [e.write], commitHlc: nextTs(coord.hlc) }, this.writeTimeoutMs, () => {}, () => {})
            break
          }
        }
      }
    }
    handle(pr.start(now()))
    if (!pr.finished) this.net.after(this.readTimeoutMs, () => handle(pr.tick(now())))
    return recs
  }

  /** The shell's delivery tick: HintDeliveryRunner on the HintDelivery scheduler, skipped while one runs. */
  deliveryTick (coord: Coord): void {
    if (!coord.runner.busy) void coord.runner.tick()
  }

  /** `obj` whose async methods count as storage operations (see io()). */
  tracked<T extends object> (obj: T): T {
    return new Proxy(obj, {
      get: (t, prop) => {
        const v: unknown = Reflect.get(t, prop, t)
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          const r: unknown = v.apply(t, args)
          return r instanceof Promise ? this.io(r) : r
        }
      }
    })
  }

  // ---- scenario -------------------------------------------------------------------------------

  /** `count` random operations at random times in [from, from + span). */
  scheduleOps (from: number, span: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.net.at(from + this.rng.next() * span, () => {
        const up = this.upCoords()
        if (up.length === 0) return
        const coord = pick(this.rng, up)
        const key = pick(this.rng, this.keys)
        const other = pick(this.rng, this.keys)
        if (this.rng.next() < 0.7) {
          this.startStatement(coord, this.rng.next() < 0.3 && other !== key ? [key, other] : [key])
        } else {
          this.startRead(coord, this.rng.next() < 0.3 && other !== key && this.shardOf(other) === this.shardOf(key) ? [key, other] : [key])
        }
      })
    }
  }

  /** Crashes and partitions at random times in [from, from + span), each lasting a while. */
  scheduleFaults (from: number, span: number): void {
    let t = from + this.rng.next() * 500
    while (t < from + span) {
      const at = t
      const x = this.rng.next()
      if (x < COORDINATOR_CRASH_SHARE) {
        const c = pick(this.rng, this.coords)
        const downFor = 200 + this.rng.next() * 1800
        this.net.at(at, () => {
          if (!this.net.isUp(c.address)) return
          this.crashCoord(c)
          this.net.after(downFor, () => { if (!this.net.isUp(c.address)) this.startCoord(c) })
        })
      } else if (x < 0.6) {
        const id = pick(this.rng, this.replicaIds)
        const downFor = 200 + this.rng.next() * 2800
        this.net.at(at, () => {
          if (!this.net.isUp(replicaAddr(id))) return
          this.stopReplica(id)
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

  /** Every statement finished, every hint store empty, no delivery in flight. */
  drained (): boolean {
    return this.coords.every(c => c.ready && c.writes.size === 0 && c.hints.stats().size === 0 && !c.runner.busy)
  }

  /** What each replica of `key` holds (engine getVersioned: the latest committed version, tombstones included). */
  async held (key: number): Promise<Array<VersionedRow | undefined>> {
    const shard = this.shardOf(key)
    return await Promise.all(this.prefs.get(shard)!.map(id => this.replicas.get(id)!.engines!.get(shard)!.getVersioned(TABLE, this.key(key))))
  }
}

/** Runs one seed; returns a trace of what happened (outcomes, versions, network counts) to compare replays. */
async function scenario (seed: number): Promise<string> {
  const rng = new SeededRng(seed)
  const sim = new QuorumSim(seed, rng)
  const { ctx } = sim
  stats.seeds++
  await sim.init()

  // (1) Calm: no loss, no faults.
  sim.scheduleOps(0, CALM_MS - MAX_TIMEOUT_MS, CALM_OPS)
  await sim.runUntil(CALM_MS)
  const calmWrites = sim.writes.filter(w => w.phase === 'calm')
  const calmReads = sim.reads.filter(r => r.phase === 'calm')
  expect(calmWrites.filter(w => w.status !== 'succeeded').map(w => w.op), `${ctx}: every calm write succeeds`).toEqual([])
  expect(calmReads.filter(r => r.status !== 'succeeded').map(r => r.op), `${ctx}: every calm read succeeds`).toEqual([])
  expect(sim.hintsStored, `${ctx}: the calm phase creates no hints`).toBe(0)

  // (2) Faults.
  sim.phase = 'faults'
  sim.net.options.lossProbability = rng.next() * MAX_LOSS
  sim.scheduleOps(CALM_MS, FAULT_MS, FAULT_OPS)
  sim.scheduleFaults(CALM_MS, FAULT_MS)
  await sim.runUntil(CALM_MS + FAULT_MS)

  // (3) Heal: everyone back, the hint stores drain. Some loss stays: hints are retried until acked.
  sim.phase = 'heal'
  sim.heal()
  for (const id of sim.replicaIds) if (!sim.net.isUp(replicaAddr(id))) sim.startReplica(id)
  for (const c of sim.coords) if (!sim.net.isUp(c.address)) sim.startCoord(c)
  sim.net.options.lossProbability = Math.min(sim.net.options.lossProbability, 0.02)
  const drainedBy = sim.now + DRAIN_BOUND_MS
  expect(await sim.runUntilTrue(() => sim.drained(), drainedBy), `${ctx}: every write decided and every hint delivered within ${DRAIN_BOUND_MS} ms of the heal`).toBe(true)
  await sim.runUntil(sim.now + 2 * MAX_DELAY_MS + STEP_MS) // let the last messages land (they carry nothing new)

  // (3b) Read repair: one read of every key with R = N (no loss). Where hints were delivered the
  // replicas agree already and nothing is repaired; where a full hint log refused some, this read
  // sees every replica and repairs the stale ones with the newest version among them.
  sim.net.options.lossProbability = 0
  const repairRound = sim.keys.map(key => sim.startRead(pick(rng, sim.coords), [key], N)[0]!)
  const incomplete = sim.hintsRefused > 0 || sim.hintsLost > 0
  await sim.runUntil(sim.now + MAX_TIMEOUT_MS + 2 * MAX_DELAY_MS + STEP_MS)
  for (const read of repairRound) {
    expect(read.status, `${ctx}: repair-round read of k${read.key}`).toBe('succeeded')
    stats.repairRoundRepairs += read.repairs
    if (!incomplete) expect(read.repairs, `${ctx}: k${read.key}: hints alone made the replicas agree`).toBe(0)
  }

  const wasSent = (w: WriteRec): boolean => w.status === 'succeeded' || w.status === 'failed' || w.status === 'crashed'
  const sent = sim.writes.filter(wasSent)
  const byRow = new Map(sent.filter(w => w.row !== null).map(w => [hex(w.row), w]))

  // (4) With W + R > N, a read started after a write was acknowledged returns that write or a newer
  // one: the W replicas that applied it and the R that answered share one, and a replica's version
  // only moves forward. Quorums are strict (hints never count), so this holds through the faults too.
  if (sim.w + sim.r > N) {
    for (const read of sim.reads) {
      if (read.status !== 'succeeded') continue
      for (const wr of sim.writes) {
        if (wr.key !== read.key || wr.status !== 'succeeded' || wr.decidedAt >= read.startAt) continue
        stats.readAfterAckChecked++
        // A row names its write; null is a tombstone (or nothing): some sent delete at least as new must exist.
        const ok = read.row !== null
          ? compareVersionIds(byRow.get(hex(read.row))?.versionId ?? new Uint8Array(16), wr.versionId) >= 0
          : sent.some(d => d.key === read.key && d.row === null && compareVersionIds(d.versionId, wr.versionId) >= 0)
        if (!ok) expect.fail(`${ctx}: read ${read.op} (${read.phase}) of k${read.key} at ${read.startAt} returned ${read.row === null ? 'nothing' : Buffer.from(read.row).toString()}, older than write ${wr.op} ${verStr(wr)} acknowledged at ${wr.decidedAt}`)
      }
    }
  }

  // Every write is decided.
  expect(sim.writes.filter(w => w.status === 'pending').map(w => w.op), `${ctx}: undecided writes`).toEqual([])
  // Nothing a read returned was made up: it is a row some coordinator sent.
  for (const read of sim.reads) {
    if (read.status === 'succeeded' && read.row !== null) {
      const w = byRow.get(hex(read.row))
      if (w === undefined || w.key !== read.key) expect.fail(`${ctx}: read ${read.op} of k${read.key} returned ${Buffer.from(read.row).toString()}, which no coordinator sent`)
    }
  }

  const finalRows = new Map<number, Uint8Array | null>()
  for (const key of sim.keys) {
    const replicas = sim.prefs.get(sim.shardOf(key))!
    const held = await sim.held(key)
    // (a) Convergence without anti-entropy: the replicas of the key agree.
    for (let i = 1; i < held.length; i++) {
      if (!sameVersion(held[0], held[i])) {
        expect.fail(`${ctx}: k${key} diverged: ${replicas.map((id, j) => `replica ${id} holds ${verStr(held[j])}`).join(', ')}`)
      }
    }
    const final = held[0]
    finalRows.set(key, final?.row ?? null)
    const keyWrites = sim.writes.filter(w => w.key === key)
    // (b) No acknowledged write is lost.
    for (const w of keyWrites) {
      if (w.status === 'succeeded' && (final === undefined || compareVersionIds(final.versionId, w.versionId) < 0)) {
        expect.fail(`${ctx}: k${key}: acknowledged write ${w.op} ${verStr(w)} lost; replicas hold ${verStr(final)}`)
      }
    }
    // (c) No deleted row back, nothing never written: the final version is the highest-versionId
    // write sent (every sent write reached every replica by apply or hint) — not one refused up front.
    const keySent = keyWrites.filter(wasSent)
    const highest = keySent.reduce<WriteRec | null>((best, w) => best === null || compareVersionIds(w.versionId, best.versionId) > 0 ? w : best, null)
    if (!incomplete && highest?.row === null && final?.row != null) {
      expect.fail(`${ctx}: k${key}: deleted by write ${highest.op} ${verStr(highest)}, but replicas hold ${verStr(final)}`)
    }
    if (final !== undefined && !keySent.some(w => sameVersion(w, final))) {
      const refused = keyWrites.find(w => w.status === 'refused' && compareVersionIds(w.versionId, final.versionId) === 0)
      expect.fail(`${ctx}: k${key}: replicas hold ${verStr(final)}, ${refused !== undefined ? `write ${refused.op}, refused up front` : 'which nobody wrote'}`)
    }
    // (A write whose hints a full log refused may have reached no replica: then only what some replica held.)
    if (!incomplete) expect(verStr(final), `${ctx}: k${key}: final version is the highest-versionId write sent (write ${highest?.op})`).toBe(verStr(highest))
  }

  // A read now (no loss: R may be N), from any coordinator, returns the converged rows and repairs nothing.
  sim.net.options.lossProbability = 0
  const finals = sim.keys.map(key => sim.startRead(pick(rng, sim.coords), [key])[0]!)
  await sim.runUntil(sim.now + MAX_TIMEOUT_MS + 1)
  for (const read of finals) {
    expect(read.status, `${ctx}: final read of k${read.key}`).toBe('succeeded')
    expect(hex(read.row), `${ctx}: final read of k${read.key}`).toBe(hex(finalRows.get(read.key)))
    expect(read.repairs, `${ctx}: final read of k${read.key} repairs nothing`).toBe(0)
  }
  return JSON.stringify({
    writes: sim.writes.map(w => [w.op, w.key, w.status, hex(w.versionId), w.decidedAt]),
    reads: sim.reads.map(r => [r.op, r.key, r.status, hex(r.row), r.repairs]),
    net: sim.net.stats,
    now: sim.now
  })
}

describe('leaderless quorum simulation (production coordinator, ShardEngine replicas, ShardedHintLog over per-shard HintStores + HintDelivery)', () => {
  beforeAll(async () => { await initHashing() })

  for (const seed of SEED_LIST) {
    it(`seed=${seed}`, async () => { await scenario(seed) })
  }

  it('a seed replays exactly (what SEED=… relies on)', async () => {
    const seed = SEED_LIST[0]!
    expect(await scenario(seed)).toBe(await scenario(seed))
  })

  it.skipIf(SEED_LIST.length < 20)('the seeds exercise every path', () => {
    expect(stats.writesSucceeded).toBeGreaterThan(0)
    expect(stats.multiShardStatements, 'statements over two shards').toBeGreaterThan(0)
    expect(stats.writesRefused, 'writes refused up front (fewer than W alive)').toBeGreaterThan(0)
    expect(stats.writesFailedAfterSend, 'writes failed after sending (timeout or replica failures)').toBeGreaterThan(0)
    expect(stats.readsFailed).toBeGreaterThan(0)
    expect(stats.readAfterAckChecked, 'reads after acknowledged writes checked with W + R > N').toBeGreaterThan(0)
    expect(stats.hintsDelivered).toBeGreaterThan(0)
    expect(stats.repairs).toBeGreaterThan(0)
    expect(stats.hintsRefused, 'hints refused by a full hint log').toBeGreaterThan(0)
    expect(stats.repairRoundRepairs, 'stale replicas left by refused hints, repaired by a read').toBeGreaterThan(0)
    expect(stats.refusedSends).toBeGreaterThan(0)
    expect(stats.rpcErrors).toBeGreaterThan(0)
    expect(stats.replicaCrashes).toBeGreaterThan(0)
    expect(stats.coordinatorCrashes).toBeGreaterThan(0)
    expect(stats.hintsKeptOverCrash, 'hints found in a restarted coordinator\'s store').toBeGreaterThan(0)
    expect(stats.writesCrashed, 'rows whose coordinator crashed before their batch was decided').toBeGreaterThan(0)
  })

  afterAll(() => {
    if (process.env.SIM_STATS !== undefined) console.log(JSON.stringify(stats, null, 1))
  })
})
