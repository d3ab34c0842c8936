import { describe, expect, it } from 'vitest'
import { shardOf } from '../../src/core/partition'
import { useReplicatedCluster } from '../helpers/mode1'

// ALTER TABLE … ADD/DROP COLUMN on populated tables across three processes (issue 17 item 7): a
// column added through node 1 reads its DEFAULT on the rows of every shard when read from node 3
// — the shard workers decode the old rows by the program node 3 ships, whatever node owns them —
// and a dropped column's values stay gone when a column of its name comes back.

const t = useReplicatedCluster({ nodes: 3 })

async function everyNodeHas (sql: string, want: number): Promise<void> {
  await t.cluster.waitFor(async () => {
    const all = await Promise.all(t.cluster.ids.map(id => t.cluster.rows(id, sql)))
    return all.every(r => Number(r[0]![0]) === want)
  }, { what: `every node to answer ${want} to ${sql}` })
}

describe('ADD/DROP COLUMN across the cluster', () => {
  it('a column added on node 1 reads its default on rows of every shard from node 3', async () => {
    expect((await t.cluster.sql(1, 'CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)')).status).toBe(200)
    await everyNodeHas("SELECT count(*) FROM sys_tables WHERE table_name = 'items'", 1)
    const shards = (await t.cluster.rows(1, 'SHOW SHARD MAP')).length
    const ids = Array.from({ length: 60 }, (_, i) => i + 1)
    // The rows cover every shard (so every node's workers decode some of them).
    expect(new Set(ids.map(i => shardOf([{ type: 'int', value: BigInt(i) }], shards))).size).toBe(shards)
    expect((await t.cluster.sql(2, `INSERT INTO items VALUES ${ids.map(i => `(${i}, 'v${i}')`).join(', ')}`)).status).toBe(200)

    const added = await t.cluster.sql(1, 'ALTER TABLE items ADD COLUMN c INTEGER NOT NULL DEFAULT 7')
    expect(added.status).toBe(200)
    await everyNodeHas("SELECT count(*) FROM sys_columns WHERE table_name = 'items' AND column_name = 'c'", 1)
    expect(await t.cluster.rows(3, 'SELECT count(*), sum(c) FROM items WHERE c = 7')).toEqual([['60', '420']])
    expect(await t.cluster.rows(3, 'SELECT id, v, c FROM items WHERE id = 42')).toEqual([[42, 'v42', 7]])
    // New rows carry their own value, read from anywhere.
    expect((await t.cluster.sql(3, "INSERT INTO items (id, v, c) VALUES (100, 'new', 1)")).status).toBe(200)
    expect(await t.cluster.rows(1, 'SELECT c FROM items WHERE id = 100')).toEqual([[1]])

    // Drop v through node 2, add it back through node 1: the old values never return.
    expect((await t.cluster.sql(2, 'ALTER TABLE items DROP COLUMN v')).status).toBe(200)
    await everyNodeHas("SELECT count(*) FROM sys_columns WHERE table_name = 'items' AND column_name = 'v'", 0)
    expect(await t.cluster.rows(3, 'SELECT * FROM items WHERE id = 5')).toEqual([[5, 7]])
    expect((await t.cluster.sql(1, "ALTER TABLE items ADD COLUMN v TEXT DEFAULT 'fresh'")).status).toBe(200)
    await everyNodeHas("SELECT count(*) FROM sys_columns WHERE table_name = 'items' AND column_name = 'v'", 1)
    expect(await t.cluster.rows(3, "SELECT count(*) FROM items WHERE v = 'fresh'")).toEqual([['61']])
    expect(await t.cluster.rows(3, "SELECT count(*) FROM items WHERE v LIKE 'v%'")).toEqual([['0']])
  })

  it('a leaderless table\'s rows (decoded on the coordinator) read the added column\'s default at quorum', async () => {
    expect((await t.cluster.sql(1, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)")).status).toBe(200)
    await everyNodeHas("SELECT count(*) FROM sys_tables WHERE table_name = 'kv'", 1)
    expect((await t.cluster.sql(2, `INSERT INTO kv VALUES ${Array.from({ length: 20 }, (_, i) => `(${i}, 'v${i}')`).join(', ')}`)).status).toBe(200)
    expect((await t.cluster.sql(1, "ALTER TABLE kv ADD COLUMN tag TEXT DEFAULT 'old'")).status).toBe(200)
    await everyNodeHas("SELECT count(*) FROM sys_columns WHERE table_name = 'kv' AND column_name = 'tag'", 1)
    expect(await t.cluster.rows(3, 'SELECT v, tag FROM kv WHERE k = 11')).toEqual([['v11', 'old']])
    expect(await t.cluster.rows(3, "SELECT count(*) FROM kv WHERE tag = 'old'")).toEqual([['20']])
  })
})
