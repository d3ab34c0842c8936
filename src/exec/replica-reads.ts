// read_from = 'replica' (issue 14 item 2; a session setting, exec/settings/table.ts): a SELECT
// outside a transaction reads the primary_replica tables with more than one copy at a replica —
// this node's own when it holds a caught-up one, else the shard's primary — at that replica's
// applied LSN, without the primary's read lease (node/replication/replica-read.ts decides who
// serves). The read may miss the latest commits (bounded by the replica's lag, which EXPLAIN
// shows where this node knows it). Inside a transaction every read goes to the primary: the
// transaction's snapshot and its own writes live there. Other tables read as always.
import type { TableInfo } from '../catalog/catalog'
import type { ShardId } from '../core/ids'
import type { ShardRequests } from '../shard/protocol/ops'
import type { CatalogPort, ExecEnv, ReplicationPort, ShardPort } from './env'

/** Is `t` read at a replica under read_from = replica? primary_replica tables with N ≥ 2 only. */
export function readsAtReplica (t: TableInfo | undefined): boolean {
  return t !== undefined && t.replication.replication_mode === 'primary_replica' && t.replication.replication_factor >= 2
}

const wrapped = new WeakMap<ExecEnv, ExecEnv>()

/**
 * The executor's env for one SELECT outside a transaction under read_from = replica: its table
 * scans (QUERY without a transaction) of replicated primary_replica tables go as REPLICA_QUERY.
 * One wrapper per env, so the access methods it chooses are cached like the env's own.
 */
export function replicaReadEnv (env: ExecEnv): ExecEnv {
  let w = wrapped.get(env)
  if (w === undefined) {
    const request: ShardPort['request'] = async (op, req) => {
      if (op === 'QUERY') {
        const q = req as ShardRequests['QUERY']
        if (q.xid === undefined && q.begin === undefined && readsAtReplica(env.catalog().tableById(q.tableId))) return await env.request('REPLICA_QUERY', q) as never
      }
      return await env.request(op, req)
    }
    w = { ...env, request }
    wrapped.set(env, w)
  }
  return w
}

/** EXPLAIN lines of a read of `table` on `shards` under read_from = replica. */
export function explainReplicaRead (env: CatalogPort & ReplicationPort, table: TableInfo, shards: readonly ShardId[]): string[] {
  if (!readsAtReplica(table)) return ['Read from: the primary (read_from = replica reads only primary_replica tables with replication_factor ≥ 2 at a replica)']
  const lines = ['Read from: a replica (read_from = replica), at its applied LSN, without the primary\'s lease: it may miss the latest commits']
  for (const shard of shards) {
    const v = env.replicaReadView?.(shard)
    if (v === undefined) { lines.push(`  shard ${shard}: the shard's owner (no replication group known on this node)`); continue }
    if (v.node === null) { lines.push(`  shard ${shard}: no serving replica known on this node right now (the read goes to the primary once one is elected)`); continue }
    const at = v.appliedLsn === null ? 'at its applied LSN (not known on this node)' : `at applied LSN ${v.appliedLsn}`
    const lag = v.lag !== null ? `; lag ${v.lag.lsns} LSNs, ${v.lag.ms} ms` : v.commitLsn !== null ? `; committed LSN known here ${v.commitLsn} (lag is measured on the primary: SHOW REPLICATION LAG there)` : ''
    lines.push(`  shard ${shard}: replica on node ${v.node}${v.self ? ' (this node)' : ''} ${at}${lag}`)
  }
  return lines
}
