import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { pinKeys } from '../../../src/plan/pins'
import { tableShape } from '../../../src/plan/table-types'
import { parseOne } from '../../../src/sql/parser'
import type { SelectStatement } from '../../../src/sql/ast'
import { testNode, type TestNode } from './local-shards'
import { MAX_INDEX_POINT_READS } from '../../../src/exec/index-lookup'

// The planner's use of local indexes (issue 19 item 2): a WHERE pinning a ready local index's whole
// key, or an IN list or a range on its columns, routes through it — its entries on each shard (one
// when the partition key is pinned), then point reads of the rows they name — EXPLAIN says so, and
// the answers equal a scan's.

beforeAll(async () => { await initHashing() })

async function setup (): Promise<TestNode> {
  const node = await testNode(4, false)
  await node.sql('CREATE TABLE t (region TEXT, id INTEGER, city TEXT, n INTEGER, PRIMARY KEY (region, id)) PARTITION BY region')
  await node.sql("INSERT INTO t VALUES ('north', 1, 'oslo', 10), ('north', 2, 'bergen', 20), ('south', 3, 'oslo', 30), ('east', 4, 'oslo', 40), ('west', 5, 'rome', 50)")
  return node
}

function routingOf (node: TestNode, sql: string): ReturnType<typeof pinKeys> {
  const s = parseOne(sql) as SelectStatement
  return pinKeys(node.env, tableShape(node.env.catalog().table('t')!), s.where, [])
}

const strings = (rows: unknown[][]): string[] => rows.map(r => r.map(String).join(' ')).sort()

describe('plan choice', () => {
  it('a ready local index whose whole key is pinned; not without one, not a global index, not when the primary key is pinned', async () => {
    const node = await setup()
    expect(routingOf(node, "SELECT * FROM t WHERE city = 'oslo'").local).toBeUndefined()
    await node.sql('CREATE INDEX t_city ON t (city) LOCAL')
    const r = routingOf(node, "SELECT * FROM t WHERE city = 'oslo'")
    expect(r.local?.ix.info.name).toBe('t_city')
    expect(r.shards).toHaveLength(4)
    expect(r.routing).toBe('all 4 shards (scatter), through local index t_city (city pinned) on each shard in parallel: its entries, then the rows they name')
    const one = routingOf(node, "SELECT * FROM t WHERE region = 'east' AND city = 'oslo'")
    expect(one.shards).toHaveLength(1)
    expect(one.routing).toMatch(/partition key pinned\), through local index t_city \(city pinned\) on that shard/)
    // the whole primary key pinned: a point read needs no index
    expect(routingOf(node, "SELECT * FROM t WHERE region = 'east' AND id = 4 AND city = 'oslo'").local).toBeUndefined()
    // only part of the key pinned, or not by equality: no index
    await node.sql('CREATE INDEX t_city_n ON t (city, n) LOCAL')
    expect(routingOf(node, 'SELECT * FROM t WHERE n = 10').local).toBeUndefined()
    expect(routingOf(node, "SELECT * FROM t WHERE city = 'oslo' AND n = 10").local?.ix.info.name).toBe('t_city_n')
    // a range on the first key column: a bounded scan of the entries
    expect(routingOf(node, "SELECT * FROM t WHERE city > 'a'").local?.ix.info.name).toBe('t_city')
    // a global index is not a local one
    await node.sql('CREATE INDEX t_n ON t (n) GLOBAL')
    const g = routingOf(node, 'SELECT * FROM t WHERE n = 40')
    expect(g.local).toBeUndefined()
    expect(g.index?.ix.info.name).toBe('t_n')
  })
})

describe('reads through a local index', () => {
  it('answer as the scan does, read the named rows only, and show in EXPLAIN', async () => {
    const node = await setup()
    const queries = ["SELECT region, id FROM t WHERE city = 'oslo'", "SELECT count(*), sum(n) FROM t WHERE city = 'oslo'", "SELECT id FROM t WHERE city = 'rome' AND region = 'west'", "SELECT id FROM t WHERE city = 'none'"]
    const before = await Promise.all(queries.map(async q => strings((await node.sql(q))[0]!.rows)))
    await node.sql('CREATE INDEX t_city ON t (city) LOCAL')
    const after = await Promise.all(queries.map(async q => strings((await node.sql(q))[0]!.rows)))
    expect(after).toEqual(before)
    expect(before[0]).toEqual(['east 4', 'north 1', 'south 3'])
    // one QUERY of the entries per shard, then one point read per row named: 'rome' is one row on one shard
    node.shards.sent.length = 0
    await node.sql("SELECT id FROM t WHERE city = 'rome'")
    expect(node.shards.sent.filter(op => op === 'QUERY')).toHaveLength(4 + 1)
    const plan = (await node.sql("EXPLAIN SELECT id FROM t WHERE city = 'oslo'"))[0]!.rows.map(r => String(r[0]))
    expect(plan[0]).toMatch(/through local index t_city \(city pinned\) on each shard in parallel/)
  })
})

