import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { asShardId, type ShardId } from '../../src/core/ids'
import type { RpcClient } from '../../src/net/rpc/client'
import { codecOf } from '../../src/shard/protocol/ops'
import { startCluster, type Cluster, type ClusterOptions } from './cluster-harness'

// What the leaderless membership tests (tests/cluster/membership-leaderless*.test.ts) look at on
// real processes: one node's own copy of some keys (REPLICA_READ, as a quorum coordinator asks one
// replica), the shard a key is routed to, the layout a node recorded, and a node started later.

/** The layout node `id` recorded in its data directory. */
export function recordedLayout (cluster: Cluster, id: number): { epoch: number, members: number[], joining?: number[], leaving?: number[], left?: number[] } {
  return JSON.parse(readFileSync(join(cluster.node(id).dataDir, 'cluster.json'), 'utf8'))
}

/** Rewrites the configs of `ids` without `later` in cluster.nodes (it joins when started: the others never list it). */
export function leaveOutOfConfigs (cluster: Cluster, ids: readonly number[], later: number): void {
  for (const id of ids) cluster.leaveOut(id, later)
}

/** The shard of `key` of `table` (EXPLAIN on node 1), cached in `cache`. */
export async function keyShard (cluster: Cluster, table: string, key: string, cache: Map<string, ShardId>): Promise<ShardId> {
  let s = cache.get(key)
  if (s === undefined) {
    const plan = (await cluster.rows(1, `EXPLAIN SELECT * FROM ${table} WHERE k = $1`, [key])).map(r => String(r[0])).join('\n')
    s = asShardId(Number(/shard (\d+) \(partition key pinned\)/.exec(plan)![1]))
    cache.set(key, s)
  }
  return s
}

/** Node `node`'s own copies of `keys` of one shard: key → 'row' | 'tombstone' | 'none'. */
export async function replicaCopies (cluster: Cluster, rpc: RpcClient, node: number, tableId: number, shard: ShardId, keys: readonly string[]): Promise<Map<string, string>> {
  const codec = codecOf('REPLICA_READ')
  const catalogVersion = Number((await cluster.rows(1, 'SELECT max(catalog_version) FROM sys_tables'))[0]![0])
  const reply = await rpc.call(cluster.node(node).listen, 'SHARD_QUERY', { op: 'REPLICA_READ', shard, catalogVersion, payload: codec.encodeRequest({ shard, tableId, pks: keys.map(k => [k]) }) })
  const versions = codec.decodeReply(reply.payload).versions
  return new Map(keys.map((k, i) => [k, versions[i] == null ? 'none' : versions[i]!.row === null ? 'tombstone' : 'row']))
}

/** The shards whose first three preference nodes (the replicas of N = 3) include `node`, as node `via` places them. */
export async function heldByNode (cluster: Cluster, via: number, node: number): Promise<Set<number>> {
  const map = await cluster.rows(via, 'SHOW SHARD MAP')
  return new Set(map.filter(r => String(r[1]).split(',').map(Number).slice(0, 3).includes(node)).map(r => Number(r[0])))
}

/**
 * A 4-node cluster of which nodes 1–3 run (fast gossip); node 4 is left out of their configs, so it
 * joins when the test starts it. `extraConfig` as startCluster takes it.
 */
export async function startWithJoiner (shards: number, extraConfig: NonNullable<ClusterOptions['extraConfig']>): Promise<Cluster> {
  const cluster = await startCluster({ nodes: 4, shards, start: false, gossip: { interval_ms: 200, heartbeat_timeout_ms: 3000 }, extraConfig })
  leaveOutOfConfigs(cluster, [1, 2, 3], 4)
  await Promise.all([1, 2, 3].map(async id => await cluster.start(id)))
  await cluster.waitAllNormal([1, 2, 3])
  return cluster
}

/** SB_DEBUG_DUMP=1: keeps each node's log in /tmp/<prefix>-<id>.log (read when a run failed). */
export function dumpLogs (cluster: Cluster, prefix: string): void {
  if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3, 4]) writeFileSync(`/tmp/${prefix}-${id}.log`, cluster.node(id).stdout())
}

/**
 * Deletes `keys` of `table` through node `via`, one point DELETE each (the whole primary key
 * pinned: a quorum read at R, which meets a replica that acknowledged the row's INSERT), and
 * fails unless each deleted its row. Not one DELETE … WHERE k IN (…): that reads by scanning ONE
 * live replica per shard (README), the coordinator's own, which right after an INSERT acknowledged
 * by W other replicas may not hold the row yet — the row is then never deleted anywhere
 * (tests/cluster/leaderless-delete-reads.test.ts).
 */
export async function deleteEach (cluster: Cluster, via: number, table: string, keys: readonly string[]): Promise<void> {
  for (const k of keys) {
    const r = await cluster.sql(via, `DELETE FROM ${table} WHERE k = $1`, [k])
    if (r.status !== 200 || r.body.rowCount !== 1) throw new Error(`node ${via}: DELETE of ${table} key ${k}: HTTP ${r.status} ${JSON.stringify(r.body)} (one row deleted expected)`)
  }
}
