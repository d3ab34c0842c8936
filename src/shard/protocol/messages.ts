import type { EngineSweepReport, LwwOutcome, ReplicaWrite, ScanOptions, RowWrite, VersionedRow } from '../../storage/engine'
import type { CommitLogConsumer, CommitLogEntry } from '../../storage/commit-log'
import type { Tuple, TupleValue } from '../../storage/keys'
import type { HlcTs, Isolation, Xid } from '../../storage/types'
import type { NodeId, ShardId } from '../../core/ids'
import type { Hint } from '../../storage/hint-store'
import type { VersionScanRow } from '../../storage/version-scan'
import type { JoinQueryOptions } from '../drivers/join-driver'
import type { QueryOptions } from '../drivers/query-driver'
import type { ReplReplies, ReplRequests } from './repl-messages'
import type { SplitReplies, SplitRequests } from './split-messages'

// Request and reply payload of each shard op (the table in ops.ts), as the main thread and a shard
// worker see them; op-codecs.ts puts them in bytes.

/**
 * The BEGIN a transaction's first request on a shard carries, so starting the transaction there
 * costs no round trip of its own (exec/txn.ts): the worker begins it — as `xid` when given (the
 * transaction already has one on another shard), else with a new xid the reply names — then runs
 * the request inside it, and rolls it back again when the request fails (the transaction has then
 * not joined the shard). Only this node's own workers get it: node/shard-router.ts sends a peer a
 * BEGIN and then the request, so what crosses nodes keeps its shape (op-codecs.ts).
 */
export interface TxnBegin { isolation: Isolation, startHlc: HlcTs, xid?: Xid, coordinator?: NodeId }

