import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { codecOf } from '../../src/shard/protocol/ops'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'

// Issue 14 on real processes: a primary_replica table with replication_factor 3 on three nodes.
// Every shard runs a replication group (node/replication/); a commit is answered once a majority
// of its shard's replicas hold it. SIGKILL a node that is primary of some shards: the others
// elect new primaries within a bounded wait and every acknowledged row is there; the killed node
// restarts and catches up (it serves the rows written while it was down once it is primary again,
// and its own copy holds them).

let cluster: Cluster
const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    shards: 4,
    extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100 } })
  })
  await cluster.waitAllNormal()
}, 120_000)
afterAll(async () => {
  await rpc.close()
  await cluster?.close()
})

type Row = unknown[]
async function rows (id: number, sql: string, params?: unknown[]): Promise<Row[]> { return await cluster.rows(id, sql, params) }

/** An autocommit INSERT through `id`, retried while a shard has no primary (an election runs): true once acknowledged. */
async function insert (id: number, k: string, v: string): Promise<void> {
  await cluster.waitFor(async () => {
    const r = await cluster.sql(id, 'INSERT INTO r (k, v) VALUES ($1, $2)', [k, v])
    if (r.status === 200) return true
    const code = String(r.body?.code ?? r.body?.error?.code ?? '')
    if (code === 'SB_UNIQUE_VIOLATION') return true // an earlier attempt landed after all
    if (['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT'].includes(code)) return null
    throw new Error(`insert ${k}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `insert ${k} through node ${id}`, timeoutMs: 20_000 })
}

/** Every row through `id`, retried while a shard has no primary (SB_NOT_PRIMARY: an election runs; a loaded machine may hold one more). */
async function readAll (id: number): Promise<string[]> {
  const got = await cluster.waitFor(async () => {
    const r = await cluster.sql(id, 'SELECT k, v FROM r ORDER BY k')
    if (r.status === 200) return r.body.rows as Row[]
    if (String(r.body?.error?.code) === 'SB_NOT_PRIMARY') return null
    throw new Error(`node ${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `node ${id} to read table r`, timeoutMs: 20_000 })
  return got.map(r => `${String(r[0])}=${String(r[1])}`)
}

async function lastLsn (id: number, shard: ShardId): Promise<bigint> {
  const codec = codecOf('STATS')
  const reply = await rpc.call(cluster.node(id).listen, 'SHARD_QUERY', { op: 'STATS', shard, catalogVersion: 0, payload: codec.encodeRequest({ shard }) })
  return codec.decodeReply(reply.payload).lastLsn
}

function primariesOf (id: number): number {
  const lines = cluster.node(id).stdout().split('\n').filter(l => l.includes(`Replication: Node ${id} is primary of shard`))
  return lines.length
}

describe('Mode 1 replication, N = 3, on three processes', () => {
  it('every acknowledged row survives SIGKILL of a primary, readable on the others; the node catches up after its restart', async () => {
    const c = await cluster.sql(1, 'CREATE TABLE r (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    const acked: string[] = []
    for (let i = 0; i < 24; i++) {
      await insert(1 + (i % 3), `k${String(i).padStart(2, '0')}`, `v${i}`)
      acked.push(`k${String(i).padStart(2, '0')}=v${i}`)
    }
    for (const id of cluster.ids) expect(await readAll(id)).toEqual(acked)
    // The node that became primary of the most shards goes.
    const victim = [...cluster.ids].sort((a, b) => primariesOf(b) - primariesOf(a))[0]!
    expect(primariesOf(victim)).toBeGreaterThan(0)
    await cluster.kill(victim)
    const survivors = cluster.ids.filter(id => id !== victim)
    for (const id of survivors) {
      await cluster.waitFor(async () => {
        const r = await cluster.sql(id, 'SELECT k, v FROM r ORDER BY k')
        return r.status === 200 && (r.body.rows as Row[]).length === acked.length ? true : null
      }, { what: `node ${id} to read every acknowledged row after node ${victim} was killed`, timeoutMs: 20_000 })
      expect(await readAll(id)).toEqual(acked)
    }
    // Writes go on without it.
    for (let i = 24; i < 30; i++) {
      await insert(survivors[i % 2]!, `k${i}`, `v${i}`)
      acked.push(`k${i}=v${i}`)
    }
    // It restarts and catches up: its own copies hold everything (the SQL path reads primaries,
    // so ask its shard workers through the cluster RPC's commit log instead — and SQL too).
    await cluster.start(victim)
    await cluster.waitFor(async () => {
      const r = await cluster.sql(victim, 'SELECT k, v FROM r ORDER BY k')
      return r.status === 200 && (r.body.rows as Row[]).length === acked.length ? true : null
    }, { what: `node ${victim} to serve every row after its restart`, timeoutMs: 30_000 })
    expect(await readAll(victim)).toEqual(acked.slice().sort())
    // Its own copy of every shard holds the whole log (STATS is served by the node's own worker).
    await cluster.waitFor(async () => {
      for (let s = 0; s < 4; s++) {
        const lsns = await Promise.all(cluster.ids.map(id => lastLsn(id, asShardId(s))))
        if (new Set(lsns.map(String)).size !== 1) return null
      }
      return true
    }, { what: `node ${victim}'s copies to hold every shard's log`, timeoutMs: 30_000 })
  }, 180_000)

  it('SHOW REPLICATION LAG and scratchbird_replication_lag_ms: on each shard\'s primary, one row per other replica, at 0 once it holds the log', async () => {
    const lagRows = async (id: number): Promise<Row[]> => await rows(id, 'SHOW REPLICATION LAG')
    // Every shard has one primary somewhere and two other replicas: 4 × 2 rows over the nodes, all caught up.
    const all = await cluster.waitFor(async () => {
      const per = await Promise.all(cluster.ids.map(async id => (await lagRows(id)).map(r => ({ node: id, shard: Number(r[0]), replica: Number(r[2]), lagLsns: Number(r[4]), lagMs: Number(r[5]) }))))
      const flat = per.flat()
      return flat.length === 8 && flat.every(r => r.lagLsns === 0 && r.lagMs === 0) ? flat : null
    }, { what: 'every replica of every shard to be reported caught up by its primary', timeoutMs: 30_000 })
    expect(new Set(all.map(r => r.shard))).toEqual(new Set([0, 1, 2, 3]))
    for (const r of all) expect(r.replica).not.toBe(r.node)
    const text = await (await fetch(cluster.node(all[0]!.node).metricsUrl())).text()
    expect(text).toMatch(new RegExp(`scratchbird_replication_lag_ms\\{shard_id="00${all[0]!.shard}",replica="node${all[0]!.replica}"\\} 0`))
  }, 60_000)
})
