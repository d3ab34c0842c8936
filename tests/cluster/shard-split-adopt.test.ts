import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { asNodeId, asShardId } from '../../src/core/ids'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { codecOf, type ShardOpName, type ShardRequests } from '../../src/shard/protocol/ops'

// Issue 20 item 5, the part built so far (cluster/shard-count.ts, shard-split.ts): a node that was
// down while the cluster switched from 4 to 8 shards learns the split from gossip when it comes
// back. Real processes; the switch itself is not built yet, so it is written into nodes 1 and 2's
// cluster.json while the cluster is stopped and holds no rows (what a recorded switch leaves):
// {shards 8, epoch + 1, splitFrom [4]}. Node 3 starts with its old 4-shard layout; it must open
// shards 4..7 on its workers (SHARD_OPEN) before adopting the layout, record it (splitFrom [4]) and
// route by hash mod 8 from then on — every key written through it is found by a point read through
// node 1, which routes by hash mod 8 since its start, and the reverse.

let cluster: Cluster

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    shards: 4,
    startTimeoutMs: 150_000,
    extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100 } })
  })
  await cluster.waitAllNormal()
}, 400_000)
afterAll(async () => {
  if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3]) writeFileSync(`/tmp/split-adopt-${id}.log`, cluster.node(id).stdout())
  await cluster?.close()
})

const RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE', 'SB_UNDEFINED_TABLE', 'SB_QUORUM_NOT_ACHIEVED', 'SB_WORKER_DIED']
const codeOf = (body: any): string => String(body?.code ?? body?.error?.code ?? '')
const layoutOf = (id: number): any => JSON.parse(readFileSync(join(cluster.node(id).dataDir, 'cluster.json'), 'utf8'))

async function sqlOk (id: number, sql: string, params: unknown[] = [], ok: (code: string) => boolean = () => false): Promise<any> {
  return await cluster.waitFor(async () => {
    const r = await cluster.sql(id, sql, params)
    if (r.status === 200) return r.body
    const code = codeOf(r.body)
    if (ok(code)) return r.body
    if (RETRY.includes(code)) return null
    throw new Error(`node ${id} ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  }, { what: `node ${id}: ${sql}`, timeoutMs: 60_000 })
}

describe('a node that missed a split', () => {
  it('adopts the 8-shard layout from gossip: opens shards 4..7 first, records it, and routes by hash mod 8', async () => {
    for (const id of [1, 2, 3]) await cluster.stop(id)
    const before = layoutOf(1)
    expect(before.shards).toBe(4)
    const switched = { ...before, shards: 8, epoch: before.epoch + 1, splitFrom: [4] }
    for (const id of [1, 2]) writeFileSync(join(cluster.node(id).dataDir, 'cluster.json'), JSON.stringify(switched) + '\n')
    await Promise.all([1, 2].map(async id => await cluster.start(id)))
    await cluster.start(3)
    const out3 = (): string => cluster.node(3).stdout()
    await cluster.waitFor(() => /shard count: 4 -> 8 at layout epoch/.test(out3()) ? true : null, { what: 'node 3 to follow the split', timeoutMs: 120_000 })
    // The new shards were opened before the layout was recorded and followed.
    const opening = out3().search(/opening the new shards here before adopting it/)
    expect(opening).toBeGreaterThanOrEqual(0)
    expect(opening).toBeLessThan(out3().search(/shard count: 4 -> 8/))
    expect(layoutOf(3)).toMatchObject({ shards: 8, epoch: switched.epoch, splitFrom: [4] })

    const map = await sqlOk(3, 'SHOW SHARD MAP')
    expect(map.rows.length).toBe(8)
    await sqlOk(3, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)', [], code => code === 'SB_DUPLICATE_TABLE')
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
    for (const [i, k] of keys.entries()) {
      await sqlOk(i % 2 === 0 ? 3 : 1, 'INSERT INTO t (k, v) VALUES ($1, $2)', [k, `v${i}`], code => code === 'SB_UNIQUE_VIOLATION')
    }
    // Point reads route to one shard: a node routing by another count would miss half the keys.
    for (const [i, k] of keys.entries()) {
      for (const id of [1, 3]) {
        const r = await sqlOk(id, 'SELECT v FROM t WHERE k = $1', [k])
        expect(r.rows, `key ${k} through node ${id}`).toEqual([[`v${i}`]])
      }
    }
    // Without node 1, every shard's majority needs node 3's replica: of shards 4..7 too, which
    // node 3 serves only because it opened them (and its groups joined them) after the split.
    await cluster.stop(1)
    const more = Array.from({ length: 16 }, (_, i) => `m${i}`)
    for (const k of more) await sqlOk(3, 'INSERT INTO t (k, v) VALUES ($1, $2)', [k, k], code => code === 'SB_UNIQUE_VIOLATION')
    for (const id of [2, 3]) {
      for (const [i, k] of keys.entries()) expect((await sqlOk(id, 'SELECT v FROM t WHERE k = $1', [k])).rows, `key ${k} through node ${id}`).toEqual([[`v${i}`]])
      for (const k of more) expect((await sqlOk(id, 'SELECT v FROM t WHERE k = $1', [k])).rows, `key ${k} through node ${id}`).toEqual([[k]])
    }
  }, 400_000)

  // The routing guard (cluster/shard-count-guard.ts): a node at 8 shards, split from 4, refuses a
  // request routed by 4 — unstamped, as a node that has not adopted the split sends it, or stamped
  // 4 — whatever its shard id, before applying anything; routed by 8 it is served. Raw SHARD_QUERY
  // from this process, as a peer sends it, to the real node processes.
  it('a node at 8 refuses shard requests routed by the 4 shards before the split, and serves those routed by 8', async () => {
    const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })
    const ask = async <K extends ShardOpName>(node: number, op: K, req: ShardRequests[K], shards?: number): Promise<string> => {
      try {
        await rpc.call(cluster.node(node).listen, 'SHARD_QUERY', { op, shard: req.shard, catalogVersion: 0, shards, payload: codecOf(op).encodeRequest(req) })
        return 'served'
      } catch (e) {
        return String((e as { code?: unknown }).code)
      }
    }
    try {
      const scan = (shard: number): ShardRequests['VERSION_SCAN'] => ({ shard: asShardId(shard), tableId: 1, after: null, limit: 10 })
      for (const node of [2, 3]) {
        expect(layoutOf(node)).toMatchObject({ shards: 8, splitFrom: [4] })
        for (const shard of [1, 3]) {
          expect(await ask(node, 'VERSION_SCAN', scan(shard)), `node ${node} shard ${shard} unstamped`).toBe('SB_SHARD_COUNT_STALE')
          expect(await ask(node, 'VERSION_SCAN', scan(shard), 4), `node ${node} shard ${shard} by 4`).toBe('SB_SHARD_COUNT_STALE')
          expect(await ask(node, 'VERSION_SCAN', scan(shard), 8), `node ${node} shard ${shard} by 8`).not.toBe('SB_SHARD_COUNT_STALE')
        }
        // A shard id only 16 shards have: refused for its count (retryable), not served.
        expect(await ask(node, 'VERSION_SCAN', scan(12), 16)).toBe('SB_SHARD_COUNT_STALE')
        // Per-shard ops (stats, anti-entropy, the commit log) are not routed by key: served whatever the count.
        expect(await ask(node, 'STATS', { shard: asShardId(5) })).toBe('served')
      }
    } finally {
      await rpc.close()
    }
  }, 120_000)
})