/** Request payload of each op. Every request names the shard it is for. */
export interface ShardRequests extends ReplRequests, SplitRequests {
  PING: { shard: ShardId }
  SHARD_OPEN: { shard: ShardId }
  AUTOCOMMIT: { shard: ShardId, writes: RowWrite[], commitHlc: HlcTs, xid?: Xid }
  /** `coordinator`: the node running the transaction (an update conflict with it names that node: node/orphan-txns.ts). */
  BEGIN: { shard: ShardId } & TxnBegin
  GET: { shard: ShardId, tableId: number, pk: Tuple, xid?: Xid }
  SCAN: { shard: ShardId, tableId: number, options: ScanOptions, xid?: Xid }
  /** xid absent: only with `begin` (the transaction's first request on this shard). */
  WRITE: { shard: ShardId, xid?: Xid, writes: RowWrite[], begin?: TxnBegin }
  /** WRITE whose update/delete rows the statement read at `readHlc` (storage/row-write.ts). */
  WRITE_READ: ShardRequests['WRITE'] & { readHlc: HlcTs }
  COMMIT: { shard: ShardId, xid: Xid, commitHlc: HlcTs }
  ROLLBACK: { shard: ShardId, xid: Xid }
  PREPARE: { shard: ShardId, xid: Xid }
  COMMIT_PREPARED: { shard: ShardId, xid: Xid, commitHlc: HlcTs }
  ABORT_PREPARED: { shard: ShardId, xid: Xid }
  LIST_LIMBO: { shard: ShardId }
  READ_COMMIT_LOG: { shard: ShardId, fromLsn: bigint, limit: number }
  /** purgeTombstonesOf: MGA tables whose deletes below the horizon may go; commitLog: the log's
   *  consumers (truncated below what they need), absent: not truncated (storage/engine.ts). */
  SWEEP: { shard: ShardId, horizonHlc: HlcTs, purgeTombstonesOf: number[], commitLog?: CommitLogConsumer[] | undefined, purgeLeaderless?: { tables: number[], cutoffMs: number } | undefined, purgeRelations?: number[] | undefined }
  STATS: { shard: ShardId }
  QUERY: { shard: ShardId, tableId: number, options: ScanOptions, xid?: Xid, begin?: TxnBegin } & QueryOptions
  JOIN_QUERY: { shard: ShardId, xid?: Xid, begin?: TxnBegin } & JoinQueryOptions
  MODIFY_ROW: ModifyRowRequest
  /** QUERY read at a replica (read_from = replica): never inside a transaction. */
  REPLICA_QUERY: ShardRequests['QUERY']
  /** xid: the coordinator's (kept here; may already be committed here — retries, hints). */
  REPLICA_APPLY: { shard: ShardId, writes: ReplicaWrite[], commitHlc: HlcTs, xid?: Xid }
  REPLICA_READ: { shard: ShardId, tableId: number, pks: Tuple[] }
  // Hinted handoff (DESIGN §4 `h/…`, §6 "Hints"): the hints this node keeps as a quorum
  // coordinator, in the store of `shard` (src/shard/hint-ops.ts). Never accepted from a peer.
  HINT_ADD: { shard: ShardId, hints: Hint[] }
  /** Up to `limit` oldest hints of `target`, stopping before `maxBytes` (the first one always
   *  comes when `atLeastOne`). */
  HINT_LIST: { shard: ShardId, target: NodeId, limit: number, maxBytes: number, atLeastOne: boolean }
  HINT_REMOVE: { shard: ShardId, ids: Uint8Array[] }
  HINT_EXPIRE: { shard: ShardId, nowMs: number, maxAgeMs: number }
  /** Drop `target`'s hints: all of them, or only those that do not decode. */
  HINT_DROP: { shard: ShardId, target: NodeId, corruptOnly: boolean }
  HINT_STATS: { shard: ShardId }
  /** Stored hints copied in with their ids (the upgrade from `<data_dir>/hints`). */
  HINT_IMPORT: { shard: ShardId, entries: StoredHintBytes[] }
  /** Read the previous release's `<data_dir>/hints` LevelDB from the key after `after`; any worker serves it. */
  HINT_LEGACY_READ: { shard: ShardId, after: Uint8Array | null, maxBytes: number }
  /** fence: set `token`'s fence on the table and probe it for rows; else release that fence. */
  TABLE_FENCE: { shard: ShardId, tableId: number, token: string, fence: boolean }
  TABLE_FENCE_LIST: { shard: ShardId }
  // The Merkle forest of the shard's leaderless writes (DESIGN §6 "Anti-entropy"; storage/merkle/).
  MERKLE_ROOTS: { shard: ShardId }
  MERKLE_BUCKETS: { shard: ShardId, window: number }
  /** Whole buckets in the order asked, stopping before maxLeaves / maxBytes (at least one bucket). */
  MERKLE_LEAVES: { shard: ShardId, window: number, buckets: number[], maxLeaves: number, maxBytes: number }
  MERKLE_ADOPT: { shard: ShardId, leaves: MerkleLeafMessage[] }
  /** nowMs: the main thread's wall clock (the worker reads none for this). */
  MERKLE_SEAL: { shard: ShardId, nowMs: number }
  MERKLE_STATS: { shard: ShardId }
  AE_READ: ShardRequests['REPLICA_READ']
  AE_APPLY: ShardRequests['REPLICA_APPLY']
  AE_CPU: { shard: ShardId }
  /**
   * Mode 1 verification (storage/merkle/mode1-scan.ts): the stored rows of `tableIds` at
   * `snapshotHlc` — buckets null: the 1024 bucket hashes; else the leaves of those buckets and their
   * keys committed at or after the snapshot.
   */
  MODE1_VERIFY: { shard: ShardId, tableIds: number[], snapshotHlc: HlcTs, buckets: number[] | null }
  /** Mode 1 repair (storage/merkle/mode1-repair.ts): the primary's images of versions the replica holds damaged; refused unless the replica follows at `generation`. */
  MODE1_REPAIR: { shard: ShardId, generation: bigint, rows: Array<{ key: Uint8Array, versionId: Uint8Array, row: Uint8Array }> }
  /** Up to `limit` keys of `tableId` after `after` (null: from the first), tombstones included (storage/version-scan.ts). */
  VERSION_SCAN: { shard: ShardId, tableId: number, after: Tuple | null, limit: number }
  REPLICA_VERSION_SCAN: ShardRequests['VERSION_SCAN']
}

