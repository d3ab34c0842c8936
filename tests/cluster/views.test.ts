import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// Views (issue 19 item 4) on three processes: a view is a catalog object, so CREATE VIEW on one
// node — the catalog coordinator, or another node that forwards it as its SQL text — gives every
// node the view, and a query through it on any node reads every shard the view's tables have,
// wherever they live. DROP VIEW travels the same way.

let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, extraConfig: () => ({ node: { durability: 'none' } }) })
  await cluster.waitAllNormal()
}, 120_000)
afterAll(async () => { await cluster?.close() })

/** Waits until every node's sys_views lists `n` views. */
async function everyNodeHas (n: number): Promise<void> {
  await cluster.waitFor(async () => {
    const all = await Promise.all(cluster.ids.map(id => cluster.rows(id, 'SELECT count(*) FROM sys_views')))
    return all.every(r => Number(r[0]![0]) === n)
  }, { what: `every node to list ${n} view(s)` })
}

describe('views across the cluster', () => {
  it('a view created on node 1 is usable on node 3, one created on node 3 on node 1, and DROP VIEW reaches every node', async () => {
    expect((await cluster.sql(1, 'CREATE TABLE cv_users (id INTEGER PRIMARY KEY, name TEXT, city TEXT)')).status).toBe(200)
    expect((await cluster.sql(1, 'CREATE TABLE cv_orders (id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER)')).status).toBe(200)
    const users = Array.from({ length: 30 }, (_, i) => `(${i}, 'u${i}', '${i % 2 === 0 ? 'oslo' : 'rome'}')`).join(', ')
    const orders = Array.from({ length: 30 }, (_, i) => `(${100 + i}, ${i % 10}, ${i})`).join(', ')
    expect((await cluster.sql(2, `INSERT INTO cv_users VALUES ${users}`)).status).toBe(200)
    expect((await cluster.sql(2, `INSERT INTO cv_orders VALUES ${orders}`)).status).toBe(200)

    const created = await cluster.sql(1, 'CREATE VIEW cv_oslo AS SELECT * FROM cv_users WHERE city = \'oslo\'')
    expect(created.status).toBe(200)
    await everyNodeHas(1)
    expect(await cluster.rows(3, 'SELECT count(*), min(id), max(id) FROM cv_oslo')).toEqual([['15', 0, 28]])

    // from node 3 (not the coordinator): forwarded as text, planned there against the same catalog
    const spend = await cluster.sql(3, 'CREATE VIEW cv_spend (uid, total) AS SELECT user_id, sum(amount) FROM cv_orders GROUP BY user_id')
    expect(spend.status).toBe(200)
    await everyNodeHas(2)
    expect(await cluster.rows(1, 'SELECT o.name, s.total FROM cv_oslo o JOIN cv_spend s ON s.uid = o.id ORDER BY o.id')).toEqual([
      ['u0', '30'], ['u2', '36'], ['u4', '42'], ['u6', '48'], ['u8', '54']
    ])
    expect(await cluster.rows(2, 'SELECT definition FROM sys_views WHERE view_name = \'cv_spend\'')).toEqual([
      ['SELECT user_id, sum(amount) FROM cv_orders GROUP BY user_id']
    ])

    const drop = await cluster.sql(2, 'DROP TABLE cv_orders')
    expect(drop.status).toBe(409)
    expect(drop.body.error).toMatchObject({ code: 'SB_DEPENDENT_OBJECTS_EXIST', sqlstate: '2BP01' })
    expect((await cluster.sql(2, 'DROP VIEW cv_spend')).status).toBe(200)
    await everyNodeHas(1)
    expect((await cluster.sql(3, 'SELECT * FROM cv_spend')).body.error).toMatchObject({ code: 'SB_UNDEFINED_TABLE' })
  })
})
