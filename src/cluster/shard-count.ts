import { ScratchBirdError } from '../core/errors'
import { MAX_SHARDS } from '../core/ids'
import { splitsBetween } from './shard-split'

// The shard count as a live value (issue 20 item 5, step 1 of shard-split.ts's design). Until a
// split existed, storage.shards was fixed for a cluster's life and every component captured it at
// construction; a split's SWITCH changes it once, at a layout epoch, while the node runs. So the
// node keeps one LiveShardCount, following the layout it runs with (recorded in cluster.json
// before it is followed), and every component that iterates or bounds shard ids reads `shards`
// from it each time it needs it — never a copy taken at start. Components are given the narrow
// ShardCountSource (a fixed `{ shards: n }` in tests and on paths that cannot split).
//
// Only what splits do is accepted: the same count at a later epoch (a membership change), or the
// count doubled k times at least k epochs later (a switch; k > 1 for a node that was down across
// several). An older epoch is ignored (gossip delivers out of order); any other change is refused
// with SB_LAYOUT_MISMATCH, naming both, and changes nothing: routing two ways at once would put
// rows in shards nobody reads.

/** Where a component reads the shard count, each time it needs it. */
export interface ShardCountSource { readonly shards: number }

/** Told after the count changed: the new count, the one before and the layout epoch of the change. */
export type ShardCountListener = (shards: number, previous: number, epoch: number) => void

export class LiveShardCount implements ShardCountSource {
  private count: number
  private at: number
  private readonly listeners = new Set<ShardCountListener>()

  constructor (shards: number, epoch: number) {
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new ScratchBirdError('SB_INTERNAL', `a shard count must be an integer in 1..${MAX_SHARDS}, got ${shards}`, { shards })
    this.count = shards
    this.at = epoch
  }

  get shards (): number { return this.count }
  /** The layout epoch the count was last confirmed at. */
  get epoch (): number { return this.at }

  /**
   * Follow layout (`shards`, `epoch`), already recorded in cluster.json. True when the count changed
   * (listeners were told, in the order they subscribed); false for an older epoch or the same count.
   */
  follow (shards: number, epoch: number): boolean {
    if (!this.check(shards, epoch)) {
      if (epoch > this.at) this.at = epoch
      return false
    }
    const previous = this.count
    this.count = shards
    this.at = epoch
    for (const l of [...this.listeners]) l(shards, previous, epoch)
    return true
  }

  /**
   * Whether following layout (`shards`, `epoch`) would change the count: false for an older epoch
   * or the same count; throws SB_LAYOUT_MISMATCH for a change other than a split's (checked before
   * such a layout is recorded, so a refused one is never written to cluster.json).
   */
  check (shards: number, epoch: number): boolean {
    if (epoch < this.at || shards === this.count) return false
    if (shards > MAX_SHARDS || splitsBetween(this.count, this.at, shards, epoch) === null) {
      throw new ScratchBirdError('SB_LAYOUT_MISMATCH',
        `the layout of epoch ${epoch} has ${shards} shards; this node runs ${this.count} shards at epoch ${this.at}, and the count changes only by splits (each a doubling at a later epoch)`,
        { running: this.count, runningEpoch: this.at, offered: shards, offeredEpoch: epoch })
    }
    return true
  }

  /** Calls `listener` after each change of the count; returns the unsubscribe. */
  onChange (listener: ShardCountListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}
