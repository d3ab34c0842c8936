import { ScratchBirdError } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'
import type { ClusterLayout } from './layout'
import { SPLIT_FACTOR, splitTarget } from './shard-split'
import type { SplitParentPhase, SplitParentReport } from './split-progress'

// Shard split, the RUN (cluster/shard-split.ts THE SPLIT, steps 1–3 at cluster level): the pure
// rules of the layouts a split goes through and of the decisions taken on the holders' reports.
// The shells are node/split-runner.ts (derives on this node, reports, beginSwitch on a parent's
// primary) and the decider in node/cluster.ts (the layouts, through the membership decree).
//
//   epoch e      { shards n }                       routing mod n
//   epoch e + 1  { shards n, split: { to: 2n } }    the INTENT: every holder of every parent
//                                                   derives its child; routing still mod n
//   epoch e + 2  { shards 2n }                      decided once every holder of every parent
//                                                   reports 'switched': routing mod 2n from here
//   (or e + 2    { shards n }                       a CANCEL, while no parent may have begun its switch)
//
// Each is one decree (a majority of the voters), so routing changes exactly once, at the epoch
// that doubles the count. The holders of a parent are the nodes the placement gives its copies
// (the first N of its preference list; N = 1 for a single copy): a split refuses to start while
// a membership change moves copies (splitBlockers), and a membership change is refused while a
// split runs, so the placement is the groups' voters for the whole split.
//
// Reports travel in gossip (each node's record: one per parent it holds). A phase only grows
// within one split on one node (the runner keeps 'caught_up' once reached: a parent's primary may
// have begun its switch on it), so "every holder caught up" once seen by a primary or the decider
// stays a safe reading of "the switch may have begun" — which is what refuses a cancel. Across a
// restart too: the runner records the parents it reported caught up (SplitCaughtUpRecord, in the
// data directory) BEFORE it reports them, and a restarted runner starts those at 'caught_up'
// (caughtUpFloor). Only a derive that starts again from empty (SB_SPLIT_COPY_STALE) drops its
// parent from the record and reports 'copying' again: its child is being rebuilt, and a primary
// must not begin a switch on it (the cancel reading then is the in-memory one it always was).
// A primary begins its parent's switch only while its group's voters are the holders
// (switchMayBegin): the child's group starts with the holders as voters, which must be the parent's.

const PHASE_ORDER: Readonly<Record<SplitParentPhase, number>> = { copying: 0, caught_up: 1, switched: 2 }

/** Is `a` at least as far as `b`? */
export function phaseAtLeast (a: SplitParentPhase, b: SplitParentPhase): boolean {
  return PHASE_ORDER[a] >= PHASE_ORDER[b]
}

/** The layout that records the intent to split `l`'s shards into twice as many (epoch + 1, same count). */
export function splitIntentLayout (l: ClusterLayout): ClusterLayout {
  if (l.split !== undefined) throw new ScratchBirdError('SB_INTERNAL', `layout of epoch ${l.epoch} records a split already`)
  return { ...copy(l), epoch: l.epoch + 1, split: { to: l.shards * SPLIT_FACTOR } }
}

/**
 * The layout that ends the split of `l` with every parent switched: the doubled count, no intent
 * (epoch + 1), and the placement count kept at the count before the first split (PLACEMENT RULE,
 * cluster/shard-split.ts): child s + n is placed exactly as parent s, on the nodes that derived it.
 */
export function splitDoneLayout (l: ClusterLayout): ClusterLayout {
  if (l.split === undefined) throw new ScratchBirdError('SB_INTERNAL', `layout of epoch ${l.epoch} records no split`)
  const { split: _split, ...rest } = copy(l)
  return { ...rest, epoch: l.epoch + 1, shards: l.split.to, placementShards: l.placementShards ?? l.shards }
}

/** The layout that cancels the split of `l` (same count, no intent; epoch + 1). */
export function splitCancelLayout (l: ClusterLayout): ClusterLayout {
  if (l.split === undefined) throw new ScratchBirdError('SB_INTERNAL', `layout of epoch ${l.epoch} records no split`)
  const { split: _split, ...rest } = copy(l)
  return { ...rest, epoch: l.epoch + 1 }
}

