import { describe, expect, it } from 'vitest'
import { useReplicatedCluster } from '../helpers/mode1'

// Issue 19 on three processes: TRUNCATE removes rows and their global index entries on every
// node's shards in one transaction (undone by ROLLBACK); WHERE key IN (…) reads the index shard of
// each value; ALTER TABLE … RENAME COLUMN travels to every node as DDL text.

const t = useReplicatedCluster({ nodes: 3 })

describe('TRUNCATE, IN lists and RENAME COLUMN in a cluster', () => {
  it('empties a table and its global index on every node; ROLLBACK restores them', async () => {
    expect((await t.cluster.sql(1, 'CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, amount INTEGER) PARTITION BY user_id')).status).toBe(200)
    await t.cluster.waitFor(async () => {
      const all = await Promise.all(t.cluster.ids.map(id => t.cluster.rows(id, "SELECT count(*) FROM sys_indexes WHERE index_name = 'orders_pkey'")))
      return all.every(r => Number(r[0]![0]) === 1)
    }, { what: 'every node to have orders_pkey' })
    const values = Array.from({ length: 30 }, (_, i) => `(${i}, 'user_${i % 9}', ${i})`).join(', ')
    expect((await t.cluster.sql(2, `INSERT INTO orders VALUES ${values}`)).status).toBe(200)

    // IN on the globally indexed key, from any node
    for (const id of t.cluster.ids) {
      expect(await t.cluster.rows(id, 'SELECT order_id, amount FROM orders WHERE order_id IN (3, 17, 3, 99) ORDER BY order_id')).toEqual([[3, 3], [17, 17]])
    }
    const plan = (await t.cluster.rows(3, 'EXPLAIN SELECT * FROM orders WHERE order_id IN (3, 17)')).map(r => String(r[0]))
    expect(plan[0]).toMatch(/global index orders_pkey on the shard of each of its 2 keys \(order_id IN \(2 values\)\)/)

    const rolled = await t.cluster.sql(3, 'BEGIN; TRUNCATE orders; ROLLBACK')
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(200)
    expect(await t.cluster.rows(1, 'SELECT count(*) FROM orders')).toEqual([['30']])
    expect((await t.cluster.sql(1, "INSERT INTO orders VALUES (5, 'user_x', 1)")).body.error).toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })

    const done = await t.cluster.sql(3, 'TRUNCATE TABLE orders')
    expect(done.status, JSON.stringify(done.body)).toBe(200)
    for (const id of t.cluster.ids) expect(await t.cluster.rows(id, 'SELECT count(*) FROM orders')).toEqual([['0']])
    // the global entries went too: the same order_id under another user's shard is accepted
    expect((await t.cluster.sql(1, "INSERT INTO orders VALUES (5, 'user_x', 1)")).status).toBe(200)
    expect(await t.cluster.rows(2, 'SELECT user_id FROM orders WHERE order_id = 5')).toEqual([['user_x']])
  })

  it('RENAME COLUMN from a node that is not the catalog coordinator reaches every node', async () => {
    const renamed = await t.cluster.sql(2, 'ALTER TABLE orders RENAME COLUMN amount TO total')
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200)
    await t.cluster.waitFor(async () => {
      const all = await Promise.all(t.cluster.ids.map(async id => (await t.cluster.sql(id, 'SELECT total FROM orders WHERE order_id = 5')).status))
      return all.every(s => s === 200)
    }, { what: 'every node to read the renamed column' })
    expect(await t.cluster.rows(3, 'SELECT order_id, total FROM orders')).toEqual([[5, 1]])
  })
})
