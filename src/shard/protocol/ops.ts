import { opCodecOf, type OpCodec } from './op-codecs'
import type { ShardReplies, ShardRequests } from './messages'

// The one table of requests the main thread sends a shard worker through the rings (DESIGN §2).
// Frame type = op code; payloads are the binary codecs of op-codecs.ts (the write paths AUTOCOMMIT
// and REPLICA_APPLY: codec.ts). No v8.serialize: the same bytes are forwarded to peer nodes in
// SHARD_QUERY, and V8's format changes between Node majors (a rolling upgrade would break).

export const SHARD_OPS = {
  PING: { code: 1, synopsis: 'liveness check; answers the worker index and its shards' },
  AUTOCOMMIT: { code: 2, synopsis: 'one statement\'s row writes + TIP commit + commit-log entry in one group-committed batch' },
  BEGIN: { code: 3, synopsis: 'start a transaction (snapshot or read committed) on a shard' },
  GET: { code: 4, synopsis: 'point read with MGA visibility (in a transaction or read committed)' },
  SCAN: { code: 5, synopsis: 'range scan in key order with MGA visibility' },
  WRITE: { code: 6, synopsis: 'row writes inside an open transaction' },
  COMMIT: { code: 7, synopsis: 'commit an open transaction at a commit HLC' },
  ROLLBACK: { code: 8, synopsis: 'roll back an open transaction' },
  PREPARE: { code: 9, synopsis: '2PC: move an open transaction to limbo' },
  COMMIT_PREPARED: { code: 10, synopsis: '2PC: commit a limbo transaction' },
  ABORT_PREPARED: { code: 11, synopsis: '2PC: abort a limbo transaction' },
  LIST_LIMBO: { code: 12, synopsis: '2PC: list limbo transactions' },
  READ_COMMIT_LOG: { code: 13, synopsis: 'commit-log entries from an LSN (streaming, backup, PITR)' },
  SWEEP: { code: 14, synopsis: 'garbage-collect versions below an HLC horizon' },
  STATS: { code: 15, synopsis: 'shard counters: last LSN, HLC high-water mark, open transactions' },
  QUERY: { code: 16, synopsis: 'scan a table running an SBLR program on each visible row (filter, project, partial aggregates)' },
  JOIN_QUERY: { code: 17, synopsis: 'join tables colocated on the join key inside the shard, then run an SBLR program on each joined row as QUERY does' },
  MODIFY_ROW: { code: 67, synopsis: 'an UPDATE or DELETE pinned to one row by its whole primary key, run whole in the shard: read the visible row, filter, compute the SET, write the version the coordinator made; answers the rows affected (inside an open transaction, its first request there, or begun and committed as an autocommit statement)' },
  REPLICA_QUERY: { code: 63, synopsis: 'QUERY outside a transaction with read_from = replica (Mode 1): served by a replica that is caught up (or the primary) at its applied LSN, without the primary\'s read lease; the node turns it into QUERY for its worker (node/replication/replicated-workers.ts)' },
  REPLICA_APPLY: { code: 18, synopsis: 'leaderless_quorum replica write: apply versions last-writer-wins (newer written, same/older acknowledged) as one group-committed statement' },
  REPLICA_READ: { code: 19, synopsis: 'leaderless_quorum replica read: latest committed version (id + row, tombstones included) of each key' },
  HINT_ADD: { code: 20, synopsis: 'store hints (one atomic batch, fsynced with durability sync) in the shard\'s store', local: true },
  HINT_LIST: { code: 21, synopsis: 'oldest hints of one target node in the shard\'s store, bounded by count and bytes', local: true },
  HINT_REMOVE: { code: 22, synopsis: 'delete delivered hints by id', local: true },
  HINT_EXPIRE: { code: 23, synopsis: 'delete hints created before a wall-clock cutoff', local: true },
  HINT_DROP: { code: 24, synopsis: 'delete one target node\'s hints (all, or those that do not decode)', local: true },
  HINT_STATS: { code: 25, synopsis: 'per-target hint count and bytes of the shard\'s store', local: true },
  HINT_IMPORT: { code: 26, synopsis: 'copy stored hints in with their ids (upgrade from <data_dir>/hints; a repeated copy overwrites)', local: true },
  HINT_LEGACY_READ: { code: 27, synopsis: 'read the previous release\'s <data_dir>/hints LevelDB in key order (upgrade)', local: true },
  TABLE_FENCE: { code: 60, synopsis: 'fence a table against writes (answering whether the shard holds a row of it) or release a fence: a DDL that needs an empty table (storage/table-fence.ts); peers ask through the node\'s TABLE_FENCE RPC', local: true },
  MODE1_REPAIR: { code: 62, synopsis: 'Mode 1 anti-entropy: give rows\' latest versions the primary\'s images of the same versions (silent corruption); refused unless the replica follows a primary at the generation named (storage/merkle/mode1-repair.ts)' },
  TABLE_FENCE_LIST: { code: 61, synopsis: 'the write fences the shard holds (kept across a restart): the node reloads them into its registry at start', local: true },
  // Mode 1 replication (DESIGN §6), codes 40-59: the shard-worker side of the replicated log.
  REPL_APPLY: { code: 40, synopsis: 'Mode 1 replica: apply the primary\'s commit-log entries at their LSNs (same xids, versions, generations) in one batch; re-delivered ones skipped, a gap refused', local: true },
  REPL_LOG_READ: { code: 41, synopsis: 'Mode 1 primary: commit-log entries from an LSN with their generations, bounded by count and bytes, as REPL_APPLY takes them', local: true },
  REPL_TRUNCATE: { code: 42, synopsis: 'Mode 1: drop the commit-log entries above an LSN and their effects (never committed ones)', local: true },
  REPL_STATE_GET: { code: 43, synopsis: 'Mode 1: the shard\'s replication hard state, last (generation, LSN) and any bootstrap in progress', local: true },
  REPL_STATE_SET: { code: 44, synopsis: 'Mode 1: replace the replication hard state (generation, vote, commit LSN, role), fsynced before the reply', local: true },
  REPL_SNAPSHOT_READ: { code: 45, synopsis: 'Mode 1 bootstrap source: a bounded chunk of a consistent snapshot of the shard\'s data keys', local: true },
  REPL_SNAPSHOT_INSTALL: { code: 46, synopsis: 'Mode 1 bootstrap target: install a snapshot chunk (the first starts the bootstrap, the last ends it)', local: true },
  REPL_CONTROL_APPEND: { code: 47, synopsis: 'Mode 1: append a control entry (a new primary\'s noop, a membership config) at the next LSN of the commit log, at the shard\'s current generation', local: true },
  MERKLE_ROOTS: { code: 30, synopsis: 'anti-entropy: every window of the shard\'s Merkle forest with its root, leaf count and whether it is sealed' },
  MERKLE_BUCKETS: { code: 31, synopsis: 'anti-entropy: the 1024 bucket hashes of one window\'s tree' },
  MERKLE_LEAVES: { code: 32, synopsis: 'anti-entropy: the leaves (key, version id, row hash) of some buckets of one window, whole buckets, bounded' },
  MERKLE_ADOPT: { code: 33, synopsis: 'anti-entropy: record leaves of versions this replica already superseded; the others come back as needing data' },
  MERKLE_SEAL: { code: 34, synopsis: 'anti-entropy: seal the windows whose end + sealing grace has passed at the given time', local: true },
  MERKLE_STATS: { code: 35, synopsis: 'anti-entropy: forest figures (windows, sealed, active leaves, bytes in memory and on disk, reseals, rebuilds)' },
  AE_READ: { code: 36, synopsis: 'anti-entropy: REPLICA_READ for a repair round; a replica that does not serve the shard (stale, back from a long outage) answers it where it refuses REPLICA_READ' },
  AE_APPLY: { code: 37, synopsis: 'anti-entropy: REPLICA_APPLY for a repair round; a stale replica applies it where it refuses REPLICA_APPLY (quorum writes, hints, read repair)' },
  AE_CPU: { code: 38, synopsis: 'anti-entropy: thread CPU ns the worker has spent on the shard\'s anti-entropy ops since it started (shard/ae-cpu.ts)', local: true },
  MODE1_VERIFY: { code: 39, synopsis: 'Mode 1 anti-entropy: Merkle bucket hashes, or the leaves of some buckets, built from the stored rows of the shard\'s primary_replica tables at a snapshot HLC (storage/merkle/mode1-scan.ts)' },
  VERSION_SCAN: { code: 64, synopsis: 'a page of a table\'s keys in key order after a key, each with its latest committed version id, row (null: tombstone) and commit HLC: what a move changing a populated table\'s replication_mode reads (storage/version-scan.ts); on a Mode 1 shard only at its primary' },
  REPLICA_VERSION_SCAN: { code: 65, synopsis: 'VERSION_SCAN of a leaderless_quorum table on one of its replicas (any replica that serves the shard; a stale one refuses it, as REPLICA_READ)' },
  SHARD_OPEN: { code: 66, synopsis: 'open shard replica s on this worker while the node runs (a split\'s new shards, cluster/shard-split.ts): its LevelDB under <data_dir>/shards/<s>, created empty when absent; answers whether it was opened now (false: it was open already)', local: true },
  // Shard split, COPY (cluster/shard-split.ts "2. COPY"), codes 67-70: a replica of parent s derives child s + n from its own copy.
  SPLIT_SCAN: { code: 71, synopsis: 'VERSION_SCAN of this node\'s own copy of a shard whatever its role (a Mode 1 replica reads its applied state: the derive\'s log tail fixes what a page missed), each row with its xid', local: true },
  SPLIT_PIN: { code: 72, synopsis: 'pin a parent shard\'s commit log after its last applied LSN L0 (truncation keeps L0 + 1 on, across restarts: storage/split-pin.ts), answering L0; or release the pin, answering the one released', local: true },
  SPLIT_DERIVE_APPLY: { code: 73, synopsis: 'apply derived entries (source xid, commit HLC, child-side upserts and deletes-if-present) to a child shard with its derive progress in one batch, not logged; re-delivery is a no-op (storage/split-derive.ts)', local: true },
  SPLIT_DERIVE_STATE: { code: 74, synopsis: 'a child shard\'s derive progress (parent, L0, LSN applied through, base-copy resume point), optionally cleared', local: true },
  // Shard split, SWITCH (cluster/shard-split.ts "3. SWITCH"; storage/split-switch.ts).
  SPLIT_SWITCH: { code: 75, synopsis: 'on a parent shard\'s primary: append the split\'s switch entry at LSN S and fence the shard\'s child-side writes by the rule sent (SB_SHARD_SPLITTING; no rule: every write), answering S (the held S when switched already); null while a prepared transaction waits', local: true },
  SPLIT_FENCE: { code: 76, synopsis: 'a parent shard\'s split fence (shard count n, switch LSN S and the rule placing keys at 2n, held across restarts and on replicas that applied the entry), lifted first when `lift` names its n (the node adopted 2n)', local: true },
  WRITE_READ: { code: 80, synopsis: 'WRITE of a read committed statement that read its rows at readHlc (a statement snapshot, QUERY readHlc): an update or delete of a row whose live version committed at or after readHlc is SB_UPDATE_CONFLICT instead of overwriting a change the statement never saw (storage/row-write.ts)' },
  SPLIT_CHILD_CLEAR: { code: 77, synopsis: 'empty a split child shard before its derive starts again (a cancelled or stale derive left rows): its progress, then every relation\'s rows and back versions; refused on a shard with a commit log of its own', local: true },
  // Shard split, CLEANUP (cluster/shard-split.ts "4. CLEANUP"); 79 leaves 75-78 to the split's run and switch.
  SPLIT_CLEANUP: { code: 79, synopsis: 'delete, in bounded chunks, every version of the keys a split moved out of this shard (the rule: each relation\'s partition columns in its key; decision records by xid), not logged, resumable (storage/split-cleanup.ts); scans skip those keys until it ends; maxChunks 0 arms that filter at once and deletes nothing (the node adopting 2n)', local: true }
} as const

/**
 * Ops only this node's main thread may send its workers: a peer's SHARD_QUERY naming one is
 * refused (src/net/rpc/payloads.ts). The hint log is the coordinator's own business.
 */
export function isLocalOnly (op: ShardOpName): boolean {
  return 'local' in SHARD_OPS[op]
}

export type ShardOpName = keyof typeof SHARD_OPS
export const SHARD_OP_BY_CODE: ReadonlyMap<number, ShardOpName> = new Map(
  (Object.keys(SHARD_OPS) as ShardOpName[]).map(name => [SHARD_OPS[name].code, name]))

export type { MerkleLeafMessage, MerkleRootMessage, MerkleStatsMessage, ShardReplies, ShardRequests, ShardStats } from './messages'

export type { OpCodec } from './op-codecs'
export { SHARD_CODEC_BASE, SHARD_CODEC_VERSION, SHARD_COUNT_SINCE, shardOpVersion } from './op-codecs'

/** How each op's payloads travel (op-codecs.ts): binary, the same bytes on the rings and between nodes. */
export function codecOf<K extends ShardOpName> (op: K): OpCodec<ShardRequests[K], ShardReplies[K]> {
  return opCodecOf(op)
}