function copy (l: ClusterLayout): ClusterLayout {
  return {
    ...l,
    members: [...l.members],
    ...(l.leaving !== undefined ? { leaving: [...l.leaving] } : {}),
    ...(l.left !== undefined ? { left: [...l.left] } : {}),
    ...(l.joining !== undefined ? { joining: [...l.joining] } : {}),
    ...(l.splitFrom !== undefined ? { splitFrom: [...l.splitFrom] } : {}),
    ...(l.split !== undefined ? { split: { to: l.split.to } } : {})
  }
}

/** Every node's reports, as gossip carries them (a node absent: it reported nothing). */
export type SplitReports = ReadonlyMap<NodeId, readonly SplitParentReport[]>

/** What `holder` last reported on `parent` (undefined: nothing). */
export function reportOf (reports: SplitReports, holder: NodeId, parent: ShardId): SplitParentReport | undefined {
  return reports.get(holder)?.find(r => r.parent === parent)
}

/** Has every holder of `parent` reported at least `phase`? (No holders: no.) */
export function holdersAtLeast (holders: readonly NodeId[], reports: SplitReports, parent: ShardId, phase: SplitParentPhase): boolean {
  return holders.length > 0 && holders.every(h => { const r = reportOf(reports, h, parent); return r !== undefined && phaseAtLeast(r.phase, phase) })
}

/**
 * May `parent`'s primary begin its switch? Every holder reported caught up, and its group's voters
 * (latest and committed, as the primary knows them) are the holders: a voter change under way —
 * which the split's start and the DDL guard keep out, so a leftover — would start the child's group
 * with voters the parent does not have.
 */
export function switchMayBegin (holders: readonly NodeId[], reports: SplitReports, parent: ShardId, votersSettled: boolean): boolean {
  return votersSettled && holdersAtLeast(holders, reports, parent, 'caught_up')
}

/** What a holder records (in its data directory) of the parents it reported caught up in one split. */
export interface SplitCaughtUpRecord {
  /** The layout epoch recording the split's intent (a split's layouts keep it until it ends). */
  readonly epoch: number
  readonly shards: number
  readonly to: number
  readonly parents: readonly ShardId[]
}

/** The parents `rec` records as caught up in the split `l` records (none: another split's, or none). */
export function caughtUpFloor (rec: SplitCaughtUpRecord | null, l: ClusterLayout): ReadonlySet<ShardId> {
  if (rec === null || l.split === undefined || rec.epoch !== l.epoch || rec.shards !== l.shards || rec.to !== l.split.to) return new Set()
  return new Set(rec.parents.filter(p => p < l.shards))
}

/** The record of split `l` with `parent` added (caught up) or dropped (its derive starts again). */
export function withCaughtUp (rec: SplitCaughtUpRecord | null, l: ClusterLayout, parent: ShardId, caughtUp: boolean): SplitCaughtUpRecord {
  if (l.split === undefined) throw new ScratchBirdError('SB_INTERNAL', `layout of epoch ${l.epoch} records no split`)
  const set = new Set(caughtUpFloor(rec, l))
  if (caughtUp) set.add(parent)
  else set.delete(parent)
  return { epoch: l.epoch, shards: l.shards, to: l.split.to, parents: [...set].sort((a, b) => a - b) }
}

/** A record as read back from its file (null: not one; the caller treats it as none, with a warning). */
export function parseCaughtUpRecord (v: unknown): SplitCaughtUpRecord | null {
  if (typeof v !== 'object' || v === null) return null
  const r = v as Record<string, unknown>
  const count = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  if (!count(r.epoch) || !count(r.shards) || r.shards < 1 || r.to !== r.shards * SPLIT_FACTOR || !Array.isArray(r.parents)) return null
  const shards = r.shards
  if (!r.parents.every((p: unknown) => count(p) && p < shards)) return null
  return { epoch: r.epoch, shards, to: r.to, parents: (r.parents as number[]).map(p => p as ShardId) }
}

