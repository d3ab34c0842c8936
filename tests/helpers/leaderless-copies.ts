import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { asShardId, type ShardId } from '../../src/core/ids'
import type { RpcClient } from '../../src/net/rpc/client'
import { codecOf } from '../../src/shard/protocol/ops'
import type { Cluster } from './cluster-harness'

// What the leaderless membership tests (tests/cluster/membership-leaderless*.test.ts) look at on
// real processes: one node's own copy of some keys (REPLICA_READ, as a quorum coordinator asks one
// replica), the shard a key is routed to, the layout a node recorded, and a node started later.

/** The layout node `id` recorded in its data directory. */
export function recordedLayout (cluster: Cluster, id: number): { epoch: number, members: number[], joining?: number[], leaving?: number[], left?: number[] } {
  return JSON.parse(readFileSync(join(cluster.node(id).dataDir, 'cluster.json'), 'utf8'))
}

/** Rewrites the configs of `ids` without `later` in cluster.nodes (it joins when started: the others never list it). */
export function leaveOutOfConfigs (cluster: Cluster, ids: readonly number[], later: number): void {
  for (const id of ids) {
    const c = cluster.node(id).config as { cluster: { nodes: Array<{ id: number }> } }
    writeFileSync(cluster.node(id).configPath, stringify({ ...c, cluster: { ...c.cluster, nodes: c.cluster.nodes.filter(n => n.id !== later) } }))
  }
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
