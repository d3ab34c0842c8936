import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// Issue 20 item 5, a SECOND split on real processes: 16 → 32 → 64 on a running 3-node cluster
// while a writer runs into a single-copy table and a Mode 1 table of three copies. The second split
// starts from a layout that already records one (splitFrom [16], placementShards 16), its parents
// include the first split's children (shards 16‥31, whose Mode 1 groups started at the first
// switch with empty logs) and the former parents may still be cleaning rows of the first split.
// Checked: each split is recorded on every node (splitFrom [16, 32], placementShards stays 16, so
// nothing moves); SHOW SHARD MAP lists 64 shards; every acknowledged row is read exactly once
// through every node, and SELECT count(*) counts each once.

const RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT',
  'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE', 'SB_SHARD_SPLITTING', 'SB_WORKER_DIED', 'SB_MEMBERSHIP_REFUSED', 'SB_MEMBERSHIP_NO_MAJORITY']
const TABLES = ['t', 'm'] as const
const codeOf = (body: any): string => String(body?.code ?? body?.error?.code ?? '')
const key = (i: number): string => `k${String(i).padStart(5, '0')}`

let cluster: Cluster | undefined
afterAll(async () => {
  if (process.env.SB_DEBUG_DUMP !== undefined && cluster !== undefined) for (const id of [1, 2, 3]) writeFileSync(`/tmp/shard-split-twice-${id}.log`, cluster.node(id).stdout())
  await cluster?.close()
})

describe('two splits in a row on a running cluster', () => {
  it('16 → 32 → 64 with a writer running into a single-copy and a Mode 1 (N = 3) table: every acknowledged row once, through every node', async () => {
    cluster = await startCluster({
      nodes: 3,
      shards: 16,
      startTimeoutMs: 150_000,
      extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100 } })
    })
    const c = cluster
    await c.waitAllNormal([1, 2, 3], 120_000)
    const sqlOk = async (id: number, sql: string, params: unknown[] = [], ok: (code: string) => boolean = () => false): Promise<any> =>
      await c.waitFor(async () => {
        const r = await c.sql(id, sql, params)
        if (r.status === 200) return r.body
        const code = codeOf(r.body)
        if (ok(code)) return { refused: code }
        if (RETRY.includes(code)) return null
        throw new Error(`node ${id} ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `node ${id}: ${sql}`, timeoutMs: 180_000 })
    const insert = async (id: number, table: string, k: string, v: string): Promise<void> => {
      await sqlOk(id, `INSERT INTO ${table} (k, v) VALUES ($1, $2)`, [k, v], code => code === 'SB_UNIQUE_VIOLATION')
    }
    const readAll = async (id: number, table: string): Promise<string[]> =>
      ((await sqlOk(id, `SELECT k, v FROM ${table} ORDER BY k`)).rows as unknown[][]).map(r => `${String(r[0])}=${String(r[1])}`)
    const layoutOf = (id: number): any => JSON.parse(readFileSync(join(c.node(id).dataDir, 'cluster.json'), 'utf8'))

    await sqlOk(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)')
    await sqlOk(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    const acked: Record<string, string[]> = { t: [], m: [] }
    let i = 0
    for (; i < 150; i++) for (const t of TABLES) { await insert(1 + (i % 3), t, key(i), `v${i}`); acked[t]!.push(`${key(i)}=v${i}`) }
    const writing = { on: true }
    const writer = (async () => {
      for (; writing.on; i++) for (const t of TABLES) { await insert(1 + (i % 3), t, key(i), `w${i}`); acked[t]!.push(`${key(i)}=w${i}`) }
    })()

    for (const [from, to, through] of [[16, 32, 2], [32, 64, 3]] as const) {
      const alter = await sqlOk(through, `ALTER CLUSTER SET shards = ${to}`)
      expect(alter.refused, `ALTER CLUSTER SET shards = ${to}`).toBeUndefined()
      for (const id of [1, 2, 3]) {
        await c.waitFor(async () => layoutOf(id).shards === to ? true : null, { what: `node ${id} to record ${to} shards`, timeoutMs: 600_000 })
      }
      expect(layoutOf(1), `the layout after ${from} → ${to}`).toMatchObject({ shards: to, splitFrom: to === 32 ? [16] : [16, 32], placementShards: 16 })
      // The writer goes on after each split (its rows land in the new shards).
      const more = i + 20
      await c.waitFor(async () => i >= more ? true : null, { what: `the writer to go on after the split to ${to}`, timeoutMs: 300_000 })
    }
    writing.on = false
    await writer

    for (const id of [1, 2, 3]) expect(layoutOf(id), `node ${id}'s layout`).toMatchObject({ shards: 64, splitFrom: [16, 32], placementShards: 16 })
    for (const t of TABLES) {
      const want = acked[t]!.slice().sort()
      for (const id of [1, 2, 3]) expect(await readAll(id, t), `table ${t} through node ${id}`).toEqual(want)
      for (const id of [1, 2, 3]) {
        const n = await sqlOk(id, `SELECT count(*) FROM ${t}`)
        expect(Number((n.rows as unknown[][])[0]![0]), `count(*) of ${t} through node ${id}`).toBe(want.length)
      }
    }
    for (const id of [1, 2, 3]) expect((await c.rows(id, 'SHOW SHARD MAP')).length, `SHOW SHARD MAP through node ${id}`).toBe(64)
  }, 1_500_000)
})
