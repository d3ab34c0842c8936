import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { SessionState } from '../../../src/exec/txn'
import { shardOf } from '../../../src/core/partition'
import { Catalog } from '../../../src/catalog/catalog'
import { testNode, type TestNode } from './local-shards'

// Keys unique across shards (issue 19 item 1): a primary key or UNIQUE key that does not hold the
// partition key is kept unique by a hidden global index, written in the row's transaction; the
// planner reads it for equality on the key. Run through the executor over real shard engines.

beforeAll(async () => { await initHashing() })

const ORDERS = 'CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, amount INTEGER) PARTITION BY user_id'

async function rows (node: TestNode, sql: string, session?: SessionState): Promise<unknown[][]> {
  const res = await node.sql(sql, session)
  // As text, whatever the value's JS type (INTEGER, BIGINT, DECIMAL).
  return res[res.length - 1]!.rows.map(r => r.map(v => v === null || typeof v === 'boolean' ? v : String(v)))
}

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

const SHARDS = 8

/** Two user ids whose rows land on different shards. */
function usersOnTwoShards (): [string, string] {
  const shard = (u: string): number => shardOf([{ type: 'text', value: u }], SHARDS)
  const b = ['u2', 'u3', 'u4', 'u5', 'u6'].find(u => shard(u) !== shard('u1'))!
  return ['u1', b]
}

describe('global unique primary key', () => {
  it('CREATE TABLE warns that the key is kept by a global index, and sys_indexes lists it', async () => {
    const node = await testNode(SHARDS, false)
    const res = await node.sql(ORDERS)
    expect(res[0]!.warnings.join('\n')).toMatch(/global unique index "orders_pkey"/)
    expect(await rows(node, 'SELECT index_name, table_name, key_columns, is_unique, is_global, constraint_type, state FROM sys_indexes'))
      .toEqual([['orders_pkey', 'orders', 'order_id', true, true, 'PRIMARY KEY', 'ready']])
    expect(await rows(node, 'SELECT table_name FROM sys_tables')).toEqual([['orders']])
    expect((await failure(node.sql('SELECT * FROM orders_pkey'))).code).toBe('SB_WRONG_OBJECT_TYPE')
  })

  it('a duplicate key on another partition is refused with SB_UNIQUE_VIOLATION (23505), nothing written', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql(ORDERS)
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO orders VALUES (1, '${a}', 10)`)
    const e = await failure(node.sql(`INSERT INTO orders VALUES (1, '${b}', 20)`))
    expect(e.code).toBe('SB_UNIQUE_VIOLATION')
    expect(e.message).toContain('"orders_pkey"')
    expect(await rows(node, 'SELECT order_id, user_id, amount FROM orders')).toEqual([['1', a, '10']])
    // and within one statement, and in a transaction
    expect((await failure(node.sql(`INSERT INTO orders VALUES (2, '${a}', 1), (2, '${b}', 2)`))).code).toBe('SB_UNIQUE_VIOLATION')
    const s = new SessionState()
    await node.sql(`BEGIN; INSERT INTO orders VALUES (3, '${a}', 1)`, s)
    expect((await failure(node.sql(`INSERT INTO orders VALUES (3, '${b}', 2)`, s))).code).toBe('SB_UNIQUE_VIOLATION')
    await node.sql('ROLLBACK', s)
    expect(await rows(node, 'SELECT count(*) FROM orders')).toEqual([['1']])
  })

  it('DELETE removes the entry and UPDATE of the key moves it', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql(ORDERS)
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO orders VALUES (1, '${a}', 10), (2, '${a}', 20)`)
    expect((await node.sql('DELETE FROM orders WHERE order_id = 1'))[0]!.rowCount).toBe(1)
    await node.sql(`INSERT INTO orders VALUES (1, '${b}', 30)`)
    expect((await node.sql('UPDATE orders SET order_id = 5 WHERE order_id = 2'))[0]!.rowCount).toBe(1)
    await node.sql(`INSERT INTO orders VALUES (2, '${b}', 40)`)
    expect((await failure(node.sql(`INSERT INTO orders VALUES (5, '${b}', 50)`))).code).toBe('SB_UNIQUE_VIOLATION')
    expect(await rows(node, 'SELECT order_id, user_id, amount FROM orders ORDER BY order_id')).toEqual([['1', b, '30'], ['2', b, '40'], ['5', a, '20']])
  })
})

