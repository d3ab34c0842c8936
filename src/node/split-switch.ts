import type { ShardCountSource } from '../cluster/shard-count'
import type { SplitSwitchHooks } from '../cluster/split-progress'
import { ScratchBirdError } from '../core/errors'
import type { ShardId } from '../core/ids'
import type { DeriveDeps } from './split-derive'
import { childOf } from './split-derive'

// The thin I/O shell of a split's SWITCH on this node (cluster/split-progress.ts SplitSwitchHooks;
// the rules: storage/split-switch.ts for the fence and the switch entry, cluster/split-derive.ts
// for the derive stopping at it). Stateless: everything it answers is read from the workers, so a
// call after a restart answers the same.
//   beginSwitch: SPLIT_SWITCH on the parent's primary (the worker refuses it on a Mode 1 replica),
//     then, on a Mode 1 primary, waits until its group committed S (`committed`).
//   switchedAt: the child's recorded derive progress (switchAt: the tail reached the entry).
//   startChild: the derive is final, so the parent's log pin is released; once this node follows
//     the 2n layout the parent's fence is lifted (rows of the child side route to s + n now).
//     Single copy: the parent's owner holds the child it derived, so it owns it.

export interface SplitSwitchDeps {
  readonly workers: DeriveDeps['workers']
  /** The node's live shard count (cluster/shard-count.ts): the fence lifts once it is 2n. */
  readonly shardCount: ShardCountSource
  /**
   * Mode 1: resolves once the group of `shard` committed `lsn` (the primary's commit index), or
   * throws when this node stopped being its primary. Absent (a single copy): the entry is
   * committed when it is written.
   */
  readonly committed?: ((shard: ShardId, lsn: bigint) => Promise<void>) | undefined
}

export class SplitSwitch implements SplitSwitchHooks {
  constructor (private readonly d: SplitSwitchDeps) {}

  async beginSwitch (parent: ShardId, shards: number): Promise<bigint | null> {
    childOf(parent, shards)
    const { lsn } = await this.d.workers.request('SPLIT_SWITCH', { shard: parent, shards })
    if (lsn !== null && this.d.committed !== undefined) await this.d.committed(parent, lsn)
    return lsn
  }

  async switchedAt (parent: ShardId, shards: number): Promise<bigint | null> {
    const child = childOf(parent, shards)
    await this.d.workers.openShard(child)
    const { progress } = await this.d.workers.request('SPLIT_DERIVE_STATE', { shard: child, clear: false })
    if (progress === null || progress.parent !== parent || progress.shards !== shards) return null
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
