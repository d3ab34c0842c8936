import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { testNode, type TestNode } from './local-shards'

// CREATE [UNIQUE] INDEX / DROP INDEX (issue 19 item 2) on a populated table, through the executor
// over real shard engines: the backfill, the planner's use of a ready global index, UNIQUE.

beforeAll(async () => { await initHashing() })

const SHARDS = 8

async function rows (node: TestNode, sql: string): Promise<unknown[][]> {
  const res = await node.sql(sql)
  return res[res.length - 1]!.rows.map(r => r.map(v => v === null || typeof v === 'boolean' ? v : String(v)))
}

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

async function populated (): Promise<TestNode> {
  const node = await testNode(SHARDS, false)
  await node.sql('CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, city TEXT, age INTEGER)')
  const values = Array.from({ length: 40 }, (_, i) => `(${i}, 'p${i}@x', 'c${i % 4}', ${20 + i})`).join(', ')
  await node.sql(`INSERT INTO people VALUES ${values}`)
  return node
}

describe('CREATE INDEX on a populated table', () => {
  it('backfills a global index, then the planner reads it for equality (EXPLAIN names it)', async () => {
    const node = await populated()
    await node.sql('CREATE INDEX people_city ON people (city) INCLUDE (age)')
    expect(await rows(node, "SELECT index_name, key_columns, include_columns, is_unique, is_global, constraint_type, state FROM sys_indexes WHERE table_name = 'people'"))
      .toEqual([['people_city', 'city', 'age', false, true, null, 'ready']])
    const plan = (await rows(node, "EXPLAIN SELECT id FROM people WHERE city = 'c1'")).map(r => r[0] as string)
    expect(plan[0]).toContain('global index people_city on shard')
    node.shards.sent.length = 0
    const found = await rows(node, "SELECT id FROM people WHERE city = 'c1' ORDER BY id")
    expect(found).toEqual(Array.from({ length: 10 }, (_, i) => [String(i * 4 + 1)]))
    expect(node.shards.sent.length).toBeLessThan(SHARDS + 1)
    // maintained by later writes
    await node.sql("INSERT INTO people VALUES (100, 'n@x', 'c9', 1); UPDATE people SET city = 'c9' WHERE id = 1; DELETE FROM people WHERE id = 5")
    expect(await rows(node, "SELECT id FROM people WHERE city = 'c9' ORDER BY id")).toEqual([['1'], ['100']])
    expect(await rows(node, "SELECT count(*) FROM people WHERE city = 'c1'")).toEqual([['8']])
  })

  it('CREATE UNIQUE INDEX refuses duplicates among the rows (index dropped), then keeps the key unique', async () => {
    const node = await populated()
    expect((await failure(node.sql('CREATE UNIQUE INDEX people_city_u ON people (city)'))).code).toBe('SB_UNIQUE_VIOLATION')
    expect(await rows(node, "SELECT count(*) FROM sys_indexes WHERE table_name = 'people'")).toEqual([['0']])
    await node.sql('CREATE UNIQUE INDEX people_email ON people (email)')
    const e = await failure(node.sql("INSERT INTO people VALUES (200, 'p3@x', 'c0', 1)"))
    expect(e.code).toBe('SB_UNIQUE_VIOLATION')
    expect(e.message).toContain('"people_email"')
    expect(await rows(node, "SELECT id FROM people WHERE email = 'p3@x'")).toEqual([['3']])
    // DROP INDEX: the key is free again, and the planner scans
    await node.sql('DROP INDEX people_email')
    await node.sql("INSERT INTO people VALUES (200, 'p3@x', 'c0', 1)")
    expect((await rows(node, "EXPLAIN SELECT id FROM people WHERE email = 'p3@x'"))[0]![0]).toContain(`all ${SHARDS} shards`)
  })

  it('refuses what it cannot build with coded errors', async () => {
    const node = await testNode(SHARDS, true)
    await node.sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE q (k INTEGER PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    expect((await failure(node.sql('CREATE INDEX qv ON q (v)'))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect((await failure(node.sql('CREATE INDEX tx ON t (nope)'))).code).toBe('SB_UNDEFINED_COLUMN')
    expect((await failure(node.sql('CREATE UNIQUE INDEX tv ON t (v) LOCAL'))).code).toBe('SB_INVALID_TABLE_DEFINITION')
    await node.sql('CREATE INDEX tv ON t (v)')
    expect((await failure(node.sql('CREATE INDEX tv ON t (v)'))).code).toBe('SB_DUPLICATE_TABLE')
    await node.sql('CREATE INDEX IF NOT EXISTS tv ON t (v)')
    expect((await failure(node.sql('DROP INDEX t'))).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node.sql('DROP INDEX nope'))).code).toBe('SB_UNDEFINED_TABLE')
    await node.sql('DROP INDEX IF EXISTS nope')
    await node.sql('DROP TABLE t')
    expect(await rows(node, 'SELECT count(*) FROM sys_indexes')).toEqual([['0']])
  })
})
