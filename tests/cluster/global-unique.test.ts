import { describe, expect, it } from 'vitest'
import { shardOf } from '../../src/core/partition'
import { useReplicatedCluster } from '../helpers/mode1'

// Issue 19 item 1 on three processes: orders partitioned by user_id with order_id as primary key.
// A duplicate order_id for a user whose shard is on another node than the first row's is refused
// with 23505 — the hidden global index orders_pkey lives on the shard of the order_id, and the
// INSERT writes the row and its entry in one (two-phase) transaction across nodes. A lookup by
// order_id reads that one index shard and then the row's shard (EXPLAIN).

const t = useReplicatedCluster({ nodes: 3 })

describe('keys unique across the cluster', () => {
  it('refuses a duplicate order_id on another user\'s shard (another node) with SQLSTATE 23505', async () => {
    expect((await t.cluster.sql(1, 'CREATE TABLE users (user_id TEXT PRIMARY KEY, name TEXT)')).status).toBe(200)
    const created = await t.cluster.sql(1, 'CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, amount INTEGER) PARTITION BY user_id')
    expect(created.status).toBe(200)
    expect(created.body.warnings.join('\n')).toMatch(/global unique index "orders_pkey"/)
    // Two users whose shards have different owners.
    const owner = new Map((await t.cluster.rows(1, 'SHOW SHARD MAP')).map(r => [Number(r[0]), Number(r[2])]))
    const nodeOf = (u: string): number => owner.get(shardOf([{ type: 'text', value: u }], owner.size))!
    const users = Array.from({ length: 40 }, (_, i) => `user_${i}`)
    const a = users[0]!
    const b = users.find(u => nodeOf(u) !== nodeOf(a))!
    expect(b).toBeDefined()
    // every node has the catalog before writing through it
    await t.cluster.waitFor(async () => {
      const all = await Promise.all(t.cluster.ids.map(id => t.cluster.rows(id, "SELECT count(*) FROM sys_indexes WHERE index_name = 'orders_pkey'")))
      return all.every(r => Number(r[0]![0]) === 1)
    }, { what: 'every node to have orders_pkey' })

    expect((await t.cluster.sql(2, `INSERT INTO orders VALUES (1, '${a}', 100)`)).status).toBe(200)
    const dup = await t.cluster.sql(3, `INSERT INTO orders VALUES (1, '${b}', 200)`)
    expect(dup.status).toBe(409)
    expect(dup.body.error).toMatchObject({ code: 'SB_UNIQUE_VIOLATION', sqlstate: '23505' })
    expect(dup.body.error.message).toContain('orders_pkey')
    expect(await t.cluster.rows(1, 'SELECT order_id, user_id, amount FROM orders')).toEqual([[1, a, 100]])

    // a new key on b's shard is fine, and each row is found by order_id from any node
    expect((await t.cluster.sql(1, `INSERT INTO orders VALUES (2, '${b}', 200)`)).status).toBe(200)
    for (const id of t.cluster.ids) {
      expect(await t.cluster.rows(id, 'SELECT user_id FROM orders WHERE order_id = 2')).toEqual([[b]])
    }
    const plan = (await t.cluster.rows(3, 'EXPLAIN SELECT * FROM orders WHERE order_id = $1', [2])).map(r => String(r[0]))
    expect(plan[0]).toMatch(/global index orders_pkey on shard \d+ \(order_id pinned, unique: at most one row\), then only the shard\(s\) its entries name/)

    // DELETE frees the key for another user
    expect((await t.cluster.sql(2, 'DELETE FROM orders WHERE order_id = 1')).status).toBe(200)
    expect((await t.cluster.sql(3, `INSERT INTO orders VALUES (1, '${b}', 300)`)).status).toBe(200)
    expect(await t.cluster.rows(1, 'SELECT order_id, user_id FROM orders ORDER BY order_id')).toEqual([[1, b], [2, b]])
  })
  it('CREATE INDEX and DROP INDEX from a node that is not the catalog coordinator (forwarded), built on rows already there', async () => {
    expect((await t.cluster.sql(2, 'CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT, qty INTEGER)')).status).toBe(200)
    for (let i = 1; i <= 20; i++) expect((await t.cluster.sql(1 + (i % 3), `INSERT INTO items VALUES (${i}, 'sku-${i % 7}', ${i})`)).status).toBe(200)
    for (const id of [3, 2]) {
      const made = await t.cluster.sql(id, `CREATE INDEX items_sku_${id} ON items (sku)`)
      expect(made.status, JSON.stringify(made.body)).toBe(200)
    }
    await t.cluster.waitFor(async () => {
      const all = await Promise.all(t.cluster.ids.map(id => t.cluster.rows(id, "SELECT count(*) FROM sys_indexes WHERE index_name LIKE 'items_sku_%' AND state = 'ready'")))
      return all.every(r => Number(r[0]![0]) === 2)
    }, { what: 'both indexes ready on every node' })
    for (const id of t.cluster.ids) expect(await t.cluster.rows(id, "SELECT id FROM items WHERE sku = 'sku-3' ORDER BY id")).toEqual([[3], [10], [17]])
    expect((await t.cluster.sql(3, 'DROP INDEX items_sku_3')).status).toBe(200)
    await t.cluster.waitFor(async () => {
      const all = await Promise.all(t.cluster.ids.map(id => t.cluster.rows(id, "SELECT count(*) FROM sys_indexes WHERE index_name LIKE 'items_sku_%'")))
      return all.every(r => Number(r[0]![0]) === 1)
    }, { what: 'the dropped index gone on every node' })
  })
})
