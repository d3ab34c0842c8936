import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { ADMIN, useAdminCluster } from '../helpers/admin-cluster'

// Users are catalog objects replicated like tables (issue 18 item 2): three nodes with the same
// bootstrap administrator create it once (through the catalog coordinator); a user created on
// node 1 logs in on node 3 over HTTP and the PostgreSQL protocol; a password changed on node 3
// (its verifier forwarded to the coordinator, never the password) is the one node 2 accepts.

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')

const admin = useAdminCluster(3)
const sql = admin.sql

describe('users across a cluster', () => {
  it('a user created on node 1 logs in on node 3; a password changed on node 3 holds on node 2', async () => {
    expect((await admin.cluster.http(2, 'POST', '/v1/sql', { sql: 'SELECT 1' })).status).toBe(401)
    // The bootstrap administrator exists once, on every node.
    for (const id of admin.cluster.ids) {
      await admin.cluster.waitFor(async () => {
        const r = await sql(id, 'SELECT user_name, superuser FROM sys_users', ADMIN)
        return r.status === 200 && JSON.stringify(r.body.rows) === JSON.stringify([['admin', true]])
      }, { what: `node ${id} to hold the bootstrap administrator`, timeoutMs: 30_000 })
    }
    await admin.cluster.waitFor(async () => {
      const r = await sql(1, 'SHOW CLUSTER MEMBERS', ADMIN)
      return r.status === 200 && (r.body.rows as unknown[][]).length === 3 && (r.body.rows as unknown[][]).every(m => m[3] === 'normal')
    }, { what: 'three normal members', timeoutMs: 30_000 })

    expect((await sql(1, 'CREATE TABLE acct (k INTEGER PRIMARY KEY, v INTEGER)', ADMIN)).status).toBe(200)
    expect((await sql(1, "CREATE USER carol PASSWORD 'carol pw'", ADMIN)).status).toBe(200)
    expect((await sql(1, 'GRANT SELECT, INSERT ON acct TO carol', ADMIN)).status).toBe(200)

    const carol = basic('carol', 'carol pw')
    await admin.cluster.waitFor(async () => (await sql(3, 'SELECT count(*) FROM acct', carol)).status === 200, { what: 'carol admitted on node 3', timeoutMs: 30_000 })
    expect((await sql(3, 'INSERT INTO acct VALUES (1, 1)', carol)).status).toBe(200)
    const refused = await sql(3, 'DELETE FROM acct', carol)
    expect(refused.status).toBe(403)
    expect(refused.body.error.sqlstate).toBe('42501')

    const [host, port] = admin.cluster.node(3).pg.split(':')
    const c = new pg.Client({ host, port: Number(port), user: 'carol', password: 'carol pw', database: 'db' })
    await c.connect()
    expect((await c.query('SELECT v FROM acct WHERE k = 1')).rows).toEqual([{ v: 1 }])
    await c.end()

    // ALTER USER on node 3 goes to the coordinator with a verifier, not the password.
    expect((await sql(3, "ALTER USER carol PASSWORD 'new pw'", carol)).status).toBe(200)
    await admin.cluster.waitFor(async () => (await sql(2, 'SELECT 1', basic('carol', 'new pw'))).status === 200, { what: 'the new password on node 2', timeoutMs: 30_000 })
    expect((await sql(2, 'SELECT 1', carol)).status).toBe(401)
    for (const id of admin.cluster.ids) expect(admin.cluster.node(id).stdout()).not.toContain('new pw')
  })
})