describe('reads through the global index', () => {
  it('WHERE on the key reads the index shard, then the row\'s shard only (EXPLAIN says so)', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql(ORDERS)
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO orders VALUES (1, '${a}', 10), (2, '${b}', 20), (3, '${b}', 30)`)
    const plan = (await rows(node, 'EXPLAIN SELECT * FROM orders WHERE order_id = 2')).map(r => r[0] as string)
    expect(plan[0]).toMatch(/^Scan orders \(table \d+\): global index orders_pkey on shard \d+ \(order_id pinned, unique: at most one row\), then only the shard\(s\) its entries name, point lookup on the primary key$/)
    node.shards.sent.length = 0
    expect(await rows(node, 'SELECT order_id, user_id, amount FROM orders WHERE order_id = 2')).toEqual([['2', b, '20']])
    expect(node.shards.sent).toEqual(['QUERY', 'QUERY'])
    node.shards.sent.length = 0
    expect(await rows(node, 'SELECT * FROM orders WHERE order_id = 9')).toEqual([])
    expect(node.shards.sent).toEqual(['QUERY'])
    // without the index every shard is read
    node.shards.sent.length = 0
    expect(await rows(node, 'SELECT order_id FROM orders WHERE amount = 20')).toEqual([['2']])
    expect(node.shards.sent.length).toBe(SHARDS)
  })

  it('UPDATE and DELETE by the key go through the index too', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql(ORDERS)
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO orders VALUES (1, '${a}', 10), (2, '${b}', 20)`)
    node.shards.sent.length = 0
    expect((await node.sql('UPDATE orders SET amount = 21 WHERE order_id = 2'))[0]!.rowCount).toBe(1)
    expect(node.shards.sent.filter(op => op === 'QUERY')).toHaveLength(2)
    expect((await node.sql('DELETE FROM orders WHERE order_id = 1'))[0]!.rowCount).toBe(1)
    expect(await rows(node, 'SELECT order_id, amount FROM orders')).toEqual([['2', '21']])
    await node.sql(`INSERT INTO orders VALUES (1, '${b}', 11)`)
    expect(await rows(node, 'SELECT user_id FROM orders WHERE order_id = 1')).toEqual([[b]])
  })
})

