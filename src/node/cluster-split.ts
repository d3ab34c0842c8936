import type { Logger } from 'pino'
import type { ClusterLayout } from '../cluster/layout'
import { splitRefused, type SplitBlocker } from '../cluster/shard-split'
import type { SplitUnderWay } from '../cluster/split-ddl-guard'
import { parentsMaySwitch, splitDoneLayout, splitProgressText, splitStatement, splitSwitched, type SplitReports } from '../cluster/split-run'
import { SPLIT_DECREE_SEND_MS, splitLockBlocker, type SplitLockOutcome, type SplitLockRequest } from '../cluster/split-ddl-lock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'
import { commandResult, type StatementResult } from '../exec/result'
import { DECREE_TIMEOUT_MS, type DecreeResult } from './membership-decree'

// The decider's side of a split's RUN (cluster/split-run.ts holds the rules), kept out of
// node/cluster.ts, which hands it its decree, layout and gossip: ALTER CLUSTER SET shards decided
// as a layout (the intent, or a cancel; a start only under the catalog coordinator's split lock,
// cluster/split-ddl-lock.ts, released again when its decree is not chosen), the final layout of 2n shards decided once every holder
// of every parent reports 'switched', and SHOW SHARD MAP's text of each parent's progress.

export interface ClusterSplitDeps {
  readonly layout: () => ClusterLayout
  /** Is this node the decider now (the lowest live member)? */
  readonly isDecider: () => boolean
  /** Is a decree of this node under way? */
  readonly proposing: () => boolean
  /**
   * Decides `next` (epoch + 1) through the membership decree and adopts what was chosen; nothing of
   * the decree is sent after `notAfter` (clock.monotonic ms; membership-decree.ts propose); a
   * split's intent carries `judgedAt`, the catalog version its start was judged against, which
   * every acceptor checks (cluster/membership/epoch-decree.ts).
   */
  readonly decide: (next: ClusterLayout, why: string, notAfter?: number, judgedAt?: number) => Promise<{ result: DecreeResult, adopted: boolean }>
  /** clock.monotonic (a start's decree is sent within SPLIT_DECREE_SEND_MS of asking for the lock); absent: no bound (tests of the rest). */
  readonly now?: () => number
  /** The voters of the next decree, as a message lists them. */
  readonly votersText: () => string
  /** The nodes holding a copy of `parent` (placement: the first N of its preference list). */
  readonly holdersOf: (parent: ShardId) => readonly NodeId[]
  /** Every member's split reports as gossip carries them. */
  readonly reports: () => SplitReports
  /** What this node sees in the way of a start besides the statement's checks (cluster/split-ddl-guard.ts splitStartBlockers). */
  readonly startBlockers?: () => SplitBlocker[]
  /**
   * Asks the catalog coordinator for the split lock (cluster/split-ddl-lock.ts; a local call when
   * it is this node), with what the decider checks besides; absent: no lock (tests of the rest).
   */
  readonly lockSplit?: (req: SplitLockRequest) => Promise<SplitLockOutcome>
  /** Releases a lock taken by lockSplit (best effort: the coordinator's TTL, SPLIT_LOCK_TTL_MS, ends it otherwise). */
  readonly releaseSplit?: (req: SplitLockRequest, coordinator: NodeId) => Promise<void>
  readonly log: Logger
}

export class ClusterSplit {
  /** The split whose start this node is deciding now (its decree is under way), else null. */
  private deciding: SplitUnderWay | null = null

  constructor (private readonly d: ClusterSplitDeps) {}

  /**
   * The split this node is deciding the start of (not recorded yet), else null: a DDL statement
   * it coordinates meanwhile is judged as if the split were recorded (split-ddl-guard.ts), since
   * the decree may be chosen before that statement's catalog is installed.
   */
  starting (): SplitUnderWay | null {
    return this.deciding
  }

