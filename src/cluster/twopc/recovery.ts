import { assert } from '../../core/errors'
import type { HlcTs, Xid } from '../../storage/types'
import { ABORT_DECISION, decisionSlotTaken, type Decision } from './decision'
import type { ShardId } from '../../core/ids'

// Limbo recovery (DESIGN §6 "Transactions across shards") as a sans-I/O state machine, in the
// Step/Ready shape of the coordinator: start() lists the limbo of every shard in scope, each answer
// comes back through step(), and every limbo transaction ends committed or aborted by its decision
// record — or is left for a later round when that cannot be decided safely now.
//
// Per limbo xid (looked up once however many of our shards hold it):
//  - a coordinator of this process is still running it → leave it to that coordinator ('pending');
//    checked before the record is read, so no record can appear after a read that found none;
//  - otherwise read the record: commit → COMMIT PREPARED at its HLC; abort → ABORT PREPARED;
//  - no record and the coordinator is gone (its process ended: it can never write one) → abort
//    (presumed abort);
//  - no record and the coordinator may still be running (another node) → fence the slot with an
//    abort record first (insert-if-absent): if it lands, the commit record can no longer appear →
//    abort; if the slot is taken, the coordinator got there first → read again and follow it.
// Commit records are dropped only when `dropDecisions` says the scope holds every participant
// (one node owning every shard): another node's participant may still need the record.
// Abort fences are never dropped: a coordinator that may still be running could otherwise write
// its commit record after all.

/** Who can still write the decision record of `xid`. */
export type CoordinatorStatus =
  /** A coordinator in this process is running it. */
  | 'running'
  /** Its coordinator's process has ended: no record can appear any more. */
  | 'gone'
  /** Its coordinator is elsewhere and may be running. */
  | 'maybe-running'

export interface LimboRecoveryOptions {
  readonly shards: readonly ShardId[]
  readonly coordinator: (xid: Xid) => CoordinatorStatus
  /** The shards in scope hold every participant of every transaction (a single node). */
  readonly dropDecisions: boolean
}

export type RecoveryEffect =
  | { readonly type: 'list-limbo', readonly shard: ShardId }
  | { readonly type: 'read-decision', readonly xid: Xid }
  /** Insert the abort fence; answer 'fenced' or 'fence-failed'. */
  | { readonly type: 'write-decision', readonly xid: Xid, readonly decision: Decision }
  | { readonly type: 'commit-prepared', readonly shard: ShardId, readonly xid: Xid, readonly commitHlc: HlcTs }
  | { readonly type: 'abort-prepared', readonly shard: ShardId, readonly xid: Xid }
  | { readonly type: 'drop-decision', readonly xid: Xid }

export type RecoveryEvent =
  | { readonly type: 'limbo-listed', readonly shard: ShardId, readonly xids: readonly Xid[] }
  | { readonly type: 'list-failed', readonly shard: ShardId, readonly error: unknown }
  | { readonly type: 'decision-read', readonly xid: Xid, readonly decision: Decision | null }
  | { readonly type: 'decision-read-failed', readonly xid: Xid, readonly error: unknown }
  | { readonly type: 'fenced', readonly xid: Xid }
  | { readonly type: 'fence-failed', readonly xid: Xid, readonly error: unknown }
  | { readonly type: 'resolved', readonly shard: ShardId, readonly xid: Xid }
  | { readonly type: 'resolve-failed', readonly shard: ShardId, readonly xid: Xid, readonly error: unknown }
  | { readonly type: 'dropped', readonly xid: Xid }

/** failed: limbo entries (or whole shards whose limbo could not be listed) left undecided by an error; pending: left to a running coordinator. Both need another round. */
export interface RecoveryReport { committed: number, aborted: number, failed: number, pending: number }

type XidState = 'reading' | 'fencing' | 'rereading' | 'resolving' | 'failed'

interface LimboXid {
  state: XidState
  shards: ShardId[]
  /** Shards not yet answered in 'resolving'. */
  waiting: number
  decision: Decision | null
}

export class LimboRecovery {
  private readonly report: RecoveryReport = { committed: 0, aborted: 0, failed: 0, pending: 0 }
  private readonly xids = new Map<Xid, LimboXid>()
  private listsOutstanding = 0
  private work = 0
  private dropsOutstanding = 0
  private started = false
  private over = false

  constructor (private readonly opts: LimboRecoveryOptions) {
    assert(new Set(opts.shards).size === opts.shards.length, 'limbo recovery: shards must be distinct')
  }

  get finished (): boolean { return this.over }
  get result (): RecoveryReport { return { ...this.report } }

  start (): RecoveryEffect[] {
    assert(!this.started, 'limbo recovery: start called twice')
    this.started = true
    this.listsOutstanding = this.opts.shards.length
    this.checkDone()
    return this.opts.shards.map(shard => ({ type: 'list-limbo', shard }))
  }

