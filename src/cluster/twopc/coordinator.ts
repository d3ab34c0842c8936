import { assert, ScratchBirdError } from '../../core/errors'
import type { HlcTs, Xid } from '../../storage/types'
import { asHlcTs } from '../../core/ids'
import { ABORT_DECISION, decisionSlotTaken, type Decision } from './decision'
import type { ShardId } from '../../core/ids'

// The coordinator of one two-phase commit (DESIGN §6 "Transactions across shards") as a sans-I/O
// state machine in the Step/Ready shape of etcd raft: the shell calls start() and then step(event)
// with the answer to each effect it carried out, and carries out the effects that come back. The
// machine never waits, reads no clock (the commit HLC comes from the injected source, read once,
// after every participant prepared) and does no I/O.
//
//   1. PREPARE every participant (each moves the transaction to limbo: durable, invisible);
//   2. write the commit record — the commit point: once it is durable the transaction commits,
//      whatever crashes next;
//   3. COMMIT PREPARED every participant, then drop the record.
// A failed PREPARE aborts everything (ABORT PREPARED where it prepared, ROLLBACK elsewhere, then
// ABORT PREPARED where that ROLLBACK failed: a lost PREPARE reply), with no record (presumed abort). The commit record's write can fail in two ways:
//  - the slot is taken: limbo recovery fenced it with an abort record first, nothing of ours was
//    written → abort;
//  - anything else (a lost reply): our record may or may not be there. Aborting now could
//    half-commit (recovery would commit the participants we did not reach), so the machine fences
//    the slot itself: if its abort record lands, abort; if the slot is taken, read it and follow
//    what it says; if that fails too, the outcome is unknown: the participants stay in limbo for
//    recovery, which decides by the record, and the client is told the outcome is unknown.
// A failing COMMIT PREPARED leaves that participant in limbo; recovery finishes it from the
// record, which is then kept (only the coordinator drops it, once every participant committed).

export type CoordinatorEffect =
  | { readonly type: 'prepare', readonly shard: ShardId }
  /** Abort a participant that prepared. */
  | { readonly type: 'abort-prepared', readonly shard: ShardId }
  /** Roll back a participant that did not (or may not have) prepared. */
  | { readonly type: 'rollback', readonly shard: ShardId }
  | { readonly type: 'commit-prepared', readonly shard: ShardId, readonly commitHlc: HlcTs }
  /** Insert the decision record; answer 'decision-written' or 'decision-failed'. */
  | { readonly type: 'write-decision', readonly decision: Decision }
  | { readonly type: 'read-decision' }
  | { readonly type: 'drop-decision' }
  /** The client's answer, emitted once (the machine may still have effects after it). */
  | { readonly type: 'outcome', readonly outcome: TwoPhaseOutcome }

export type CoordinatorEvent =
  /** floor: the commit HLC must exceed it on that shard (the snapshots it served before). */
  | { readonly type: 'prepared', readonly shard: ShardId, readonly floor: HlcTs }
  | { readonly type: 'prepare-failed', readonly shard: ShardId, readonly error: unknown }
  | { readonly type: 'decision-written' }
  | { readonly type: 'decision-failed', readonly error: unknown }
  | { readonly type: 'decision-read', readonly decision: Decision | null }
  | { readonly type: 'decision-read-failed', readonly error: unknown }
  | { readonly type: 'committed', readonly shard: ShardId }
  | { readonly type: 'commit-failed', readonly shard: ShardId, readonly error: unknown }
  /** The answer to abort-prepared or rollback, success or not (a participant left in limbo is recovery's). */
  | { readonly type: 'aborted', readonly shard: ShardId, readonly ok: boolean }
  | { readonly type: 'dropped', readonly ok: boolean }

/**
 * committed: every participant commits (now or by recovery). Not committed: `unknown` false means
 * nothing of the transaction will ever be visible; true means the decision could not be learnt
 * and recovery will commit or abort every participant alike.
 */
export type TwoPhaseOutcome =
  | { committed: true, commitHlc: HlcTs }
  | { committed: false, error: unknown, unknown: boolean }

