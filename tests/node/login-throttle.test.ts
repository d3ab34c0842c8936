import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Failed-login throttling as a real process (issue 18 item 2): after security.login_failures_max
// wrong passwords from one address, HTTP answers 429 SB_LOGIN_THROTTLED with Retry-After and the
// PostgreSQL protocol a FATAL 28000 before the SCRAM exchange — even for correct credentials —
// until security.login_lockout_ms has passed; then the right password works again. The count is
// the node's, shared by both listeners.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

const ADMIN = { user: 'admin', password: 'right password' }
const LOCKOUT_MS = 3000

async function start (): Promise<RunningNode> {
  const dir = tempDir()
  const cfg = join(dir, 'node.yaml')
  writeFileSync(cfg, `security:\n  bootstrap_admin: admin\n  login_failures_max: 3\n  login_lockout_ms: ${LOCKOUT_MS}\n`)
  const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args, { env: { SCRATCHBIRD_ADMIN_PASSWORD: ADMIN.password } })
  running.push(n)
  return n
}

async function sql (n: RunningNode, password: string): Promise<{ status: number, code: string, retryAfter: string | null }> {
  const r = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${ADMIN.user}:${password}`).toString('base64')}` },
    body: JSON.stringify({ sql: 'SELECT 1' })
  })
  const body = await r.json() as Record<string, any>
  return { status: r.status, code: String(body.error?.code ?? ''), retryAfter: r.headers.get('retry-after') }
}

async function pgLogin (n: RunningNode, password: string): Promise<string> {
  const c = new pg.Client({ host: '127.0.0.1', port: Number(n.pg.slice(n.pg.lastIndexOf(':') + 1)), user: ADMIN.user, database: 'db', password })
  try {
    await c.connect()
    await c.query('SELECT 1')
    return 'ok'
  } catch (e) {
    return String((e as { code?: string }).code ?? (e as Error).message)
  } finally {
    await c.end().catch(() => {})
  }
}

describe('failed-login throttling', () => {
  it('locks an address out of HTTP and pg after too many wrong passwords, correct ones included, until the lockout ends', async () => {
    const n = await start()
    expect((await sql(n, ADMIN.password)).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await sql(n, 'wrong')).code).toBe('SB_AUTH_FAILED')
    // The third failure comes over the PostgreSQL protocol: one count for both listeners.
    expect(await pgLogin(n, 'wrong')).toBe('28P01')
    const locked = await sql(n, ADMIN.password)
    expect(locked.status).toBe(429)
    expect(locked.code).toBe('SB_LOGIN_THROTTLED')
    expect(Number(locked.retryAfter)).toBeGreaterThan(0)
    expect(await pgLogin(n, ADMIN.password)).toBe('28000')
    expect(n.stdout()).toMatch(/too many failed logins from 127\.0\.0\.1/)
    // Once the lockout passed, the right password works again (polled: no timing asserted).
    const deadline = Date.now() + LOCKOUT_MS + 30_000
    let last = locked
    while (last.status === 429 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 250))
      last = await sql(n, ADMIN.password)
    }
    expect(last.status).toBe(200)
    expect(await pgLogin(n, ADMIN.password)).toBe('ok')
  }, 90_000)
})
