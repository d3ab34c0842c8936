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

const EXPIRED = 'client session idle too long'

/** The node's log records so far (one JSON object per stdout line). */
function logRecords (): Json[] {
  const out: Json[] = []
  for (const line of n.stdout().split('\n')) {
    if (!line.startsWith('{')) continue
    try { out.push(JSON.parse(line) as Json) } catch { /* a partial last line */ }
  }
  return out
}

/** The node's first log record matching `pred`, already logged or still to come: waits on the
 *  node's output, not on time. */
function nodeLog (pred: (rec: Json) => boolean): Promise<Json> {
  return new Promise(resolve => {
    const stdout = n.proc.stdout!
    const check = (): void => {
      const rec = logRecords().find(pred)
      if (rec === undefined) return
      stdout.off('data', check)
      resolve(rec)
    }
    stdout.on('data', check)
    check()
  })
}

const isExpiry = (r: Json): boolean => typeof r.msg === 'string' && r.msg.startsWith(EXPIRED)

/** Uses `session` back to back (so it is never idle for more than one request) until `until`
 *  settles; each use must see exactly `rows`. Returns how many uses that took. */
async function keepBusy (session: string, rows: unknown[], until: Promise<unknown>): Promise<number> {
  const state = { done: false }
  void until.finally(() => { state.done = true })
  let uses = 0
  while (!state.done) {
    const r = await sql('SELECT k, v FROM kv ORDER BY k', session)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.rows).toEqual(rows)
    uses++
  }
  return uses
}

describe('client session idle timeout', () => {
  // Real time passes here (the node's own timer expires sessions), but the test never sleeps and
  // never times the node: it waits for the node's log record of each expiry, and the one duration
  // it checks is the idle time the node itself measured, against the configured timeout.
  it('rolls back and forgets an idle session; a session in use survives', async () => {
    expect((await sql('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) PARTITION BY k')).status).toBe(200)

    const idle = await openSession()
    const busy = await openSession()
    expect((await sql("BEGIN; INSERT INTO kv VALUES ('idle', 1)", idle)).status).toBe(200)
    expect((await sql("BEGIN; INSERT INTO kv VALUES ('busy', 2)", busy)).status).toBe(200)
    expect((await sql('SELECT count(*) FROM kv', idle)).body.rows).toEqual([['1']])
    // The idle session's key is held by its open transaction: another client cannot write it.
    const blocked = await sql("INSERT INTO kv VALUES ('idle', 100)")
    expect(blocked.status, JSON.stringify(blocked.body)).toBe(409)
    expect(blocked.body.error.code).toBe('SB_UPDATE_CONFLICT')

    // The busy session is in use the whole time the idle one goes quiet, and sees only its own row.
    const idleExpired = nodeLog(r => isExpiry(r) && r.session === idle)
    const busyUses = await keepBusy(busy, [['busy', 2]], idleExpired)
    const rec = await idleExpired
    expect(rec.idleMs, 'expired before the idle timeout').toBeGreaterThanOrEqual(IDLE_MS)
    expect(rec.msg).toBe(`${EXPIRED}: closed, open transaction rolled back`)
    expect(busyUses).toBeGreaterThan(0)

    // The idle session's row was rolled back (its key is free again) and the session is gone, for
    // SQL and for DELETE. The rollback runs just after the log record: retry the write until then.
    await expect.poll(async () => (await sql("INSERT INTO kv VALUES ('idle', 100)")).status, { timeout: 10_000 }).toBe(200)
    const gone = await sql('SELECT 1', idle)
    expect(gone.status).toBe(404)
    expect(gone.body.error).toMatchObject({ code: 'SB_SESSION_NOT_FOUND' })
    expect(gone.body.error.message).toContain('timed out')
    expect((await fetch(n.url(`/v1/sessions/${idle}`), { method: 'DELETE' })).status).toBe(404)

    // Keep the busy session going past one more whole timeout, as the node measures it: until a
    // session opened now, and left alone, has expired too.
    const marker = await openSession()
    const markerExpired = nodeLog(r => isExpiry(r) && r.session === marker)
    await keepBusy(busy, [['busy', 2]], markerExpired)
    expect((await markerExpired).idleMs).toBeGreaterThanOrEqual(IDLE_MS)
    expect(n.stdout().split('\n').filter(l => l.includes(EXPIRED) && l.includes(busy))).toEqual([]) // never expired

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
    const before = new Set(logRecords().filter(isExpiry).map(r => r.session))
    const pty = cliOnPty(`http://${n.listen}`, { ...process.env, HOME: dir })
    const killer = setTimeout(pty.kill, 40_000)
    try {
      await pty.waitFor(/scratchbird> /)
      pty.type('BEGIN;')
      await pty.waitFor(/^BEGIN\r?$/m)
      pty.type("INSERT INTO away VALUES ('lost');")
      await pty.waitFor(/^INSERT 1\r?$/m)
      // The user is away until the node has expired the prompt's session (the only one opened
      // since `before`).
      await nodeLog(r => isExpiry(r) && !before.has(r.session))
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
