import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../../src/core/config/load'
import { AuditShell } from '../../../src/node/audit'
import { createMetrics } from '../../../src/ops/metrics'
import { verifyAuditLog } from '../../../src/ops/audit/verify'

function shell (events: string[], dir = mkdtempSync(join(tmpdir(), 'sb-auditsh-'))) {
  const config = validateConfig({ audit: { enabled: true, events, log_file: join(dir, 'audit.log') } }, { cwd: dir })
  const metrics = createMetrics()
  const s = new AuditShell({ config, log: pino({ level: 'silent' }), metrics, now: () => 1_000 })
  return { s, file: join(dir, 'audit.log'), metrics, dir }
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)

describe('audit shell', () => {
  it('records logins and topology changes only when audit.events names them', async () => {
    const { s, file, metrics } = shell(['LOGIN', 'TOPOLOGY'])
    s.open()
    s.login({ user: 'app', database: 'db', address: '10.0.0.9:4000', outcome: 'SB_AUTH_FAILED' })
    s.topology({ nodeId: 2 as never, address: '10.0.0.2:8080', from: 'suspect', to: 'down', text: 'Node 2 is down: silent for 30000 ms' })
    s.close()
    expect(lines(file).map(l => [l.event, l.user, l.client, l.protocol, l.outcome, l.statement])).toEqual([
      ['LOGIN', 'app', '10.0.0.9:4000', 'pg', 'SB_AUTH_FAILED', 'login of user "app" to database "db"'],
      ['TOPOLOGY', 'system', '10.0.0.2:8080', 'gossip', 'ok', 'Node 2 is down: silent for 30000 ms']
    ])
    expect(lines(file)[1]!.details).toEqual({ node_id: 2, from: 'suspect', to: 'down' })
    expect(verifyAuditLog(readFileSync(file, 'utf8'), null).ok).toBe(true)
    expect((await metrics.registry.getSingleMetricAsString('scratchbird_audit_events_total'))).toMatch(/event="TOPOLOGY"} 1/)

    const quiet = shell(['CREATE TABLE'])
    quiet.s.open()
    quiet.s.login({ user: 'app', database: 'db', address: '', outcome: 'ok' })
    quiet.s.close()
    expect(readFileSync(quiet.file, 'utf8')).toBe('')
  })

  it('a line that cannot be written is counted and logged, never thrown', async () => {
    const { s, file, metrics } = shell(['LOGIN'])
    s.open()
    // The head file is replaced by a rename: a directory in its place makes that fail (even as root).
    mkdirSync(`${file}.head`)
    expect(() => s.login({ user: 'app', database: 'db', address: '', outcome: 'ok' })).not.toThrow()
    s.close()
    expect(await metrics.registry.getSingleMetricAsString('scratchbird_audit_write_failures_total')).toMatch(/ 1$/m)
  })
})
