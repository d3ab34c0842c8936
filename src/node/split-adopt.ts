import type { Logger } from 'pino'
import type { ShardCountSource } from '../cluster/shard-count'
import { describe, messageOf } from '../core/errors'
import { asShardId } from '../core/ids'
import type { ShardRequester } from './shard-router'
import type { SplitCleanup } from './split-cleanup'

// What a node does in the step its shard count doubles (a split's layout adopted: cluster/
// shard-split.ts 3. SWITCH and 4. CLEANUP), and again at every start after a split:
//  1. the CLEANUP's scan filter is armed on every former parent (SplitCleanup.arm), its requests
//     handed to the workers in the same turn as the count changed — before any request routed by
//     the new count can reach them — so a SELECT without a key never counts a moved row twice
//     (once in the child, once in the parent's leftover); nothing is deleted yet;
//  2. only then, and once every live member announced the new layout in gossip (`settled`), the
//     parents' split fences are lifted (SPLIT_FENCE): from the switch until here every child-side
//     write to a parent was refused with SB_SHARD_SPLITTING. Lifted while a peer still routes by the old
//     count, its write of a child-side key would land in the parent — acknowledged, then deleted
//     by the cleanup. Statements' requests now carry the count they were routed by and are
//     refused on a mismatch (cluster/shard-count-guard.ts, SB_SHARD_COUNT_STALE); the wait stays
//     for what that check does not cover (requests sent outside a statement). A fence of
//     any split to a count below this one is obsolete (a node that was down across several splits
//     lifts them all);
//  3. the background cleanup passes start (the caller's kick).

export interface SplitAdoptDeps {
  /** This node's own shard workers (the ops are local). */
  readonly workers: ShardRequester
  readonly shardCount: ShardCountSource
  readonly cleanup: SplitCleanup
  /** Has every live member announced this node's layout epoch or a later one (ClusterShell.layoutSettled; alone: true)? */
  readonly settled: () => boolean
  /** How long to wait before asking `settled` again (the gossip interval). */
  readonly settleCheckMs: number
  /** The node is stopping: give up waiting. */
  readonly stopped: () => boolean
  readonly log: Logger
}

/** Steps 1 and 2 above for the count now in `d.shardCount`; resolves once the fences are lifted (failures logged). */
export function adoptSplitCount (d: SplitAdoptDeps): Promise<void> {
  // Called synchronously: arm() hands its requests to the workers before it first awaits.
  const armed = d.cleanup.arm()
  return armed.then(async () => { await liftObsoleteFences(d) })
}

async function liftObsoleteFences (d: SplitAdoptDeps): Promise<void> {
  while (!d.settled()) {
    if (d.stopped()) return
    await new Promise(resolve => setTimeout(resolve, d.settleCheckMs).unref())
  }
  const shards = d.shardCount.shards
  await Promise.all(Array.from({ length: Math.floor(shards / 2) }, async (_, s) => {
    const shard = asShardId(s)
    try {
      const { fence } = await d.workers.request('SPLIT_FENCE', { shard, lift: null })
      if (fence === null || fence.shards >= shards) return
      await d.workers.request('SPLIT_FENCE', { shard, lift: fence.shards })
      d.log.info({ shard, shards, fenced: fence.shards }, `split: shard ${shard} takes writes again (its fence of the split of ${fence.shards} shards is lifted: this node routes with ${shards})`)
    } catch (e) {
      d.log.error({ shard, shards, err: describe(e) }, `split: the fence of shard ${shard} could not be lifted (it refuses child-side writes with SB_SHARD_SPLITTING until the next start or split): ${messageOf(e)}`)
    }
  }))
}