  /** ALTER CLUSTER SET shards = `requested` at the decider: the intent or a cancel decided, or a coded error. */
  async op (requested: number): Promise<StatementResult> {
    const l = this.d.layout()
    const what = splitStatement(l, requested, parentsMaySwitch(l, this.d.holdersOf, this.d.reports()))
    if (what.kind === 'nothing') return commandResult('ALTER CLUSTER', 0, [what.message])
    if (this.d.proposing()) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `ALTER CLUSTER SET shards = ${requested} not done: this node is deciding membership epoch ${l.epoch + 1} already; nothing was changed: retry`, { epoch: l.epoch })
    }
    const why = what.kind === 'start'
      ? `ALTER CLUSTER SET shards = ${requested}: split of ${l.shards} shards into ${requested} under way (every holder of each parent derives its child; routing stays with ${l.shards} shards until every parent switched)`
      : `ALTER CLUSTER SET shards = ${requested}: split of ${l.shards} shards into ${l.split?.to ?? '?'} cancelled (the children are dropped)`
    this.deciding = what.kind === 'start' ? { shards: l.shards, to: requested } : null
    let decided
    let lock: { req: SplitLockRequest, coordinator: NodeId } | null = null
    let proposed = false
    let notAfter: number | undefined
    let judgedAt: number | undefined
    try {
      if (what.kind === 'start') {
        // The lock first (split-ddl-lock.ts): once granted, no DDL the split depends on is built on
        // the coordinator, and every live member announced its catalog — so the voter changes the
        // members report (startBlockers) are those of the catalog the split starts with.
        const req: SplitLockRequest = { take: true, epoch: l.epoch, shards: l.shards, to: requested }
        // Asked before the coordinator can grant: the lock outlives this bound (split-ddl-lock.ts rule 2).
        if (this.d.now !== undefined) notAfter = this.d.now() + SPLIT_DECREE_SEND_MS
        const outcome = await this.d.lockSplit?.(req)
        if (outcome !== undefined && !('error' in outcome.reply) && outcome.reply.granted) {
          lock = { req: { ...req, take: false }, coordinator: outcome.coordinator }
          judgedAt = outcome.reply.catalogVersion
        }
        const lockBlocker = outcome === undefined ? null : splitLockBlocker(outcome)
        // A DDL running here is named once (the lock's refusal, when this node is the coordinator, says it too).
        const seen = this.d.startBlockers?.() ?? []
        const blockers = lockBlocker === null ? seen : [lockBlocker, ...seen.filter(b => b.what !== lockBlocker.what)]
        if (blockers.length > 0) throw splitRefused(l.shards, requested, blockers)
      }
      proposed = true
      decided = await this.d.decide(what.layout, why, notAfter, judgedAt)
    } catch (e) {
      // Refused before proposing: nothing was decided. A decree that threw may have been chosen.
      if (!proposed) await this.release(lock)
      throw e
    } finally { this.deciding = null }
    const { result, adopted } = decided
    // A decree whose intent can never be chosen frees the coordinator's DDL now (another value was
    // chosen, a voter runs the epoch already, nothing was accepted, or this node's own acceptance
    // failed). One chosen, one voters may hold, or one outbid (the higher ballot may find it
    // accepted) keeps the lock until its layout passes the epoch or its window ends: from then on
    // the acceptors' records hold it (split-ddl-lock.ts rules 2, 3).
    if (!(result.kind === 'chosen' && result.own) && !(result.kind === 'undecided' && result.maybe) && result.kind !== 'outbid') await this.release(lock)
    const epoch = what.layout.epoch
    const command = `ALTER CLUSTER SET shards = ${requested}`
    if (result.kind === 'undecided') {
      throw new ScratchBirdError('SB_MEMBERSHIP_NO_MAJORITY', `${command} not done: membership epoch ${epoch} needs answers from a majority of members {${this.d.votersText()}} within ${DECREE_TIMEOUT_MS} ms; no answer from node(s) {${result.missing.join(', ')}}; ${result.maybe ? 'voters that answered may hold it, so the decider may still complete it (SHOW SHARD MAP tells)' : 'nothing was changed'}: retry once they are reachable`,
        { epoch, missing: result.missing })
    }
    if (result.kind === 'stale') {
      throw splitRefused(l.shards, requested, [{ what: 'catalog_change', detail: `the catalog changed while the start was being decided (a majority of members hold catalog version ${result.catalogVersion}, newer than the ${String(result.value.judgedAt)} it was checked against; nothing was decided): retry` }])
    }
    if (result.kind !== 'chosen' || !result.own) {
      const why = result.kind === 'chosen' ? 'an earlier proposal was decided for it, which this node completed' : result.kind === 'unrecorded' ? `this node's decree record could not be written (${result.message})` : result.kind === 'behind' ? 'another node decided it first' : 'another node is deciding it at the same time'
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `${command} not done: membership epoch ${epoch} not decided here: ${why}; retry against the new layout`, { epoch })
    }
    if (!adopted) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `${command}: membership epoch ${epoch} is decided but could not be recorded in this node's data directory yet (its log says why); it takes effect at the next try`, { epoch })
    }
    return commandResult('ALTER CLUSTER', 0, [])
  }

  private async release (lock: { req: SplitLockRequest, coordinator: NodeId } | null): Promise<void> {
    if (lock === null || this.d.releaseSplit === undefined) return
    try {
      await this.d.releaseSplit(lock.req, lock.coordinator)
    } catch (e) {
      this.d.log.warn({ node: lock.coordinator, err: describe(e) }, `split lock on node ${lock.coordinator} not released (it lapses by itself): ${messageOf(e)}`)
    }
  }

  /** Each gossip round at the decider: the layout of 2n shards once every holder of every parent switched. */
  finish (): void {
    const l = this.d.layout()
    if (l.split === undefined || !this.d.isDecider() || this.d.proposing()) return
    if (!splitSwitched(l, this.d.holdersOf, this.d.reports())) return
    void this.d.decide(splitDoneLayout(l), `split of ${l.shards} shards into ${l.split.to} done: every holder of every parent switched; routing with ${l.split.to} shards from this epoch on`)
  }

  /** SHOW SHARD MAP's text of `shard`'s split (null: no split, or not a parent). */
  progressText (shard: ShardId): string | null {
    const l = this.d.layout()
    if (l.split === undefined || shard >= l.shards) return null
    return splitProgressText(l.split.to, shard, l.shards, this.d.holdersOf(shard), this.d.reports())
  }
}
