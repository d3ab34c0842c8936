import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import postgres from 'postgres'
import { afterEach, describe, expect, it } from 'vitest'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { runTool, startPgNode } from './helpers'
import { fe, fieldsOf, WireClient } from './wire'

// PostgreSQL's own tools against a node: psql runs the seeds' SQL examples from a file, pgbench
// runs custom scripts in all three query modes; and SCRAM-SHA-256 authentication with the
// configured password, checked by psql, node-postgres and postgres.js.

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

/** Waits until the node has logged `text` (woken by its output, no polling). */
async function logged (n: RunningNode, text: string): Promise<void> {
  while (!n.stdout().includes(text)) await once(n.proc.stdout!, 'data')
}

function requireTool (name: 'psql' | 'pgbench'): void {
  // Debian's /usr/bin/pgbench is a wrapper present without pgbench itself: run it to know.
  const found = spawnSync(name, ['--version']).status === 0
  // .ci/run installs them; without them these tests cannot check anything.
  if (!found) throw new Error(`${name} is not installed (Debian: apt-get install ${name === 'psql' ? 'postgresql-client' : 'postgresql'}; .ci/run does it)`)
}

function psql (port: number, args: string[], password?: string): Promise<{ status: number | null, stdout: string, stderr: string }> {
  return runTool('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'tester', '-d', 'db', '-v', 'ON_ERROR_STOP=1', ...args], { password })
}

describe('psql and pgbench', () => {
  it('psql runs the seeds\' SQL examples from a file, and a one-line command', async () => {
    requireTool('psql')
    const n = await startPgNode()
    running.push(n)
    const one = await psql(n.port, ['-c', 'SELECT gen_uuidv8_hlc()'])
    expect(one.stderr).toBe('')
    expect(one.stdout).toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n\(1 row\)/)
    const file = await psql(n.port, ['-f', join(FIXTURES, 'seeds.sql')])
    expect(file.status, file.stderr).toBe(0)
    // the warnings of the HTTP API arrive as notices
    expect(file.stderr).toContain('WARNING:  Consider PARTITION BY user_id for colocation')
    expect(file.stdout).toContain(' sensor_data | leaderless_quorum |            1 |           1 | v8_hlc')
    expect(file.stdout).toMatch(/ Alice \| {1,3}100\.00\n\(1 row\)/)
    const failing = await psql(n.port, ['-c', 'SELECT * FROM nowhere'])
    expect(failing.status).not.toBe(0)
    expect(failing.stderr).toContain('ERROR:  relation "nowhere" does not exist\nDETAIL:  SB_UNDEFINED_TABLE')
  })

  it('pgbench runs custom scripts in -M simple, extended and prepared', async () => {
    requireTool('pgbench')
    const n = await startPgNode()
    running.push(n)
    expect((await psql(n.port, ['-q', '-f', join(FIXTURES, 'pgbench-init.sql')])).status).toBe(0)
    let expected = 0
    for (const mode of ['simple', 'extended', 'prepared']) {
      for (const script of ['pgbench-insert.sql', 'pgbench-select.sql', 'pgbench-txn.sql']) {
        const r = await runTool('pgbench', ['-n', '-h', '127.0.0.1', '-p', String(n.port), '-U', 'tester', '-M', mode, '-c', '2', '-t', '25', '-f', join(FIXTURES, script), 'db'])
        expect(r.status, `${mode} ${script}: ${r.stderr}`).toBe(0)
        expect(r.stdout, `${mode} ${script}`).toContain('number of transactions actually processed: 50/50')
        expect(r.stdout, `${mode} ${script}`).toContain('number of failed transactions: 0 (0.000%)')
      }
      expected += 50
    }
    // every statement really ran: the rows are there, and the balances match the history
    const c = new pg.Client({ host: n.host, port: n.port, user: 'tester' })
    await c.connect()
    expect((await c.query('SELECT count(*) AS n FROM inserted')).rows).toEqual([{ n: String(expected) }])
    expect((await c.query('SELECT count(*) AS n FROM history')).rows).toEqual([{ n: String(expected) }])
    const sums = await c.query('SELECT (SELECT sum(bal) FROM accounts) AS bal, (SELECT sum(delta) FROM history) AS delta')
      .catch(async () => ({ rows: [{ bal: (await c.query('SELECT sum(bal) AS s FROM accounts')).rows[0].s, delta: (await c.query('SELECT sum(delta) AS s FROM history')).rows[0].s }] }))
    expect(String(sums.rows[0].bal)).toBe(String(sums.rows[0].delta))
    await c.end()
  })
})

