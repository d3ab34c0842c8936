import { execFileSync, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// The seeds' metrics and the operator's latency series as a real process under load (issue 18
// item 6): after writes and reads through HTTP and pg, /metrics shows per-shard write rates and
// read p99s per mode, statement latency histograms per kind and protocol, ring and worker figures,
// sessions and connections — with values that moved.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

type Series = { name: string, labels: Record<string, string>, value: number }

function parseMetrics (text: string): Series[] {
  const out: Series[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`unparsable metrics line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

let lastScrape = ''
async function scrape (n: RunningNode): Promise<Series[]> {
  lastScrape = await (await fetch(`http://${n.metrics}/metrics`)).text()
  return parseMetrics(lastScrape)
}

function hasPromtool (): boolean {
  try { execFileSync('promtool', ['--version'], { stdio: 'ignore' }); return true } catch { return false }
}

const sum = (s: Series[], name: string, where: Record<string, string> = {}): number =>
  s.filter(x => x.name === name && Object.entries(where).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0)

async function http (n: RunningNode, sql: string): Promise<void> {
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql }) })
  expect(r.status, `${sql}: ${await r.text()}`).toBe(200)
}

describe('metrics under load', () => {
  it('per-shard write tps and read p99 per mode, statement histograms per kind and protocol, rings, workers, sessions, connections move', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'node.yaml')
    writeFileSync(cfg, 'storage:\n  shards: 4\n  workers: 2\nnode:\n  durability: none\n')
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args)
    running.push(n)

    const before = await scrape(n)
    expect(sum(before, 'scratchbird_shard_writes_total')).toBe(0)
    expect(sum(before, 'scratchbird_ring_capacity_bytes')).toBe(4 * 1024 * 1024)

    await http(n, 'CREATE TABLE m (k INTEGER PRIMARY KEY, v INTEGER)')
    await http(n, "CREATE TABLE ml (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    for (let i = 0; i < 40; i++) await http(n, `INSERT INTO m VALUES (${i}, ${i})`)
    for (let i = 0; i < 20; i++) await http(n, `INSERT INTO ml VALUES ('k${i}', ${i})`)
    for (let i = 0; i < 20; i++) await http(n, `SELECT v FROM m WHERE k = ${i}`)
    await http(n, 'SELECT count(*) FROM ml')

    const [host, port] = [n.pg.slice(0, n.pg.lastIndexOf(':')), Number(n.pg.slice(n.pg.lastIndexOf(':') + 1))]
    const c = new pg.Client({ host, port, user: 'metrics', database: 'db' })
    await c.connect()
    for (let i = 0; i < 5; i++) await c.query('SELECT v FROM m WHERE k = $1', [i])
    await expect(c.query('SELECT * FROM missing_table')).rejects.toThrow(/missing_table/)

    const s = await scrape(n)
    // The seeds' two per-shard gauges, labelled as the seed prints them.
    const tps = s.filter(x => x.name === 'scratchbird_write_tps')
    expect(tps.length).toBeGreaterThan(0)
    for (const x of tps) expect(x.labels.shard_id).toMatch(/^\d{3}$/)
    expect(sum(s, 'scratchbird_write_tps', { mode: 'primary_replica' })).toBeGreaterThan(0)
    expect(sum(s, 'scratchbird_write_tps', { mode: 'leaderless_quorum' })).toBeGreaterThan(0)
    const p99 = s.filter(x => x.name === 'scratchbird_read_latency_p99_ms' && x.labels.mode === 'primary_replica')
    expect(p99.length).toBeGreaterThan(0)
    expect(Math.max(...p99.map(x => x.value))).toBeGreaterThan(0)
    expect(s.some(x => x.name === 'scratchbird_read_latency_p99_ms' && x.labels.mode === 'leaderless_quorum')).toBe(true)
    // Per-shard rates: every committed write and served read counted once.
    expect(sum(s, 'scratchbird_shard_writes_total', { mode: 'primary_replica' })).toBe(40)
    expect(sum(s, 'scratchbird_shard_writes_total', { mode: 'leaderless_quorum' })).toBe(20)
    expect(sum(s, 'scratchbird_shard_reads_total')).toBeGreaterThanOrEqual(25)
    // Statement latency per kind and protocol.
    expect(sum(s, 'scratchbird_statement_duration_seconds_count', { kind: 'insert', protocol: 'http' })).toBe(60)
    expect(sum(s, 'scratchbird_statement_duration_seconds_count', { kind: 'select', protocol: 'pg' })).toBeGreaterThanOrEqual(5)
    expect(sum(s, 'scratchbird_statement_duration_seconds_sum', { kind: 'insert', protocol: 'http' })).toBeGreaterThan(0)
    expect(sum(s, 'scratchbird_statement_errors_total', { protocol: 'pg', code: 'SB_UNDEFINED_TABLE' })).toBe(1)
    // Workers were busy; rings exist per worker and direction.
    expect(sum(s, 'scratchbird_shard_worker_busy_seconds_total')).toBeGreaterThan(0)
    expect(s.filter(x => x.name === 'scratchbird_ring_used_bytes').map(x => `${x.labels.worker}/${x.labels.direction}`).sort()).toEqual(['0/request', '0/response', '1/request', '1/response'])
    // The pg connection is a session and a connection while it is open.
    expect(sum(s, 'scratchbird_sessions')).toBeGreaterThanOrEqual(1)
    expect(sum(s, 'scratchbird_connections', { listener: 'pg' })).toBe(1)
    expect(s.some(x => x.name === 'scratchbird_connections' && x.labels.listener === 'client')).toBe(true)
    // A single node counts itself as its one normal member.
    expect(sum(s, 'scratchbird_cluster_members', { state: 'normal' })).toBe(1)
    expect(sum(s, 'scratchbird_cluster_members', { state: 'down' })).toBe(0)
    await c.end()

    // `promtool check metrics` (Debian's prometheus package) lints names, help and types.
    if (!hasPromtool()) {
      console.log('promtool not installed: skipping `promtool check metrics` (apt-get install prometheus provides it)')
      return
    }
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: lastScrape, encoding: 'utf8' })
    expect(lint.status, lint.stdout + lint.stderr).toBe(0)
  })
})
