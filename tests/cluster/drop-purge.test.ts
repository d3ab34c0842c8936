import { describe, expect, it } from 'vitest'
import { ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'
import type { ShardId } from '../../src/core/ids'

// Issue 17 on three real processes: DROP TABLE of a primary_replica (Mode 1) table and of a
// leaderless one reclaims their storage on every replica of every shard (the sweep runs every
// second here); anti-entropy rounds afterwards bring nothing back; a new table of the same name
// starts empty. A replica's own copy is read with AE_READ through the cluster RPC (served by the
// node's worker whatever its role, for any relation id — the catalog is not asked).

const t = useReplicatedCluster({
  nodes: 3,
  shards: 4,
  startTimeoutMs: 180_000, // three processes starting at once on a loaded machine
  replication: { write_timeout_ms: 3000, read_timeout_ms: 3000 },
  extra: () => ({ storage: { sweep_schedule: '* * * * * *' }, anti_entropy: { enabled: true, interval_ms: 1000 } })
})
const { ok, lines } = t
const rows = async (id: number, sql: string, params?: unknown[]): Promise<unknown[][]> => await t.cluster.rows(id, sql, params)
const KEYS = Array.from({ length: 16 }, (_, i) => `k${i}`)

const tableId = async (name: string): Promise<number> => Number((await rows(1, 'SELECT table_id FROM sys_tables WHERE table_name = $1', [name]))[0]![0])

/** How many (node, key) copies of relation `id` the replicas still hold. */
async function copies (id: number, shards: ReadonlyMap<string, ShardId>): Promise<number> {
  let n = 0
  for (const node of t.cluster.ids) {
    for (const [key, shard] of shards) if (await t.ownCopy(node, shard, id, key) !== undefined) n++
  }
  return n
}

describe('DROP TABLE reclaims storage on every replica', () => {
  it('Mode 1 and leaderless tables: purged on all three nodes, not brought back by anti-entropy, a new table of the same name is empty', async () => {
    await ok(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_factor = 3)')
    await ok(1, "CREATE TABLE l (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 1)")
    await ok(1, "CREATE TABLE other (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 1)")
    for (const table of ['m', 'l', 'other']) {
      for (const [i, k] of KEYS.entries()) await t.write(1, `INSERT INTO ${table} VALUES ($1, $2)`, [k, i], { okCodes: ['SB_UNIQUE_VIOLATION'], retry: [...ELECTION_CODES, 'SB_QUORUM_NOT_ACHIEVED'], timeoutMs: 120_000 })
    }
    await t.write(1, "UPDATE m SET v = 100 WHERE k = 'k0'", [], { timeoutMs: 120_000 }) // a back version too
    const ids = { m: await tableId('m'), l: await tableId('l') }
    const shards = new Map<string, ShardId>()
    for (const k of KEYS) shards.set(k, await t.shardOf('m', 'k', k)) // same partition key type: the same shard for every table
    const all = KEYS.length * t.cluster.ids.length
    await t.cluster.waitFor(async () => await copies(ids.m, shards) === all && await copies(ids.l, shards) === all ? true : undefined,
      { what: 'every replica to hold every row', timeoutMs: 60_000, intervalMs: 500 })

    await ok(1, 'DROP TABLE m')
    await ok(1, 'DROP TABLE l')
    await t.cluster.waitFor(async () => await copies(ids.m, shards) === 0 && await copies(ids.l, shards) === 0 ? true : undefined,
      { what: 'every replica to purge both dropped tables', timeoutMs: 120_000, intervalMs: 1000 })
    for (const n of t.cluster.ids) {
      expect(lines(n, new RegExp(`Purged dropped relation ${ids.m} on shard`)).length).toBeGreaterThan(0)
      expect(lines(n, new RegExp(`Purged dropped relation ${ids.l} on shard`)).length).toBeGreaterThan(0)
      const scraped = await (await fetch(t.cluster.node(n).metricsUrl())).text()
      const purged = /^scratchbird_dropped_relation_rows_purged_total\{kind="row"\} (\d+)$/m.exec(scraped)
      expect(Number(purged?.[1] ?? 0)).toBeGreaterThanOrEqual(2 * KEYS.length) // every node holds every row of both (N = 3)
    }

    // Anti-entropy rounds of every shard after the purge bring nothing back.
    const repairAt = new Date().toISOString()
    for (const n of t.cluster.ids) await ok(n, 'REPAIR TABLE other')
    for (const n of t.cluster.ids) {
      await t.cluster.waitFor(async () => {
        const status = await rows(n, 'SHOW ANTI_ENTROPY STATUS')
        const done = new Set(status.filter(r => r[3] === 'completed' && String(r[2]) >= repairAt).map(r => Number(r[0])))
        return [...new Set(shards.values())].every(s => done.has(s)) ? true : undefined
      }, { what: `rounds of every shard after the purge on node ${n}`, timeoutMs: 90_000, intervalMs: 500 })
    }
    expect(await copies(ids.m, shards)).toBe(0)
    expect(await copies(ids.l, shards)).toBe(0)
    expect(await copies(await tableId('other'), shards)).toBe(all)

    await ok(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_factor = 3)')
    await ok(1, "CREATE TABLE l (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 1)")
    for (const n of t.cluster.ids) {
      expect(Number((await t.read(n, 'SELECT count(*) FROM m'))[0]![0])).toBe(0)
      expect(Number((await t.read(n, 'SELECT count(*) FROM l'))[0]![0])).toBe(0)
    }
  }, 600_000)
})
