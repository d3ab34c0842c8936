import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { codecOf } from '../../src/shard/protocol/ops'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'

// Issue 14 item 4 on real processes: Mode 1 replicas bootstrapped by a snapshot of the shard
// (RPC 0x41 REPL_SNAPSHOT_CHUNK). The primaries keep only a few KB of log for lagging replicas
// (replication.log_retention_bytes), so a replica stopped during many writes is behind the
// retained log when it returns and must be bootstrapped; and a shard that already held
// commit-log history (N = 1 and leaderless writes) when its first N = 3 table was created
// converges on the owner's state without losing a row.

const SHARDS = 2
let cluster: Cluster
const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    shards: SHARDS,
    extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100, log_retention_bytes: 4096 } })
  })
  await cluster.waitAllNormal()
}, 120_000)
afterAll(async () => {
  await rpc.close()
  await cluster?.close()
})

type Row = unknown[]
const RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_REPL_BOOTSTRAPPING']

/** An autocommit statement through `id`, retried while a shard has no primary: resolves once acknowledged. */
async function write (id: number, sql: string, params: unknown[]): Promise<void> {
  await cluster.waitFor(async () => {
    const r = await cluster.sql(id, sql, params)
    if (r.status === 200) return true
    const code = String(r.body?.code ?? r.body?.error?.code ?? '')
    if (code === 'SB_UNIQUE_VIOLATION') return true // an earlier attempt landed after all
    if (RETRY.includes(code)) return null
    throw new Error(`${sql} ${JSON.stringify(params)}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `${sql} through node ${id}`, timeoutMs: 20_000 })
}

async function readAll (id: number, table: string): Promise<string[]> {
  const got = await cluster.waitFor(async () => {
    const r = await cluster.sql(id, `SELECT k, v FROM ${table} ORDER BY k`)
    if (r.status === 200) return r.body.rows as Row[]
    if (RETRY.includes(String(r.body?.error?.code))) return null
    throw new Error(`node ${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `node ${id} to read table ${table}`, timeoutMs: 20_000 })
  return got.map(r => `${String(r[0])}=${String(r[1])}`)
}

async function lastLsn (id: number, shard: ShardId): Promise<bigint> {
  const codec = codecOf('STATS')
  const reply = await rpc.call(cluster.node(id).listen, 'SHARD_QUERY', { op: 'STATS', shard, catalogVersion: 0, payload: codec.encodeRequest({ shard }) })
  return codec.decodeReply(reply.payload).lastLsn
}

/** Every node's copy of every shard ends at the same LSN. */
async function converged (what: string): Promise<void> {
  await cluster.waitFor(async () => {
    for (let s = 0; s < SHARDS; s++) {
      const lsns = await Promise.all(cluster.ids.map(async id => await lastLsn(id, asShardId(s)).catch(() => -1n)))
      if (lsns.includes(-1n) || new Set(lsns.map(String)).size !== 1) return null
    }
    return true
  }, { what, timeoutMs: 60_000 })
}

const key = (i: number): string => `k${String(i).padStart(4, '0')}`

describe('Mode 1 bootstrap by snapshot, three processes', () => {
  it('history from before the group: N = 1 and leaderless rows written before the first N = 3 table are all there after the groups form, on every copy', async () => {
    for (const ddl of [
      'CREATE TABLE own (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 1)',
      "CREATE TABLE ll (k TEXT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 3, read_quorum = 1)"
    ]) {
      const c = await cluster.sql(1, ddl)
      expect(c.status, JSON.stringify(c.body)).toBe(200)
    }
    const own: string[] = []
    const ll: string[] = []
    for (let i = 0; i < 30; i++) {
      await write(1 + (i % 3), 'INSERT INTO own (k, v) VALUES ($1, $2)', [key(i), `o${i}`])
      own.push(`${key(i)}=o${i}`)
      await write(1 + ((i + 1) % 3), 'INSERT INTO ll (k, v) VALUES ($1, $2)', [key(i), `l${i}`])
      ll.push(`${key(i)}=l${i}`)
    }
    // The first N = 3 primary_replica table: every shard gets a group, its first primary the
    // node that owned the shard's N = 1 rows; the others are bootstrapped from it.
    const c = await cluster.sql(1, 'CREATE TABLE r (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    await write(2, 'INSERT INTO r (k, v) VALUES ($1, $2)', ['first', 'x'])
    await converged('every copy of every shard to reach the same LSN after the groups formed')
    for (const id of cluster.ids) {
      expect(await readAll(id, 'own'), `own through node ${id}`).toEqual(own)
      expect(await readAll(id, 'll'), `ll through node ${id}`).toEqual(ll)
    }
    const out = cluster.ids.map(id => cluster.node(id).stdout()).join('\n')
    expect(out).not.toMatch(/SB_REPL_LOG_CONFLICT/)
    expect(out).toMatch(/bootstrap done/)
  }, 180_000)

  it('a replica stopped while the primaries\' retained log moves past it is bootstrapped by snapshot after its restart, with every acknowledged row', async () => {
    const acked: string[] = []
    for (let i = 0; i < 10; i++) {
      await write(1 + (i % 3), 'INSERT INTO r (k, v) VALUES ($1, $2)', [key(i), `v${i}`])
      acked.push(`${key(i)}=v${i}`)
    }
    await cluster.stop(3)
    const pad = 'p'.repeat(200)
    for (let i = 10; i < 150; i++) {
      await write(1 + (i % 2), 'INSERT INTO r (k, v) VALUES ($1, $2)', [key(i), `v${i}${pad}`])
      acked.push(`${key(i)}=v${i}${pad}`)
    }
    await cluster.start(3)
    await converged('node 3\'s copies to catch up after its restart')
    expect(cluster.node(3).stdout()).toMatch(/Replication: shard \d+ bootstrap done/)
    // With node 1 gone, nodes 2 and 3 (a majority of every shard) serve every row.
    await cluster.kill(1)
    for (const id of [2, 3]) expect(await readAll(id, 'r'), `r through node ${id}`).toEqual(['first=x', ...acked])
  }, 240_000)
})
