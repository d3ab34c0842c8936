// What a Mode 1 bootstrap snapshot (replica-snapshot.ts) carries of a shard split besides the rows
// (cluster/shard-split.ts), and what the install makes of it. The split's per-shard records live
// in s/, which a snapshot does not stream (this replica's own), yet two of them describe the ROWS
// the snapshot holds, so an install that kept the target's own would leave them lying:
//
//  - THE FENCE s/splitswitch (split-switch.ts): part of the shard's replicated state at an LSN (a
//    replica writes it applying the switch entry). A replica bootstrapped after S from a fenced
//    primary gets a log starting after S, so it never applies the entry: without the record, once
//    promoted it would accept child-side writes that no child holds (derived to S) and the cleanup
//    then deletes — acknowledged writes lost. So the source sends its record as stored (its own
//    format versions with it) and the install puts exactly that, or removes the target's when the
//    source has none (the source's node lifted it: it follows 2n).
//  - THE CLEANUP s/split-clean, s/split-clean-at (split-cleanup.ts): node-local, never logged, but
//    they say which moved keys the rows may still hold. The source leaves out the keys its own
//    cleanup under way moves (the filter of the record read in the same job as the snapshot, or the
//    one armed in memory and not yet recorded), so the rows streamed are clean for `cleanedFor` =
//    the larger of its finished count and its record's. The install records that as its finished
//    count (a target's "finished for N" of its own would be false of rows from a source that has
//    not cleaned: they would stay, counted twice by every scan). A record of the target's own for
//    a larger count is kept, restarted from the first key (its cursor described the wiped rows),
//    with its scan filter armed at once; one for a count the rows are clean for is dropped. A
//    target that had FINISHED a cleanup for a count the rows are not clean for (bootstrapped from
//    a source whose node still follows the old count) starts it again (finishedBeyond).
//  - THE SPLIT PIN and a derive's progress: not carried. The log the pin kept is wiped, so the
//    install marks the pin cut (split-pin.ts splitCutOp, in replica-snapshot.ts begin) and a
//    derive reading this shard stops with SB_SPLIT_COPY_STALE: the child is derived again.
//
// A source of the previous release sends nothing (and a source sends nothing when it holds none
// of these, so that a previous-release target still installs its snapshots): the target keeps its
// own records as before, except a fence whose switch is after the snapshot's LSN (an entry the
// wiped log held but the source's does not, or not yet: applying it again writes it again), and
// its own cleanup record, restarted from the first key.

import { ScratchBirdError, messageOf } from '../core/errors'
import { MAX_SHARDS, type ShardId } from '../core/ids'
import type { KvOp, KvStore } from './kv'
import { CLEANED_AT_META, cleanedAt, cleanedAtValue, CLEANUP_META, cleanupRecordFromStart, MovedKeys, readCleanupRecord, type CleanupRule } from './split-cleanup'
import { checkFenceRule, type SplitFence } from './split-fence'
import { decodeSplitFence, SPLIT_SWITCH_META } from './split-switch'

/** A shard's split state as a snapshot carries it (absent or null: a source that sent none). */
export interface SnapshotSplitState {
  /** The source's fence record s/splitswitch as stored (split-switch.ts formats); null: none. */
  readonly fence: Uint8Array | null
  /** The shard count the streamed rows are clean for (no key that moved at it is among them); 0: none. */
  readonly cleanedFor: number
}

/**
 * The source's side, read inside the exclusive job that takes the snapshot (so it is the state
 * of the rows streamed): the split state to send (null: nothing to carry) and the filter of the
 * keys to leave out. `armed`: the engine's filter now, which an arm not yet recorded sets first.
 */
export async function sourceSplitState (kv: KvStore, shard: ShardId, armed: MovedKeys | null): Promise<{ state: SnapshotSplitState | null, moved: MovedKeys | null }> {
  const fence = await kv.get(SPLIT_SWITCH_META) ?? null
  const rule = await readCleanupRecord(kv)
  const moved = rule !== null ? new MovedKeys(rule, shard) : armed
  const cleanedFor = Math.max(await cleanedAt(kv), moved?.rule.shards ?? 0)
  return { state: fence === null && cleanedFor === 0 ? null : { fence, cleanedFor }, moved }
}

