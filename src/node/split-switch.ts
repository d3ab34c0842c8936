import type { Catalog } from '../catalog/catalog'
import type { ShardCountSource } from '../cluster/shard-count'
import type { SplitSwitchHooks } from '../cluster/split-progress'
import { ScratchBirdError } from '../core/errors'
import type { ShardId } from '../core/ids'
import type { DeriveDeps } from './split-derive'
import { childOf } from './split-derive'
import { cleanupRule } from './split-cleanup'

// The thin I/O shell of a split's SWITCH on this node (cluster/split-progress.ts SplitSwitchHooks;
// the rules: storage/split-switch.ts for the fence and the switch entry, cluster/split-derive.ts
// for the derive stopping at it). Stateless: everything it answers is read from the workers, so a
// call after a restart answers the same.
//   beginSwitch: SPLIT_SWITCH on the parent's primary (the worker refuses it on a Mode 1 replica)
//     with the rule that places keys at 2n (split-cleanup.ts cleanupRule, from the catalog: a
//     worker holds none), so the fence refuses only child-side writes; on a Mode 1 primary it
//     answers S only once its group committed S by a majority (`committed`), null before (the run
//     asks again at its next round).
//   switchedAt: the child's recorded derive progress (switchAt: the tail reached the entry), once
//     this node knows S committed by its group (a replica's S may still be cut back before).
//   startChild: the derive is final, so the parent's log pin is released; once this node follows
//     the 2n layout the parent's fence is lifted (rows of the child side route to s + n now).
//     Single copy: the parent's owner holds the child it derived, so it owns it.

export interface SplitSwitchDeps {
  readonly workers: DeriveDeps['workers']
  /** The catalog the fence's rule is built from (where each relation's keys go at 2n). */
  readonly catalog: () => Catalog
  /** The node's live shard count (cluster/shard-count.ts): the fence lifts once it is 2n. */
  readonly shardCount: ShardCountSource
  /**
   * Mode 1: has the group of `shard` committed `lsn` by a majority of its voters, as this node
   * knows it (on its primary: the machine's commit LSN, never the sync_replicas acknowledgement —
   * ShardGroup.majorityCommitted, which also reads the log tail; on a replica: the commit LSN its
   * primary told it)? Never waits: beginSwitch and switchedAt answer null until it is, and the run
   * asks again at its next round. Undefined for a shard without a group here (a single copy: the
   * entry is committed when it is written); absent: no replication at all.
   */
  readonly committed?: ((shard: ShardId, lsn: bigint) => boolean | undefined) | undefined
}

export class SplitSwitch implements SplitSwitchHooks {
  constructor (private readonly d: SplitSwitchDeps) {}

  async beginSwitch (parent: ShardId, shards: number): Promise<bigint | null> {
    childOf(parent, shards)
    const rule = cleanupRule(this.d.catalog(), shards * 2)
    const { lsn } = await this.d.workers.request('SPLIT_SWITCH', { shard: parent, shards, rule })
    // Answered only once a majority holds S: a switch entry a failover could still cut back must
    // not start the holders' "switched" (the next round calls again; SPLIT_SWITCH answers the same S).
    if (lsn !== null && this.d.committed?.(parent, lsn) === false) return null
    return lsn
  }

  async switchedAt (parent: ShardId, shards: number): Promise<bigint | null> {
    const child = childOf(parent, shards)
    await this.d.workers.openShard(child)
    const { progress } = await this.d.workers.request('SPLIT_DERIVE_STATE', { shard: child, clear: false })
    if (progress === null || progress.parent !== parent || progress.shards !== shards) return null
    // A replica applies entries before its group commits them: a switch entry a failover may still
    // cut back (with the entries before it) must not make this holder 'switched' (it would release
    // the parent's log pin and report a child that the new primary's log no longer leads to).
    if (progress.switchAt !== null && this.d.committed?.(parent, progress.switchAt) === false) return null
    return progress.switchAt
  }

  async startChild (parent: ShardId, shards: number): Promise<void> {
    const at = await this.switchedAt(parent, shards)
    if (at === null) {
      throw new ScratchBirdError('SB_SPLIT_PROGRESS_MISMATCH', `shard ${parent + shards} was not derived to its parent's switch entry on this node; it cannot be started`,
        { shard: parent + shards, recorded: 'not switched', expected: `switched from shard ${parent} of ${shards}` })
    }
    // The child holds the parent's rows as of S and will never read the parent's log again.
    await this.d.workers.request('SPLIT_PIN', { shard: parent, pin: false })
    if (this.d.shardCount.shards >= shards * 2) await this.d.workers.request('SPLIT_FENCE', { shard: parent, lift: shards })
  }
}
