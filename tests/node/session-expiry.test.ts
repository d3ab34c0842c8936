import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Idle client sessions expire and roll back (issue 4 "HTTP API": "idle sessions time out and roll
// back"), against a real node started with a short http.session_idle_timeout_ms: a session whose
// open transaction wrote a row and then went quiet loses the transaction (the row never becomes
// visible and its key is free again) and its id (SB_SESSION_NOT_FOUND, 404); a session used more
// often than the timeout keeps its transaction and commits it afterwards.

const IDLE_MS = 1500

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

type Json = Record<string, any>

function writeConfig (dir: string, idleMs: number): string {
  const file = join(dir, 'scratchbird.yaml')
  writeFileSync(file, `# test: short client-session idle timeout\nhttp:\n  session_idle_timeout_ms: ${idleMs}\n`)
  return file
}

async function sql (n: RunningNode, text: string, session?: string): Promise<{ status: number, body: Json }> {
  const res = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-scratchbird-session': session } : {}) },
    body: JSON.stringify({ sql: text })
  })
  return { status: res.status, body: await res.json() as Json }
}

async function openSession (n: RunningNode): Promise<string> {
  const res = await fetch(n.url('/v1/sessions'), { method: 'POST' })
  expect(res.status).toBe(200)
  return (await res.json() as { id: string }).id
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('client session idle timeout', () => {
  it('rolls back and forgets an idle session; a session in use survives', async () => {
    const dir = tempDir('sb-session-')
    const config = writeConfig(dir, IDLE_MS)
    const [cmd, args] = sourceCommand(['--config', config, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args)
    running.push(n)
    expect((await sql(n, 'CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) PARTITION BY k')).status).toBe(200)

    const idle = await openSession(n)
    const busy = await openSession(n)
    expect((await sql(n, "BEGIN; INSERT INTO kv VALUES ('idle', 1)", idle)).status).toBe(200)
    const idleSince = Date.now()
    expect((await sql(n, "BEGIN; INSERT INTO kv VALUES ('busy', 2)", busy)).status).toBe(200)
    expect((await sql(n, 'SELECT count(*) FROM kv', idle)).body.rows).toEqual([['1']])

    // The busy session is used every IDLE_MS / 4 while we wait for the idle one to expire. The
    // idle one's key is held by its open transaction: another client cannot write it until the
    // rollback, so polling that write (from outside the session) tells when expiry happened.
    let expiredAfter = -1
    let busyUses = 0
    const deadline = Date.now() + IDLE_MS + 5000
    let nextBusy = Date.now()
    while (Date.now() < deadline) {
      if (Date.now() >= nextBusy) {
        const r = await sql(n, 'SELECT k, v FROM kv ORDER BY k', busy)
        expect(r.status, JSON.stringify(r.body)).toBe(200)
        expect(r.body.rows).toEqual([['busy', 2]]) // its own row only, never the idle session's
        busyUses++
        nextBusy = Date.now() + IDLE_MS / 4
      }
      if (expiredAfter < 0) {
        const other = await sql(n, "INSERT INTO kv VALUES ('idle', 100)")
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
    expect((await sql(n, 'SELECT k, v FROM kv ORDER BY k')).body.rows).toEqual([['idle', 100]])
    // and the session is gone, for SQL and for DELETE
    const gone = await sql(n, 'SELECT 1', idle)
    expect(gone.status).toBe(404)
    expect(gone.body.error).toMatchObject({ code: 'SB_SESSION_NOT_FOUND' })
    expect(gone.body.error.message).toContain('timed out')
    expect((await fetch(n.url(`/v1/sessions/${idle}`), { method: 'DELETE' })).status).toBe(404)
    expect(n.stdout()).toContain('client session idle too long')

    // the busy session kept its transaction and commits it
    expect((await sql(n, 'COMMIT', busy)).body.command).toBe('COMMIT')
    expect((await sql(n, 'SELECT k, v FROM kv ORDER BY k')).body.rows).toEqual([['busy', 2], ['idle', 100]])
    expect((await fetch(n.url(`/v1/sessions/${busy}`), { method: 'DELETE' })).status).toBe(200)
  }, 60_000)

  it('rejects a timeout below the minimum', async () => {
    const dir = tempDir('sb-session-')
    const [cmd, args] = sourceCommand(['--config', writeConfig(dir, 0), '--check-config'])
    const out = await runToExit(cmd, args)
    expect(out.code).not.toBe(0)
    expect(out.stdout + out.stderr).toContain('session_idle_timeout_ms')
  })
})
