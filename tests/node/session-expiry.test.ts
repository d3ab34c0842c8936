import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cliOnPty, HAVE_SCRIPT } from '../helpers/cli-pty'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Idle client sessions expire and roll back (issue 4 "HTTP API": "idle sessions time out and roll
// back"), against a real node started with a short http.session_idle_timeout_ms: a session whose
// open transaction wrote a row and then went quiet loses the transaction (the row never becomes
// visible and its key is free again) and its id (SB_SESSION_NOT_FOUND, 404); a session used more
// often than the timeout keeps its transaction and commits it afterwards. And scratchbird_cli's
// prompt, whose session expired while the user was away, goes on in a new session.

const IDLE_MS = 1500

let n: RunningNode
let dir: string

beforeAll(async () => {
  dir = tempDir('sb-session-')
  const [cmd, args] = sourceCommand(['--config', writeConfig(dir, IDLE_MS), '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  n = await startNode(cmd, args)
}, 60_000)
afterAll(() => { n?.proc.kill('SIGKILL') })

type Json = Record<string, any>

function writeConfig (dir: string, idleMs: number): string {
  const file = join(dir, 'scratchbird.yaml')
  writeFileSync(file, `# test: short client-session idle timeout\nhttp:\n  session_idle_timeout_ms: ${idleMs}\n`)
  return file
}

async function sql (text: string, session?: string): Promise<{ status: number, body: Json }> {
  const res = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-scratchbird-session': session } : {}) },
    body: JSON.stringify({ sql: text })
  })
  return { status: res.status, body: await res.json() as Json }
}

async function openSession (): Promise<string> {
  const res = await fetch(n.url('/v1/sessions'), { method: 'POST' })
  expect(res.status).toBe(200)
  return (await res.json() as { id: string }).id
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('client session idle timeout', () => {
  it('rolls back and forgets an idle session; a session in use survives', async () => {
    expect((await sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) PARTITION BY k')).status).toBe(200)

    const idle = await openSession()
    const busy = await openSession()
    expect((await sql("BEGIN; INSERT INTO kv VALUES ('idle', 1)", idle)).status).toBe(200)
    const idleSince = Date.now()
    expect((await sql("BEGIN; INSERT INTO kv VALUES ('busy', 2)", busy)).status).toBe(200)
    expect((await sql('SELECT count(*) FROM kv', idle)).body.rows).toEqual([['1']])

    // The busy session is used every IDLE_MS / 4 while we wait for the idle one to expire. The
    // idle one's key is held by its open transaction: another client cannot write it until the
    // rollback, so polling that write (from outside the session) tells when expiry happened.
    let expiredAfter = -1
    let busyUses = 0
    const deadline = Date.now() + IDLE_MS + 5000
    let nextBusy = Date.now()
    while (Date.now() < deadline) {
      if (Date.now() >= nextBusy) {
        const r = await sql('SELECT k, v FROM kv ORDER BY k', busy)
        expect(r.status, JSON.stringify(r.body)).toBe(200)
        expect(r.body.rows).toEqual([['busy', 2]]) // its own row only, never the idle session's
        busyUses++
        nextBusy = Date.now() + IDLE_MS / 4
      }
      if (expiredAfter < 0) {
        const other = await sql("INSERT INTO kv VALUES ('idle', 100)")
        if (other.status === 200) expiredAfter = Date.now() - idleSince
        else {
          expect(other.status, JSON.stringify(other.body)).toBe(409)
          expect(other.body.error.code).toBe('SB_UPDATE_CONFLICT')
        }
      } else if (Date.now() - idleSince > 2 * IDLE_MS + 1000) {
        break // keep the busy session going well past one more timeout, then stop
      }
      await sleep(100)
    }
    expect(expiredAfter, 'the idle session never expired').toBeGreaterThan(0)
    expect(expiredAfter, 'expired before the idle timeout').toBeGreaterThanOrEqual(IDLE_MS)
    expect(busyUses).toBeGreaterThanOrEqual(8)

    // the idle session's row was rolled back: only the outside write of that key is visible
    expect((await sql('SELECT k, v FROM kv ORDER BY k')).body.rows).toEqual([['idle', 100]])
    // and the session is gone, for SQL and for DELETE
    const gone = await sql('SELECT 1', idle)
    expect(gone.status).toBe(404)
    expect(gone.body.error).toMatchObject({ code: 'SB_SESSION_NOT_FOUND' })
    expect(gone.body.error.message).toContain('timed out')
    expect((await fetch(n.url(`/v1/sessions/${idle}`), { method: 'DELETE' })).status).toBe(404)
    expect(n.stdout()).toContain('client session idle too long')

    // the busy session kept its transaction and commits it
    expect((await sql('COMMIT', busy)).body.command).toBe('COMMIT')
    expect((await sql('SELECT k, v FROM kv ORDER BY k')).body.rows).toEqual([['busy', 2], ['idle', 100]])
    expect((await fetch(n.url(`/v1/sessions/${busy}`), { method: 'DELETE' })).status).toBe(200)
  }, 60_000)

  it('rejects a timeout below the minimum', async () => {
    const [cmd, args] = sourceCommand(['--config', writeConfig(tempDir('sb-session-'), 0), '--check-config'])
    const out = await runToExit(cmd, args)
    expect(out.code).not.toBe(0)
    expect(out.stdout + out.stderr).toContain('session_idle_timeout_ms')
  })

  it.skipIf(!HAVE_SCRIPT)('the CLI prompt goes on in a new session when its session expired', async () => {
    await sql('CREATE TABLE away (k TEXT PRIMARY KEY)')
    const pty = cliOnPty(`http://${n.listen}`, { ...process.env, HOME: dir })
    const killer = setTimeout(pty.kill, 40_000)
    try {
      await pty.waitFor(/scratchbird> /)
      pty.type('BEGIN;')
      await pty.waitFor(/^BEGIN\r?$/m)
      pty.type("INSERT INTO away VALUES ('lost');")
      await pty.waitFor(/^INSERT 1\r?$/m)
      await sleep(2 * IDLE_MS + 500) // the user is away; the node expires the session
      pty.type("INSERT INTO away VALUES ('kept');")
      await pty.waitFor(/ERROR: .*\[SB_SESSION_NOT_FOUND\]/)
      await pty.waitFor(/session had expired/)
      pty.type("INSERT INTO away VALUES ('kept');")
      await pty.waitFor(/^INSERT 1\r?$/m)
      pty.type('\\q')
      expect(await pty.exited).toBe(0)
      expect((await sql('SELECT k FROM away')).body.rows).toEqual([['kept']])
    } finally {
      clearTimeout(killer)
      pty.kill()
    }
  }, 60_000)
})
