import { ScratchBirdError } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'
import type { ShardOpName } from '../shard/protocol/ops'
import type { ClusterLayout } from './layout'

// The routing guard of a shard split (issue 20 item 5; cluster/shard-split.ts SWITCH): a shard
// request carries the shard count it was routed by, and the node about to run it compares that
// with the count it runs with (cluster/shard-count.ts) before anything is applied. After n → 2n,
// nodes adopt the new layout from gossip at slightly different moments; without the guard a write
// routed by n reaching a node at 2n lands a child-side key in its parent (where the split's cleanup
// later deletes it: acknowledged data lost), and a read or a scan routed by n misses the rows now
// in the child. A mismatch is refused with SB_SHARD_COUNT_STALE (40001, retryable, nothing
// applied); the coordinator re-routes an autocommit statement (exec/shard-count-retry.ts).
//
// Where the count is compared: on the coordinator, before a request it routed goes to this node's
// own workers or to a peer (node/shard-router.ts: the statement's count against the live one — the
// layout may have changed since the statement routed); on the receiver of a SHARD_QUERY
// (node/cluster.ts onShardQuery: the sender's count against its own). An integer compare, no
// allocation: the hot path pays nothing else.
//
// On the wire (SHARD_QUERY, net/rpc/payloads.ts, shard codec v7) the count travels only once the
// sender's layout has split or is splitting (wireShardCount); a request without it was routed by
// the cluster's count before any split (a node of the previous release, or one that never split),
// which the receiver takes as its layout's first count (routedShardCount). So a cluster that never
// split writes SHARD_QUERY exactly as the previous release did (rolling upgrades are unaffected),
// and a node that split refuses an unstamped request unless it still runs the first count.
// Assumed: every node of a split cluster knows the count before the first split from its layout —
// the placement count (layout.placementShards, carried in gossip) or its own split history
// (layout.splitFrom, kept in cluster.json).

/**
 * How each shard op stands to the guard: every op is classified, so a new op needs a decision.
 *  routed    — sent where a key hashes (mod the count) or to a shard id of the statement's count:
 *              checked. Scans and pages of every shard (QUERY, SCAN, VERSION_SCAN …) included: a
 *              scan routed by n at a node of 2n would miss the children.
 *  txn       — names a transaction already open (or prepared) on that shard by xid: its shard was
 *              routed, and checked, by the request that opened it there; after a split the parent's
 *              switch fence refuses the COMMIT / PREPARE of a transaction holding a child-side write
 *              (SB_SHARD_SPLITTING). Never refused here: a decision or a rollback must always land.
 *  per_shard — about one shard replica's own state, by the id of a shard the node holds, not
 *              routed by a key: liveness and stats, the sweep, the commit log, replica-to-replica
 *              anti-entropy of the same shard id (leaderless tables refuse a split; Mode 1
 *              verification skips moved keys while the cleanup runs), Mode 1 replication, the
 *              split's own derive / switch / cleanup, hints (re-routed by key when delivered, as a
 *              REPLICA_APPLY, which is checked), DDL fences. Local-only ops never come from a peer.
 */
export type ShardCountRule = 'routed' | 'txn' | 'per_shard'

