// The shard's single writer and group commit (DESIGN §2 "Group commit", §4).
//
// Every change to the shard — statement writes, autocommit statements, commits, prepares,
// rollbacks, 2PC decisions, sweep steps — is a job in one FIFO queue. The writer drains the queue
// in passes: one pass takes everything queued (up to MAX_PASS_JOBS / MAX_PASS_ROWS), reads the
// current primary of every row it touches with ONE getMany, applies the jobs in order against
// that read set plus its own earlier writes (so two jobs on one row in one pass behave as if run
// one after the other), and writes the result as ONE atomic KV batch — fsynced when durability is
// `sync` and the pass commits something. Jobs queued while a pass is writing form the next pass,
// so under load commits group themselves; that next pass's read is already issued while the
// previous batch is being written, and when the previous pass held nothing but plain autocommit
// statements the next one is applied while that batch is written too (see loop()). Passes are
// kept small (MAX_PASS_JOBS) so the main thread receives replies and sends new requests while
// the worker is busy with the next pass, instead of the two taking turns. Batch values are carved
// from an Arena: V8 gives every typed array over 64 bytes its own backing store, which dominated
// allocation here.
//
// One writer means no two decisions about a row can interleave: a decision is taken on a state
// that includes every earlier decision, whether or not its batch has landed. In-memory state that
// readers consult (TIP states, LSN, marks) changes only after the batch landed, so readers never
// see a commit that is not on disk. A statement is atomic: its row writes all apply, or (on a
// conflict, duplicate or bound) none do and the statement alone fails — the transaction goes on.
//
// If a batch fails (I/O error) every job in the pass fails with that error and every transaction
// that had writes in it is marked failed (it can only roll back).

import { ScratchBirdError } from '../core/errors'
import { encodeLogValues, type Mutation, type PendingCommit, type TwoPhaseStep } from './commit-log'
import { Arena, commitKey, keyString, metaKey, openTxnKey, tipGroupKey, tipKey, writeU64 } from './keys'
import { fencedKey, splitFenceRefusal, type SplitFence } from './split-fence'
import type { KvOp, KvStore } from './kv'
import { applyRowWrite, type KeyLookup, type LwwOutcome, type RowOp, type RowWriteOutcome, type WriterIdentity } from './row-write'
import { encodeTipEntry, encodeTipGroup, TIP_DEAD, type Tip } from './tip'
import { asHlcTs } from '../core/ids'
import { HLC_ZERO, type Durability, type HlcTs, type Xid } from './types'
import type { XidSource } from './xid'
import type { ReplRole } from './repl-state'
import type { MerkleForest } from './merkle/forest'
import { ForestStage } from './merkle/forest-stage'
import { newestWrite, patchReads, survivors, unlanded, type ChainPass } from './landing-chain'

/**
 * Jobs one pass takes at most. Small on purpose: a pass's replies go out when its batch landed,
 * and a large pass leaves the main thread idle while the worker works and the other way round
 * (measured with `npm run bench -- shard-write`: 8,192 → ~42 k rows/s, 256 → ~47 k; see issue 3).
 * Group commit still amortises the fsync, and later passes of one burst are pipelined.
 */
export const MAX_PASS_JOBS = 256
/** Row writes one pass takes at most (a single larger statement still goes alone). */
export const MAX_PASS_ROWS = 16_384
/** Rows one transaction may change (its mutation list is kept in memory until commit). */
export const MAX_TXN_ROWS = 1_000_000

export const HLC_META = metaKey('hlc')
export const LSN_META = metaKey('lsn')

export type TxnState = 'active' | 'committing' | 'committed' | 'preparing' | 'prepared' | 'rolling_back' | 'rolled_back' | 'failed'

/** What the writer needs of a multi-statement transaction. */
export interface TxnCore extends WriterIdentity {
  state: TxnState
  /** Its t/ (active) and s/o/ entries are written (it has written a version). */
  persisted: boolean
  /** Latest mutation per row (keyString of the row key), for the commit log. */
  readonly mutations: Map<string, Mutation>
  failure: unknown
}

export interface CommitResult {
  readonly xid: Xid
  /** Commit log position; null when the transaction changed nothing (nothing was logged). */
  readonly lsn: bigint | null
  /** The commit HLC recorded: the requested one, or pushed above an open snapshot's start. */
  readonly commitHlc: HlcTs
}

export interface AutocommitResult extends CommitResult {
  /** Per write: false when an update/delete found no live row (an 'lww' write: not 'newer'). */
  readonly affected: boolean[]
  /** A statement of 'lww' writes: per write, how its version compared (row-write.ts); otherwise
   *  (and for a statement of no writes) undefined. */
  readonly lww: LwwOutcome[] | undefined
}

/** The writes of one statement, kept apart from the pass until the whole statement succeeded. */
class StatementWrites implements KeyLookup {
  readonly affected: boolean[] = []
  /** 'lww' statements only (they hold nothing but 'lww' writes, engine.ts checks). */
  lww: LwwOutcome[] | undefined = undefined
  readonly keys: Uint8Array[] = []
  readonly kss: string[] = []
  readonly values: Uint8Array[] = []
  /** Latest mutation per row (keyString of the row key); a row written twice keeps the last. */
  readonly mutations: Mutation[] = []
  readonly mutationKss: string[] = []
  /** This statement's writes by key, and where each row's mutation is; multi-row statements only. */
  readonly local: Map<string, Uint8Array> | undefined
  private readonly mutationAt: Map<string, number> | undefined