function fencedOut (xid: Xid): ScratchBirdError {
  return new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} was aborted by limbo recovery before its commit record was written`, { xid: String(xid) })
}

type Phase = 'idle' | 'preparing' | 'deciding' | 'fencing' | 'reading' | 'committing' | 'aborting' | 'dropping' | 'done'

export class TwoPhaseCoordinator {
  readonly xid: Xid
  readonly shards: readonly ShardId[]
  private phase: Phase = 'idle'
  private readonly prepared = new Set<number>()
  /** Participants that answered the current fan-out (prepare, commit or abort). */
  private readonly answered = new Set<number>()
  private firstError: unknown = undefined
  private commitHlc: HlcTs | undefined
  /** Highest commit floor a participant answered PREPARE with. */
  private floor: HlcTs | undefined
  private commitsFailed = 0
  private readonly abortRetried = new Set<number>()
  private result: TwoPhaseOutcome | null = null

  constructor (xid: Xid, shards: readonly ShardId[], private readonly nextCommitHlc: (above: HlcTs) => HlcTs) {
    assert(shards.length > 0 && new Set(shards).size === shards.length, '2PC: participants must be a non-empty list of distinct shards')
    this.xid = xid
    this.shards = [...shards]
  }

  get outcome (): TwoPhaseOutcome | null { return this.result }
  /** Nothing more will come out: the shell may drop the machine. */
  get finished (): boolean { return this.phase === 'done' }

  start (): CoordinatorEffect[] {
    assert(this.phase === 'idle', '2PC: start called twice')
    this.phase = 'preparing'
    return this.shards.map(shard => ({ type: 'prepare', shard }))
  }

  /** One answer to an effect. Answers that do not fit the phase (duplicates, strays) are ignored. */
  step (ev: CoordinatorEvent): CoordinatorEffect[] {
    switch (ev.type) {
      case 'prepared':
      case 'prepare-failed':
        if (ev.type === 'prepared' && this.phase === 'preparing' && (this.floor === undefined || ev.floor > this.floor)) this.floor = ev.floor
        return this.onPrepareAnswer(ev.shard, ev.type === 'prepared', ev.type === 'prepare-failed' ? ev.error : undefined)
      case 'decision-written':
        if (this.phase === 'deciding') return this.commitAll()
        if (this.phase === 'fencing') return this.abortAll(this.firstError, false)
        return []
      case 'decision-failed':
        return this.onDecisionFailed(ev.error)
      case 'decision-read':
        if (this.phase !== 'reading') return []
        if (ev.decision === null) return this.unknown(this.firstError) // the fence failed and no record: cannot tell
        if (ev.decision.outcome === 'commit') { this.commitHlc = ev.decision.commitHlc; return this.commitAll() }
        return this.abortAll(this.firstError, false)
      case 'decision-read-failed':
        return this.phase === 'reading' ? this.unknown(this.firstError) : []
      case 'committed':
      case 'commit-failed':
        return this.onCommitAnswer(ev.shard, ev.type === 'committed')
      case 'aborted':
        return this.onAbortAnswer(ev.shard, ev.ok)
      case 'dropped':
        if (this.phase === 'dropping') this.phase = 'done'
        return []
    }
  }

  private onPrepareAnswer (shard: ShardId, ok: boolean, error: unknown): CoordinatorEffect[] {
    if (this.phase !== 'preparing' || !this.shards.includes(shard) || this.answered.has(shard)) return []
    this.answered.add(shard)
    if (ok) this.prepared.add(shard)
    else if (this.firstError === undefined) this.firstError = error ?? new ScratchBirdError('SB_INTERNAL', '2PC: prepare failed')
    if (this.answered.size < this.shards.length) return []
    if (this.firstError !== undefined) return this.abortAll(this.firstError, false)
    this.phase = 'deciding'
    // One HLC for every participant, above each one's floor: a snapshot read one of them served
    // before it prepared did not see the transaction, so none may show it committed below that
    // read. The source (the shell's HLC) is asked for a reading above the floor; checked here too.
    const floor = this.floor ?? asHlcTs(0n)
    const c = this.nextCommitHlc(floor)
    this.commitHlc = c > floor ? c : asHlcTs(floor + 1n)
    return [{ type: 'write-decision', decision: { outcome: 'commit', commitHlc: this.commitHlc } }]
  }

  private onDecisionFailed (error: unknown): CoordinatorEffect[] {
    if (this.phase === 'deciding') {
      this.firstError = error
      // Slot taken: recovery fenced it before our record; ours was not written.
      if (decisionSlotTaken(error)) return this.abortAll(fencedOut(this.xid), false)
      this.phase = 'fencing'
      return [{ type: 'write-decision', decision: ABORT_DECISION }]
    }
    if (this.phase === 'fencing') {
      // Taken: a record is there — ours (commit) or recovery's fence (abort). Otherwise unknown, but
      // reading costs nothing and settles it when our commit record did land.
      this.phase = 'reading'
      return [{ type: 'read-decision' }]
    }
    return []
  }

  private commitAll (): CoordinatorEffect[] {
    this.phase = 'committing'
    this.answered.clear()
    const commitHlc = this.commitHlc!
    return this.shards.map(shard => ({ type: 'commit-prepared', shard, commitHlc }))
  }

  private onCommitAnswer (shard: ShardId, ok: boolean): CoordinatorEffect[] {
    if (this.phase !== 'committing' || !this.shards.includes(shard) || this.answered.has(shard)) return []
    this.answered.add(shard)
    if (!ok) this.commitsFailed++
    if (this.answered.size < this.shards.length) return []
    const out: CoordinatorEffect[] = [this.decide({ committed: true, commitHlc: this.commitHlc! })]
    if (this.commitsFailed > 0) {
      // A participant still in limbo needs the record: recovery finishes it from there.
      this.phase = 'done'
      return out
    }
    this.phase = 'dropping'
    out.push({ type: 'drop-decision' })
    return out
  }

  private abortAll (error: unknown, unknown: boolean): CoordinatorEffect[] {
    this.phase = 'aborting'
    this.answered.clear()
    this.result = { committed: false, error, unknown }
    return this.shards.map(shard => this.prepared.has(shard) ? { type: 'abort-prepared', shard } : { type: 'rollback', shard })
  }

  private onAbortAnswer (shard: ShardId, ok: boolean): CoordinatorEffect[] {
    if (this.phase !== 'aborting' || !this.shards.includes(shard) || this.answered.has(shard)) return []
    if (!ok && !this.prepared.has(shard) && !this.abortRetried.has(shard)) {
      // Its ROLLBACK failed: it may have prepared after all (its PREPARE's reply was lost). ABORT
      // PREPARED now rather than leave it in limbo until a recovery round.
      this.abortRetried.add(shard)
      return [{ type: 'abort-prepared', shard }]
    }
    this.answered.add(shard)
    if (this.answered.size < this.shards.length) return []
    this.phase = 'done'
    return [{ type: 'outcome', outcome: this.result! }]
  }

  /** The decision cannot be learnt now: leave every participant as it is, for recovery. */
  private unknown (error: unknown): CoordinatorEffect[] {
    this.phase = 'done'
    return [this.decide({ committed: false, error, unknown: true })]
  }

  private decide (o: TwoPhaseOutcome): CoordinatorEffect {
    this.result = o
    return { type: 'outcome', outcome: o }
  }
}
