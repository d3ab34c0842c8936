import type { Clock } from '../core/clock'
import { ScratchBirdError, isScratchBirdError, messageOf } from '../core/errors'
import type { AutocommitResult, AutocommitSink, MerkleLeaf, Metered, ShardEngine, Txn } from '../storage/engine'
import { runJoinQuery } from './drivers/join-driver'
import { runQuery } from './drivers/query-driver'
import { runModifyRow, runModifyRowAutocommit } from './drivers/modify-driver'
import { ProgramCache } from './program-cache'
import type { Program } from '../sblr/program'
import { ShardHints } from './hint-ops'
import type { HintStore } from '../storage/hint-store'
import { decodeAutocommit, decodeReplicaApply, encodeAutocommitReply, encodeReplicaApplyReply } from './protocol/codec'
import { SHARD_OP_BY_CODE, SHARD_OPS, codecOf, type MerkleLeafMessage, type OpCodec, type ShardOpName, type ShardReplies, type ShardRequests } from './protocol/ops'
import type { TxnBegin } from './protocol/messages'
import { isShardId, type NodeId, type ShardId, type Xid } from '../core/ids'
import { AeCpuMeter, type ThreadCpuNs } from './ae-cpu'
import type { ShardOpener } from './open-engines'

// The shard host (DESIGN §2, §10): what one shard worker serves — the engines of its shard
// replicas and the participant-side transaction lease — as requests in (op code + payload bytes),
// replies out. It knows nothing of rings, threads or timers: the worker (workers/shard-worker.ts)
// feeds it frames from the request ring, hands its replies to the response ring, and calls
// expireIdleTxns() on a timer; tests drive it directly with a ManualClock.

/** Where a log line goes (the worker forwards it to the main thread's log). */
export type HostLog = (level: 'error' | 'warn' | 'info' | 'debug', message: string, details?: Record<string, unknown>) => void

/** Where replies to deferred requests go (the worker's RingServer has this shape). */
export interface ReplyPort {
  reply (requestId: number, type: number, payload: Uint8Array): void
  replyError (requestId: number, err: unknown): void
}

/** A reply: frame type (the request's op code) and payload bytes. */
export interface HostReply { type: number, payload: Uint8Array }

/** Returned by handle() for a request answered later through the ReplyPort. */
export const HOST_DEFERRED: unique symbol = Symbol('shard host deferred reply')

export type HostResult = HostReply | Promise<HostReply> | typeof HOST_DEFERRED

export interface ShardHostOptions {
  workerIndex: number
  /** The open engines of this worker's shard replicas, by shard id; the host owns them (close()). */
  engines: ReadonlyMap<ShardId, ShardEngine>
  /** The hint stores over the same shards' KvStores (src/shard/hint-ops.ts); closed before the engines. */
  hints?: ReadonlyMap<ShardId, HintStore> | undefined
  /** `<data_dir>`, where HINT_LEGACY_READ finds the previous release's hint log. */
  dataDir?: string | undefined
  /** storage.txn_idle_timeout_ms: the participant lease. */
  txnIdleTimeoutMs: number
  /** Lease time (monotonic). */
  clock: Clock
  replies: ReplyPort
  log: HostLog
  /** This thread's CPU time in ns (the worker's /proc/thread-self/schedstat): anti-entropy's CPU is measured with it (ae-cpu.ts). */
  threadCpuNs?: ThreadCpuNs | undefined
  /** Opens a shard replica at run time (SHARD_OPEN, a split's new shards); absent: SHARD_OPEN is refused. */
  openShard?: ShardOpener | undefined
}

/** An open transaction and its lease: when a request last named it, how many are running now. */
/** `doomed`: to be rolled back once its running request ends (the shard stopped being primary). */
interface OpenTxn { txn: Txn, lastUsed: number, inFlight: number, doomed?: string, coordinator?: NodeId }

type Handlers = { [K in ShardOpName]: (req: ShardRequests[K]) => Promise<ShardReplies[K]> | ShardReplies[K] }

