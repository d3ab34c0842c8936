// SHOW REPLICATION LAG (issue 14 item 7, the seeds' troubleshooting command): for each shard this
// node is the Mode 1 primary of, each other replica's lag in log entries and in milliseconds (how
// long ago the oldest entry it lacks landed in the primary's log: cluster/replication/lag.ts).
// Lag is measured where it is known exactly — on the primary — so run it on every node (or read
// scratchbird_replication_lag_ms from each node's metrics) for the whole cluster.
import { ScratchBirdError } from '../core/errors'
import { posDetails } from '../plan/compile-expr'
import { T } from '../types/sql-types'
import type { ReplicationPort } from './env'
import { rowsResult, type StatementResult } from './result'

export function showReplicationLag (env: ReplicationPort, pos: Parameters<typeof posDetails>[0]): StatementResult {
  const rows = env.replicationLag?.() ?? null
  if (rows === null) {
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'SHOW REPLICATION LAG needs Mode 1 replication: a cluster with a primary_replica table of replication_factor > 1 (this node runs no replication group)', posDetails(pos))
  }
  return rowsResult('SHOW', [
    { name: 'shard_id', type: T.integer }, { name: 'generation', type: T.bigint }, { name: 'replica', type: T.integer },
    { name: 'match_lsn', type: T.bigint }, { name: 'lag_lsns', type: T.bigint }, { name: 'lag_ms', type: T.bigint }, { name: 'lag_ms_at_least', type: T.boolean }
  ], rows.map(r => [BigInt(r.shard), BigInt(r.generation), BigInt(r.replica), r.matchLsn, r.lagLsns, BigInt(r.lagMs), r.atLeast]))
}
