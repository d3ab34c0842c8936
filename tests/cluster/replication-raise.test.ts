import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { codecOf } from '../../src/shard/protocol/ops'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'

// Issue 14 item 4 on real processes: ALTER TABLE … SET replication_factor on a populated
// primary_replica table while a writer runs. Raised from 2 to 3, each shard's third node is
// bootstrapped (snapshot, then the log) and promoted to voter by a config entry; every
// acknowledged row ends on all three copies. Lowered back to 2, the extra voter is removed.

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
const RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']

async function insert (id: number, k: string, v: string): Promise<void> {
  await cluster.waitFor(async () => {
    const r = await cluster.sql(id, 'INSERT INTO t (k, v) VALUES ($1, $2)', [k, v])
    if (r.status === 200) return true
    const code = String(r.body?.code ?? r.body?.error?.code ?? '')
    if (code === 'SB_UNIQUE_VIOLATION') return true // an earlier attempt landed after all
    if (RETRY.includes(code)) return null
    throw new Error(`insert ${k}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `insert ${k} through node ${id}`, timeoutMs: 20_000 })
}

async function readAll (id: number): Promise<string[]> {
  const got = await cluster.waitFor(async () => {
    const r = await cluster.sql(id, 'SELECT k, v FROM t ORDER BY k')
    if (r.status === 200) return r.body.rows as Row[]
    if (RETRY.includes(String(r.body?.error?.code))) return null
    throw new Error(`node ${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `node ${id} to read table t`, timeoutMs: 20_000 })
  return got.map(r => `${String(r[0])}=${String(r[1])}`)
}

async function lastLsn (id: number, shard: ShardId): Promise<bigint> {
  const codec = codecOf('STATS')
  const reply = await rpc.call(cluster.node(id).listen, 'SHARD_QUERY', { op: 'STATS', shard, catalogVersion: 0, payload: codec.encodeRequest({ shard }) })
  return codec.decodeReply(reply.payload).lastLsn
}

const key = (i: number): string => `k${String(i).padStart(4, '0')}`
const out = (): string => cluster.ids.map(id => cluster.node(id).stdout()).join('\n')

describe('raising and lowering N of a populated primary_replica table', () => {
  it('2 → 3 while a writer runs: every row on three copies, the new replica promoted to voter; 3 → 2 removes it', async () => {
    const c = await cluster.sql(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 2)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    const acked: string[] = []
    let i = 0
    const pad = 'p'.repeat(100)
    for (; i < 40; i++) { await insert(1 + (i % 3), key(i), `v${i}${pad}`); acked.push(`${key(i)}=v${i}${pad}`) }
    // A writer runs through the ALTER.
    const writing = { on: true }
    const writer = (async () => {
      for (; writing.on; i++) { await insert(1 + (i % 3), key(i), `v${i}`); acked.push(`${key(i)}=v${i}`) }
    })()
    const a = await cluster.sql(2, 'ALTER TABLE t SET replication_factor = 3')
    expect(a.status, JSON.stringify(a.body)).toBe(200)
    await cluster.waitFor(async () => (out().match(/promotes node \d+ as a voter/g) ?? []).length >= SHARDS ? true : null,
      { what: 'each shard to promote its third replica to voter', timeoutMs: 60_000 })
    const more = i + 10
    await cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on after the promotions', timeoutMs: 30_000 })
    writing.on = false
    await writer
    // Every copy of every shard at the same LSN: all three nodes hold every acknowledged row.
    await cluster.waitFor(async () => {
      for (let s = 0; s < SHARDS; s++) {
        const lsns = await Promise.all(cluster.ids.map(async id => await lastLsn(id, asShardId(s))))
        if (new Set(lsns.map(String)).size !== 1) return null
      }
      return true
    }, { what: 'all three copies of every shard to reach the same LSN', timeoutMs: 60_000 })
    for (const id of cluster.ids) expect(await readAll(id), `through node ${id}`).toEqual(acked.slice().sort())
    // SHOW SHARD MAP on each shard's primary: its generation, and every replica in sync.
    const maps = await cluster.waitFor(async () => {
      const all = (await Promise.all(cluster.ids.map(async id => await cluster.rows(id, 'SHOW SHARD MAP')))).flat()
      const led = all.filter(r => r[6] !== null && /:primary/.test(String(r[6])))
      return led.length === SHARDS && led.every(r => (String(r[6]).match(/:in sync/g) ?? []).length === 2) ? led : null
    }, { what: 'each shard\'s primary to show its two other replicas in sync', timeoutMs: 30_000 })
    for (const [, , primary, , , generation, states] of maps) {
      expect(Number(generation)).toBeGreaterThan(0)
      expect(String(states)).toContain(`${String(primary)}:primary`)
    }
    // Lowered: each shard's third node leaves the voters.
    const l = await cluster.sql(1, 'ALTER TABLE t SET replication_factor = 2')
    expect(l.status, JSON.stringify(l.body)).toBe(200)
    await cluster.waitFor(async () => (out().match(/removes node \d+ as a voter/g) ?? []).length >= SHARDS ? true : null,
      { what: 'each shard to remove its third voter', timeoutMs: 60_000 })
    await insert(1, 'after', 'lowered')
    expect(await readAll(3)).toContain('after=lowered')
  }, 240_000)
})
