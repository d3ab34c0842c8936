import { ScratchBirdError } from '../core/errors'

// The fence of a switched shard split on its parent (storage/split-switch.ts has the rules): the
// value the writer checks in every pass (writer.ts splitRefusal), kept apart from split-switch.ts
// so that the writer does not import the module that appends through it.

/** A split of `shards` = n shards into 2n switched at LSN `lsn` on this (parent) shard. */
export interface SplitFence { readonly shards: number, readonly lsn: bigint }

/** The error a fenced parent answers a write or a commit with; `what` says what was refused. */
export function splitFenceRefusal (shard: number, f: SplitFence, what: string): ScratchBirdError {
  return new ScratchBirdError('SB_SHARD_SPLITTING',
    `shard ${shard} is switching to its split into ${f.shards * 2} shards (since LSN ${f.lsn}); ${what} was refused and changed nothing — retry: it is routed to the new shard once the new layout is in place`,
    { shard, shards: f.shards, switch_lsn: String(f.lsn) })
}