/**
 * An UPDATE or DELETE whose WHERE pins the whole primary key, run whole on the row's shard in one
 * request (exec/point-modify.ts decides when; shard/drivers/modify-driver.ts runs it): read the row
 * visible to the transaction, run `filter` (the WHERE, emitting the whole row, as QUERY's
 * programs), then either delete it or run `assign` (the SET values, in `targets` order), assign the
 * new row to the columns (types/assign-columns.ts) and write it with `versionId`, made by the
 * coordinator. Exactly one of: `xid` (a transaction open here), `begin` (its first request here),
 * `commitHlc` (an autocommit statement: begun read committed and committed here at that HLC).
 */
export interface ModifyRowRequest {
  shard: ShardId
  tableId: number
  /** The table's name, for the errors (NOT NULL) that name it. */
  table: string
  pk: Tuple
  xid?: Xid
  begin?: TxnBegin
  commitHlc?: HlcTs
  /** Serialised SBLR programs; assign null: DELETE. */
  filter: Uint8Array
  assign: Uint8Array | null
  /** Column index of each value `assign` emits. */
  targets: number[]
  /** Column indexes that are NOT NULL, and dropped columns' slots (always NULL). */
  notNull: number[]
  dropped: number[]
  /** Parameter values as one encoded row (value-rows.ts). */
  params: Uint8Array
  /** now() of the statement (µs since the epoch). */
  statementMicros: bigint
  versionId: Uint8Array
}

/** A Merkle leaf: the row key without `r/` (table id + pk tuple: storage/merkle/leaf-key.ts), its version id, and the row-image hash. */
export interface MerkleLeafMessage { key: Uint8Array, versionId: Uint8Array, rowHash: bigint }

/** A window of a replica's forest. */
export interface MerkleRootMessage { window: number, sealed: boolean, root: bigint, leaves: number }

/** MERKLE_STATS: zeros and enabled false when the shard keeps no forest (anti_entropy.enabled false). */
export interface MerkleStatsMessage {
  enabled: boolean
  windows: number
  sealed: number
  activeLeaves: number
  bytesInMemory: number
  bytesOnDisk: number
  reseals: number
  rebuilds: number
}

/** A hint as stored: key (its id) and value bytes (src/storage/hint-store.ts layouts). */
export interface StoredHintBytes { id: Uint8Array, value: Uint8Array }

/** One shard store's hints for one target node. */
export interface HintTargetRow { target: NodeId, count: number, bytes: number }

/** What a hint op changed (`n` hints stored or removed) and the shard store's figures after it. */
export interface HintOpReply { n: number, stats: HintTargetRow[] }

export interface ShardStats { shard: ShardId, lastLsn: bigint, hlcHighWater: HlcTs, openTxns: number, limbo: number }