  constructor (private readonly p: Pass, private readonly kv: KvStore, multiRow: boolean, readonly arena: Arena) {
    if (multiRow) {
      this.local = new Map()
      this.mutationAt = new Map()
    }
  }

  /** Bytes of a row key as this statement sees them: its own writes, the pass's, the pass read. */
  seen (ks: string): Uint8Array | undefined {
    return this.local?.get(ks) ?? this.p.overlay.get(ks) ?? this.p.reads.get(ks)
  }

  lookup (key: Uint8Array, ks: string): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    const v = this.local?.get(ks) ?? this.p.overlay.get(ks)
    if (v !== undefined) return v
    if (this.p.reads.has(ks)) return this.p.reads.get(ks)
    // Keys outside the read set (back versions) that a pass still landing below this one wrote.
    const below = newestWrite(this.p.chain, ks)
    if (below !== undefined) return below
    return this.kv.get(key)
  }

  record (op: RowOp, out: RowWriteOutcome): void {
    this.affected.push(out.affected)
    if (out.lww !== undefined) (this.lww ??= []).push(out.lww)
    if (out.value !== undefined) this.put(op.rowKey, op.ks, out.value)
    if (out.backKey !== undefined) this.put(out.backKey, keyString(out.backKey), out.backValue!)
    if (out.mutation === undefined) return
    const i = this.mutationAt?.get(op.ks)
    if (i !== undefined) {
      this.mutations[i] = out.mutation
    } else {
      this.mutationAt?.set(op.ks, this.mutations.length)
      this.mutations.push(out.mutation)
      this.mutationKss.push(op.ks)
    }
  }

  private put (key: Uint8Array, ks: string, value: Uint8Array): void {
    this.keys.push(key)
    this.kss.push(ks)
    this.values.push(value)
    this.local?.set(ks, value)
  }
}

interface Deferred<T> { resolve: (v: T) => void, reject: (e: unknown) => void }

export type Job =
  /** readHlc: a read committed statement's read point (row-write.ts WriterIdentity.readHlc). */
  | { t: 'stmt', txn: TxnCore, ops: RowOp[], readHlc?: HlcTs | undefined, d: Deferred<boolean[]> }
  | { t: 'auto', xid: Xid, explicitXid: boolean, lww: boolean, commitHlc: HlcTs, ops: RowOp[], d: Deferred<AutocommitResult> }
  | { t: 'commit', txn: TxnCore, commitHlc: HlcTs, d: Deferred<CommitResult> }
  | { t: 'prepare', txn: TxnCore, d: Deferred<bigint | null> }
  | { t: 'rollback', txn: TxnCore, d: Deferred<void> }
  | { t: 'resolve', xid: Xid, commitHlc: HlcTs | undefined, txn: TxnCore | undefined, d: Deferred<CommitResult> }
  | { t: 'flush', d: Deferred<void> }
  | { t: 'exclusive', fn: () => Promise<unknown>, d: Deferred<unknown> }

/**
 * What a split's fence refuses of a job (storage/split-fence.ts), or null when it passes: a
 * statement writing a key `fenced` names (a child-side key, or one the rule cannot place) — an
 * UPDATE moving a row between the halves writes both keys, so either side refuses it — and the
 * COMMIT or PREPARE of a transaction holding such a write. Decisions and rollbacks always pass.
 */
export function splitJobRefused (j: Job, fenced: (tableId: number, pkBytes: Uint8Array) => boolean): string | null {
  const writes = (ops: readonly RowOp[]): boolean => ops.some(o => fenced(o.tableId, o.pkBytes))
  const holds = (txn: TxnCore): boolean => { for (const m of txn.mutations.values()) if (fenced(m.tableId, m.pkBytes)) return true; return false }
  switch (j.t) {
    case 'stmt': return writes(j.ops) ? 'the write of a row that moves to the new shard' : null
    case 'auto': return !j.lww && writes(j.ops) ? 'the write of a row that moves to the new shard' : null
    case 'commit': return holds(j.txn) ? 'the commit of a transaction that wrote a row that moves to the new shard' : null
    case 'prepare': return holds(j.txn) ? 'the prepare of a transaction that wrote a row that moves to the new shard' : null
    default: return null
  }
}

/** Engine state the writer reads and advances. */
export interface WriterHost {
  readonly shardId: number
  /** The fence of this parent shard's switched split (storage/split-switch.ts); null: none. */
  readonly splitFence: SplitFence | null
  readonly kv: KvStore
  readonly tip: Tip
  readonly xids: XidSource
  readonly durability: Durability
  /** Last LSN landed. */
  lsn: bigint
  /** Generation the commit-log entries of this shard are appended at (commit-log.ts; 0: not replicated). */
  readonly generation: bigint
  /**
   * The shard's Mode 1 replication role (repl-state.ts; 'none': a single copy). On a replicated
   * shard the commit log is the replicated log, which only its primary appends to locally (see
   * apply()).
   */
  readonly replRole: ReplRole
  /** Highest HLC noted or committed (persisted as s/hlc with the next batch). */
  hlcHigh: HlcTs
  hlcPersisted: HlcTs
  /** Highest start HLC of an open snapshot transaction; -1n when none. */
  snapshotFloor (): HlcTs
  /** What local commits go above: snapshotFloor() and the statement snapshots served (engine.ts). */
  commitFloor (): HlcTs
  /** A transaction reached a final state (committed, rolled back) after its batch landed. */
  txnEnded (xid: Xid): void
  /** The shard's Merkle forest (merkle/forest.ts): 'lww' statements add their leaves to it in
   *  their pass's batch. Undefined: none is kept (anti_entropy.enabled false). */
  readonly forest: MerkleForest | undefined
}