/** Ops whose CPU is anti-entropy's (AE_CPU, scratchbird_anti_entropy_cpu_percent). MERKLE_SEAL is the sealer's, on time. */
const AE_OPS: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['MERKLE_ROOTS', 'MERKLE_BUCKETS', 'MERKLE_LEAVES', 'MERKLE_ADOPT', 'AE_READ', 'AE_APPLY', 'MODE1_VERIFY', 'MODE1_REPAIR'])
/** Where the CPU of a request that names no valid shard goes (it fails at once). */
const UNKNOWN_SHARD = -1 as ShardId
const AUTOCOMMIT = SHARD_OPS.AUTOCOMMIT.code
const REPLICA_APPLY = SHARD_OPS.REPLICA_APPLY.code
/** Leaves one MERKLE_LEAVES reply holds at most, whatever the request asks (its buckets come whole). */
const MAX_MERKLE_LEAVES = 10_000
/** The expiry check runs at most this far apart, however long the lease. */
const MAX_EXPIRY_INTERVAL_MS = 10_000

export class ShardHost {
  private readonly engines: Map<ShardId, ShardEngine>
  /** Open transactions by shard and xid (a 2PC transaction has one xid on several shards). */
  private readonly txns = new Map<ShardId, Map<bigint, OpenTxn>>()
  private readonly workerIndex: number
  private readonly idleTimeoutMs: number
  private readonly clock: Clock
  private readonly replies: ReplyPort
  private readonly log: HostLog
  private readonly hints: ShardHints
  /** The hint stores by shard (ShardHints reads this map; SHARD_OPEN adds to it). */
  private readonly hintStores: Map<ShardId, HintStore>
  private readonly openShard: ShardOpener | undefined
  /** SHARD_OPEN jobs running, by shard: a second request for the same shard waits for the first. */
  private readonly opening = new Map<ShardId, Promise<void>>()
  /** Programs decoded and verified once per worker, by their bytes. */
  readonly programs = new ProgramCache()
  private readonly decodeProgram = (bytes: Uint8Array): Program => this.programs.program(bytes)
  /** Anti-entropy's thread CPU per shard (AE_CPU). */
  private readonly aeCpu: AeCpuMeter

  constructor (opts: ShardHostOptions) {
    this.engines = new Map(opts.engines)
    this.hintStores = new Map(opts.hints ?? [])
    this.hints = new ShardHints(this.hintStores, opts.dataDir, opts.workerIndex)
    this.openShard = opts.openShard
    for (const shard of this.engines.keys()) this.txns.set(shard, new Map())
    this.workerIndex = opts.workerIndex
    this.idleTimeoutMs = opts.txnIdleTimeoutMs
    this.clock = opts.clock
    this.replies = opts.replies
    this.log = opts.log
    this.aeCpu = new AeCpuMeter(opts.threadCpuNs)
    // The forests' rebuild reports (some made while the engines opened) go to the node's log.
    for (const [shard, engine] of this.engines) this.logForest(shard, engine)
  }

  private logForest (shard: ShardId, engine: ShardEngine): void {
    engine.merkleForest?.setLog((level, message, details) => this.log(level, `shard ${shard}: ${message}`, { shard, ...details }))
  }

  /**
   * SHARD_OPEN: serve shard `shard` from now on (a split's new shard, cluster/shard-split.ts).
   * Idempotent: a shard open already answers opened = false, and two requests for one shard share
   * one open. Requests for the shard before it is open are refused as for any shard not served here.
   */
  private async open (shard: ShardId): Promise<{ opened: boolean }> {
    if (this.engines.has(shard)) return { opened: false }
    const running = this.opening.get(shard)
    if (running !== undefined) { await running; return { opened: false } }
    if (this.openShard === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `worker ${this.workerIndex} cannot open shards while it runs`, { shard })
    const opener = this.openShard
    const job = (async () => {
      const store = await opener(shard)
      if (this.closed) { await store.hints.close(); await store.engine.close(); throw new ScratchBirdError('SB_SHUTTING_DOWN', `worker ${this.workerIndex} is stopping: shard ${shard} was not opened`, { shard }) }
      this.engines.set(shard, store.engine)
      this.hintStores.set(shard, store.hints)
      this.txns.set(shard, new Map())
      this.logForest(shard, store.engine)
      this.log('info', `shard ${shard} opened on worker ${this.workerIndex}`, { shard, worker: this.workerIndex })
    })()
    this.opening.set(shard, job)
    try { await job } finally { this.opening.delete(shard) }
    return { opened: true }
  }