/** Reply payload of each op. */
export interface ShardReplies extends ReplReplies, SplitReplies {
  PING: { worker: number, shards: ShardId[] }
  SHARD_OPEN: { opened: boolean }
  /** lsn null: nothing changed (nothing logged); commitHlc may be pushed above an open snapshot. */
  AUTOCOMMIT: { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, affected: boolean[] }
  BEGIN: { xid: Xid }
  GET: { row: Uint8Array | null }
  SCAN: { rows: { pk: TupleValue[], row: Uint8Array }[] }
  /** xid: the transaction the request's `begin` began. */
  WRITE: { affected: boolean[], xid?: Xid }
  WRITE_READ: ShardReplies['WRITE']
  COMMIT: { lsn: bigint | null, commitHlc: HlcTs }
  ROLLBACK: Record<string, never>
  /** lsn: its log entry on a replicated shard's primary (acknowledged before the reply), else null. */
  /** floor: the HLC the transaction's commit must exceed on this shard (engine commitFloor). */
  PREPARE: { lsn: bigint | null, floor: HlcTs }
  COMMIT_PREPARED: { lsn: bigint | null, commitHlc: HlcTs }
  ABORT_PREPARED: { lsn: bigint | null }
  LIST_LIMBO: { limbo: { xid: Xid, rows: number }[] }
  READ_COMMIT_LOG: { entries: CommitLogEntry[] }
  SWEEP: EngineSweepReport
  STATS: ShardStats
  /** rows: encoded output rows (src/shard/protocol/value-rows.ts); scanned: visible rows read. */
  /** xid: the transaction the request's `begin` began. */
  QUERY: { rows: Uint8Array, scanned: number, xid?: Xid }
  /** As QUERY; scanned counts the visible rows read of every table. */
  JOIN_QUERY: { rows: Uint8Array, scanned: number, xid?: Xid }
  /** affected: 1 when the row was updated or deleted, else 0. xid: the transaction `begin` began.
   *  lsn / commitHlc: the commit of an autocommit request (`commitHlc` asked; lsn null: nothing
   *  changed or no log entry), absent otherwise. */
  MODIFY_ROW: { affected: number, lsn: bigint | null, commitHlc?: HlcTs, xid?: Xid }
  REPLICA_QUERY: ShardReplies['QUERY']
  /** applied: per write, 'newer' (written), 'same' (already held), 'older' (a newer version is
   *  held and kept) — every one is an acknowledgement. lsn null: nothing was newer here. */
  REPLICA_APPLY: { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, applied: LwwOutcome[] }
  /** Per pk: its latest committed version (row null: tombstone), or null when it has none. */
  REPLICA_READ: { versions: (VersionedRow | null)[] }
  HINT_ADD: HintOpReply
  HINT_LIST: { hints: StoredHintBytes[] }
  HINT_REMOVE: HintOpReply
  HINT_EXPIRE: HintOpReply
  HINT_DROP: HintOpReply
  HINT_STATS: HintOpReply
  HINT_IMPORT: HintOpReply
  /** done: no key after the last one returned (or no legacy directory at all). */
  HINT_LEGACY_READ: { entries: StoredHintBytes[], done: boolean }
  /** rows: (fence) the shard holds a committed or prepared row of the table; held: (release) the fence existed. */
  TABLE_FENCE: { rows: boolean, held: boolean }
  TABLE_FENCE_LIST: { fences: Array<{ tableId: number, token: string }> }
  /** Every window holding leaves, ascending. */
  MERKLE_ROOTS: { windows: MerkleRootMessage[] }
  /** The 1024 bucket hashes (all 0 for a window without leaves). */
  MERKLE_BUCKETS: { hashes: bigint[] }
  /** more: the buckets from bucketsDone on are not in this reply (ask again for them). */
  MERKLE_LEAVES: { leaves: MerkleLeafMessage[], bucketsDone: number, more: boolean }
  /** needsData: the leaves not recorded, because this replica holds no version of the key ≥ theirs. */
  MERKLE_ADOPT: { adopted: number, needsData: MerkleLeafMessage[] }
  /** Windows sealed now (ascending) and the reseals counted since the shard opened. */
  MERKLE_SEAL: { sealed: number[], reseals: number }
  MERKLE_STATS: MerkleStatsMessage
  AE_READ: ShardReplies['REPLICA_READ']
  AE_APPLY: ShardReplies['REPLICA_APPLY']
  /** measured false: the worker has no thread CPU clock (cpuNs stays 0). */
  AE_CPU: { cpuNs: number, measured: boolean }
  /** hashes: 1024 (buckets asked null) or none; leaves and recent (leaf keys): those of the buckets asked. */
  MODE1_VERIFY: { hashes: bigint[], leaves: MerkleLeafMessage[], recent: Uint8Array[] }
  /** skipped: rows whose latest stored version is not the one named (left to the log or a later round). */
  MODE1_REPAIR: { repaired: number, skipped: number }
  VERSION_SCAN: { rows: VersionScanRow[] }
  REPLICA_VERSION_SCAN: ShardReplies['VERSION_SCAN']
}