describe('plan choice for IN lists and ranges', () => {
  it('uses a local index when it narrows, keeps the primary key pin first, and says how in the routing', async () => {
    const node = await setup()
    await node.sql('CREATE INDEX t_city_n ON t (city, n) LOCAL')
    await node.sql('CREATE INDEX t_n ON t (n) LOCAL')
    const inList = routingOf(node, "SELECT * FROM t WHERE city IN ('oslo', 'rome', 'oslo', NULL)")
    // city alone leaves n free: a row with n NULL has no entry in t_city_n, so it cannot be used
    expect(inList.local).toBeUndefined()
    await node.sql('CREATE INDEX t_city ON t (city) LOCAL')
    const r = routingOf(node, "SELECT * FROM t WHERE city IN ('oslo', 'rome', 'oslo', NULL)")
    expect(r.local?.ix.info.name).toBe('t_city')
    expect(r.local?.probes).toHaveLength(2) // duplicates and NULL probe nothing
    expect(r.routing).toBe('all 4 shards (scatter), through local index t_city (city IN (2 values)) on each shard in parallel: its entries, then the rows they name')
    expect(routingOf(node, 'SELECT * FROM t WHERE n BETWEEN 10 AND 30').routing).toMatch(/through local index t_n \(n range\)/)
    expect(routingOf(node, 'SELECT * FROM t WHERE 30 >= n').local?.probes).toEqual([{ lte: [30n] }])
    expect(routingOf(node, 'SELECT * FROM t WHERE n > 10 AND n >= 5 AND n < 40').local?.probes).toEqual([{ gt: [10n], lt: [40n] }])
    // an equality prefix, then a range on the next key column: the longer prefix wins
    const pr = routingOf(node, "SELECT * FROM t WHERE city = 'oslo' AND n > 15")
    expect(pr.local?.ix.info.name).toBe('t_city_n')
    expect(pr.routing).toMatch(/through local index t_city_n \(city pinned, n range\)/)
    expect(routingOf(node, "SELECT * FROM t WHERE city IN ('oslo', 'bergen') AND n IN (10, 20, 30)").local?.probes).toHaveLength(6)
    // not narrowing: no bound, IS NOT NULL alone, NOT IN, NOT BETWEEN, <>, a non-constant
    for (const w of ['n IS NOT NULL', 'n NOT IN (1, 2)', 'n NOT BETWEEN 1 AND 2', 'n <> 3', 'n > id', 'n IN (1, id)']) {
      expect(routingOf(node, `SELECT * FROM t WHERE ${w}`).local, w).toBeUndefined()
    }
    // a bound the column cannot hold exactly is widened, never narrowed
    expect(routingOf(node, 'SELECT * FROM t WHERE n > 2.5').local?.probes).toEqual([{ gte: [3n] }])
    expect(routingOf(node, 'SELECT * FROM t WHERE n < 2.4').local?.probes).toEqual([{ lte: [2n] }])
    // the primary key pinned keeps its point read
    const pk = routingOf(node, "SELECT * FROM t WHERE region = 'east' AND id = 4 AND n IN (1, 2)")
    expect(pk.local).toBeUndefined()
    expect(pk.options.exact).toBe(true)
    // an IN list longer than the probe bound reads the table
    const many = Array.from({ length: 300 }, (_, i) => i).join(', ')
    expect(routingOf(node, `SELECT * FROM t WHERE n IN (${many})`).local).toBeUndefined()
  })

  it('a global index reads the index shard of each IN value; not a range', async () => {
    const node = await setup()
    await node.sql('CREATE INDEX t_g ON t (n) GLOBAL')
    const g = routingOf(node, 'SELECT * FROM t WHERE n IN (10, 40, 10)')
    expect(g.index?.ix.info.name).toBe('t_g')
    expect(g.index?.probes).toHaveLength(2)
    expect(g.routing).toMatch(/^global index t_g on the shard of each of its 2 keys \(n IN \(2 values\)\)/)
    expect(routingOf(node, 'SELECT * FROM t WHERE n > 10').index).toBeUndefined()
  })
})