describe('UNIQUE constraints and catalog changes', () => {
  it('a UNIQUE column is kept unique across shards (global), one holding the partition key per shard (local)', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql('CREATE TABLE acct (id INTEGER PRIMARY KEY, email TEXT UNIQUE, region TEXT, code TEXT, UNIQUE (region, code)) PARTITION BY region')
    expect(await rows(node, 'SELECT index_name, key_columns, is_global, constraint_type FROM sys_indexes ORDER BY index_name')).toEqual([
      ['acct_email_key', 'email', true, 'UNIQUE'], ['acct_pkey', 'id', true, 'PRIMARY KEY'], ['acct_region_code_key', 'region,code', false, 'UNIQUE']])
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO acct VALUES (1, 'x@e', '${a}', 'c1'), (2, NULL, '${b}', 'c1'), (3, NULL, '${b}', 'c2')`)
    const dup = await failure(node.sql(`INSERT INTO acct VALUES (4, 'x@e', '${b}', 'c9')`))
    expect(dup).toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
    expect(dup.message).toContain('"acct_email_key"')
    expect((await failure(node.sql(`INSERT INTO acct VALUES (5, 'y@e', '${b}', 'c2')`))).message).toContain('"acct_region_code_key"')
    // UPDATE moving a unique value frees the old one
    await node.sql("UPDATE acct SET email = 'z@e' WHERE id = 1")
    await node.sql(`INSERT INTO acct VALUES (6, 'x@e', '${b}', 'c6')`)
    expect(await rows(node, "SELECT id FROM acct WHERE email = 'x@e'")).toEqual([['6']])
  })

  it('ALTER of the partition key adds or drops the hidden index; DROP TABLE drops it', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql('CREATE TABLE o2 (order_id INTEGER PRIMARY KEY, user_id TEXT)')
    expect(await rows(node, 'SELECT index_name FROM sys_indexes')).toEqual([])
    const res = await node.sql("ALTER TABLE o2 SET partition_key_columns = 'user_id'")
    expect(res[0]!.warnings.join('\n')).toMatch(/global unique index "o2_pkey"/)
    expect(await rows(node, 'SELECT index_name FROM sys_indexes')).toEqual([['o2_pkey']])
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO o2 VALUES (1, '${a}')`)
    expect((await failure(node.sql(`INSERT INTO o2 VALUES (1, '${b}')`))).code).toBe('SB_UNIQUE_VIOLATION')
    await node.sql('DELETE FROM o2')
    await node.sql('ALTER TABLE o2 SET partition_key_columns = NULL')
    expect(await rows(node, 'SELECT index_name FROM sys_indexes')).toEqual([])
    await node.sql("ALTER TABLE o2 SET partition_key_columns = 'user_id'")
    await node.sql('DROP TABLE o2')
    expect(await rows(node, 'SELECT index_name FROM sys_indexes')).toEqual([])
  })

  it('leaderless tables keep no index: a key that does not hold the partition key, or UNIQUE, is refused', async () => {
    const node = await testNode(SHARDS, true)
    const lww = "WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')"
    expect((await failure(node.sql(`CREATE TABLE l1 (k INTEGER PRIMARY KEY, p TEXT) PARTITION BY p ${lww}`))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect((await failure(node.sql(`CREATE TABLE l2 (k INTEGER PRIMARY KEY, e TEXT UNIQUE) ${lww}`))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
    await node.sql('CREATE TABLE l3 (k INTEGER PRIMARY KEY, p TEXT) PARTITION BY p')
    expect((await failure(node.sql("ALTER TABLE l3 SET replication_mode = 'leaderless_quorum'"))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
  })
})

describe('sys_tables order', () => {
  it('an ALTER that adds the hidden index leaves the table in its place', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql('CREATE TABLE a1 (k INTEGER PRIMARY KEY, p TEXT); CREATE TABLE a2 (k INTEGER PRIMARY KEY)')
    await node.sql("ALTER TABLE a1 SET partition_key_columns = 'p'")
    expect(await rows(node, 'SELECT table_name FROM sys_tables')).toEqual([['a1'], ['a2']])
  })
})

describe('the stored catalog', () => {
  it('keeps index relations through JSON and refuses a malformed one', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql(ORDERS)
    const json = JSON.parse(JSON.stringify(node.env.catalog().toJSON())) as { tables: Array<{ index?: { columns: unknown } }> }
    expect(Catalog.fromJSON(json).indexesOf(Catalog.fromJSON(json).mustTable('orders').id).map(i => i.name)).toEqual(['orders_pkey'])
    json.tables.find(t => t.index !== undefined)!.index!.columns = 7
    expect(() => Catalog.fromJSON(json)).toThrow(/index "orders_pkey" is malformed/)
  })
})

describe('ON CONFLICT on a key kept by a global index', () => {
  it('finds the row holding the key on another shard: DO NOTHING skips, DO UPDATE updates it there', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql(ORDERS)
    const [a, b] = usersOnTwoShards()
    await node.sql(`INSERT INTO orders VALUES (1, '${a}', 10)`)
    expect((await node.sql(`INSERT INTO orders VALUES (1, '${b}', 20), (2, '${b}', 30) ON CONFLICT (order_id) DO NOTHING`))[0]!.rowCount).toBe(1)
    expect((await node.sql(`INSERT INTO orders VALUES (1, '${b}', 40) ON CONFLICT (order_id) DO UPDATE SET amount = excluded.amount`))[0]!.rowCount).toBe(1)
    expect(await rows(node, 'SELECT order_id, user_id, amount FROM orders ORDER BY order_id')).toEqual([['1', a, '40'], ['2', b, '30']])
  })
})