interface Pass extends ChainPass {
  ops: KvOp[]
  /** The passes this one reads through (landing-chain.ts, survivors()), newest first; emptied
   *  once it was applied (only its reads and lookups use them). */
  chain: readonly Pass[]
  /** The previous pass while it had not landed when this one was applied (landing-chain.ts). */
  under: Pass | undefined
  /** Bytes this pass has written per key (keyString), over `reads`. */
  overlay: Map<string, Uint8Array>
  reads: Map<string, Uint8Array | undefined>
  /** Last LSN before this pass (the host's, or the previous pass's when applied before it landed). */
  startLsn: bigint
  lsn: bigint
  /** Commits logged by this pass, LSNs startLsn + 1 … lsn: stored as ONE commit-log value. */
  log: PendingCommit[]
  /** Committed autocommit statements of this pass with xids from here: one TIP group (tip.ts). */
  groupXids: Xid[]
  groupHlcs: HlcTs[]
  hlcHigh: HlcTs
  sync: boolean
  /** Write the HLC mark even if nothing else is written (flush). */
  forceMarks: boolean
  /** Run after the batch landed, in job order (state changes, then resolving promises). */
  after: Array<() => void>
  /** Jobs applied without error: they fail together if the batch does. */
  applied: Array<Deferred<never>>
  /** Transactions with writes in this pass: marked failed if the batch does not land. */
  touched: Set<TxnCore>
  /** Xids whose TIP entry this pass already decides (explicit autocommit xids, 2PC decisions). */
  decided: Set<Xid>
  /** Only plain autocommit statements: see loop(). */
  stampedOnly: boolean
  /** Merkle leaves of the pass's 'lww' statements (written in its batch); undefined: none. */
  forest: ForestStage | undefined
  /** Why the forest's part of the batch could not be made: the pass fails (nothing written). */
  forestFailure: unknown
  /** Set once its batch landed or failed. */
  outcome: 'pending' | 'landed' | 'failed'
  /** Why its batch did not land. */
  failure: unknown
}

const NO_PASSES: readonly Pass[] = []

/** The loop catches every job's error; anything escaping it is a bug: crash loudly. */
function crash (e: unknown): never {
  process.nextTick(() => { throw e })
  throw e
}

function u64Value (v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, v)
  return b
}

