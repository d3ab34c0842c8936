import type { Hint, HintListOptions, HintTargetStats, StoredHint } from '../../storage/hint-store'
import type { NodeId } from '../../core/ids'

// What the quorum shell and HintDeliveryRunner need of a hint log (DESIGN §6 Mode 3 "Hints"). A
// HintStore over one KvStore is one (the simulator, tests); the node's is ShardedHintLog
// (sharded-log.ts), the same operations carried out by the shard workers on their stores.

export interface HintLog {
  /** Per-target count and bytes (a snapshot), only targets holding hints. */
  stats (): ReadonlyMap<NodeId, HintTargetStats>
  /** All or nothing; over a target's cap: SB_HINT_LOG_FULL, nothing stored. */
  add (hints: readonly Hint[]): Promise<unknown>
  /** Up to `limit` of `target`'s oldest hints; SB_STORAGE_CORRUPT when one does not decode. */
  list (target: NodeId, limit: number, options?: HintListOptions): Promise<StoredHint[]>
  /** Delete delivered hints (as list() returned them); returns how many were deleted. */
  remove (hints: readonly StoredHint[]): Promise<number>
  /** Delete every hint created before `nowMs - maxAgeMs` (wall clock). */
  expire (nowMs: number, maxAgeMs: number): Promise<number>
  /** Delete `target`'s hints that do not decode. */
  dropCorrupt (target: NodeId): Promise<number>
}
