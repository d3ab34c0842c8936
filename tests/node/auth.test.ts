import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Users, grants and authentication as a real process (issue 18 item 2): without credentials only
// /v1/health answers; a user without INSERT gets SQLSTATE 42501 over HTTP and over the PostgreSQL
// protocol (node-postgres), GRANT makes it work, REVOKE takes it back, DROP USER ends access;
// wrong passwords are refused and audited; GRANT and REVOKE are audited with the real user.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

const ADMIN = { user: 'admin', password: 'bootstrap pw ✓' }

async function start (dir: string, config: string, extra: string[] = [], env?: Record<string, string>): Promise<RunningNode> {
  const cfg = join(dir, 'node.yaml')
  writeFileSync(cfg, config)
  const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...extra])
  const n = await startNode(cmd, args, { env })
  running.push(n)
  return n
}

function basic (user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

async function sql (n: RunningNode, text: string, who?: { user: string, password: string }): Promise<{ status: number, body: Record<string, any>, challenge: string | null }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (who !== undefined) headers.authorization = basic(who.user, who.password)
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers, body: JSON.stringify({ sql: text }) })
  return { status: r.status, body: await r.json() as Record<string, any>, challenge: r.headers.get('www-authenticate') }
}

function pgClient (n: RunningNode, user: string, password: string): pg.Client {
  const [host, port] = [n.pg.slice(0, n.pg.lastIndexOf(':')), Number(n.pg.slice(n.pg.lastIndexOf(':') + 1))]
  return new pg.Client({ host, port, user, database: 'db', password })
}

const CONFIG = `
security:
  bootstrap_admin: admin
audit:
  enabled: true
  events: [GRANT, REVOKE, CREATE USER, DROP USER, LOGIN]
`