/** The parents of a split of `shards` shards: 0 ‥ shards - 1. */
function parentsOf (shards: number): ShardId[] {
  return Array.from({ length: shards }, (_, i) => i as ShardId)
}

/** The decider's rule: is the split of `l` done (every holder of every parent switched)? */
export function splitSwitched (l: ClusterLayout, holdersOf: (parent: ShardId) => readonly NodeId[], reports: SplitReports): boolean {
  return l.split !== undefined && parentsOf(l.shards).every(p => holdersAtLeast(holdersOf(p), reports, p, 'switched'))
}

/** The parents whose primary may have begun its switch: every holder reported 'caught_up' or later. */
export function parentsMaySwitch (l: ClusterLayout, holdersOf: (parent: ShardId) => readonly NodeId[], reports: SplitReports): ShardId[] {
  if (l.split === undefined) return []
  return parentsOf(l.shards).filter(p => holdersAtLeast(holdersOf(p), reports, p, 'caught_up'))
}

/** What ALTER CLUSTER SET shards = `requested` does with layout `l` (the decider then decides `layout`). */
export type SplitStatement =
  | { kind: 'nothing', message: string }
  | { kind: 'start', layout: ClusterLayout }
  | { kind: 'cancel', layout: ClusterLayout }

/**
 * The statement's decision on the decider. No split under way: the current count is nothing to
 * do, 2n starts one (the caller checks splitBlockers first), anything else is SB_SHARD_SPLIT_INVALID.
 * A split to 2n under way: 2n again is nothing to do; n cancels it unless some parent may have
 * begun its switch (`maySwitch`: SB_SHARD_SPLIT_CANCEL_REFUSED); anything else is invalid.
 */
export function splitStatement (l: ClusterLayout, requested: number, maySwitch: readonly ShardId[]): SplitStatement {
  if (l.split === undefined) {
    const target = splitTarget(l.shards, requested)
    return target === null ? { kind: 'nothing', message: `the cluster already has ${requested} shards; nothing was changed` } : { kind: 'start', layout: splitIntentLayout(l) }
  }
  const to = l.split.to
  if (requested === to) return { kind: 'nothing', message: `a split of ${l.shards} shards into ${to} is under way already (SHOW SHARD MAP shows its progress); nothing was changed` }
  if (requested === l.shards) {
    if (maySwitch.length > 0) {
      throw new ScratchBirdError('SB_SHARD_SPLIT_CANCEL_REFUSED',
        `cannot cancel the split of ${l.shards} shards into ${to}: every holder of shard(s) ${maySwitch.join(', ')} reported its child caught up, so the switch may have begun there; the split completes instead (SHOW SHARD MAP); nothing was changed`,
        { current: l.shards, target: to, parents: [...maySwitch] })
    }
    return { kind: 'cancel', layout: splitCancelLayout(l) }
  }
  throw new ScratchBirdError('SB_SHARD_SPLIT_INVALID', `cannot change the shard count to ${requested}: a split of ${l.shards} shards into ${to} is under way; ALTER CLUSTER SET shards = ${l.shards} cancels it (before any switch began)`,
    { current: l.shards, requested, accepted: l.shards })
}

/** The phase a holder reports after a derive step: 'caught_up' once a step read the log to its end, and kept (see the top). */
export function nextPhase (before: SplitParentPhase, caughtUp: boolean): SplitParentPhase {
  if (before !== 'copying') return before
  return caughtUp ? 'caught_up' : 'copying'
}

/** SHOW SHARD MAP's text of one parent's split: each holder's phase, rows copied and lag. */
export function splitProgressText (to: number, parent: ShardId, shards: number, holders: readonly NodeId[], reports: SplitReports): string {
  const parts = holders.map(h => {
    const r = reportOf(reports, h, parent)
    return r === undefined ? `node ${h} not started` : `node ${h} ${r.phase} (${r.rowsCopied} rows, lag ${r.lagEntries})`
  })
  return `splitting into shards ${parent} and ${parent + shards} of ${to}: ${parts.join(', ')}`
}
