import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLoggers, formatPretty, parseLogLevel } from '../../../src/ops/log'

describe('logs', () => {
  it('renders a JSON record the way the seed shows log lines', () => {
    const line = JSON.stringify({ level: 'WARNING', time: Date.UTC(2026, 0, 9, 15, 35, 12), msg: 'Clock skew detected: Node 3 clock 50ms behind Node 1', node: 1 })
    expect(formatPretty(line)).toBe('[WARNING] 2026-01-09 15:35:12 Clock skew detected: Node 3 clock 50ms behind Node 1\n')
  })

  it('writes each stream to its own JSON file, honours the level and can change it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-log-'))
    const out = new PassThrough()
    let console = ''
    out.on('data', (d: Buffer) => { console += d.toString() })
    const logs = createLoggers({ level: 'INFO', dir, console: 'pretty', files: { main: 'main.log', replication: 'repl.log', anti_entropy: 'ae.log', slow_query: 'slow.log' } }, { node: 1 }, out)
    logs.main.info('Node 2 joined cluster (gossip)')
    logs.main.debug('hidden at INFO')
    logs.replication.error('Quorum write failed: Shard 001, W=3, ACKs=2 (Node 3 offline)')
    logs.setLevel('DEBUG')
    logs.anti_entropy.debug('Merkle comparison')
    logs.close()
    await new Promise(resolve => setTimeout(resolve, 50))
    const main = readFileSync(join(dir, 'main.log'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    expect(main).toHaveLength(1)
    expect(main[0]).toMatchObject({ level: 'INFO', msg: 'Node 2 joined cluster (gossip)', node: 1 })
    expect(readFileSync(join(dir, 'repl.log'), 'utf8')).toMatch(/"level":"ERROR".*"stream":"replication"/)
    expect(readFileSync(join(dir, 'ae.log'), 'utf8')).toMatch(/"level":"DEBUG".*Merkle comparison/)
    expect(Object.keys(logs.paths)).not.toContain('audit')
    expect(console).toMatch(/^\[INFO\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d Node 2 joined cluster \(gossip\)$/m)
    expect(console).not.toContain('hidden at INFO')
  })

  it('parses level names case-insensitively', () => {
    expect(parseLogLevel('warn')).toBe('WARNING')
    expect(parseLogLevel('debug')).toBe('DEBUG')
    expect(parseLogLevel('loud')).toBeUndefined()
  })
})
