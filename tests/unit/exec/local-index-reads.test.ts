import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { pinKeys } from '../../../src/plan/pins'
import { tableShape } from '../../../src/plan/table-types'
import { parseOne } from '../../../src/sql/parser'
import type { SelectStatement } from '../../../src/sql/ast'
import { testNode, type TestNode } from './local-shards'

// The planner's use of local indexes (issue 19 item 2): a WHERE pinning a ready local index's whole
// key routes through it — its entries on each shard (one when the partition key is pinned), then
// point reads of the rows they name — EXPLAIN says so, and the answers equal a scan's.

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
    expect(routingOf(node, "SELECT * FROM t WHERE city > 'a'").local).toBeUndefined()
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
