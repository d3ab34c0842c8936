import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId, type ShardId } from '../../src/core/ids'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { deleteEach, dumpLogs, heldByNode, keyShard, recordedLayout, replicaCopies, startWithJoiner } from '../helpers/leaderless-copies'

// Issue 20 items 1–2 for leaderless_quorum tables on real processes (cluster/membership/
// leaderless-moves.ts): a leaderless table of N = 3, W = R = 2 on nodes 1–3 with a writer running.
//  - Node 4 joins (started with a cluster.nodes listing itself and the members; nodes 1–3 never
//    list it): node 1 admits it `joining` (epoch 2), the old replicas fill its shards (n − W + 1 of
//    them each, marks reported to node 1; node 2, a source, is killed and restarted meanwhile),
//    node 1 marks it normal (epoch 3). Once a shard is filled, node 4 is stopped (SIGSTOP) for a
//    while: a write to a shard it is being filled for is then refused (SB_QUORUM_NOT_ACHIEVED: it
//    needs node 4's ack too, cluster/quorum/ack-rule.ts), never acknowledged without it. Right
//    after the join, before any hint to node 4 is delivered (hint delivery is slowed to once an
//    hour here), node 4's own copy holds every row acknowledged before node 1 ended the join.
//    Then (hints delivered by DELIVER HINTS) node 4's own copy
//    of every shard it now holds has every acknowledged row and every tombstone, and every
//    acknowledged row is read through every node.
//  - DRAIN NODE 2 of the 4: node 2 ends left once the replicas it held are filled elsewhere; it
//    is stopped, and nodes 1, 3 and 4 (each a replica of every shard now: N = 3 of 3) each hold
//    every acknowledged row in their own copy, and serve them.
// Anti-entropy rounds are off, so only the fills (and the writes themselves) can fill a new replica.

const SHARDS = 4
const T = 'lt'
let cluster: Cluster
const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })

beforeAll(async () => {
  cluster = await startWithJoiner(SHARDS, () => ({ node: { durability: 'none' }, anti_entropy: { interval_ms: 3_600_000 }, replication: { write_timeout_ms: 5000, read_timeout_ms: 5000, hint_delivery_interval_ms: 3_600_000 } }))
}, 180_000)
afterAll(async () => {
  dumpLogs(cluster, 'ml') // SB_DEBUG_DUMP=1
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

/** Node `node`'s own copies of `keys` of one shard (REPLICA_READ, as a quorum coordinator asks one replica): key → 'row' | 'tombstone' | 'none'. */
async function copies (node: number, tableId: number, shard: ShardId, keys: readonly string[]): Promise<Map<string, string>> { return await replicaCopies(cluster, rpc, node, tableId, shard, keys) }

/** `keys` of the shards in `held`, by shard. */
async function keysByShard (held: ReadonlySet<number>, keys: readonly string[]): Promise<Map<ShardId, string[]>> {
  const byShard = new Map<ShardId, string[]>()
  for (const k of keys) {
    const s = await shardOf(k)
    if (held.has(s)) byShard.set(s, [...(byShard.get(s) ?? []), k])
  }
  return byShard
}

/**
 * Waits until node `node`'s own copy of each shard in `held` has every key of `live` as a row and
 * every key of `deleted` as a tombstone (a write's third copy may come by hint: waited for).
 */
async function holdsAll (node: number, tableId: number, held: ReadonlySet<number>, live: readonly string[], deleted: readonly string[]): Promise<number> {
  let checked = 0
  for (const [shard, keys] of await keysByShard(held, [...live, ...deleted])) {
    await cluster.waitFor(async () => {
      const got = await copies(node, tableId, shard, keys)
      const wrong = keys.filter(k => got.get(k) !== (deleted.includes(k) ? 'tombstone' : 'row'))
      return wrong.length === 0 ? true : null
    }, { what: `node ${node}'s copy of shard ${shard} to hold its ${keys.length} acknowledged keys and tombstones`, timeoutMs: 60_000, intervalMs: 500 })
    checked += keys.length
  }
  return checked
}

/** The shards whose first three preference nodes (the replicas of N = 3) include `node`, as node `via` places them. */
async function heldBy (via: number, node: number): Promise<Set<number>> { return await heldByNode(cluster, via, node) }

/** Every row of the table through node `id` (a scan), as `k=v`. */
async function readAll (id: number): Promise<string[]> {
  const got = await cluster.waitFor(async () => {
    const r = await cluster.sql(id, `SELECT k, v FROM ${T} ORDER BY k`)
    return r.status === 200 ? r.body.rows as Row[] : null
  }, { what: `node ${id} to scan table ${T}`, timeoutMs: 30_000 })
  return got.map(r => `${String(r[0])}=${String(r[1])}`)
}

/** The rows acknowledged before the current step (key → v), and the keys deleted. */
const kept = new Map<string, number>()
const deleted: string[] = []
/** Every key any writer tried. */
const tried = new Set<string>()

/** A writer on `nodes`: what was acknowledged (and when: wall ms), and why writes failed (a failed write's outcome is unknown: it may land). */
interface Writer { acked: Map<string, number>, ackedAt: Map<string, number>, failures: string[], stop: () => Promise<void> }
function startWriter (prefix: string, nodes: () => number[]): Writer {
  const acked = new Map<string, number>()
  const ackedAt = new Map<string, number>()
  const failures: string[] = []
  const run = { on: true }
  let seq = 0
  const done = (async () => {
    while (run.on) {
      const k = `${prefix}${String(seq).padStart(5, '0')}`
      const v = seq++
      const ns = nodes()
      tried.add(k)
      // A failed write (refused, timed out, or a node stopped under it) is only tried.
      const r = await cluster.sql(ns[v % ns.length]!, `INSERT INTO ${T} VALUES ($1, $2)`, [k, v]).catch(() => null)
      if (r?.status === 200) {
        acked.set(k, v)
        ackedAt.set(k, Date.now())
      } else {
        const e = (r?.body as { error?: { code?: string, message?: string } } | undefined)?.error
        failures.push(`${e?.code ?? 'no answer'}: ${e?.message ?? ''}`)
      }
    }
  })()
  return { acked, ackedAt, failures, stop: async () => { run.on = false; await done } }
}

/** Node `node`'s own copy holds, now (no waiting for hints), every key of `live` of the shards in `held` as a row and of `deleted` as a tombstone. */
async function holdsNow (node: number, held: ReadonlySet<number>, live: readonly string[], dead: readonly string[]): Promise<number> {
  let checked = 0
  for (const [shard, keys] of await keysByShard(held, [...live, ...dead])) {
    const got = await copies(node, tableId, shard, keys)
    const wrong = keys.filter(k => got.get(k) !== (dead.includes(k) ? 'tombstone' : 'row')).map(k => `${k}: ${got.get(k)}`)
    expect(wrong, `node ${node}'s own copy of shard ${shard}`).toEqual([])
    checked += keys.length
  }
  return checked
}

/** DELIVER HINTS TO NODE t on each of `from` for each other of `to` (a down target's hints stay: its refusal is ignored). */
async function deliverHints (from: readonly number[], to: readonly number[]): Promise<void> {
  for (const f of from) for (const t of to) if (t !== f) await cluster.sql(f, `DELIVER HINTS TO NODE ${t}`).catch(() => null)
}

/** Wall ms of node `id`'s first log line matching `re`. */
function loggedAt (id: number, re: RegExp): number {
  const line = out(id).split('\n').find(l => re.test(l))
  expect(line, `node ${id} logged ${re}`).toBeDefined()
  return Number((JSON.parse(line!) as { time: number }).time)
}

/** A scan holds every acknowledged row (`acked` and `kept`) and nothing no writer tried. */
function checkScan (scan: readonly string[], acked: ReadonlyMap<string, number>, what: string): void {
  const got = new Map(scan.map(s => { const [k, v] = s.split('='); return [k!, v!] }))
  for (const [k, v] of [...acked, ...kept]) expect(got.get(k), `${what}: acknowledged ${k}`).toBe(String(v))
  for (const k of got.keys()) expect(acked.has(k) || tried.has(k) || kept.has(k), `${what}: ${k} was never written`).toBe(true)
}

let tableId = 0

describe('leaderless_quorum tables in membership moves', () => {
  it('3 → 4 while a writer runs: node 4 joins, its shards are filled before they count, every acknowledged row kept', async () => {
    await ok(1, `CREATE TABLE ${T} (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)`)
    tableId = Number((await rows(1, `SELECT table_id FROM sys_tables WHERE table_name = '${T}'`))[0]![0])
    const keys = Array.from({ length: 120 }, (_, i) => `a${String(i).padStart(3, '0')}`)
    for (let i = 0; i < keys.length; i += 20) {
      await ok(1 + (i / 20) % 3, `INSERT INTO ${T} VALUES ${keys.slice(i, i + 20).map((k, j) => `('${k}', ${i + j})`).join(', ')}`)
    }
    deleted.push(...keys.filter((_, i) => i % 5 === 0))
    // Point DELETEs (quorum reads; an IN list is read so too now): an IN list once scanned node 2's own
    // copy, which may not hold the last batch node 3 just had acknowledged by W = 2 (issue 20: `a115`
    // was never deleted at all; tests/cluster/leaderless-delete-reads.test.ts).
    await deleteEach(cluster, 2, T, deleted)
    keys.forEach((k, i) => { if (!deleted.includes(k)) kept.set(k, i) })
    const before = await heldBy(1, 4)
    expect(before.size).toBe(0)

    const joined = { done: false }
    const w = startWriter('j', () => joined.done ? [1, 2, 3, 4] : [1, 2, 3])
    await cluster.waitFor(() => w.acked.size >= 20 ? true : null, { what: 'the writer to get going', timeoutMs: 30_000 })

    await cluster.start(4)
    await cluster.waitFor(() => /node 4 at \S+ admitted by this node \(joining: its leaderless_quorum replicas count once they are filled\)/.test(out(1)) ? true : null,
      { what: 'node 1 to admit node 4 joining', timeoutMs: 60_000 })
    expect(out(1)).toMatch(/Cluster layout: membership epoch 2, members \{1, 2, 3, 4\}, joining \{4\}/)
    // SHOW SHARD MAP's `moving` names the fills of the shards node 4 receives while the join runs.
    await cluster.waitFor(async () => (await rows(1, 'SHOW SHARD MAP')).some(r => /leaderless \(N = 3\): filling \{4\} from \{\d, \d, \d\}/.test(String(r[8]))) ? true : null,
      { what: 'SHOW SHARD MAP on node 1 to show the fills to node 4', timeoutMs: 30_000, intervalMs: 100 })
    // Once some shard is filled on node 4 by two sources (n − W + 1) and node 2 (a source) has
    // finished a fill, node 4 stops (SIGSTOP): a write to such a shard can no longer reach it by
    // fill, so without node 4's own ack it must not be acknowledged — it fails
    // (SB_QUORUM_NOT_ACHIEVED naming node 4 as being filled).
    const filledShard = await cluster.waitFor(() => {
      const sources = new Map<string, Set<string>>()
      for (const id of [1, 2, 3]) for (const m of out(id).matchAll(/Leaderless move: filled shard (\d+) .* on node\(s\) 4 from node (\d+):/g)) sources.set(m[1]!, (sources.get(m[1]!) ?? new Set()).add(m[2]!))
      return [...sources].find(([, from]) => from.size >= 2)?.[0] ?? null
    }, { what: 'some shard to be filled on node 4 by two old replicas', timeoutMs: 90_000, intervalMs: 50 })
    const firstMark = await cluster.waitFor(() => /Leaderless move: filled shard (\d+) .* from node 2:/.exec(out(2))?.[1] ?? null,
      { what: 'node 2 to finish a fill', timeoutMs: 60_000, intervalMs: 50 })
    const node4 = cluster.node(4).proc!
    node4.kill('SIGSTOP')
    const failedBefore = w.failures.length
    const ackedBefore = w.acked.size
    const refusedForNode4 = (): number => w.failures.slice(failedBefore).filter(f => /^SB_QUORUM_NOT_ACHIEVED: .*being filled \(node 4\)/.test(f)).length
    try {
      // Meanwhile a source is killed once it finished a fill, and started again: the move goes on,
      // and the fill it recorded is not run again. It is back (seen alive) before node 4 is, so no
      // other old replica takes its fills over once node 4 is back (such a late fill would copy the
      // writes of the pause to node 4 and hide what this checks).
      // Node 2 is killed once nodes 1 and 3 see node 4 down: no fill is taken over towards it meanwhile.
      for (const id of [1, 3]) {
        await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).some(m => Number(m[0]) === 4 && m[3] !== 'normal' && m[3] !== 'joining') ? true : null,
          { what: `node ${id} to see node 4 down`, timeoutMs: 60_000 })
      }
      await cluster.kill(2)
      await cluster.start(2)
      for (const id of [1, 3]) {
        await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).some(m => Number(m[0]) === 2 && m[3] === 'normal') ? true : null,
          { what: `node ${id} to see node 2 back`, timeoutMs: 60_000 })
      }
      // (With writes acknowledged without node 4, none fails: the check of node 4's copy below fails instead.)
      await cluster.waitFor(() => refusedForNode4() >= 3 || w.acked.size >= ackedBefore + 60 ? true : null,
        { what: `writes to shard ${filledShard} and others being filled on node 4 to be refused while it is stopped`, timeoutMs: 120_000, intervalMs: 100 })
    } finally {
      node4.kill('SIGCONT')
    }
    const refused = refusedForNode4()
    await cluster.waitFor(() => /node\(s\) 4 joined: their leaderless_quorum replicas are filled/.test(out(1)) ? true : null,
      { what: 'node 1 to end the join once the fills are marked', timeoutMs: 120_000 })
    for (const id of [1, 2, 3, 4]) {
      await cluster.waitFor(() => layoutOf(id).epoch === 3 ? true : null, { what: `node ${id} to record epoch 3`, timeoutMs: 60_000 })
      expect(layoutOf(id)).toEqual({ cluster: 'sb-test', shards: SHARDS, epoch: 3, members: [1, 2, 3, 4] })
    }
    // The fills ran from the old replicas (two sources per shard node 4 now holds: n − W + 1).
    const fills = [1, 2, 3].flatMap(id => out(id).split('\n').filter(l => /Leaderless move: filled shard \d+ .* on node\(s\) 4 from node \d/.test(l)))
    const held = await heldBy(1, 4)
    expect(held.size).toBeGreaterThan(0)
    expect(fills.length).toBeGreaterThanOrEqual(2 * held.size)
    // Every row acknowledged before node 1 ended the join is in node 4's own copy now — by the
    // fills, or by node 4's own ack of the write — not waiting for any hint.
    const joinedAt = loggedAt(1, /node\(s\) 4 joined: their leaderless_quorum replicas are filled/)
    const ackedDuring = [...w.ackedAt].filter(([, at]) => at < joinedAt).map(([k]) => k)
    expect(await holdsNow(4, held, [...kept.keys(), ...ackedDuring], deleted)).toBeGreaterThan(0)
    expect(refused, 'writes refused while node 4, being filled, was stopped').toBeGreaterThan(0)
    await cluster.waitAllNormal([1, 2, 3, 4], 60_000)
    joined.done = true
    for (const id of [1, 2, 3, 4]) expect((await rows(id, 'SHOW SHARD MAP')).filter(r => /leaderless/.test(String(r[8]))), `node ${id}: nothing moving`).toEqual([])
    expect(out(2).split('\n').filter(l => new RegExp(`Leaderless move: filling shard ${firstMark} .* from node 2`).test(l)).length, `node 2 filled shard ${firstMark} once`).toBe(1)

    const after = w.acked.size
    await cluster.waitFor(() => w.acked.size >= after + 20 ? true : null, { what: 'more writes after the join, node 4 coordinating some', timeoutMs: 60_000 })
    await w.stop()
    // Node 4's own copies: every row acknowledged before, during and after the join, and the
    // tombstones (a write after the join needs W of the new replicas: node 4 may get it by hint).
    await deliverHints([1, 2, 3, 4], [1, 2, 3, 4])
    const live = [...kept.keys(), ...w.acked.keys()]
    expect(await holdsAll(4, tableId, held, live, deleted)).toBeGreaterThan(0)
    for (const [k, v] of w.acked) kept.set(k, v)
    for (const id of [1, 2, 3, 4]) checkScan(await readAll(id), w.acked, `through node ${id}`)
    for (const k of deleted.slice(0, 5)) expect(await rows(4, `SELECT v FROM ${T} WHERE k = $1`, [k]), `deleted ${k}`).toEqual([])
  }, 400_000)

  it('DRAIN NODE 2 of 4 while a writer runs: node 2 ends left, stopped; nodes 1, 3, 4 hold every acknowledged row', async () => {
    expect(tableId).toBeGreaterThan(0)
    const w = startWriter('d', () => [1, 3, 4])
    await cluster.waitFor(() => w.acked.size >= 20 ? true : null, { what: 'the writer to get going', timeoutMs: 30_000 })
    const start = layoutOf(1).epoch
    await ok(3, 'DRAIN NODE 2')
    expect(layoutOf(1)).toMatchObject({ epoch: start + 1, leaving: [2] })
    await cluster.waitFor(async () => String((await rows(3, 'SHOW CLUSTER MEMBERS')).find(r => Number(r[0]) === 2)?.[3]) === 'left' ? true : null,
      { what: 'node 2 to end left', timeoutMs: 120_000 })
    expect(out(1)).toMatch(/drain of node 2 finished/)
    for (const id of [1, 3, 4]) {
      await cluster.waitFor(() => layoutOf(id).epoch === start + 2 ? true : null, { what: `node ${id} to record the left epoch`, timeoutMs: 60_000 })
      expect(layoutOf(id)).toMatchObject({ epoch: start + 2, members: [1, 2, 3, 4], left: [2] })
    }
    await cluster.stop(2)
    const after = w.acked.size
    await cluster.waitFor(() => w.acked.size >= after + 20 ? true : null, { what: 'more writes with node 2 stopped', timeoutMs: 60_000 })
    await w.stop()
    await deliverHints([1, 3, 4], [1, 3, 4])
    const all = new Set(Array.from({ length: SHARDS }, (_, s) => s))
    const live = [...kept.keys(), ...w.acked.keys()]
    for (const id of [1, 3, 4]) expect(await holdsAll(id, tableId, all, live, deleted)).toBe(live.length + deleted.length)
    for (const [k, v] of w.acked) kept.set(k, v)
    for (const id of [1, 3, 4]) checkScan(await readAll(id), w.acked, `through node ${id}`)
  }, 400_000)
})