function notActive (xid: Xid, state: string): ScratchBirdError {
  return new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not active (${state})`, { xid: String(xid), state })
}

export class Writer {
  private readonly queue: Job[] = []
  private running = false
  /** The pass applying or being written, for callers that must wait until it landed. */
  current: Promise<unknown> | undefined
  private idleWaiters: Array<() => void> = []
  /** Set while the loop waits for a landing batch with nothing queued: new work wakes it. */
  private wakeup: (() => void) | undefined
  /** Batch values (record versions, commit-log entries): dead once their batch landed. */
  private readonly arena = new Arena()
  /** Last xid of the last TIP group written: the next group starts above it (tip.ts). Xids
   *  handed out after a restart are above every earlier one (XidSource reservations). */
  private groupFloor = 0n

  constructor (private readonly host: WriterHost) {}

  get idle (): boolean { return !this.running && this.queue.length === 0 }

  enqueue (job: Job): void {
    this.queue.push(job)
    if (this.wakeup !== undefined) {
      this.wakeup()
      this.wakeup = undefined
    }
    if (!this.running) {
      this.running = true
      queueMicrotask(() => { this.loop().catch(crash) })
    }
  }

  /** Resolves once the queue is empty and no pass is running. */
  drained (): Promise<void> {
    if (this.idle) return Promise.resolve()
    return new Promise(resolve => this.idleWaiters.push(resolve))
  }

  /**
   * Passes are applied one after another and land in the same order. Two overlaps:
   * - the next pass's read (getMany) is issued right after the previous pass was applied, while
   *   batches are still being written;
   * - when the previous pass held only plain autocommit statements, the next pass is applied
   *   while that batch is being written, on top of its writes. Those statements' versions carry
   *   their commit HLC and their TIP entry is a group nobody consults before it landed, so no
   *   decision of the next pass depends on state that changes when the batch lands (a pass with
   *   transactions, 2PC or explicit xids changes TIP and transaction states on landing: the next
   *   pass waits for that). The next batch is written only after the previous one landed, and
   *   fails with it if it did not land.
   * The second overlap chains: the previous pass may itself sit on a pass still landing, and so
   * on, and the one at the bottom may not even be written yet when the next read is issued. So a
   * read — the pass's getMany, and a statement's lookup of a key outside it (a back version) —
   * reads through the writes of EVERY pass not landed when the read was issued, newest first,
   * over what the store returned (landing-chain.ts). That is exact: the store answers with what
   * had landed by then plus possibly some of those passes, never anything newer, and the newest
   * of them that wrote a key holds its latest bytes. A pass that failed meanwhile, and every pass
   * above it (which fails with it), is left out: it wrote nothing. The chain is walked through
   * each pass's link to the one it went on top of, dropped once the pass landed — everything
   * below it had landed before its batch was written — so only passes not landed are held.
   */
  private async loop (): Promise<void> {
    let last: { pass: Pass, landed: Promise<boolean> } | undefined
    for (;;) {
      if (this.queue.length === 0) {
        if (last === undefined) break
        if (!last.pass.stampedOnly) {
          await last.landed
          last = undefined
          continue
        }
        // Jobs arriving while it lands may go on top of it: wait for whichever comes first.
        const landing = last
        let landed = false
        await new Promise<void>(resolve => {
          this.wakeup = resolve
          void landing.landed.then(() => { landed = true; resolve() })
        })
        this.wakeup = undefined
        if (landed && this.queue.length === 0) last = undefined
        continue
      }
      const jobs = this.take()
      if (jobs[0]!.t === 'exclusive') {
        if (last !== undefined) await last.landed
        last = undefined
        const x = this.runExclusive(jobs[0] as Extract<Job, { t: 'exclusive' }>)
        this.current = x
        await x
        continue
      }
      const reading = this.read(jobs)
      // Every pass not landed as the read is issued: it may answer without any of their writes.
      const unlandedAtRead = unlanded(last?.pass)
      if (last !== undefined && !last.pass.stampedOnly) await last.landed
      const reads = await reading
      if (!(reads instanceof Map)) {
        for (const j of jobs) j.d.reject(reads.error)
        continue
      }
      // Decided after the read, on the latest news: a pass that failed meanwhile left nothing to
      // build on (nor did those above it), and this pass must not fail with it.
      const chain = survivors(unlandedAtRead)
      patchReads(reads, chain)
      // Goes on top of the newest of them if it is still landing: then that is the previous pass
      // (below a failed pass everything had landed).
      const on = chain[0]?.outcome === 'pending' ? last : undefined
      const p = this.newPass(reads, chain, on?.pass)
      const applying = this.applyPass(jobs, p)
      const landed = (async () => {
        await applying
        return await this.writePass(p, on)
      })()
      // Callers that wait for "what is queued now" (snapshot begin) wait for the landing.
      this.current = landed
      await applying
      last = { pass: p, landed }
    }
    this.current = undefined
    this.running = false
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  /** The current primary of every row the jobs touch, in one getMany. */
  private async read (jobs: Job[]): Promise<Map<string, Uint8Array | undefined> | { error: unknown }> {
    const keys: Uint8Array[] = []
    const kss: string[] = []
    const reads = new Map<string, Uint8Array | undefined>()
    for (const j of jobs) {
      if (j.t !== 'stmt' && j.t !== 'auto') continue
      for (const op of j.ops) {
        if (reads.has(op.ks)) continue
        reads.set(op.ks, undefined)
        keys.push(op.rowKey)
        kss.push(op.ks)
      }
    }
    if (keys.length === 0) return reads
    try {
      const values = await this.host.kv.getMany(keys)
      for (let i = 0; i < keys.length; i++) reads.set(kss[i]!, values[i])
      return reads
    } catch (error) {
      return { error }
    }
  }

  private take (): Job[] {
    if (this.queue[0]!.t === 'exclusive') return [this.queue.shift()!]
    let n = 0
    let rows = 0
    while (n < this.queue.length && n < MAX_PASS_JOBS) {
      const j = this.queue[n]!
      if (j.t === 'exclusive') break
      const r = j.t === 'stmt' || j.t === 'auto' ? j.ops.length : 0
      if (n > 0 && rows + r > MAX_PASS_ROWS) break
      rows += r
      n++
    }
    return this.queue.splice(0, n)
  }

  private async runExclusive (job: Extract<Job, { t: 'exclusive' }>): Promise<undefined> {
    try {
      job.d.resolve(await job.fn())
    } catch (e) {
      job.d.reject(e)
    }
  }

  /** A new pass over `reads` (patched with `chain`); `prior` is the previous pass when this one
   *  goes on top of it before its batch landed (its LSNs and HLC mark are not the host's yet). */
  private newPass (reads: Map<string, Uint8Array | undefined>, chain: readonly Pass[], prior: Pass | undefined): Pass {
    const h = this.host
    const lsn = prior === undefined ? h.lsn : prior.lsn
    return {
      ops: [],
      chain,
      under: prior,
      overlay: new Map(),
      reads,
      startLsn: lsn,
      lsn,
      log: [],
      groupXids: [],
      groupHlcs: [],
      hlcHigh: prior === undefined || h.hlcHigh > prior.hlcHigh ? h.hlcHigh : prior.hlcHigh,
      sync: false,
      forceMarks: false,
      after: [],
      applied: [],
      touched: new Set(),
      decided: new Set(),
      stampedOnly: true,
      forest: undefined,
      forestFailure: undefined,
      outcome: 'pending',
      failure: undefined
    }
  }

  /** Apply the jobs in order; then the pass's TIP group and commit-log entry (in apply order,
   *  which is landing order: groups keep their non-overlapping xid ranges). */
  private async applyPass (jobs: Job[], p: Pass): Promise<void> {
    for (const j of jobs) {
      if (j.t !== 'auto' || j.explicitXid || j.lww) p.stampedOnly = false
      try {
        const pending = this.apply(j, p)
        if (pending !== undefined) await pending
        p.applied.push(j.d as Deferred<never>)
      } catch (e) {
        j.d.reject(e)
      }
    }
    p.chain = NO_PASSES
    this.writeTipGroup(p)
    if (p.log.length > 0) {
      for (const [lsn, value] of encodeLogValues(p.startLsn + 1n, p.log, this.arena, this.host.generation)) p.ops.push({ type: 'put', key: commitKey(lsn), value })
    }
    if (p.forest !== undefined && !p.forest.empty) {
      // The leaves go into the same batch as the rows: a crash keeps both or neither. The forest
      // in memory changes once the batch landed (before any job of the pass is answered).
      try {
        const f = await p.forest.finish()
        for (const op of f.ops) p.ops.push(op)
        p.after.unshift(f.commit)
      } catch (e) {
        p.forestFailure = e
      }
    }
  }

  /** Write the pass's batch once the pass it went on top of (if any) landed; true once landed. */
  private async writePass (p: Pass, on: { pass: Pass, landed: Promise<boolean> } | undefined): Promise<boolean> {
    const h = this.host
    if (on !== undefined && !await on.landed) return this.failPass(p, on.pass.failure)
    if (p.forestFailure !== undefined) return this.failPass(p, p.forestFailure)
    if (h.hlcHigh > p.hlcHigh) p.hlcHigh = h.hlcHigh // noted while the pass ran
    if (p.ops.length > 0 || p.forceMarks) {
      if (p.lsn !== p.startLsn) p.ops.push({ type: 'put', key: LSN_META, value: u64Value(p.lsn) })
      if (p.hlcHigh > h.hlcPersisted || p.forceMarks) p.ops.push({ type: 'put', key: HLC_META, value: u64Value(p.hlcHigh) })
      const reservation = h.xids.reservation()
      if (reservation !== undefined) {
        p.ops.push(reservation)
        p.after.unshift(() => h.xids.reserved(reservation))
      }
      try {
        await h.kv.batch(p.ops, { sync: p.sync && h.durability === 'sync' })
      } catch (e) {
        return this.failPass(p, e)
      }
      h.lsn = p.lsn
      if (p.hlcHigh > h.hlcPersisted) h.hlcPersisted = p.hlcHigh
    }
    if (p.hlcHigh > h.hlcHigh) h.hlcHigh = p.hlcHigh
    p.outcome = 'landed'
    p.under = undefined
    for (const f of p.after) f()
    return true
  }

  /** Nothing of the pass landed: every job applied in it fails, its transactions can only roll back. */
  private failPass (p: Pass, e: unknown): false {
    p.outcome = 'failed'
    p.under = undefined
    p.chain = NO_PASSES
    p.failure = e
    for (const t of p.touched) { t.state = 'failed'; t.failure = e }
    for (const d of p.applied) d.reject(e)
    return false
  }

  /** Commit HLC actually recorded: above every open snapshot's start (see engine.ts, begin). */
  private pushed (p: Pass, requested: HlcTs): HlcTs {
    const floor = this.host.commitFloor()
    const hlc = requested > floor ? requested : asHlcTs(floor + 1n)
    if (hlc > p.hlcHigh) p.hlcHigh = hlc
    return hlc
  }

  private logCommit (p: Pass, xid: Xid, hlc: HlcTs, ms: readonly Mutation[], phase?: TwoPhaseStep): bigint {
    p.log.push(phase === undefined ? { xid, commitHlc: hlc, mutations: ms } : { xid, commitHlc: hlc, mutations: ms, phase })
    p.sync = true
    return ++p.lsn
  }

  /** Apply a statement's row ops; returns per-op affected flags and the writes, or throws having
   *  changed nothing in the pass. Synchronous unless a row needs I/O (see applyRowWrite). */
  private applyRows (p: Pass, w: WriterIdentity, ops: RowOp[]): StatementWrites | Promise<StatementWrites> {
    const r = new StatementWrites(p, this.host.kv, ops.length > 1, this.arena)
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      const out = applyRowWrite(this.host.tip, op, w, r.seen(op.ks), r)
      if (out instanceof Promise) return this.applyRowsAsync(w, ops, i, r, out)
      r.record(op, out)
    }
    return r
  }

  private async applyRowsAsync (w: WriterIdentity, ops: RowOp[], from: number, r: StatementWrites,
    first: Promise<RowWriteOutcome>): Promise<StatementWrites> {
    r.record(ops[from]!, await first)
    for (let i = from + 1; i < ops.length; i++) {
      const op = ops[i]!
      r.record(op, await applyRowWrite(this.host.tip, op, w, r.seen(op.ks), r))
    }
    return r
  }

  private merge (p: Pass, r: StatementWrites): void {
    for (let i = 0; i < r.keys.length; i++) {
      p.overlay.set(r.kss[i]!, r.values[i]!)
      p.ops.push({ type: 'put', key: r.keys[i]!, value: r.values[i]! })
    }
  }

  /** Apply one job to the pass: synchronous in the common case, a promise when it needs I/O. */
  private apply (j: Job, p: Pass): void | Promise<void> {
    const refusal = this.replRefusal(j) ?? this.splitRefusal(j)
    if (refusal !== null) throw refusal
    switch (j.t) {
      case 'stmt': return this.stmtJob(j, p)
      case 'auto': return this.autoJob(j, p)
      case 'commit': return this.commitJob(j, p)
      case 'prepare': return this.prepareJob(j, p)
      case 'rollback': return this.rollbackJob(j, p)
      case 'resolve': return this.resolveJob(j, p)
      case 'flush': return this.flushJob(j, p)
      case 'exclusive': throw new Error('ScratchBird assertion: exclusive job inside a pass')
    }
  }

  /**
   * Mode 1 (DESIGN §6): on a replicated shard only the primary writes and commits locally — a
   * replica's log holds its primary's entries at their LSNs and generations, and a local commit
   * there would put an entry of the current generation that no primary appended into it (checked
   * here, in the pass, so a role change by REPL_STATE_SET — an exclusive job, between passes —
   * takes effect for every job after it). Two-phase commit on a replicated shard runs at its
   * primary, whose PREPARE and decision are log entries (format 6, commit-log.ts): a replica holds
   * the prepared transactions of its log and only its log decides them, so a decision taken
   * locally on a replica — commit or abort, recovery's included — is refused like a commit.
   * Leaderless ('lww') statements and plain rollbacks pass: they are not the primary's commits
   * (see autoDone).
   */
  private replRefusal (j: Job): ScratchBirdError | null {
    const role = this.host.replRole
    if (role === 'none' || role === 'primary' || j.t === 'rollback' || j.t === 'flush' || (j.t === 'auto' && j.lww)) return null
    return new ScratchBirdError('SB_NOT_PRIMARY', `this node holds a ${role} copy of the shard, not its primary: it takes no local writes or commits; nothing was done — retry at the primary`, { role })
  }

  /**
   * A parent shard fenced by its split's switch entry (storage/split-switch.ts) commits no
   * child-side row after it: such row writes, and the COMMIT or PREPARE of a transaction holding
   * one, are refused here, in the pass — so a job queued before the switch's exclusive job but
   * applied after it is refused too. A refused COMMIT leaves its transaction failed (rollback
   * only), nothing written. Parent-side writes and their commits go on as usual.
   */
  private splitRefusal (j: Job): ScratchBirdError | null {
    const fence = this.host.splitFence
    if (fence === null) return null
    const shard = this.host.shardId
    const what = splitJobRefused(j, (tableId, pkBytes) => fencedKey(fence, shard, tableId, pkBytes))
    if (what === null) return null
    if ((j.t === 'commit' || j.t === 'prepare') && (j.txn.state === 'committing' || j.txn.state === 'preparing')) j.txn.state = 'failed'
    return splitFenceRefusal(this.host.shardId, fence, what)
  }

  /** On a replicated shard's primary two-phase steps are log entries (replRefusal). */
  private get logsTwoPhase (): boolean {
    return this.host.replRole === 'primary'
  }

  /** A statement of an open transaction: its row writes join the pass. */
  private stmtJob (j: Extract<Job, { t: 'stmt' }>, p: Pass): void | Promise<void> {
    // Queued while active (engine.write checks): a commit or prepare queued after it comes
    // after it in the queue too, so it still belongs to the transaction.
    const st = j.txn.state
    if (st !== 'active' && st !== 'committing' && st !== 'preparing') throw notActive(j.txn.xid, st)
    const w: WriterIdentity = j.readHlc === undefined || j.txn.snapshot ? j.txn : { xid: j.txn.xid, snapshot: false, startHlc: j.txn.startHlc, stamp: j.txn.stamp, readHlc: j.readHlc }
    const r = this.applyRows(p, w, j.ops)
    if (r instanceof Promise) return r.then(r => this.stmtDone(j, p, r))
    this.stmtDone(j, p, r)
  }

  /** An autocommit statement (or a replica apply): rows and commit in this pass. */
  private autoJob (j: Extract<Job, { t: 'auto' }>, p: Pass): void | Promise<void> {
    if (j.explicitXid) return (j.lww ? this.checkLwwXid(j.xid, p) : this.checkFreshXid(j.xid, p)).then(() => this.autoRows(j, p))
    return this.autoRows(j, p)
  }

  /** COMMIT: TIP committed, commit-log entry, the open-transaction mark removed. */
  private commitJob (j: Extract<Job, { t: 'commit' }>, p: Pass): void {
    const h = this.host
    const txn = j.txn
    if (txn.state !== 'committing') throw notActive(txn.xid, txn.state)
    if (txn.mutations.size === 0) {
      p.after.push(() => {
        txn.state = 'committed'
        h.tip.active.delete(txn.xid)
        h.txnEnded(txn.xid)
        j.d.resolve({ xid: txn.xid, lsn: null, commitHlc: j.commitHlc })
      })
      return
    }
    const hlc = this.pushed(p, j.commitHlc)
    p.ops.push({ type: 'put', key: tipKey(txn.xid), value: encodeTipEntry('committed', hlc) })
    p.ops.push({ type: 'del', key: openTxnKey(txn.xid) })
    const lsn = this.logCommit(p, txn.xid, hlc, [...txn.mutations.values()])
    p.touched.add(txn)
    p.after.push(() => {
      h.tip.settle(txn.xid, { state: 'committed', commitHlc: hlc })
      txn.state = 'committed'
      h.txnEnded(txn.xid)
      j.d.resolve({ xid: txn.xid, lsn, commitHlc: hlc })
    })
  }

  /** PREPARE (2PC phase one): the transaction goes to limbo, durably. */
  private prepareJob (j: Extract<Job, { t: 'prepare' }>, p: Pass): void {
    const h = this.host
    const txn = j.txn
    if (txn.state !== 'preparing') throw notActive(txn.xid, txn.state)
    const mutations = [...txn.mutations.values()]
    p.ops.push({ type: 'put', key: tipKey(txn.xid), value: encodeTipEntry('limbo', HLC_ZERO, mutations) })
    p.ops.push({ type: 'put', key: openTxnKey(txn.xid), value: new Uint8Array(0) })
    txn.persisted = true
    p.sync = true
    p.touched.add(txn)
    const lsn = this.logsTwoPhase ? this.logCommit(p, txn.xid, HLC_ZERO, mutations, 'prepare') : null
    p.after.push(() => {
      h.tip.limbo.set(txn.xid, { xid: txn.xid, mutations })
      h.tip.active.delete(txn.xid)
      txn.state = 'prepared'
      // A prepared transaction reads no more: its snapshot no longer holds anything back.
      h.txnEnded(txn.xid)
      j.d.resolve(lsn)
    })
  }

  /** ROLLBACK: dead in the TIP if anything of it was persisted. */
  private rollbackJob (j: Extract<Job, { t: 'rollback' }>, p: Pass): void {
    const h = this.host
    const txn = j.txn
    if (txn.persisted) {
      p.ops.push({ type: 'put', key: tipKey(txn.xid), value: encodeTipEntry('dead') })
      p.ops.push({ type: 'del', key: openTxnKey(txn.xid) })
    }
    p.after.push(() => {
      if (txn.persisted) h.tip.settle(txn.xid, TIP_DEAD)
      else h.tip.active.delete(txn.xid)
      txn.state = 'rolled_back'
      h.txnEnded(txn.xid)
      j.d.resolve()
    })
  }

  /** A limbo transaction decided (2PC phase two or recovery): committed or dead. */
  private resolveJob (j: Extract<Job, { t: 'resolve' }>, p: Pass): void {
    const h = this.host
    const limbo = h.tip.limbo.get(j.xid)
    if (limbo === undefined || p.decided.has(j.xid)) throw notActive(j.xid, 'not in limbo')
    p.decided.add(j.xid)
    p.ops.push({ type: 'del', key: openTxnKey(j.xid) })
    p.sync = true
    if (j.commitHlc === undefined) {
      p.ops.push({ type: 'put', key: tipKey(j.xid), value: encodeTipEntry('dead') })
      const lsn = this.logsTwoPhase ? this.logCommit(p, j.xid, HLC_ZERO, limbo.mutations, 'abort') : null
      p.after.push(() => {
        h.tip.settle(j.xid, TIP_DEAD)
        if (j.txn !== undefined) j.txn.state = 'rolled_back'
        j.d.resolve({ xid: j.xid, lsn, commitHlc: HLC_ZERO })
      })
      return
    }
    // Not pushed: a two-phase transaction commits at ONE HLC on every participant, or a snapshot
    // read between two different ones would see it on one shard and not on the other. The
    // coordinator chose it above every participant's commit floor at PREPARE (cluster/twopc);
    // readers that came later met the prepared versions and waited (visibility.ts waitLimbo).
    const hlc = j.commitHlc
    if (hlc > p.hlcHigh) p.hlcHigh = hlc
    p.ops.push({ type: 'put', key: tipKey(j.xid), value: encodeTipEntry('committed', hlc) })
    // On a replicated primary the decision is logged even for a transaction that changed nothing
    // here: its replicas hold it prepared (their prepare entry) and must see it leave limbo.
    const lsn = this.logsTwoPhase
      ? this.logCommit(p, j.xid, hlc, limbo.mutations, 'commit')
      : limbo.mutations.length > 0 ? this.logCommit(p, j.xid, hlc, limbo.mutations) : null
    p.after.push(() => {
      h.tip.settle(j.xid, { state: 'committed', commitHlc: hlc })
      if (j.txn !== undefined) j.txn.state = 'committed'
      j.d.resolve({ xid: j.xid, lsn, commitHlc: hlc })
    })
  }

  /** Make everything before it durable. */
  private flushJob (j: Extract<Job, { t: 'flush' }>, p: Pass): void {
    p.forceMarks = true
    p.sync = true
    p.after.push(() => j.d.resolve())
  }

  private stmtDone (j: Extract<Job, { t: 'stmt' }>, p: Pass, r: StatementWrites): void {
    const txn = j.txn
    if (r.mutations.length > 0) {
      let added = 0
      for (const ks of r.mutationKss) if (!txn.mutations.has(ks)) added++
      if (txn.mutations.size + added > MAX_TXN_ROWS) {
        throw new ScratchBirdError('SB_TXN_TOO_LARGE', `transaction changes more than ${MAX_TXN_ROWS} rows`, { xid: String(txn.xid), limit: MAX_TXN_ROWS })
      }
      if (!txn.persisted) {
        p.ops.push({ type: 'put', key: tipKey(txn.xid), value: encodeTipEntry('active') })
        p.ops.push({ type: 'put', key: openTxnKey(txn.xid), value: new Uint8Array(0) })
        txn.persisted = true
      }
      for (let i = 0; i < r.mutations.length; i++) txn.mutations.set(r.mutationKss[i]!, r.mutations[i]!)
      this.merge(p, r)
      p.touched.add(txn)
    }
    p.after.push(() => j.d.resolve(r.affected))
  }

  private autoRows (j: Extract<Job, { t: 'auto' }>, p: Pass): void | Promise<void> {
    const hlc = this.pushed(p, j.commitHlc)
    const r = this.applyRows(p, { xid: j.xid, snapshot: false, startHlc: HLC_ZERO, stamp: hlc }, j.ops)
    if (r instanceof Promise) return r.then(r => this.autoDone(j, p, hlc, r))
    this.autoDone(j, p, hlc, r)
  }

  private autoDone (j: Extract<Job, { t: 'auto' }>, p: Pass, hlc: HlcTs, r: StatementWrites): void {
    // Before anything of the statement joins the pass: a version id outside any window fails it alone.
    if (j.lww && this.host.forest !== undefined) this.stageLeaves(p, j.ops)
    let lsn: bigint | null = null
    if (r.mutations.length > 0) {
      this.merge(p, r)
      const g = p.groupXids
      if (!j.explicitXid && j.xid > (g.length > 0 ? g[g.length - 1]! : this.groupFloor)) {
        g.push(j.xid)
        p.groupHlcs.push(hlc)
      } else {
        // A replicated xid, or (never expected) one not above the last group: own entry, so
        // groups keep their non-overlapping ranges.
        p.ops.push({ type: 'put', key: tipKey(j.xid), value: encodeTipEntry('committed', hlc) })
      }
      // A leaderless statement on a shard whose log is Mode 1's replicated log is not logged: only
      // the primary's commits go there (replRefusal), and leaderless replicas replicate
      // themselves (coordinator, hints, anti-entropy).
      if (!j.lww || this.host.replRole === 'none') lsn = this.logCommit(p, j.xid, hlc, r.mutations)
      else p.sync = true
      if (j.explicitXid) p.after.push(() => this.host.tip.cache.set(j.xid, { state: 'committed', commitHlc: hlc }))
    }
    const result: AutocommitResult = { xid: j.xid, lsn, commitHlc: hlc, affected: r.affected, lww: r.lww }
    p.after.push(() => j.d.resolve(result))
  }

  /**
   * Every version of an 'lww' statement is a leaf of its window — 'newer', 'same' and 'older'
   * alike: a write received is history even when a newer version already won (DESIGN §6).
   * TODO(issue 15 item 6): primary_replica (MGA) commits add no leaves yet; the forest verifies
   * leaderless replicas only.
   */
  private stageLeaves (p: Pass, ops: readonly RowOp[]): void {
    const stage = p.forest ?? new ForestStage(this.host.forest!)
    stage.addVersions(ops)
    p.forest = stage
  }

  /** The TIP record of the pass's grouped autocommit xids: a plain entry for one, a group for more. */
  private writeTipGroup (p: Pass): void {
    const g = p.groupXids
    if (g.length === 0) return
    const last = g[g.length - 1]!
    if (g.length === 1) p.ops.push({ type: 'put', key: tipKey(last), value: encodeTipEntry('committed', p.groupHlcs[0]) })
    else p.ops.push({ type: 'put', key: tipGroupKey(last), value: encodeTipGroup(g, p.groupHlcs, this.arena) })
    this.groupFloor = last
  }

  /** A replicated/explicit xid must not have a TIP entry or be running here already. */
  private async checkFreshXid (xid: Xid, p: Pass): Promise<void> {
    const tip = this.host.tip
    if (tip.active.has(xid) || tip.limbo.has(xid) || p.decided.has(xid)) throw notActive(xid, 'in use')
    p.decided.add(xid)
    if (await tip.recorded(xid)) throw notActive(xid, 'already finished')
  }

  /**
   * The xid of an 'lww' statement may be known here already: the coordinator retrying, a hint or
   * a repair re-delivering the transaction, another part of the same batch. It is refused only
   * while a local transaction runs under it (active, limbo) or when it is recorded dead here (its
   * TIP entry must not flip to committed under that transaction's unstamped versions). Its
   * versions are stamped, so a second TIP entry for it changes no visibility.
   */
  private async checkLwwXid (xid: Xid, p: Pass): Promise<void> {
    const tip = this.host.tip
    if (tip.active.has(xid) || tip.limbo.has(xid)) throw notActive(xid, 'in use')
    // A later plain explicit-xid statement of this pass must not take it (checkFreshXid).
    p.decided.add(xid)
    // recorded() first: tip.get() of an unrecorded xid answers dead (it committed nothing here).
    if (await tip.recorded(xid) && (await tip.get(xid)).state !== 'committed') throw notActive(xid, 'already finished')
  }
}