  /** close() ran: a SHARD_OPEN finishing after it closes what it opened. */
  private closed = false

  /** Shard ids served here. */
  get shards (): ShardId[] { return [...this.engines.keys()] }

  /** How often the worker should call expireIdleTxns(): a quarter of the lease, within 1 ms..10 s. */
  get expiryIntervalMs (): number { return Math.max(1, Math.min(this.idleTimeoutMs / 4, MAX_EXPIRY_INTERVAL_MS)) }

  /**
   * One request. `payload` may be a view into the ring, valid only until this returns (or, for an
   * async op, until its first await): everything is decoded before then. Throws (or rejects) with
   * a coded error for an unknown op, a payload that does not decode, a shard not served here or a
   * transaction not open; AUTOCOMMIT and REPLICA_APPLY answer through the ReplyPort (HOST_DEFERRED)
   * straight from the engine's group commit, with no promise per request.
   */
  handle (type: number, payload: Uint8Array, requestId: number): HostResult {
    if (type === AUTOCOMMIT) {
      // The hot path. The decoded writes are views into the ring; the engine copies them before
      // autocommitTo returns.
      const r = decodeAutocommit(payload, false)
      this.engineOf(r.shard).autocommitTo({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid }, new AutocommitReply(this.replies, requestId, e => this.namingHolder(e)))
      return HOST_DEFERRED
    }
    if (type === REPLICA_APPLY) {
      // The quorum write path, the same way: decoded writes are 'lww' RowWrites (views, copied).
      const r = decodeReplicaApply(payload, false)
      this.engineOf(r.shard).autocommitTo({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid }, new ReplicaApplyReply(this.replies, requestId))
      return HOST_DEFERRED
    }
    const op = SHARD_OP_BY_CODE.get(type)
    if (!op) throw new ScratchBirdError('SB_MALFORMED_REQUEST', `unknown shard op ${type}`)
    const codec = codecOf(op) as OpCodec<unknown, unknown>
    if (AE_OPS.has(op)) return this.handleAntiEntropy(op, codec, payload)
    // Decode before the first await: the payload is a view into the ring, valid only until then.
    const req = codec.decodeRequest(payload)
    const named = req as { shard?: unknown, xid?: unknown }
    const release = isShardId(named.shard) && typeof named.xid === 'bigint' ? this.lease(named.shard, named.xid) : undefined
    let out: unknown
    try {
      out = (this.handlers[op] as (r: unknown) => unknown)(req)
    } catch (e) {
      release?.()
      throw this.namingHolder(e)
    }
    if (out instanceof Promise) {
      return out.then(v => ({ type, payload: codec.encodeReply(v) }), (e: unknown) => { throw this.namingHolder(e) }).finally(release)
    }
    release?.()
    return { type, payload: codec.encodeReply(out) }
  }

  /**
   * An anti-entropy op, its synchronous parts charged to the shard's anti-entropy CPU (ae-cpu.ts):
   * decoding, the handler up to its first await, the engine's CPU-bound steps (through
   * `metered`), encoding the reply.
   */
  private handleAntiEntropy (op: ShardOpName, codec: OpCodec<unknown, unknown>, payload: Uint8Array): HostResult {
    const type = SHARD_OPS[op].code
    let shard: ShardId | undefined
    const req = this.aeCpu.run(UNKNOWN_SHARD, () => codec.decodeRequest(payload))
    const named = (req as { shard?: unknown }).shard
    if (isShardId(named)) shard = named
    const charge = shard ?? UNKNOWN_SHARD
    this.metered = this.aeCpu.forShard(charge)
    let out: unknown
    try {
      out = this.aeCpu.run(charge, () => (this.handlers[op] as (r: unknown) => unknown)(req))
    } finally {
      this.metered = undefined
    }
    if (out instanceof Promise) return out.then(v => ({ type, payload: this.aeCpu.run(charge, () => codec.encodeReply(v)) }))
    return { type, payload: this.aeCpu.run(charge, () => codec.encodeReply(out)) }
  }

  /** The meter of the anti-entropy op being dispatched (handleAntiEntropy sets it around the handler call). */
  private metered: Metered | undefined