export const SHARD_COUNT_RULES: Readonly<Record<ShardOpName, ShardCountRule>> = {
  AUTOCOMMIT: 'routed',
  BEGIN: 'routed',
  GET: 'routed',
  SCAN: 'routed',
  WRITE: 'routed',
  WRITE_READ: 'routed',
  MODIFY_ROW: 'routed',
  QUERY: 'routed',
  JOIN_QUERY: 'routed',
  REPLICA_QUERY: 'routed',
  VERSION_SCAN: 'routed',
  REPLICA_APPLY: 'routed',
  REPLICA_READ: 'routed',
  REPLICA_VERSION_SCAN: 'routed',
  COMMIT: 'txn',
  ROLLBACK: 'txn',
  PREPARE: 'txn',
  COMMIT_PREPARED: 'txn',
  ABORT_PREPARED: 'txn',
  LIST_LIMBO: 'txn',
  PING: 'per_shard',
  STATS: 'per_shard',
  SWEEP: 'per_shard',
  READ_COMMIT_LOG: 'per_shard',
  MERKLE_ROOTS: 'per_shard',
  MERKLE_BUCKETS: 'per_shard',
  MERKLE_LEAVES: 'per_shard',
  MERKLE_ADOPT: 'per_shard',
  MERKLE_SEAL: 'per_shard',
  MERKLE_STATS: 'per_shard',
  AE_READ: 'per_shard',
  AE_APPLY: 'per_shard',
  AE_CPU: 'per_shard',
  MODE1_VERIFY: 'per_shard',
  MODE1_REPAIR: 'per_shard',
  HINT_ADD: 'per_shard',
  HINT_LIST: 'per_shard',
  HINT_REMOVE: 'per_shard',
  HINT_EXPIRE: 'per_shard',
  HINT_DROP: 'per_shard',
  HINT_STATS: 'per_shard',
  HINT_IMPORT: 'per_shard',
  HINT_LEGACY_READ: 'per_shard',
  TABLE_FENCE: 'per_shard',
  TABLE_FENCE_LIST: 'per_shard',
  REPL_APPLY: 'per_shard',
  REPL_LOG_READ: 'per_shard',
  REPL_TRUNCATE: 'per_shard',
  REPL_STATE_GET: 'per_shard',
  REPL_STATE_SET: 'per_shard',
  REPL_SNAPSHOT_READ: 'per_shard',
  REPL_SNAPSHOT_INSTALL: 'per_shard',
  REPL_CONTROL_APPEND: 'per_shard',
  SHARD_OPEN: 'per_shard',
  SPLIT_SCAN: 'per_shard',
  SPLIT_PIN: 'per_shard',
  SPLIT_DERIVE_APPLY: 'per_shard',
  SPLIT_DERIVE_STATE: 'per_shard',
  SPLIT_SWITCH: 'per_shard',
  SPLIT_FENCE: 'per_shard',
  SPLIT_CHILD_CLEAR: 'per_shard',
  SPLIT_CLEANUP: 'per_shard'
}

/** The layout facts the wire rule reads (kept narrow: tests build them by hand). */
export type CountLayout = Pick<ClusterLayout, 'split' | 'splitFrom' | 'placementShards'>

/** The cluster's shard count before its first split, as this node knows it; `live` when it never split. */
function firstCount (layout: CountLayout, live: number): number {
  return layout.placementShards ?? layout.splitFrom?.[0] ?? live
}

/**
 * The count a SHARD_QUERY routed by `routed` carries on the wire: undefined (written as the
 * previous release wrote it) while the sender's layout has never split and no split is under way.
 */
export function wireShardCount (layout: CountLayout, routed: number): number | undefined {
  const splitting = layout.split !== undefined || layout.placementShards !== undefined || (layout.splitFrom?.length ?? 0) > 0
  return splitting ? routed : undefined
}

/** The count a received request was routed by: the one it carries, else the cluster's first count. */
export function routedShardCount (carried: number | undefined, layout: CountLayout, live: number): number {
  return carried ?? firstCount(layout, live)
}

/**
 * Throws SB_SHARD_COUNT_STALE when `op` is routed by count (SHARD_COUNT_RULES) and was routed by
 * `routed` shards while node `node` runs `live`; nothing else.
 */
export function checkShardCount (op: ShardOpName, shard: ShardId, routed: number, live: number, node: NodeId): void {
  if (routed === live || SHARD_COUNT_RULES[op] !== 'routed') return
  throw new ScratchBirdError('SB_SHARD_COUNT_STALE',
    `a ${op} for shard ${shard} was routed by ${routed} shards, and node ${node} runs ${live} shards (a split is being adopted); nothing was applied — retry`,
    { shard, routed_shards: routed, shards: live, node })
}
