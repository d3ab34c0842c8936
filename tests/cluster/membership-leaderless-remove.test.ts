import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { deleteEach, dumpLogs, heldByNode, keyShard, recordedLayout, replicaCopies, startWithJoiner } from '../helpers/leaderless-copies'

// Issue 20 items 1–2 for leaderless_quorum tables on real processes: a table of N = 3, W = R = 2.
//  - Release (cluster/membership/leaderless-release.ts): node 4 joins nodes 1–3; once the join
//    ended (epoch 3) each old node's sweep deletes its copies of the shards it lost — REPLICA_READ
//    on it answers nothing for their keys, rows and tombstones alike — and keeps the shards it
//    still holds. Rows of the released shards are then deleted (the released node never sees it).
//  - REMOVE NODE (cluster/membership/drain.ts removingLayout): with a writer running node 4 is
//    SIGKILLed for good and REMOVE NODE 4 run: it becomes leaving, the survivors fill its
//    replicas, it ends left. Each survivor — now a replica of every shard again, the released ones
//    too, refilled — holds every acknowledged row and tombstone in its own copy; scans through each
//    serve every acknowledged row and no deleted one (the deletes made while a node held no copy
//    included: nothing comes back); SHOW SHARD MAP no longer places node 4.
// Anti-entropy rounds are off (only the fills and the writes fill a replica); the sweep runs every
// two seconds.

const SHARDS = 4
const T = 'rt'
let cluster: Cluster
const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })

beforeAll(async () => {
  cluster = await startWithJoiner(SHARDS, () => ({ node: { durability: 'none' }, storage: { sweep_schedule: '*/2 * * * * *' }, anti_entropy: { interval_ms: 3_600_000 }, replication: { write_timeout_ms: 3000, read_timeout_ms: 3000 } }))
}, 180_000)
afterAll(async () => {
  dumpLogs(cluster, 'mlr') // SB_DEBUG_DUMP=1
  await rpc.close()
  await cluster?.close()
})

type Row = unknown[]
const out = (id: number): string => cluster.node(id).stdout()
async function rows (id: number, sql: string, params?: unknown[]): Promise<Row[]> { return await cluster.rows(id, sql, params) }
async function ok (id: number, sql: string, params?: unknown[]): Promise<void> {
  const r = await cluster.sql(id, sql, params)
  expect(r.status, `node ${id}: ${sql}: ${JSON.stringify(r.body)}`).toBe(200)
}
const layoutOf = (id: number): ReturnType<typeof recordedLayout> => recordedLayout(cluster, id)

const shards = new Map<string, ShardId>()
async function shardOf (key: string): Promise<ShardId> { return await keyShard(cluster, T, key, shards) }

/** Node `node`'s own copies of `keys` of one shard (REPLICA_READ): key → 'row' | 'tombstone' | 'none'. */
async function copies (node: number, tableId: number, shard: ShardId, keys: readonly string[]): Promise<Map<string, string>> { return await replicaCopies(cluster, rpc, node, tableId, shard, keys) }

async function keysByShard (keys: readonly string[]): Promise<Map<ShardId, string[]>> {
  const byShard = new Map<ShardId, string[]>()
  for (const k of keys) {
    const s = await shardOf(k)
    byShard.set(s, [...(byShard.get(s) ?? []), k])
  }
  return byShard
}

/** The shards whose first three preference nodes (the replicas of N = 3) include `node`, as node `via` places them. */
async function heldBy (via: number, node: number): Promise<Set<number>> { return await heldByNode(cluster, via, node) }

/** Every row of the table through node `id` (a quorum scan), as `k=v`. */
async function readAll (id: number): Promise<string[]> {
  const got = await cluster.waitFor(async () => {
    const r = await cluster.sql(id, `SELECT k, v FROM ${T} ORDER BY k`)
    return r.status === 200 ? r.body.rows as Row[] : null
  }, { what: `node ${id} to scan table ${T}`, timeoutMs: 30_000 })
  return got.map(r => `${String(r[0])}=${String(r[1])}`)
}

