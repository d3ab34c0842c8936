import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cluster-harness'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Tracing on a single node as a real process (issue 18 item 8): statements over HTTP and over the
// PostgreSQL protocol are exported to an OTLP/HTTP receiver on a real socket, with their shard
// requests (this node's own workers: via local); a stopping node sends what is still queued; and a
// collector that is down fails no statement — the spans are dropped and counted, with a WARNING.

const running: RunningNode[] = []
const servers: Server[] = []
afterEach(async () => {
  for (const n of running.splice(0)) n.proc.kill('SIGKILL')
  for (const s of servers.splice(0)) await new Promise<void>(resolve => s.close(() => resolve()))
})

interface Span { name: string, traceId: string, parentSpanId: string, spanId: string, attributes: Record<string, unknown> }

async function receiver (): Promise<{ url: string, spans: Span[] }> {
  const spans: Span[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, any>> }> }> }
      for (const rs of doc.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes: Record<string, unknown> = {}
            for (const a of s.attributes as Array<{ key: string, value: Record<string, unknown> }>) attributes[a.key] = a.value.stringValue ?? a.value.intValue ?? a.value.boolValue
            spans.push({ name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', attributes })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/traces`, spans }
}

async function start (endpoint: string): Promise<RunningNode> {
  const dir = tempDir()
  const cfg = join(dir, 'node.yaml')
  writeFileSync(cfg, `tracing:\n  otlp_endpoint: ${endpoint}\n  service_name: sb-node-test\n`)
  const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args)
  running.push(n)
  return n
}

async function post (n: RunningNode, sql: string, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ sql }) })
  return { status: r.status, body: await r.json() }
}

describe('tracing on one node', () => {
  it('exports HTTP and PostgreSQL-protocol statements with their local shard requests, and flushes at shutdown', async () => {
    const rx = await receiver()
    const n = await start(rx.url)
    expect((await post(n, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')).status).toBe(200)
    expect((await post(n, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")).status).toBe(200)
    const trace = '0123456789abcdef0123456789abcdef'
    // A malformed traceparent is ignored (a trace of its own), never an error.
    expect((await post(n, 'SELECT count(*) FROM t', { traceparent: 'not-a-traceparent' })).status).toBe(200)
    expect((await post(n, 'SELECT v FROM t WHERE id = 2', { traceparent: `00-${trace}-0123456789abcdef-01` })).body.rows).toEqual([['b']])
    const [host, port] = [n.pg.slice(0, n.pg.lastIndexOf(':')), Number(n.pg.slice(n.pg.lastIndexOf(':') + 1))]
    const client = new pg.Client({ host, port, user: 'tester', database: 'db' })
    await client.connect()
    expect((await client.query('SELECT v FROM t WHERE id = 3')).rows).toEqual([{ v: 'c' }])
    await client.end()
    // Stop at once: what is still queued goes out during the shutdown.
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)

    const http = rx.spans.filter(s => s.traceId === trace)
    const root = http.find(s => s.name === 'statement')!
    expect(root.parentSpanId).toBe('0123456789abcdef')
    expect(root.attributes).toMatchObject({ 'scratchbird.statement.kind': 'select', 'scratchbird.protocol': 'http' })
    const shard = http.find(s => s.name === 'shard request')!
    expect(shard.attributes).toMatchObject({ 'scratchbird.via': 'local', 'scratchbird.op': 'QUERY' })
    expect(http.map(s => s.name).sort()).toEqual(expect.arrayContaining(['parse', 'plan', 'shard request', 'statement']))
    const pgRoot = rx.spans.find(s => s.name === 'statement' && s.attributes['scratchbird.protocol'] === 'pg')
    expect(pgRoot?.attributes).toMatchObject({ 'scratchbird.statement.kind': 'select', 'enduser.id': 'tester' })
    expect(rx.spans.filter(s => s.name === 'statement').length).toBeGreaterThanOrEqual(5)
  }, 120_000)

  it('answers every statement while the collector is down, counting the dropped spans', async () => {
    const rx = await receiver()
    const closed = rx.url
    await new Promise<void>(resolve => servers.pop()!.close(() => resolve()))
    const n = await start(closed)
    for (let i = 0; i < 5; i++) expect((await post(n, `SELECT ${i}`)).status).toBe(200)
    const dropped = await waitFor(async () => {
      const text = await (await fetch(`http://${n.metrics}/metrics`)).text()
      const m = /scratchbird_tracing_spans_dropped_total\{reason="export_failed"\} (\d+)/.exec(text)
      return m !== null && Number(m[1]) >= 5 ? Number(m[1]) : null
    }, { what: 'dropped spans to be counted', timeoutMs: 30_000 })
    expect(dropped).toBeGreaterThanOrEqual(5)
    expect(n.stdout()).toMatch(/span export to the OTLP collector failed/)
  }, 120_000)
})
