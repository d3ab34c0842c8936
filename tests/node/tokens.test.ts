import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Bearer tokens as a real process (issue 18 item 1): CREATE TOKEN shows the token once and the
// node keeps only its hash; Authorization: Bearer runs as the token's user with that user's
// privileges; a token session cannot make tokens; DROP TOKEN and expiry (the node restarted with
// its wall clock two hours later) refuse it with 401 — audited as LOGIN failures like HTTP Basic.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

const ADMIN = `Basic ${Buffer.from('admin:adm pw').toString('base64')}`
const ALICE = `Basic ${Buffer.from('alice:alice pw').toString('base64')}`
const CONFIG = 'security:\n  bootstrap_admin: admin\naudit:\n  enabled: true\n  events: [LOGIN, CREATE TOKEN, DROP TOKEN]\n'

async function start (dir: string, env: Record<string, string> = {}): Promise<RunningNode> {
  const cfg = join(dir, 'node.yaml')
  writeFileSync(cfg, CONFIG)
  const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', 'off'])
  const n = await startNode(cmd, args, { env: { SCRATCHBIRD_ADMIN_PASSWORD: 'adm pw', ...env } })
  running.push(n)
  return n
}

async function sql (n: RunningNode, text: string, authorization: string): Promise<{ status: number, body: Record<string, any> }> {
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ sql: text }) })
  return { status: r.status, body: await r.json() as Record<string, any> }
}

describe('bearer tokens', () => {
  it('authenticate as their user with its privileges until dropped or expired', async () => {
    const dir = tempDir()
    let n = await start(dir)
    for (const s of ['CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)', "INSERT INTO t VALUES (1, 'a')", "CREATE USER alice PASSWORD 'alice pw'", 'GRANT SELECT ON t TO alice']) {
      expect((await sql(n, s, ADMIN)).status, s).toBe(200)
    }
    // An admin makes a token for alice; alice makes one of her own, expiring in an hour.
    const made = await sql(n, 'CREATE TOKEN ci FOR USER alice', ADMIN)
    expect(made.status).toBe(200)
    expect(made.body.columns).toEqual(['token_name', 'user_name', 'token', 'valid_until'])
    const ci = made.body.rows[0][2] as string
    expect(ci).toMatch(/^sbt_/)
    const until = new Date(Date.now() + 3_600_000).toISOString()
    const own = await sql(n, `CREATE TOKEN laptop VALID UNTIL '${until}'`, ALICE)
    expect(own.status, JSON.stringify(own.body)).toBe(200)
    expect(own.body.rows[0].slice(0, 2)).toEqual(['laptop', 'alice'])
    const laptop = own.body.rows[0][2] as string

    // The token runs as alice: SELECT granted, INSERT refused (42501), no token minting.
    const read = await sql(n, 'SELECT v FROM t', `Bearer ${ci}`)
    expect(read.status).toBe(200)
    expect(read.body.rows).toEqual([['a']])
    const insert = await sql(n, "INSERT INTO t VALUES (2, 'b')", `Bearer ${ci}`)
    expect(insert.status).toBe(403)
    expect(insert.body.error).toMatchObject({ code: 'SB_INSUFFICIENT_PRIVILEGE', sqlstate: '42501' })
    expect((await sql(n, 'CREATE TOKEN more', `Bearer ${ci}`)).body.error.code).toBe('SB_INSUFFICIENT_PRIVILEGE')
    expect((await sql(n, 'GRANT INSERT ON t TO alice', ADMIN)).status).toBe(200)
    expect((await sql(n, "INSERT INTO t VALUES (2, 'b')", `Bearer ${ci}`)).status).toBe(200)

    // sys_tokens lists them without secrets; the catalog file holds no token.
    const listed = await sql(n, 'SELECT token_name, user_name FROM sys_tokens ORDER BY token_name', `Bearer ${laptop}`)
    expect(listed.body.rows).toEqual([['ci', 'alice'], ['laptop', 'alice']])
    expect(JSON.stringify(listed.body)).not.toContain(ci.slice(4))
    const catalogFile = readFileSync(join(dir, 'data', 'catalog.json'), 'utf8')
    expect(catalogFile).not.toContain(ci.slice(4))
    expect(catalogFile).not.toContain(laptop.slice(4))

    // Dropped: refused at once.
    expect((await sql(n, 'DROP TOKEN ci FOR USER alice', ADMIN)).status).toBe(200)
    const gone = await sql(n, 'SELECT v FROM t', `Bearer ${ci}`)
    expect(gone.status).toBe(401)
    expect(gone.body.error.code).toBe('SB_AUTH_FAILED')
    expect((await sql(n, 'SELECT v FROM t', `Bearer ${laptop}`)).status).toBe(200)

    // Two hours later (the node's wall clock moved on) the laptop token has expired.
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    n = await start(dir, { SCRATCHBIRD_TEST_CLOCK_OFFSET_MS: String(2 * 3_600_000) })
    const expired = await sql(n, 'SELECT v FROM t', `Bearer ${laptop}`)
    expect(expired.status).toBe(401)
    expect(expired.body.error).toMatchObject({ code: 'SB_AUTH_FAILED' })
    expect(expired.body.error.message).toMatch(/expired/)
    expect((await sql(n, 'SELECT v FROM t', ALICE)).status).toBe(200)
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)

    const lines = readFileSync(join(dir, 'data', 'logs', 'audit.log'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    const failures = lines.filter(l => l.event === 'LOGIN' && l.protocol === 'http' && l.outcome === 'SB_AUTH_FAILED').map(l => l.user)
    expect(failures).toEqual(['', 'alice'])
    const ddl = lines.filter(l => l.event === 'CREATE TOKEN' || l.event === 'DROP TOKEN').map(l => [l.event, l.user, l.statement, l.outcome])
    expect(ddl).toEqual([
      ['CREATE TOKEN', 'admin', 'CREATE TOKEN ci FOR USER alice', 'ok'],
      ['CREATE TOKEN', 'alice', `CREATE TOKEN laptop VALID UNTIL '${until}'`, 'ok'],
      ['CREATE TOKEN', 'alice', 'CREATE TOKEN more', 'SB_INSUFFICIENT_PRIVILEGE'],
      ['DROP TOKEN', 'admin', 'DROP TOKEN ci FOR USER alice', 'ok']
    ])
    const log = readFileSync(join(dir, 'data', 'logs', 'audit.log'), 'utf8')
    expect(log).not.toContain(ci.slice(4))
    expect(log).not.toContain(laptop.slice(4))
  }, 240_000)
})