describe('leaderless_quorum tables: old copies released after a join; REMOVE NODE re-replicates from the survivors', () => {
  it('join 3 → 4, released copies gone; node 4 killed for good and removed with a writer running, nothing lost, nothing back', async () => {
    await ok(1, `CREATE TABLE ${T} (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)`)
    const tableId = Number((await rows(1, `SELECT table_id FROM sys_tables WHERE table_name = '${T}'`))[0]![0])
    const keys = Array.from({ length: 80 }, (_, i) => `a${String(i).padStart(3, '0')}`)
    for (let i = 0; i < keys.length; i += 20) await ok(1 + (i / 20) % 3, `INSERT INTO ${T} VALUES ${keys.slice(i, i + 20).map((k, j) => `('${k}', ${i + j})`).join(', ')}`)
    const deleted = keys.filter((_, i) => i % 5 === 0)
    await deleteEach(cluster, 2, T, deleted) // point DELETEs: quorum reads (an IN list is too now; it once scanned one replica)
    const kept = new Map<string, number>()
    keys.forEach((k, i) => { if (!deleted.includes(k)) kept.set(k, i) })
    const byShard = await keysByShard(keys)

    // ---- the join, then the release --------------------------------------------------------------
    await cluster.start(4)
    for (const id of [1, 2, 3, 4]) {
      await cluster.waitFor(() => layoutOf(id).epoch === 3 ? true : null, { what: `node ${id} to record the end of node 4's join (epoch 3)`, timeoutMs: 180_000 })
    }
    const lost = new Map<number, number[]>()
    for (const id of [1, 2, 3]) {
      const held = await heldBy(1, id)
      lost.set(id, Array.from({ length: SHARDS }, (_, s) => s).filter(s => !held.has(s)))
    }
    // Each shard node 4 now replicates was taken from exactly one of nodes 1–3.
    const node4 = [...await heldBy(1, 4)].sort()
    expect(node4.length).toBeGreaterThan(0)
    expect([...lost.values()].flat().sort()).toEqual(node4)
    for (const [id, shardsLost] of lost) {
      for (const s of shardsLost) {
        const ks = byShard.get(asShardId(s)) ?? []
        await cluster.waitFor(async () => [...(await copies(id, tableId, asShardId(s), ks)).values()].every(c => c === 'none') ? true : null,
          { what: `node ${id} to release its copy of shard ${s} (rows and tombstones)`, timeoutMs: 60_000, intervalMs: 500 })
        // Logged once the worker's SWEEP answered (node/sweeper.ts), so possibly after the rows are gone.
        const released = new RegExp(`Released leaderless relation ${tableId} on shard ${s} \\(this node no longer replicates the shard\\)`)
        await cluster.waitFor(() => released.test(out(id)) ? true : null, { what: `node ${id} to log the release of shard ${s}`, timeoutMs: 30_000, intervalMs: 200 })
      }
      // The shards it still holds keep every row and tombstone (a write's third copy may come by hint: waited for).
      for (const s of Array.from({ length: SHARDS }, (_, x) => x).filter(x => !shardsLost.includes(x))) {
        const ks = byShard.get(asShardId(s)) ?? []
        await cluster.waitFor(async () => {
          const got = await copies(id, tableId, asShardId(s), ks)
          return ks.every(k => got.get(k) === (deleted.includes(k) ? 'tombstone' : 'row')) ? true : null
        }, { what: `node ${id}'s kept copy of shard ${s} to hold every row and tombstone`, timeoutMs: 60_000, intervalMs: 500 })
      }
    }
    const metric = /^scratchbird_leaderless_rows_released_total\{kind="row"\} (\d+)$/m
    const releasedRows = await Promise.all([1, 2, 3].map(async id => Number(metric.exec(await (await fetch(`http://${cluster.node(id).config.node!.metrics_listen!}/metrics`)).text())?.[1] ?? 0)))
    // Every key of every released shard (rows and tombstones), once.
    expect(releasedRows.reduce((a, b) => a + b, 0)).toBe(node4.reduce((a, s) => a + (byShard.get(asShardId(s))?.length ?? 0), 0))
    // Rows of the released shards deleted now: the nodes that released them never see these deletes.
    const lateDeleted = [...lost.values()].flat().flatMap(s => (byShard.get(asShardId(s)) ?? []).filter(k => kept.has(k)).slice(0, 2))
    expect(lateDeleted.length).toBeGreaterThan(0)
    await deleteEach(cluster, 3, T, lateDeleted)
    for (const k of lateDeleted) { kept.delete(k); deleted.push(k) }

    // ---- REMOVE NODE 4, gone for good, with a writer running -----------------------------------
    const acked = new Map<string, number>()
    const tried = new Set<string>()
    const run = { on: true }
    const writer = (async () => {
      for (let seq = 0; run.on; seq++) {
        const k = `w${String(seq).padStart(5, '0')}`
        tried.add(k)
        const r = await cluster.sql(1 + seq % 3, `INSERT INTO ${T} VALUES ($1, $2)`, [k, seq]).catch(() => null)
        if (r?.status === 200) acked.set(k, seq)
      }
    })()
    try {
      await cluster.waitFor(() => acked.size >= 20 ? true : null, { what: 'the writer to get going', timeoutMs: 60_000 })
      await cluster.kill(4)
      for (const id of [1, 2, 3]) {
        await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).some(m => Number(m[0]) === 4 && m[3] === 'down') ? true : null,
          { what: `node ${id} to see node 4 down`, timeoutMs: 60_000 })
      }
      const epoch = layoutOf(1).epoch
      await ok(2, 'REMOVE NODE 4')
      expect(layoutOf(1)).toMatchObject({ epoch: epoch + 1, members: [1, 2, 3, 4], leaving: [4] })
      await cluster.waitFor(() => /drain of node 4 finished: .*\(down: re-replicated from the survivors/.test(out(1)) ? true : null,
        { what: 'node 1 to end the removal once the survivors filled the new replicas', timeoutMs: 180_000 })
      for (const id of [1, 2, 3]) {
        await cluster.waitFor(() => layoutOf(id).epoch === epoch + 2 ? true : null, { what: `node ${id} to record node 4 left`, timeoutMs: 60_000 })
        expect(layoutOf(id)).toMatchObject({ epoch: epoch + 2, members: [1, 2, 3, 4], left: [4] })
      }
      const after = acked.size
      await cluster.waitFor(() => acked.size >= after + 20 ? true : null, { what: 'more writes after the removal', timeoutMs: 60_000 })
    } finally {
      run.on = false
      await writer
    }
    // The fills ran from the survivors only (node 4 was down throughout).
    const fills = [1, 2, 3].flatMap(id => out(id).split('\n').filter(l => /Leaderless move: filled shard \d+ /.test(l) && !/on node\(s\) 4 /.test(l)))
    expect(fills.length).toBeGreaterThan(0)
    for (const id of [1, 2, 3]) {
      const map = await rows(id, 'SHOW SHARD MAP')
      expect(map).toHaveLength(SHARDS)
      for (const r of map) expect(String(r[1]).split(',').map(Number), `node ${id}: shard ${String(r[0])} placed without node 4`).not.toContain(4)
    }
    // Each survivor's own copy (every shard: N = 3 of 3): every acknowledged row — written before
    // the join, by the writer (a write's third copy may come by hint: waited for) — and every
    // tombstone, the late deletes included; the copies of the released shards came back by fill only.
    for (const from of [1, 2, 3]) for (const to of [1, 2, 3]) if (from !== to) await cluster.sql(from, `DELIVER HINTS TO NODE ${to}`).catch(() => null)
    const live = [...kept.keys(), ...acked.keys()]
    for (const id of [1, 2, 3]) {
      for (const [shard, ks] of await keysByShard([...live, ...deleted])) {
        await cluster.waitFor(async () => {
          const got = await copies(id, tableId, shard, ks)
          return ks.every(k => got.get(k) === (deleted.includes(k) ? 'tombstone' : 'row')) ? true : null
        }, { what: `node ${id}'s copy of shard ${shard} to hold its ${ks.length} acknowledged keys and tombstones`, timeoutMs: 60_000, intervalMs: 500 })
      }
    }
    // Quorum scans through each survivor: every acknowledged row, no deleted one, nothing never written.
    for (const id of [1, 2, 3]) {
      const got = new Map((await readAll(id)).map(s => { const [k, v] = s.split('='); return [k!, v!] }))
      for (const [k, v] of [...kept, ...acked]) expect(got.get(k), `through node ${id}: acknowledged ${k}`).toBe(String(v))
      for (const k of deleted) expect(got.has(k), `through node ${id}: deleted ${k} came back`).toBe(false)
      for (const k of got.keys()) expect(kept.has(k) || tried.has(k), `through node ${id}: ${k} was never written`).toBe(true)
    }
  }, 600_000)
})