  // Participant lease: a transaction is held here on behalf of a coordinator (often another node).
  // When the coordinator dies or loses its session, nobody will ever finish it, and its uncommitted
  // versions would block writers of those rows and its snapshot hold back the sweep. So an ACTIVE
  // transaction that no request has named for txnIdleTimeoutMs is rolled back and forgotten (a
  // later request for it gets SB_TXN_NOT_ACTIVE). Prepared transactions are not in `txns` (PREPARE
  // forgets them): they are limbo, and only 2PC recovery decides them. A transaction with a
  // request running is never expired (a long scan is not idleness).

  /**
   * Rolls back and forgets every active transaction idle for longer than the lease, logging one
   * WARNING each. They are forgotten before this returns; the promise settles once their
   * rollbacks have ended (it never rejects: a failed rollback is logged as an error).
   */
  expireIdleTxns (): Promise<void> {
    const now = this.clock.monotonic()
    const rollbacks: Promise<void>[] = []
    for (const [shard, open] of this.txns) {
      for (const [xid, t] of open) {
        const idle = now - t.lastUsed
        if (t.inFlight > 0 || idle <= this.idleTimeoutMs) continue
        if (t.txn.state !== 'active' && t.txn.state !== 'failed') continue // committing, preparing...: in hand
        // Forget first: a request arriving while the rollback runs gets SB_TXN_NOT_ACTIVE.
        open.delete(xid)
        const idleMs = Math.round(idle)
        const details = { shard, xid: String(xid), idleMs }
        rollbacks.push(t.txn.rollback().then(
          () => this.log('warn', `transaction ${xid} on shard ${shard} idle for ${idleMs} ms: rolled back`, details),
          (e: unknown) => this.log('error', `transaction ${xid} on shard ${shard} idle for ${idleMs} ms: rollback failed: ${messageOf(e)}`, details)))
      }
    }
    return Promise.all(rollbacks).then(() => {})
  }

  // Mode 1 step-down: a shard that stops being primary can never commit the transactions open on
  // it (COMMIT runs only at a primary), and its coordinator's ROLLBACK is routed to the new
  // primary, which never saw them. Left open they would keep their uncommitted versions here — and
  // block writers of those rows if this node is elected again — until the lease. So they are
  // rolled back now (one WARNING each); one with a request running is rolled back when it ends.
  private abandonOpenTxns (shard: ShardId, why: string): Promise<void> {
    const open = this.txns.get(shard)
    if (open === undefined) return Promise.resolve()
    const rollbacks: Promise<void>[] = []
    for (const [xid, t] of open) {
      if (t.txn.state !== 'active' && t.txn.state !== 'failed') continue
      if (t.inFlight > 0) { t.doomed = why; continue }
      rollbacks.push(this.rollBackAbandoned(shard, xid, t, why))
    }
    return Promise.all(rollbacks).then(() => {})
  }

  private rollBackAbandoned (shard: ShardId, xid: bigint, t: OpenTxn, why: string): Promise<void> {
    this.txns.get(shard)?.delete(xid)
    const details = { shard, xid: String(xid) }
    return t.txn.rollback().then(
      () => this.log('warn', `transaction ${xid} on shard ${shard} rolled back: ${why}`, details),
      (e: unknown) => this.log('error', `transaction ${xid} on shard ${shard}: rollback (${why}) failed: ${messageOf(e)}`, details))
  }

  /**
   * An update conflict with a transaction open here gets its coordinator's node id
   * (concurrentCoordinator), so the writer's node can ask that node whether the transaction is
   * still running or was abandoned (node/orphan-txns.ts). Other errors pass unchanged.
   */
  namingHolder (e: unknown): unknown {
    if (!isScratchBirdError(e, 'SB_UPDATE_CONFLICT')) return e
    const d = e.details as { concurrentXid?: unknown }
    if (typeof d.concurrentXid !== 'string' || !/^\d{1,20}$/.test(d.concurrentXid)) return e
    const xid = BigInt(d.concurrentXid)
    for (const open of this.txns.values()) {
      const coordinator = open.get(xid)?.coordinator
      if (coordinator !== undefined) return new ScratchBirdError('SB_UPDATE_CONFLICT', e.message, { ...e.details, concurrentCoordinator: coordinator })
    }
    return e
  }

