import { describe, expect, it } from 'vitest'
import { useReplicatedCluster } from '../helpers/mode1'

// Issue 19 item 4 on three processes: a domain is a catalog object, so CREATE DOMAIN on node 1
// reaches every node with the catalog version, and node 3's writers enforce it (its CHECK, its
// ENUM labels); ALTER DOMAIN forwarded from node 2 changes what node 3 accepts; DROP DOMAIN is
// refused on any node while a column uses the domain.

const t = useReplicatedCluster({ nodes: 3 })

const everyNode = async (sql: string, want: number, what: string): Promise<void> => {
  await t.cluster.waitFor(async () => {
    const all = await Promise.all(t.cluster.ids.map(id => t.cluster.rows(id, sql)))
    return all.every(r => Number(r[0]![0]) === want)
  }, { what })
}

describe('domains across the cluster', () => {
  it('a domain created on node 1 is enforced by node 3, altered from node 2', async () => {
    expect((await t.cluster.sql(1, 'CREATE DOMAIN pct AS INTEGER NOT NULL CHECK (VALUE BETWEEN 0 AND 100)')).status).toBe(200)
    expect((await t.cluster.sql(1, "CREATE DOMAIN level AS ENUM ('low', 'mid', 'high') DEFAULT 'low'")).status).toBe(200)
    expect((await t.cluster.sql(1, 'CREATE TABLE gauges (id INTEGER PRIMARY KEY, p pct, l level)')).status).toBe(200)
    await everyNode("SELECT count(*) FROM sys_columns WHERE table_name = 'gauges'", 3, 'every node to have gauges')

    const over = await t.cluster.sql(3, 'INSERT INTO gauges VALUES (1, 101, \'mid\')')
    expect(over.body.error).toMatchObject({ code: 'SB_CHECK_VIOLATION', sqlstate: '23514' })
    const unknown = await t.cluster.sql(3, 'INSERT INTO gauges VALUES (1, 50, \'extreme\')')
    expect(unknown.body.error).toMatchObject({ code: 'SB_INVALID_TEXT_REPRESENTATION', sqlstate: '22P02' })
    const missing = await t.cluster.sql(3, 'INSERT INTO gauges (id) VALUES (1)')
    expect(missing.body.error).toMatchObject({ code: 'SB_NOT_NULL_VIOLATION', sqlstate: '23502' })
    expect((await t.cluster.sql(3, 'INSERT INTO gauges (id, p) VALUES (1, 50)')).status).toBe(200)
    expect(await t.cluster.rows(1, 'SELECT id, p, l FROM gauges')).toEqual([[1, 50, 'low']])

    // Forwarded to the catalog coordinator from node 2; node 3 then accepts the new label.
    expect((await t.cluster.sql(2, "ALTER DOMAIN level ADD VALUE 'extreme'")).status).toBe(200)
    await everyNode("SELECT count(*) FROM sys_domains WHERE domain_name = 'level' AND members LIKE '%extreme%'", 1, 'every node to have the new label')
    expect((await t.cluster.sql(3, 'INSERT INTO gauges VALUES (2, 60, \'extreme\')')).status).toBe(200)

    const drop = await t.cluster.sql(3, 'DROP DOMAIN pct')
    expect(drop.body.error).toMatchObject({ code: 'SB_DEPENDENT_OBJECTS_EXIST', sqlstate: '2BP01' })
    expect(drop.body.error.message).toContain('column "p" of table "gauges"')
  })
})