/** SB_BAD_ARGUMENT unless `s` is a split state a target can install; answers its fence. Changes nothing. */
export function checkSplitState (s: SnapshotSplitState, shard: ShardId): SplitFence | null {
  const bad = (why: string): never => { throw new ScratchBirdError('SB_BAD_ARGUMENT', `snapshot split state for shard ${shard}: ${why}`, { shard }) }
  if (s === null || typeof s !== 'object') bad('not a split state')
  if (!Number.isInteger(s.cleanedFor) || s.cleanedFor < 0 || s.cleanedFor > MAX_SHARDS) bad(`cleaned for ${String(s.cleanedFor)} shards`)
  if (s.fence === null) return null
  if (!(s.fence instanceof Uint8Array)) bad('the fence record is not bytes')
  let fence: SplitFence
  try {
    fence = decodeSplitFence(s.fence!)
  } catch (e) {
    return bad(`the fence record does not decode: ${messageOf(e)}`)
  }
  if (fence.shards < 1 || fence.shards > MAX_SHARDS / 2 || shard >= fence.shards) bad(`a fence of a split of ${fence.shards} shards on shard ${shard}`)
  if (fence.rule !== null) checkFenceRule(fence.rule, fence.shards)
  return fence
}

export interface InstalledSplitState {
  /** What to add to the install's last batch. */
  readonly ops: KvOp[]
  /** The fence in force after it. */
  readonly fence: SplitFence | null
  /** The scan filter in force after it. */
  readonly moved: MovedKeys | null
}

/**
 * The target's side, at the install's last chunk (see the top): `state` from the source (null or
 * undefined: none sent), `fence` its checked fence, `lsn` the snapshot's, `held` the fence this
 * shard holds now.
 */
export async function installSplitState (kv: KvStore, shard: ShardId, state: SnapshotSplitState | null | undefined, fence: SplitFence | null,
  lsn: bigint, held: SplitFence | null): Promise<InstalledSplitState> {
  const ops: KvOp[] = []
  const own = await readCleanupRecord(kv)
  if (state === null || state === undefined) {
    const keep = held !== null && held.lsn <= lsn ? held : null
    if (held !== null && keep === null) ops.push({ type: 'del', key: SPLIT_SWITCH_META })
    if (own !== null) ops.push({ type: 'put', key: CLEANUP_META, value: cleanupRecordFromStart(own) })
    return { ops, fence: keep, moved: own === null ? null : new MovedKeys(own, shard) }
  }
  ops.push(state.fence === null ? { type: 'del', key: SPLIT_SWITCH_META } : { type: 'put', key: SPLIT_SWITCH_META, value: state.fence })
  ops.push(state.cleanedFor === 0 ? { type: 'del', key: CLEANED_AT_META } : { type: 'put', key: CLEANED_AT_META, value: cleanedAtValue(state.cleanedFor) })
  const rule = own !== null && own.shards > state.cleanedFor ? own : await finishedBeyond(kv, state.cleanedFor, fence)
  ops.push(rule !== null ? { type: 'put', key: CLEANUP_META, value: cleanupRecordFromStart(rule) } : { type: 'del', key: CLEANUP_META })
  return { ops, fence, moved: rule !== null ? new MovedKeys(rule, shard) : null }
}

/**
 * The rule to clean the installed rows by when this shard had FINISHED a cleanup for a count the
 * rows are not clean for (the source's node has not cleaned: it follows the old count, still
 * fenced): the source's fence rule, when it is the rule of that count (the fence's rule at 2n is
 * the cleanup's: node/split-cleanup.ts cleanupRule; a relation it does not name could write no
 * child-side row after the switch). Otherwise null: the finished mark is lowered to the rows', and
 * the node's next pass (each sweep kicks one) records the rule and cleans them; until then a scan
 * may see those rows twice.
 */
async function finishedBeyond (kv: KvStore, cleanFor: number, fence: SplitFence | null): Promise<CleanupRule | null> {
  const done = await cleanedAt(kv)
  if (done <= cleanFor) return null
  return fence?.rule !== null && fence?.rule !== undefined && fence.rule.shards === done ? fence.rule : null
}