describe('users, grants and authentication', () => {
  it('admits only authenticated users, enforces grants over HTTP and pg, and audits logins and grants', async () => {
    const dir = tempDir()
    const n = await start(dir, CONFIG, [], { SCRATCHBIRD_ADMIN_PASSWORD: ADMIN.password })
    expect(n.stdout()).toMatch(/bootstrap administrator \\"admin\\" created/)

    // Without credentials nothing but /v1/health answers.
    expect((await fetch(n.url('/v1/health'))).status).toBe(200)
    const anon = await sql(n, 'SELECT 1')
    expect(anon.status).toBe(401)
    expect(anon.body.error.code).toBe('SB_AUTH_FAILED')
    expect(anon.challenge).toMatch(/^Basic realm="ScratchBird"/)
    expect((await fetch(n.url('/v1/sessions'), { method: 'POST' })).status).toBe(401)
    expect((await fetch(n.url('/v1/admin/backup'))).status).toBe(401)
    expect((await sql(n, 'SELECT 1', { user: 'admin', password: 'wrong' })).status).toBe(401)

    expect((await sql(n, 'CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)', ADMIN)).status).toBe(200)
    expect((await sql(n, "CREATE USER alice PASSWORD 'alice pw'", ADMIN)).status).toBe(200)
    expect((await sql(n, 'GRANT SELECT ON TABLE t TO alice', ADMIN)).status).toBe(200)
    const alice = { user: 'alice', password: 'alice pw' }

    // SELECT granted, INSERT not: 42501 over HTTP …
    expect((await sql(n, 'SELECT * FROM t', alice)).status).toBe(200)
    const refused = await sql(n, "INSERT INTO t VALUES (1, 'a')", alice)
    expect(refused.status).toBe(403)
    expect(refused.body.error).toMatchObject({ code: 'SB_INSUFFICIENT_PRIVILEGE', sqlstate: '42501', privilege: 'INSERT', table: 't' })
    expect((await sql(n, 'CREATE TABLE u (k INTEGER PRIMARY KEY)', alice)).body.error.code).toBe('SB_INSUFFICIENT_PRIVILEGE')
    expect((await fetch(n.url('/v1/admin/backup'), { headers: { authorization: basic(alice.user, alice.password) } })).status).toBe(403)

    // … and over the PostgreSQL protocol.
    const c = pgClient(n, 'alice', 'alice pw')
    await c.connect()
    await expect(c.query("INSERT INTO t VALUES (1, 'a')")).rejects.toMatchObject({ code: '42501' })

    // GRANT, then it works on both; REVOKE takes it back.
    expect((await sql(n, 'GRANT INSERT, UPDATE ON t TO alice', ADMIN)).status).toBe(200)
    await c.query("INSERT INTO t VALUES (1, 'a')")
    expect((await sql(n, "INSERT INTO t VALUES (2, 'b')", alice)).status).toBe(200)
    expect((await sql(n, 'SELECT user_name, table_name, privilege FROM sys_grants ORDER BY privilege', ADMIN)).body.rows).toEqual([
      ['alice', 't', 'INSERT'], ['alice', 't', 'SELECT'], ['alice', 't', 'UPDATE']
    ])
    expect((await sql(n, 'REVOKE INSERT ON t FROM alice', ADMIN)).status).toBe(200)
    await expect(c.query("INSERT INTO t VALUES (3, 'c')")).rejects.toMatchObject({ code: '42501' })
    expect((await sql(n, "INSERT INTO t VALUES (3, 'c')", alice)).status).toBe(403)

    // sys_users shows no verifier.
    const users = await sql(n, 'SELECT * FROM sys_users ORDER BY user_id', alice)
    expect(users.body.columns).toEqual(['user_id', 'user_name', 'superuser', 'admin', 'catalog_version'])
    expect(users.body.rows.map((r: unknown[]) => r.slice(1, 4))).toEqual([['admin', true, true], ['alice', false, false]])

    // A wrong pg password is refused.
    await expect(pgClient(n, 'alice', 'nope').connect()).rejects.toThrow(/password authentication failed/)
    await expect(pgClient(n, 'nobody', 'nope').connect()).rejects.toThrow(/password authentication failed/)

    // DROP USER ends access: new requests, and the open pg session's next statement.
    expect((await sql(n, 'DROP USER alice', ADMIN)).status).toBe(200)
    expect((await sql(n, 'SELECT * FROM t', alice)).status).toBe(401)
    await expect(c.query('SELECT * FROM t')).rejects.toMatchObject({ code: '28P01' })
    await c.end()

    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    const lines = readFileSync(join(dir, 'data', 'logs', 'audit.log'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    const seen = lines.map(l => [l.event, l.protocol, l.user, l.outcome])
    expect(seen).toContainEqual(['LOGIN', 'http', 'admin', 'SB_AUTH_FAILED'])
    expect(seen).toContainEqual(['LOGIN', 'pg', 'alice', 'SB_AUTH_FAILED'])
    expect(seen).toContainEqual(['LOGIN', 'pg', 'alice', 'ok'])
    expect(seen).toContainEqual(['GRANT', 'http', 'admin', 'ok'])
    expect(seen).toContainEqual(['REVOKE', 'http', 'admin', 'ok'])
    expect(seen).toContainEqual(['DROP USER', 'http', 'admin', 'ok'])
    const create = lines.find(l => l.event === 'CREATE USER')!
    expect(create.statement).toBe("CREATE USER alice PASSWORD '********'")
    expect(readFileSync(join(dir, 'data', 'logs', 'audit.log'), 'utf8')).not.toContain('alice pw')
  }, 180_000)

  it('scratchbird_cli and scratchbird_backup take --user with the password from the environment or a file; backups need admin rights', async () => {
    const dir = tempDir()
    const n = await start(dir, 'security:\n  bootstrap_admin: admin\n', [], { SCRATCHBIRD_ADMIN_PASSWORD: 'adm' })
    const url = `http://${n.listen}`
    const run = (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> => {
      const [cmd, argv] = sourceCommand(args)
      return runToExit(cmd, argv, { env: { ...process.env, ...env }, timeoutMs: 120_000 })
    }
    const anon = await run(['cli', '--url', url, '--command', 'SELECT 1'])
    expect(anon.code).not.toBe(0)
    expect(anon.stdout + anon.stderr).toMatch(/SB_AUTH_FAILED/)
    const ok = await run(['cli', '--url', url, '--user', 'admin', '--command', "CREATE USER clerk PASSWORD 'clerk pw'"], { SCRATCHBIRD_PASSWORD: 'adm' })
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    writeFileSync(join(dir, 'clerk.pw'), 'clerk pw\n')
    const clerk = await run(['backup', '--url', url, '--user', 'clerk', '--password-file', join(dir, 'clerk.pw'), '--output', join(dir, 'b1.tar')])
    expect(clerk.code).not.toBe(0)
    expect(clerk.stderr).toMatch(/needs admin rights/)
    const admin = await run(['backup', '--url', url, '--user', 'admin', '--output', join(dir, 'b2.tar')], { SCRATCHBIRD_PASSWORD: 'adm' })
    expect(admin.code, admin.stderr).toBe(0)
  }, 240_000)

  it('without users on loopback admits everyone with a WARNING until the first CREATE USER', async () => {
    const dir = tempDir()
    const n = await start(dir, '')
    expect(n.stdout()).toMatch(/no users exist yet: every client on the loopback listeners is admitted as a superuser/)
    expect((await sql(n, 'CREATE TABLE t (k INTEGER PRIMARY KEY)')).status).toBe(200)
    expect((await sql(n, "CREATE USER boss PASSWORD 'pw' SUPERUSER")).status).toBe(200)
    expect((await sql(n, 'SELECT * FROM t')).status).toBe(401)
    expect((await sql(n, 'SELECT * FROM t', { user: 'boss', password: 'pw' })).status).toBe(200)
  })

  it('refuses to start open to other hosts: trust, or no user and no bootstrap administrator', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'trust.yaml'), 'security:\n  auth: trust\n')
    const trust = await runToExit(...sourceCommand(['--config', join(dir, 'trust.yaml'), '--data-dir', join(dir, 'd1'), '--listen', '0.0.0.0:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', 'off']), { timeoutMs: 120_000 })
    expect(trust.code).not.toBe(0)
    expect(trust.stdout + trust.stderr).toMatch(/security\.auth: trust .* is allowed only on loopback listeners/)
    const open = await runToExit(...sourceCommand(['--data-dir', join(dir, 'd2'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', '0.0.0.0:0']), { timeoutMs: 120_000 })
    expect(open.code).not.toBe(0)
    expect(open.stdout + open.stderr).toMatch(/set security\.bootstrap_admin/)
  }, 240_000)
})