describe('SCRAM-SHA-256 with security.pg_password', () => {
  it('admits clients with the password and refuses a wrong or missing one', async () => {
    requireTool('psql')
    const dir = tempDir('sb-pg-scram-')
    const config = join(dir, 'scratchbird.yaml')
    writeFileSync(config, "security:\n  pg_password: 'pencil ✓ 1'\n")
    const [cmd, args] = sourceCommand(['--config', config, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args)
    running.push(n)
    const port = Number(n.pg.split(':').pop())

    const ok = new pg.Client({ host: '127.0.0.1', port, user: 'anyone', password: 'pencil ✓ 1' })
    await ok.connect()
    expect((await ok.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    await ok.end()
    const wrong = new pg.Client({ host: '127.0.0.1', port, user: 'anyone', password: 'pencil' })
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01', severity: 'FATAL' })

    const sql = postgres({ host: '127.0.0.1', port, user: 'anyone', password: 'pencil ✓ 1' })
    expect(await sql`SELECT ${'x'} AS v`).toEqual([{ v: 'x' }])
    await sql.end()

    expect((await psql(port, ['-c', 'SELECT 1'], 'pencil ✓ 1')).status).toBe(0)
    const refused = await psql(port, ['-w', '-c', 'SELECT 1'])
    expect(refused.status).not.toBe(0)
    expect(refused.stderr).toMatch(/password/)
    const bad = await psql(port, ['-c', 'SELECT 1'], 'nope')
    expect(bad.stderr).toContain('password authentication failed for user "tester"')
    await logged(n, 'PostgreSQL authentication failed for user \\"tester\\"')

    // security.pg_password is live: after SIGHUP the next connections need the new one
    writeFileSync(config, "security:\n  pg_password: 'eraser'\n")
    n.proc.kill('SIGHUP')
    await logged(n, 'security.pg_password changed: (hidden) -> (hidden), in effect now')
    expect((await psql(port, ['-c', 'SELECT 1'], 'eraser')).status).toBe(0)
    expect((await psql(port, ['-c', 'SELECT 1'], 'pencil ✓ 1')).stderr).toContain('password authentication failed')
    // and no password reaches the log
    expect(n.stdout() + n.stderr()).not.toMatch(/pencil|eraser/)
  })

  it('closes connections that do not finish startup and authentication within node.pg_auth_timeout_ms', async () => {
    const dir = tempDir('sb-pg-auth-timeout-')
    const config = join(dir, 'scratchbird.yaml')
    writeFileSync(config, 'node:\n  pg_auth_timeout_ms: 1000\nsecurity:\n  pg_password: secret\n')
    const [cmd, args] = sourceCommand(['--config', config, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args)
    running.push(n)
    const port = Number(n.pg.split(':').pop())
    const ok = new pg.Client({ host: '127.0.0.1', port, user: 'u', password: 'secret' })
    await ok.connect()
    const silent = await WireClient.open(port)
    const halfway = await WireClient.open(port)
    halfway.send(fe.startup({ user: 'u' }))
    await halfway.until('R') // the SASL request, never answered
    for (const c of [silent, halfway]) expect(fieldsOf((await c.rest()).at(-1)!)).toMatchObject({ S: 'FATAL', C: '08006', D: expect.stringMatching(/^SB_AUTH_TIMEOUT/) })
    // an authenticated connection is not subject to it
    expect((await ok.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    await ok.end()
  })

  it('refuses an invalid node.pg_listen at start with the key and what was expected', async () => {
    const [cmd, args] = sourceCommand(['--pg-listen', 'nowhere', '--check-config'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('node.pg_listen')
    expect(r.stderr).toContain('expected "off" or a HOST:PORT address')
  })
})
