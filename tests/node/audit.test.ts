import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// The audit log as a real process (issue 18 item 4): DDL through the HTTP API and the PostgreSQL
// protocol and pg logins (admitted and refused) each write one hash-chained JSON line; a restart
// continues the chain; `scratchbird audit verify` passes on the file and fails once a line is edited.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

const CONFIG = `
security:
  pg_password: audit-test-password
audit:
  enabled: true
  events: [CREATE TABLE, ALTER TABLE, DROP TABLE, SET replication_mode, LOGIN]
`

async function start (dir: string): Promise<RunningNode> {
  const cfg = join(dir, 'node.yaml')
  writeFileSync(cfg, CONFIG)
  const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args)
  running.push(n)
  return n
}

async function http (n: RunningNode, sql: string): Promise<number> {
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql }) })
  await r.text()
  return r.status
}

function pgClient (n: RunningNode, password: string): pg.Client {
  const [host, port] = [n.pg.slice(0, n.pg.lastIndexOf(':')), Number(n.pg.slice(n.pg.lastIndexOf(':') + 1))]
  return new pg.Client({ host, port, user: 'auditor', database: 'db', password })
}

async function stop (n: RunningNode): Promise<void> {
  n.proc.kill('SIGTERM')
  expect(await n.exited).toBe(0)
}

const verify = (file: string) => runToExit(...sourceCommand(['audit', 'verify', file]))

describe('audit log', () => {
  it('records DDL from HTTP and pg and pg logins as chained lines; verify passes, and fails on an edited line', async () => {
    const dir = tempDir()
    const file = join(dir, 'data', 'logs', 'audit.log')
    let n = await start(dir)
    expect(await http(n, 'CREATE TABLE a1 (k INTEGER PRIMARY KEY, v INTEGER)')).toBe(200)
    expect(await http(n, 'INSERT INTO a1 VALUES (1, 1); SELECT * FROM a1')).toBe(200)
    expect(await http(n, 'DROP TABLE nope')).toBe(400)

    const bad = pgClient(n, 'wrong')
    await expect(bad.connect()).rejects.toThrow(/password authentication failed/)
    const c = pgClient(n, 'audit-test-password')
    await c.connect()
    await c.query("CREATE TABLE a2 (k TEXT PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    await c.query('SELECT 1')
    await c.end()
    await stop(n)

    const lines = readFileSync(file, 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map(l => [l.seq, l.event, l.protocol, l.user, l.outcome])).toEqual([
      [1, 'CREATE TABLE', 'http', 'http', 'ok'],
      [2, 'DROP TABLE', 'http', 'http', 'SB_UNDEFINED_TABLE'],
      [3, 'LOGIN', 'pg', 'auditor', 'SB_AUTH_FAILED'],
      [4, 'LOGIN', 'pg', 'auditor', 'ok'],
      [5, 'CREATE TABLE', 'pg', 'auditor', 'ok']
    ])
    expect(lines[0]!.statement).toMatch(/^CREATE TABLE a1 /)
    expect(lines[0]!.client).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(lines[4]!.details).toEqual({ table: 'a2', events: ['CREATE TABLE', 'SET replication_mode'] })
    expect(lines.every(l => l.node === 1 && typeof l.time === 'string' && /^[0-9a-f]{64}$/.test(l.prev as string))).toBe(true)

    // A restart continues the chain.
    n = await start(dir)
    expect(await http(n, 'ALTER TABLE a2 SET write_quorum = 1')).toBe(200)
    await stop(n)
    const after = readFileSync(file, 'utf8').trim().split('\n')
    expect(after).toHaveLength(6)
    expect(JSON.parse(after[5]!)).toMatchObject({ seq: 6, event: 'ALTER TABLE' })

    const ok = await verify(file)
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/intact, 6 lines, end matches .*audit\.log\.head/)

    after[1] = after[1]!.replace('DROP TABLE nope', 'DROP TABLE a1')
    writeFileSync(file, after.join('\n') + '\n')
    const broken = await verify(file)
    expect(broken.code).toBe(1)
    expect(broken.stdout).toMatch(/line 3: prev hash does not match line 2.*\[SB_AUDIT_CHAIN_BROKEN\]/)
  })
})