describe('reads through IN lists and ranges', () => {
  it('answer as the scan does, before and after UPDATE and DELETE', async () => {
    const node = await setup()
    await node.sql("INSERT INTO t VALUES ('north', 8, NULL, NULL), ('south', 9, 'oslo', NULL)")
    const queries = [
      "SELECT region, id FROM t WHERE city IN ('oslo', 'rome', 'oslo', NULL)",
      'SELECT region, id FROM t WHERE n IN (10, 50, 60)',
      'SELECT region, id FROM t WHERE n BETWEEN 20 AND 40',
      'SELECT region, id FROM t WHERE n > 20',
      'SELECT region, id FROM t WHERE n <= 20',
      'SELECT region, id FROM t WHERE n BETWEEN 40 AND 20',
      "SELECT region, id FROM t WHERE city = 'oslo' AND n >= 30",
      "SELECT region, id FROM t WHERE city > 'c' AND city < 'p'",
      "SELECT region, id FROM t WHERE city IN ('oslo', 'bergen') AND n IN (10, 20, 30) AND id > 1",
      'SELECT count(*), sum(n) FROM t WHERE n > 15'
    ]
    const run = async (): Promise<string[][]> => await Promise.all(queries.map(async q => strings((await node.sql(q))[0]!.rows)))
    const mutate = async (): Promise<void> => {
      await node.sql("UPDATE t SET n = 35 WHERE city IN ('rome')")
      await node.sql('DELETE FROM t WHERE n BETWEEN 25 AND 30')
      await node.sql("UPDATE t SET city = 'paris' WHERE n > 60")
    }
    const scan = await run()
    expect(scan[1]).toEqual(['north 1', 'west 5'])
    await mutate()
    const scanAfter = await run()
    // again, with the indexes
    const fresh = await setup()
    await fresh.sql("INSERT INTO t VALUES ('north', 8, NULL, NULL), ('south', 9, 'oslo', NULL)")
    await fresh.sql('CREATE INDEX t_city ON t (city) LOCAL')
    await fresh.sql('CREATE INDEX t_n ON t (n) LOCAL')
    await fresh.sql('CREATE INDEX t_city_n ON t (city, n) LOCAL')
    const runFresh = async (): Promise<string[][]> => await Promise.all(queries.map(async q => strings((await fresh.sql(q))[0]!.rows)))
    expect(await runFresh()).toEqual(scan)
    await fresh.sql("UPDATE t SET n = 35 WHERE city IN ('rome')")
    await fresh.sql('DELETE FROM t WHERE n BETWEEN 25 AND 30')
    await fresh.sql("UPDATE t SET city = 'paris' WHERE n > 60")
    expect(await runFresh()).toEqual(scanAfter)
    // an IN list of two rows: the entries of each value on each shard, then two point reads
    fresh.shards.sent.length = 0
    await fresh.sql('SELECT id FROM t WHERE n IN (10, 20)')
    expect(fresh.shards.sent.filter(op => op === 'QUERY')).toHaveLength(4 * 2 + 2)
    const plan = (await fresh.sql('EXPLAIN SELECT id FROM t WHERE n IN (10, 50, 10)'))[0]!.rows.map(r => String(r[0]))
    expect(plan[0]).toMatch(/through local index t_n \(n IN \(2 values\)\)/)
  })
})

describe('bounded point reads', () => {
  it('entries naming more rows than MAX_INDEX_POINT_READS scan the shards holding them instead', async () => {
    const node = await testNode(4, false)
    await node.sql('CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)')
    const values = Array.from({ length: MAX_INDEX_POINT_READS + 10 }, (_, i) => `(${i}, ${i % 2})`).join(', ')
    await node.sql(`INSERT INTO t VALUES ${values}`)
    await node.sql('CREATE INDEX t_n ON t (n) LOCAL')
    node.shards.sent.length = 0
    const [r] = await node.sql('SELECT count(*) FROM t WHERE n IN (0, 2)')
    expect(r!.rows).toEqual([[String(Math.ceil((MAX_INDEX_POINT_READS + 10) / 2))]])
    // few rows: point reads; many: at most one entry read per probe and one scan per shard
    node.shards.sent.length = 0
    const [all] = await node.sql('SELECT count(*) FROM t WHERE n >= 0')
    expect(all!.rows).toEqual([[String(MAX_INDEX_POINT_READS + 10)]])
    expect(node.shards.sent.filter(op => op === 'QUERY').length).toBeLessThanOrEqual(4 + 4)
  })
})
