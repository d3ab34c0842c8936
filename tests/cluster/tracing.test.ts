import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// OpenTelemetry tracing across real processes (issue 18 item 8): nodes 1 and 2 export to an
// OTLP/HTTP receiver this test runs on a real socket (the exporter's JSON encoding); node 3 has
// tracing off. A statement sent to node 1 with a W3C traceparent continues that trace: its root
// span's parent is the client's span, its shard requests are children naming the node they went
// to, and the work node 2 did for the forwarded ones is a child span (exported by node 2) of node
// 1's shard request span. A DDL statement sent to node 2 is forwarded to the catalog coordinator
// (node 1), whose span joins node 2's trace. Node 3, traced statements passing through it or not,
// exports nothing.

interface Span {
  node: string
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  attributes: Record<string, unknown>
}

const received: Span[] = []
let receiver: Server
let endpoint = ''
let cluster: Cluster

/** OTLP JSON ids are hex, or base64 in some encoders: always hex here. */
function hexId (v: unknown): string {
  if (typeof v !== 'string' || v === '') return ''
  return /^[0-9a-f]+$/.test(v) ? v : Buffer.from(v, 'base64').toString('hex')
}

function attrs (list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const a of (list ?? []) as Array<{ key: string, value: Record<string, unknown> }>) {
    const v = a.value
    out[a.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue
  }
  return out
}

function collect (body: string): void {
  const doc = JSON.parse(body) as { resourceSpans?: Array<{ resource?: { attributes?: unknown }, scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> }
  for (const rs of doc.resourceSpans ?? []) {
    const node = String(attrs(rs.resource?.attributes)['service.instance.id'] ?? '')
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        received.push({ node, traceId: hexId(s.traceId), spanId: hexId(s.spanId), parentSpanId: hexId(s.parentSpanId), name: String(s.name), attributes: attrs(s.attributes) })
      }
    }
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      if (req.url === '/v1/traces' && (req.headers['content-type'] ?? '').includes('json')) collect(body)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>(resolve => receiver.listen(0, '127.0.0.1', resolve))
  const addr = receiver.address() as { port: number }
  endpoint = `http://127.0.0.1:${addr.port}/v1/traces`
  cluster = await startCluster({
    nodes: 3,
    extraConfig: (id) => ({ node: { durability: 'none' }, tracing: { otlp_endpoint: id === 3 ? '' : endpoint, sample_ratio: 1, service_name: 'sb-trace-test' } })
  })
  await cluster.waitAllNormal()
}, 180_000)

afterAll(async () => {
  await cluster?.close()
  await new Promise<void>(resolve => { receiver?.close(() => resolve()) })
})

const TRACE = 'aaaabbbbccccddddeeeeffff00001111'
const CLIENT_SPAN = '1234567890abcdef'
const DDL_TRACE = 'bbbbccccddddeeeeffff000011112222'

async function spansOf (traceId: string, ready: (spans: Span[]) => boolean, what: string): Promise<Span[]> {
  return await cluster.waitFor(() => {
    const spans = received.filter(s => s.traceId === traceId)
    return ready(spans) ? spans : null
  }, { what, timeoutMs: 30_000 })
}

