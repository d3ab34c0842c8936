import type { ShardId } from '../../core/ids'
import type { DeriveApplyReport, DeriveProgress, DerivedEntry } from '../../storage/split-derive'
import type { Tuple } from '../../storage/keys'
import type { SplitFence } from '../../storage/split-fence'
import type { SplitPin } from '../../storage/split-pin'
import type { CleanupReport, CleanupRule } from '../../storage/split-cleanup'
import type { SplitScanRow } from '../../storage/version-scan'

// Request and reply payloads of the shard-split ops (ops.ts SPLIT_*; cluster/shard-split.ts "2. COPY"):
// what this node's split driver (node/split-derive.ts) asks of its own workers. Local ops only: a
// peer never reaches them (a derive reads and writes this node's own copies).

export interface SplitRequests {
  /** VERSION_SCAN of this node's own copy, whatever its role (storage/version-scan.ts), each row with its xid. */
  SPLIT_SCAN: { shard: ShardId, tableId: number, after: Tuple | null, limit: number }
  /** Pin the parent's commit log after its last applied LSN (true), or release the pin (false). */
  SPLIT_PIN: { shard: ShardId, pin: boolean }
  /** Apply derived entries to child `shard`, moving its progress from `from` to `to` (storage/split-derive.ts). */
  SPLIT_DERIVE_APPLY: { shard: ShardId, from: DeriveProgress | null, to: DeriveProgress, entries: DerivedEntry[] }
  /** Child `shard`'s derive progress; `clear`: remove it after reading (the derive is done or cancelled). */
  SPLIT_DERIVE_STATE: { shard: ShardId, clear: boolean }
  /** Append parent `shard`'s switch entry of the split of `shards` into 2n and fence its child-side writes by `rule`
   *  (where keys go at 2n: node/split-cleanup.ts cleanupRule; null: fence every write) (storage/split-switch.ts). */
  SPLIT_SWITCH: { shard: ShardId, shards: number, rule: CleanupRule | null }
  /** Parent `shard`'s fence; `lift`: lift it first when it is the split of that many shards. */
  SPLIT_FENCE: { shard: ShardId, lift: number | null }
  /** Empty child `shard` (progress, then rows) before a derive from scratch (storage/engine.ts clearDerivedChild). */
  SPLIT_CHILD_CLEAR: { shard: ShardId }
  /** Delete up to `maxChunks` chunks of the keys that do not belong in `shard` by `rule` (storage/split-cleanup.ts); 0: only arm the scan filter and record the rule (armCleanup). */
  SPLIT_CLEANUP: { shard: ShardId, rule: CleanupRule, maxChunks: number }
}

export interface SplitReplies {
  SPLIT_SCAN: { rows: SplitScanRow[] }
  /** The pin held (L0, and whether the log was cut back since: storage/split-pin.ts); on a release the pin released (null: none was held). */
  SPLIT_PIN: { pin: SplitPin | null }
  SPLIT_DERIVE_APPLY: DeriveApplyReport
  SPLIT_DERIVE_STATE: { progress: DeriveProgress | null }
  /** S, or null while a prepared transaction waits for its decision. */
  SPLIT_SWITCH: { lsn: bigint | null }
  /** The fence held after the call (null: none, or lifted now). */
  SPLIT_FENCE: { fence: SplitFence | null }
  /** Relations that had rows, and the row versions deleted. */
  SPLIT_CHILD_CLEAR: { relations: number, rows: number }
  SPLIT_CLEANUP: CleanupReport
}