  step (ev: RecoveryEvent): RecoveryEffect[] {
    if (this.over) return []
    switch (ev.type) {
      case 'limbo-listed': return this.onListed(ev.shard, ev.xids)
      case 'list-failed':
        this.listsOutstanding--
        this.report.failed++
        return this.checkDone()
      case 'decision-read': return this.onDecision(ev.xid, ev.decision)
      case 'decision-read-failed':
      case 'fence-failed':
        return this.onLookupFailed(ev.xid, ev.type === 'fence-failed' ? ev.error : undefined)
      case 'fenced': {
        const x = this.xids.get(ev.xid)
        return x?.state === 'fencing' ? this.resolve(ev.xid, x, ABORT_DECISION) : []
      }
      case 'resolved':
      case 'resolve-failed':
        return this.onResolved(ev.shard, ev.xid, ev.type === 'resolved')
      case 'dropped':
        this.dropsOutstanding--
        return this.checkDone()
    }
  }

  private onListed (shard: ShardId, xids: readonly Xid[]): RecoveryEffect[] {
    this.listsOutstanding--
    const out: RecoveryEffect[] = []
    for (const xid of new Set(xids)) {
      const known = this.xids.get(xid)
      if (known !== undefined) {
        // Already being looked up for another shard: ride along unless it is past the lookup.
        if (known.state === 'reading' || known.state === 'fencing' || known.state === 'rereading') known.shards.push(shard)
        else if (known.state === 'failed') this.report.failed++
        else out.push(...this.resolveOne(shard, xid, known))
        continue
      }
      const status = this.opts.coordinator(xid)
      if (status === 'running') { this.report.pending++; continue }
      this.xids.set(xid, { state: 'reading', shards: [shard], waiting: 0, decision: null })
      this.work++
      out.push({ type: 'read-decision', xid })
    }
    out.push(...this.checkDone())
    return out
  }

  private onDecision (xid: Xid, decision: Decision | null): RecoveryEffect[] {
    const x = this.xids.get(xid)
    if (x === undefined || (x.state !== 'reading' && x.state !== 'rereading')) return []
    if (decision !== null) return this.resolve(xid, x, decision)
    if (x.state === 'rereading') return this.onLookupFailed(xid, undefined) // taken, then gone: cannot tell
    if (this.opts.coordinator(xid) === 'gone') return this.resolve(xid, x, ABORT_DECISION)
    x.state = 'fencing'
    return [{ type: 'write-decision', xid, decision: ABORT_DECISION }]
  }

  private onLookupFailed (xid: Xid, fenceError: unknown): RecoveryEffect[] {
    const x = this.xids.get(xid)
    if (x === undefined || x.state === 'resolving' || x.state === 'failed') return []
    if (x.state === 'fencing' && decisionSlotTaken(fenceError)) {
      x.state = 'rereading'
      return [{ type: 'read-decision', xid }]
    }
    // Never guessed: the entries stay in limbo (invisible) until a later round can read the record.
    x.state = 'failed'
    this.report.failed += x.shards.length
    this.work--
    return this.checkDone()
  }

  private resolve (xid: Xid, x: LimboXid, decision: Decision): RecoveryEffect[] {
    x.state = 'resolving'
    x.decision = decision
    const out: RecoveryEffect[] = []
    for (const shard of x.shards) out.push(this.resolution(shard, xid, decision))
    x.waiting = x.shards.length
    return out
  }

  /** A shard listing an xid already decided here. */
  private resolveOne (shard: ShardId, xid: Xid, x: LimboXid): RecoveryEffect[] {
    x.shards.push(shard)
    if (x.waiting === 0) this.work++
    x.waiting++
    return [this.resolution(shard, xid, x.decision!)]
  }

  private resolution (shard: ShardId, xid: Xid, d: Decision): RecoveryEffect {
    return d.outcome === 'commit' ? { type: 'commit-prepared', shard, xid, commitHlc: d.commitHlc } : { type: 'abort-prepared', shard, xid }
  }

  private onResolved (shard: ShardId, xid: Xid, ok: boolean): RecoveryEffect[] {
    const x = this.xids.get(xid)
    if (x === undefined || x.state !== 'resolving' || x.waiting === 0 || !x.shards.includes(shard)) return []
    x.waiting--
    if (!ok) this.report.failed++
    else if (x.decision!.outcome === 'commit') this.report.committed++
    else this.report.aborted++
    if (x.waiting === 0) this.work--
    return this.checkDone()
  }

  private checkDone (): RecoveryEffect[] {
    if (!this.started || this.listsOutstanding > 0 || this.work > 0 || this.dropsOutstanding > 0 || this.over) return []
    if (this.dropsOutstanding === 0 && this.opts.dropDecisions && this.report.failed === 0 && this.report.pending === 0) {
      const drops: RecoveryEffect[] = []
      for (const [xid, x] of this.xids) {
        if (x.decision?.outcome === 'commit') drops.push({ type: 'drop-decision', xid })
      }
      this.xids.clear()
      if (drops.length > 0) {
        this.dropsOutstanding = drops.length
        return drops
      }
    }
    this.over = true
    return []
  }
}