describe('tracing across nodes', () => {
  it('one trace holds the statement\'s spans from two nodes with correct parent links, and node 3 exports nothing', async () => {
    expect((await cluster.sql(1, 'CREATE TABLE tr_items (id INTEGER PRIMARY KEY, v TEXT)')).status).toBe(200)
    const values = Array.from({ length: 64 }, (_, i) => `(${i}, 'v${i}')`).join(', ')
    expect((await cluster.sql(1, `INSERT INTO tr_items VALUES ${values}`)).status).toBe(200)

    const r = await cluster.http(1, 'POST', '/v1/sql', { sql: 'SELECT count(*) FROM tr_items WHERE v <> $1', params: ['secret-param'] }, { headers: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.rows).toEqual([['64']])

    const spans = await spansOf(TRACE, s => s.some(x => x.node === '1' && x.name === 'statement') && s.some(x => x.node === '2' && x.name === 'rpc SHARD_QUERY'), 'spans of the traced SELECT from nodes 1 and 2')
    const root = spans.find(s => s.name === 'statement')!
    expect(root.node).toBe('1')
    expect(root.parentSpanId).toBe(CLIENT_SPAN)
    expect(root.attributes).toMatchObject({ 'scratchbird.statement.kind': 'select', 'scratchbird.protocol': 'http', 'scratchbird.node': 1 })
    // Never the statement's parameter values.
    expect(JSON.stringify(spans)).not.toContain('secret-param')
    const byId = new Map(spans.map(s => [s.spanId, s]))
    for (const name of ['parse', 'plan']) expect(spans.find(s => s.name === name)?.parentSpanId, name).toBe(root.spanId)

    const shardRequests = spans.filter(s => s.name === 'shard request')
    expect(shardRequests.length).toBeGreaterThan(1)
    for (const s of shardRequests) {
      expect(s.node).toBe('1')
      expect(s.attributes['scratchbird.op']).toBe('QUERY')
      expect(s.attributes['scratchbird.via']).toBe(s.attributes['scratchbird.to_node'] === 1 ? 'local' : 'rpc')
      // Under the statement (directly, or under the select's own steps).
      let p = byId.get(s.parentSpanId)
      while (p !== undefined && p !== root) p = byId.get(p.parentSpanId)
      expect(p).toBe(root)
    }
    expect(new Set(shardRequests.map(s => s.attributes['scratchbird.to_node']))).toEqual(new Set([1, 2, 3]))
    // Node 2's work for a forwarded request is a child of node 1's span that sent it there.
    const served = spans.filter(s => s.node === '2' && s.name === 'rpc SHARD_QUERY')
    expect(served.length).toBeGreaterThan(0)
    for (const s of served) {
      const parent = byId.get(s.parentSpanId)
      expect(parent?.name).toBe('shard request')
      expect(parent?.attributes['scratchbird.to_node']).toBe(2)
      expect(s.attributes['scratchbird.from_node']).toBe(1)
    }

    // A DDL statement on node 2 is forwarded to the catalog coordinator (node 1): one trace.
    const ddl = await cluster.http(2, 'POST', '/v1/sql', { sql: 'CREATE TABLE tr_more (id INTEGER PRIMARY KEY)' }, { headers: { traceparent: `00-${DDL_TRACE}-${CLIENT_SPAN}-01` } })
    expect(ddl.status, JSON.stringify(ddl.body)).toBe(200)
    const ddlSpans = await spansOf(DDL_TRACE, s => s.some(x => x.node === '2' && x.name === 'statement') && s.some(x => x.node === '1' && x.name === 'rpc CATALOG_DDL'), 'spans of the forwarded DDL from nodes 2 and 1')
    const ddlRoot = ddlSpans.find(s => s.name === 'statement' && s.node === '2')!
    const forwarded = ddlSpans.find(s => s.name === 'rpc CATALOG_DDL')!
    let p = ddlSpans.find(s => s.spanId === forwarded.parentSpanId)
    while (p !== undefined && p !== ddlRoot) p = ddlSpans.find(s => s.spanId === p!.parentSpanId)
    expect(p).toBe(ddlRoot)

    // Node 3 (tracing off): statements sent to it, traced by the client or not, export nothing.
    const marker = 'ccccddddeeeeffff0000111122223333'
    expect((await cluster.http(3, 'POST', '/v1/sql', { sql: 'SELECT count(*) FROM tr_items' }, { headers: { traceparent: `00-${marker}-${CLIENT_SPAN}-01` } })).status).toBe(200)
    // A later traced statement on node 1 reaching the receiver shows node 3's export would have too.
    const after = 'ddddeeeeffff00001111222233334444'
    expect((await cluster.http(1, 'POST', '/v1/sql', { sql: 'SELECT 1' }, { headers: { traceparent: `00-${after}-${CLIENT_SPAN}-01` } })).status).toBe(200)
    await spansOf(after, s => s.length > 0, 'the later statement\'s span')
    expect(received.filter(s => s.node === '3')).toEqual([])
    expect(received.filter(s => s.traceId === marker && s.name === 'statement')).toEqual([])
    expect(cluster.node(1).stdout()).toMatch(/tracing: exporting spans to/)
    expect(cluster.node(3).stdout()).not.toMatch(/tracing: exporting spans to/)
  }, 240_000)

  it('traces quorum round trips and the phases of a two-phase commit', async () => {
    expect((await cluster.sql(1, "CREATE TABLE tr_q (k INTEGER PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)")).status).toBe(200)
    const QTRACE = 'eeeeffff000011112222333344445555'
    const w = await cluster.http(1, 'POST', '/v1/sql', { sql: "INSERT INTO tr_q VALUES (1, 'a'); SELECT v FROM tr_q WHERE k = 1" }, { headers: { traceparent: `00-${QTRACE}-${CLIENT_SPAN}-01` } })
    expect(w.status, JSON.stringify(w.body)).toBe(200)
    const q = await spansOf(QTRACE, s => s.some(x => x.name === 'quorum write') && s.some(x => x.name === 'quorum read') && s.filter(x => x.name === 'quorum replica').length >= 4, 'quorum spans')
    const write = q.find(s => s.name === 'quorum write')!
    expect(write.attributes).toMatchObject({ 'scratchbird.w': 2, 'scratchbird.n': 3, 'scratchbird.table': 'tr_q' })
    const read = q.find(s => s.name === 'quorum read')!
    expect(read.attributes).toMatchObject({ 'scratchbird.r': 2, 'scratchbird.n': 3 })
    for (const parent of [write, read]) {
      const replicas = q.filter(s => s.name === 'quorum replica' && s.parentSpanId === parent.spanId)
      expect(replicas.length, parent.name).toBeGreaterThanOrEqual(2)
      expect(new Set(replicas.map(s => s.attributes['scratchbird.op']))).toEqual(new Set([parent === write ? 'REPLICA_APPLY' : 'REPLICA_READ']))
    }
    // Two statements of one request: two root spans of the same client trace.
    expect(q.filter(s => s.name === 'statement').map(s => s.parentSpanId)).toEqual([CLIENT_SPAN, CLIENT_SPAN])

    const TTRACE = 'ffff0000111122223333444455556666'
    const rows = Array.from({ length: 16 }, (_, i) => `(${1000 + i}, 't${i}')`).join(', ')
    const t = await cluster.http(2, 'POST', '/v1/sql', { sql: `BEGIN; INSERT INTO tr_items VALUES ${rows}; COMMIT` }, { headers: { traceparent: `00-${TTRACE}-${CLIENT_SPAN}-01` } })
    expect(t.status, JSON.stringify(t.body)).toBe(200)
    const tx = await spansOf(TTRACE, s => s.some(x => x.name === 'commit') && s.some(x => x.name === '2pc prepare') && s.some(x => x.name === '2pc commit prepared'), 'two-phase commit spans')
    const commit = tx.find(s => s.name === 'commit')!
    const commitRoot = tx.find(s => s.spanId === commit.parentSpanId)!
    expect(commitRoot).toMatchObject({ name: 'statement', node: '2' })
    expect(commitRoot.attributes['scratchbird.statement.kind']).toBe('commit')
    const byId = new Map(tx.map(s => [s.spanId, s]))
    const under = (s: Span, ancestor: Span): boolean => { let p = byId.get(s.parentSpanId); while (p !== undefined && p !== ancestor) p = byId.get(p.parentSpanId); return p === ancestor }
    const prepares = tx.filter(s => s.name === '2pc prepare')
    expect(prepares.length).toBeGreaterThan(1)
    for (const s of [...prepares, ...tx.filter(x => x.name.startsWith('2pc '))]) expect(under(s, commit), s.name).toBe(true)
    // Each PREPARE is a shard request below its 2PC step.
    expect(tx.filter(s => s.name === 'shard request' && s.attributes['scratchbird.op'] === 'PREPARE' && prepares.some(p => p.spanId === s.parentSpanId)).length).toBe(prepares.length)
  }, 240_000)
})