  /** Closes every engine (the worker is stopping); failures are ignored, as the process ends. */
  async close (): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.opening.values()])
    await this.hints.close()
    await Promise.allSettled([...this.engines.values()].map(e => e.close()))
    this.engines.clear()
    this.txns.clear()
  }

  private engineOf (shard: ShardId): ShardEngine {
    const e = this.engines.get(shard)
    if (!e) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard ${shard} is not served by worker ${this.workerIndex}`, { shard })
    return e
  }

  private txnOf (shard: ShardId, xid: bigint): Txn {
    const t = this.txns.get(shard)?.get(xid)
    if (!t) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not open on shard ${shard}`, { shard, xid: String(xid) })
    return t.txn
  }

  private txnOrNone (shard: ShardId, xid: bigint | undefined): Txn | undefined {
    return xid === undefined ? undefined : this.txnOf(shard, xid)
  }

  private forget (shard: ShardId, xid: bigint): void { this.txns.get(shard)?.delete(xid) }

  /** Begins a transaction on `shard` and holds it under the participant lease. */
  private async begin (shard: ShardId, b: TxnBegin): Promise<Txn> {
    const t = await this.engineOf(shard).begin({ isolation: b.isolation, startHlc: b.startHlc, xid: b.xid })
    this.txns.get(shard)!.set(t.xid, { txn: t, lastUsed: this.clock.monotonic(), inFlight: 0, ...(b.coordinator === undefined ? {} : { coordinator: b.coordinator }) })
    return t
  }

  /**
   * A request carrying its transaction's BEGIN (messages.ts TxnBegin): the transaction is begun
   * here, `run` runs inside it and the reply names its xid. When `run` fails the transaction is
   * rolled back and forgotten at once — the coordinator counts this shard as not joined (exec/txn.ts),
   * so no ROLLBACK would come for it — and the error is the request's, as after a separate BEGIN.
   */
  private async begun<R extends object> (shard: ShardId, b: TxnBegin, run: (txn: Txn) => Promise<R> | R): Promise<R & { xid: Xid }> {
    const t = await this.begin(shard, b)
    const release = this.lease(shard, t.xid)
    try {
      return { ...(await run(t)), xid: t.xid }
    } catch (e) {
      this.forget(shard, t.xid)
      await t.rollback().catch((r: unknown) => this.log('error', `transaction ${t.xid} on shard ${shard}: rollback after its first request failed: ${messageOf(r)}`, { shard, xid: String(t.xid) }))
      throw e
    } finally {
      release?.()
    }
  }

  /** Marks the transaction a request names as in use until the request ends (see handle()). */
  private lease (shard: ShardId, xid: bigint): (() => void) | undefined {
    const t = this.txns.get(shard)?.get(xid)
    if (!t) return undefined
    t.inFlight++
    t.lastUsed = this.clock.monotonic()
    return () => {
      t.inFlight--
      t.lastUsed = this.clock.monotonic()
      if (t.doomed !== undefined && t.inFlight === 0 && (t.txn.state === 'active' || t.txn.state === 'failed')) void this.rollBackAbandoned(shard, xid, t, t.doomed)
    }
  }

  private readonly handlers: Handlers = {
    PING: () => ({ worker: this.workerIndex, shards: this.shards }),
    SHARD_OPEN: (r) => this.open(r.shard),
    AUTOCOMMIT: async (r) => {
      const res = await this.engineOf(r.shard).autocommit({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid })
      return { xid: res.xid, lsn: res.lsn, commitHlc: res.commitHlc, affected: res.affected }
    },
    BEGIN: async (r) => ({ xid: (await this.begin(r.shard, r)).xid }),
    GET: async (r) => {
      const row = await this.engineOf(r.shard).get(r.tableId, r.pk, this.txnOrNone(r.shard, r.xid))
      return { row: row ?? null }
    },
    SCAN: async (r) => {
      const rows: ShardReplies['SCAN']['rows'] = []
      const txn = this.txnOrNone(r.shard, r.xid)
      for await (const row of this.engineOf(r.shard).scan(r.tableId, r.options, txn)) rows.push({ pk: row.pk, row: row.row })
      return { rows }
    },
    WRITE: async (r) => {
      if (r.begin !== undefined) return await this.begun(r.shard, r.begin, async txn => ({ affected: await txn.write(r.writes) }))
      if (r.xid === undefined) throw new ScratchBirdError('SB_MALFORMED_REQUEST', 'WRITE names no transaction', { shard: r.shard })
      return { affected: await this.txnOf(r.shard, r.xid).write(r.writes) }
    },
    WRITE_READ: async (r) => {
      const write = async (txn: Txn): Promise<ShardReplies['WRITE_READ']> => ({ affected: await txn.engine.write(txn, r.writes, r.readHlc) })
      if (r.begin !== undefined) return await this.begun(r.shard, r.begin, write)
      if (r.xid === undefined) throw new ScratchBirdError('SB_MALFORMED_REQUEST', 'WRITE_READ names no transaction', { shard: r.shard })
      return await write(this.txnOf(r.shard, r.xid))
    },
    COMMIT: async (r) => {
      const res = await this.txnOf(r.shard, r.xid).commit(r.commitHlc)
      this.forget(r.shard, r.xid)
      return { lsn: res.lsn, commitHlc: res.commitHlc }
    },
    ROLLBACK: async (r) => {
      await this.txnOf(r.shard, r.xid).rollback()
      this.forget(r.shard, r.xid)
      return {}
    },
    PREPARE: async (r) => {
      const lsn = await this.txnOf(r.shard, r.xid).prepare()
      this.forget(r.shard, r.xid)
      return { lsn, floor: this.engineOf(r.shard).commitFloor() }
    },
    COMMIT_PREPARED: async (r) => {
      const res = await this.engineOf(r.shard).commitPrepared(r.xid, r.commitHlc)
      return { lsn: res.lsn, commitHlc: res.commitHlc }
    },
    ABORT_PREPARED: async (r) => ({ lsn: await this.engineOf(r.shard).abortPrepared(r.xid) }),
    LIST_LIMBO: (r) => ({ limbo: this.engineOf(r.shard).listLimbo().map(l => ({ xid: l.xid, rows: l.rows })) }),
    READ_COMMIT_LOG: async (r) => ({ entries: await this.engineOf(r.shard).readCommitLog(r.fromLsn, r.limit) }),
    SWEEP: (r) => this.engineOf(r.shard).sweep(r.horizonHlc, { purgeTombstonesOf: r.purgeTombstonesOf, commitLog: r.commitLog, purgeLeaderless: r.purgeLeaderless, purgeRelations: r.purgeRelations }),
    QUERY: (r) => {
      const query = (txn: Txn | undefined): ReturnType<typeof runQuery> => runQuery(this.engineOf(r.shard).scan(r.tableId, r.options, txn, r.readHlc), r, this.clock, this.decodeProgram)
      return r.begin === undefined ? query(this.txnOrNone(r.shard, r.xid)) : this.begun(r.shard, r.begin, query)
    },
    // read_from = replica (Mode 1): the node decided this replica may serve it; the read is a QUERY at what it holds.
    REPLICA_QUERY: (r) => runQuery(this.engineOf(r.shard).scan(r.tableId, r.options, this.txnOrNone(r.shard, r.xid)), r, this.clock, this.decodeProgram),
    JOIN_QUERY: (r) => {
      // One visibility for every table of the join: the statement's transaction when it has one.
      const engine = this.engineOf(r.shard)
      const join = (txn: Txn | undefined): ReturnType<typeof runJoinQuery> => runJoinQuery(side => engine.scan(side.tableId, side.options, txn, r.readHlc), r, this.clock, this.decodeProgram)
      return r.begin === undefined ? join(this.txnOrNone(r.shard, r.xid)) : this.begun(r.shard, r.begin, join)
    },
    MODIFY_ROW: (r) => {
      const engine = this.engineOf(r.shard)
      const run = async (txn: Txn): Promise<ShardReplies['MODIFY_ROW']> => ({ affected: await runModifyRow(engine, txn, r, this.clock, this.decodeProgram), lsn: null })
      if (r.begin !== undefined) return this.begun(r.shard, r.begin, run)
      if (r.xid !== undefined) return run(this.txnOf(r.shard, r.xid))
      return runModifyRowAutocommit(engine, r, this.clock, this.decodeProgram)
    },
    REPLICA_APPLY: (r) => this.engineOf(r.shard).applyVersions(r),
    REPLICA_READ: async (r) => ({ versions: (await this.engineOf(r.shard).getVersionedMany(r.tableId, r.pks)).map(v => v ?? null) }),
    // A repair round's read and write: the same as REPLICA_READ / REPLICA_APPLY here (whether the
    // replica serves the shard is the node's business: cluster.ts refuses the REPLICA_* ones then).
    AE_READ: async (r) => ({ versions: (await this.engineOf(r.shard).getVersionedMany(r.tableId, r.pks)).map(v => v ?? null) }),
    AE_APPLY: (r) => this.engineOf(r.shard).applyVersions(r),
    STATS: (r) => {
      const e = this.engineOf(r.shard)
      return { shard: r.shard, lastLsn: e.lastLsn(), hlcHighWater: e.hlcHighWater(), openTxns: this.txns.get(r.shard)?.size ?? 0, limbo: e.listLimbo().length }
    },
    // The hint log (src/shard/hint-ops.ts); `hints` is set in the constructor, after this table.
    HINT_ADD: (r) => this.hints.handlers.HINT_ADD(r),
    HINT_LIST: (r) => this.hints.handlers.HINT_LIST(r),
    HINT_REMOVE: (r) => this.hints.handlers.HINT_REMOVE(r),
    HINT_EXPIRE: (r) => this.hints.handlers.HINT_EXPIRE(r),
    HINT_DROP: (r) => this.hints.handlers.HINT_DROP(r),
    HINT_STATS: (r) => this.hints.handlers.HINT_STATS(r),
    HINT_IMPORT: (r) => this.hints.handlers.HINT_IMPORT(r),
    HINT_LEGACY_READ: (r) => this.hints.handlers.HINT_LEGACY_READ(r),
    TABLE_FENCE: async (r) => {
      const engine = this.engineOf(r.shard)
      if (r.fence) return { rows: (await engine.fenceTable(r.tableId, r.token)).rows, held: true }
      return { rows: false, held: await engine.releaseTableFence(r.tableId, r.token) }
    },
    TABLE_FENCE_LIST: (r) => ({ fences: this.engineOf(r.shard).heldTableFences() }),
    // Mode 1 replication (storage/replica-*.ts, repl-state.ts).
    REPL_APPLY: (r) => this.engineOf(r.shard).replApply(r.entries, r.keepTables),
    REPL_LOG_READ: async (r) => ({ entries: await this.engineOf(r.shard).replLogRead(r.fromLsn, r.limit, r.maxBytes) }),
    REPL_TRUNCATE: (r) => this.engineOf(r.shard).replTruncate(r.afterLsn, r.committedLsn, r.keepTables),
    REPL_STATE_GET: (r) => this.engineOf(r.shard).replState(),
    REPL_STATE_SET: async (r) => {
      await this.engineOf(r.shard).setReplState(r.state)
      if (r.state.role !== 'primary') await this.abandonOpenTxns(r.shard, `the shard is no longer primary here (now ${r.state.role}, generation ${r.state.generation})`)
      return {}
    },
    REPL_SNAPSHOT_READ: (r) => this.engineOf(r.shard).snapshotRead(r),
    REPL_SNAPSHOT_INSTALL: (r) => this.engineOf(r.shard).snapshotInstall(r),
    REPL_CONTROL_APPEND: (r) => this.engineOf(r.shard).replAppendControl(r.generation, r.control),
    // The Merkle forest (storage/merkle/forest.ts): what a repair round asks of each replica.
    MERKLE_ROOTS: (r) => ({ windows: this.engineOf(r.shard).merkleRoots() }),
    MERKLE_BUCKETS: async (r) => ({ hashes: await this.engineOf(r.shard).merkleBuckets(r.window, this.meterOf(r.shard)) }),
    MERKLE_LEAVES: async (r) => {
      const maxLeaves = Math.min(r.maxLeaves, MAX_MERKLE_LEAVES)
      const metered = this.meterOf(r.shard)
      const page = await this.engineOf(r.shard).merkleLeaves(r.window, r.buckets, maxLeaves, r.maxBytes, metered)
      return metered(() => ({ leaves: page.leaves.map(leafMessage), bucketsDone: page.bucketsDone, more: page.more }))
    },
    MERKLE_ADOPT: async (r) => {
      const metered = this.meterOf(r.shard)
      const res = await this.engineOf(r.shard).merkleAdopt(r.leaves.map(l => ({ key: l.key, version: l.versionId, rowHash: l.rowHash })), metered)
      return metered(() => ({ adopted: res.adopted, needsData: res.needsData.map(leafMessage) }))
    },
    MERKLE_SEAL: (r) => this.engineOf(r.shard).merkleSeal(r.nowMs),
    MERKLE_STATS: (r) => {
      const e = this.engineOf(r.shard)
      if (e.merkleForest === undefined) return { enabled: false, windows: 0, sealed: 0, activeLeaves: 0, bytesInMemory: 0, bytesOnDisk: 0, reseals: 0, rebuilds: 0 }
      return { enabled: true, ...e.merkleStats() }
    },
    MODE1_VERIFY: async (r) => {
      const res = await this.engineOf(r.shard).mode1Verify({ tableIds: r.tableIds, snapshotHlc: r.snapshotHlc, buckets: r.buckets })
      return { hashes: res.hashes, leaves: res.leaves.map(leafMessage), recent: res.recent }
    },
    MODE1_REPAIR: (r) => this.engineOf(r.shard).mode1Repair(r.generation, r.rows),
    VERSION_SCAN: async (r) => ({ rows: await this.engineOf(r.shard).scanVersions(r.tableId, r.after, r.limit) }),
    REPLICA_VERSION_SCAN: async (r) => ({ rows: await this.engineOf(r.shard).scanVersions(r.tableId, r.after, r.limit) }),
    SPLIT_SCAN: async (r) => ({ rows: await this.engineOf(r.shard).scanVersions(r.tableId, r.after, r.limit) }),
    SPLIT_PIN: async (r) => ({ pin: await this.engineOf(r.shard).splitPin(r.pin) }),
    SPLIT_DERIVE_APPLY: (r) => this.engineOf(r.shard).deriveApply(r.from, r.to, r.entries),
    SPLIT_DERIVE_STATE: async (r) => ({ progress: await this.engineOf(r.shard).deriveState(r.clear) }),
    SPLIT_SWITCH: async (r) => ({ lsn: await this.engineOf(r.shard).splitSwitch(r.shards, r.rule) }),
    SPLIT_FENCE: async (r) => {
      const e = this.engineOf(r.shard)
      if (r.lift !== null) await e.splitLift(r.lift)
      return { fence: e.splitFence }
    },
    SPLIT_CHILD_CLEAR: (r) => this.engineOf(r.shard).clearDerivedChild(),
    SPLIT_CLEANUP: async (r) => await this.engineOf(r.shard).splitCleanup(r.rule, r.maxChunks),
    AE_CPU: (r) => {
      this.engineOf(r.shard)
      return { cpuNs: Math.round(this.aeCpu.total(r.shard)), measured: this.aeCpu.measuring }
    }
  }

  /** The meter for `shard`'s CPU-bound anti-entropy steps, taken while the op is dispatched (before its first await). */
  private meterOf (shard: ShardId): Metered {
    return this.metered ?? this.aeCpu.forShard(shard)
  }
}

function leafMessage (l: MerkleLeaf): MerkleLeafMessage {
  return { key: l.key, versionId: l.version, rowHash: l.rowHash }
}

/** Where an AUTOCOMMIT's outcome goes: straight to the reply port, no promise chain. */
class AutocommitReply implements AutocommitSink {
  constructor (private readonly replies: ReplyPort, private readonly requestId: number, private readonly naming: (e: unknown) => unknown) {}
  resolve (r: AutocommitResult): void { this.replies.reply(this.requestId, AUTOCOMMIT, encodeAutocommitReply(r)) }
  reject (e: unknown): void { this.replies.replyError(this.requestId, this.naming(e)) }
}

/** As AutocommitReply, for REPLICA_APPLY (its writes are 'lww' autocommit writes). */
class ReplicaApplyReply implements AutocommitSink {
  constructor (private readonly replies: ReplyPort, private readonly requestId: number) {}
  resolve (r: AutocommitResult): void {
    this.replies.reply(this.requestId, REPLICA_APPLY, encodeReplicaApplyReply({ xid: r.xid, lsn: r.lsn, commitHlc: r.commitHlc, applied: r.lww ?? [] }))
  }

  reject (e: unknown): void { this.replies.replyError(this.requestId, e) }
}
