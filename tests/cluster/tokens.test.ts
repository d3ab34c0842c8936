import { describe, expect, it } from 'vitest'
import { ADMIN, useAdminCluster } from '../helpers/admin-cluster'

// Bearer tokens travel with the users in the catalog (issue 18 item 1): a token created on node 2
// — not the catalog coordinator, so the statement is forwarded, carrying only the token's hash —
// authenticates on nodes 1 and 3; dropped on node 3, every node refuses it. No node logs the token.

const admin = useAdminCluster(3)
const sql = admin.sql

describe('bearer tokens across a cluster', () => {
  it('a token created on node 2 works on nodes 1 and 3; dropped on node 3 it is refused everywhere', async () => {
    for (const id of admin.cluster.ids) {
      await admin.cluster.waitFor(async () => (await sql(id, 'SELECT 1', ADMIN)).status === 200, { what: `node ${id} to admit the bootstrap administrator`, timeoutMs: 30_000 })
    }
    await admin.cluster.waitFor(async () => {
      const r = await sql(1, 'SHOW CLUSTER MEMBERS', ADMIN)
      return r.status === 200 && (r.body.rows as unknown[][]).length === 3 && (r.body.rows as unknown[][]).every(m => m[3] === 'normal')
    }, { what: 'three normal members', timeoutMs: 30_000 })
    expect((await sql(1, 'CREATE TABLE acct (k INTEGER PRIMARY KEY, v INTEGER)', ADMIN)).status).toBe(200)
    expect((await sql(1, "CREATE USER dave PASSWORD 'dave pw'", ADMIN)).status).toBe(200)
    expect((await sql(1, 'GRANT SELECT ON acct TO dave', ADMIN)).status).toBe(200)

    await admin.cluster.waitFor(async () => (await sql(2, 'SELECT user_name FROM sys_users', ADMIN)).body.rows?.length === 2, { what: 'dave on node 2', timeoutMs: 30_000 })
    const made = await sql(2, 'CREATE TOKEN deploy FOR USER dave', ADMIN)
    expect(made.status, JSON.stringify(made.body)).toBe(200)
    const bearer = `Bearer ${made.body.rows[0][2] as string}`

    for (const id of [1, 3]) {
      await admin.cluster.waitFor(async () => (await sql(id, 'SELECT count(*) FROM acct', bearer)).status === 200, { what: `the token accepted on node ${id}`, timeoutMs: 30_000 })
      const refused = await sql(id, 'INSERT INTO acct VALUES (1, 1)', bearer)
      expect(refused.status).toBe(403)
      expect(refused.body.error.sqlstate).toBe('42501')
    }

    expect((await sql(3, 'DROP TOKEN deploy FOR USER dave', ADMIN)).status).toBe(200)
    for (const id of admin.cluster.ids) {
      await admin.cluster.waitFor(async () => (await sql(id, 'SELECT 1', bearer)).status === 401, { what: `the dropped token refused on node ${id}`, timeoutMs: 30_000 })
    }
    const secret = bearer.slice('Bearer sbt_'.length)
    for (const id of admin.cluster.ids) expect(admin.cluster.node(id).stdout()).not.toContain(secret)
  })
})
