import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Per-client request limits as a real process (issue 18 item 5): over
// node.max_requests_per_second_per_client the HTTP API answers 429 SB_TOO_MANY_REQUESTS with
// Retry-After (health stays open) and the PostgreSQL protocol an ErrorResponse 53400 on a
// connection that stays usable; the keys are live on SIGHUP; connections over
// node.max_connections_per_client and throttled logins are refused too — every refusal counted in
// scratchbird_client_refusals_total{listener,reason}.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

const ADMIN = `Basic ${Buffer.from('admin:adm pw').toString('base64')}`
const base = 'security:\n  bootstrap_admin: admin\n  login_failures_max: 1\nnode:\n  max_connections_per_client: 4\n'

async function sql (n: RunningNode, text: string, authorization = ADMIN): Promise<{ status: number, code: string, retryAfter: string | null }> {
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ sql: text }) })
  const body = await r.json() as Record<string, any>
  return { status: r.status, code: String(body.error?.code ?? ''), retryAfter: r.headers.get('retry-after') }
}

async function refusals (n: RunningNode, listener: string, reason: string): Promise<number> {
  const text = await (await fetch(`http://${n.metrics}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(`scratchbird_client_refusals_total{listener="${listener}",reason="${reason}"}`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

function pgClient (n: RunningNode): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: Number(n.pg.slice(n.pg.lastIndexOf(':') + 1)), user: 'admin', database: 'db', password: 'adm pw' })
}

describe('per-client request limits', () => {
  it('refuses requests over the rate (HTTP 429 + Retry-After, pg 53400), follows SIGHUP, and counts every refusal', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'node.yaml')
    writeFileSync(cfg, `${base}  max_requests_per_second_per_client: 1\n  request_burst_per_client: 2\n`)
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args, { env: { SCRATCHBIRD_ADMIN_PASSWORD: 'adm pw' } })
    running.push(n)

    // A pg session opened first (startup is no request); then HTTP spends the bucket.
    const c = pgClient(n)
    await c.connect()
    let refused: Awaited<ReturnType<typeof sql>> | undefined
    for (let i = 0; i < 20 && refused === undefined; i++) {
      const r = await sql(n, 'SELECT 1')
      if (r.status !== 200) refused = r
    }
    expect(refused).toMatchObject({ status: 429, code: 'SB_TOO_MANY_REQUESTS' })
    expect(Number(refused!.retryAfter)).toBeGreaterThanOrEqual(1)
    expect((await fetch(n.url('/v1/health'))).status).toBe(200)
    expect(await refusals(n, 'client', 'request_rate')).toBeGreaterThanOrEqual(1)

    // The same address over pg: one bucket for both listeners; the connection stays.
    let pgCode = ''
    for (let i = 0; i < 20 && pgCode === ''; i++) {
      try { await c.query('SELECT 1') } catch (e) { pgCode = String((e as { code?: string }).code) }
    }
    expect(pgCode).toBe('53400')
    expect(await refusals(n, 'pg', 'request_rate')).toBeGreaterThanOrEqual(1)

    // Live: the limit lifted by SIGHUP applies to the next request.
    writeFileSync(cfg, base)
    n.proc.kill('SIGHUP')
    await expect.poll(() => n.stdout(), { timeout: 10_000 }).toContain('configuration reloaded')
    for (let i = 0; i < 5; i++) expect((await sql(n, 'SELECT 1')).status).toBe(200)
    expect((await c.query('SELECT 2 AS x')).rows).toEqual([{ x: 2 }])

    // Connections over node.max_connections_per_client (4 on the pg listener: c and three more).
    const more = [pgClient(n), pgClient(n), pgClient(n)]
    for (const m of more) await m.connect()
    const fifth = pgClient(n)
    await expect(fifth.connect()).rejects.toMatchObject({ code: '53300' })
    expect(await refusals(n, 'pg', 'max_connections')).toBe(1)
    for (const m of [c, ...more]) await m.end()

    // A throttled login (login_failures_max: 1): the wrong password locks the address out.
    expect((await sql(n, 'SELECT 1', `Basic ${Buffer.from('admin:wrong').toString('base64')}`)).code).toBe('SB_AUTH_FAILED')
    expect((await sql(n, 'SELECT 1')).code).toBe('SB_LOGIN_THROTTLED')
    expect(await refusals(n, 'client', 'login_throttled')).toBe(1)
  }, 120_000)
})
