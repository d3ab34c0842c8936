import type {
  ApplyReport, InstallReport, RawLogEntry, ReplHardState, ReplStateView, SnapshotChunk, SnapshotInstallRequest, SnapshotReadRequest,
  SuffixTruncateReport
} from '../../storage/engine'
import type { ShardId } from '../../core/ids'
import type { ControlEntry } from '../../storage/commit-log'

// Request and reply payloads of the Mode 1 replication ops (codes 40-59 in ops.ts; DESIGN §6):
// what the replication machine's shell asks of the shard worker holding a replica. Only this
// node's main thread sends them (they are local ops: a peer reaches them through the replication
// RPC and its machine, which fences by generation, never through SHARD_QUERY).

export interface ReplRequests {
  /** The primary's entries, in LSN order, to apply (replica-apply.ts). */
  /** The primary's entries; mutations of `keepTables` are logged, not applied (replica-apply.ts, kept-tables.ts). */
  REPL_APPLY: { shard: ShardId, entries: RawLogEntry[], keepTables?: readonly number[] | null }
  /** Entries from `fromLsn` with their generations, at most `limit`, about `maxBytes` (the first always). */
  REPL_LOG_READ: { shard: ShardId, fromLsn: bigint, limit: number, maxBytes: number }
  /** Drop the entries above `afterLsn`; refused below `committedLsn`; the rows of `keepTables` stay (replica-truncate.ts, kept-tables.ts). */
  REPL_TRUNCATE: { shard: ShardId, afterLsn: bigint, committedLsn: bigint, keepTables?: readonly number[] | null }
  REPL_STATE_GET: { shard: ShardId }
  /** Replace the hard state (fsynced before the reply; repl-state.ts). */
  REPL_STATE_SET: { shard: ShardId, state: ReplHardState }
  /** A chunk of a snapshot of the shard (snapshotId 0: open a new one; replica-snapshot.ts). */
  REPL_SNAPSHOT_READ: { shard: ShardId } & SnapshotReadRequest
  /** Install a chunk of another replica's snapshot. */
  REPL_SNAPSHOT_INSTALL: { shard: ShardId } & SnapshotInstallRequest
  /** Append a control entry at the next LSN, at `generation` (the shard's current one; replica-control.ts). */
  REPL_CONTROL_APPEND: { shard: ShardId, generation: bigint, control: ControlEntry }
}

export interface ReplReplies {
  REPL_APPLY: ApplyReport
  REPL_LOG_READ: { entries: RawLogEntry[] }
  REPL_TRUNCATE: SuffixTruncateReport
  REPL_STATE_GET: ReplStateView
  REPL_STATE_SET: Record<string, never>
  REPL_SNAPSHOT_READ: SnapshotChunk
  REPL_SNAPSHOT_INSTALL: InstallReport
  REPL_CONTROL_APPEND: { lsn: bigint }
}
