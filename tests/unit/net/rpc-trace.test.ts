import type { IncomingMessage, Server } from 'node:http'
import { request } from 'undici'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { afterEach, describe, expect, it } from 'vitest'
import { parseTraceparent } from '../../../src/core/trace-context'
import { asNodeId } from '../../../src/core/ids'
import { closeServer, createHttpServer, listen } from '../../../src/net/http-server'
import { RpcClient } from '../../../src/net/rpc/client'
import { RPC_CONTENT_TYPE, RPC_HEADER_CLUSTER, RPC_HEADER_NODE_ID, RPC_PATH } from '../../../src/net/rpc/headers'
import { RPC_OPCODES } from '../../../src/net/rpc/opcodes'
import { rpcPayloads } from '../../../src/net/rpc/payloads'
import { RpcMethods, rpcRoutes } from '../../../src/net/rpc/server'
import { RPC_HEADER_TRACE, RPC_TRACE_MAX_ENTRIES, decodeTraceHeader, encodeTraceHeader } from '../../../src/net/rpc/trace-header'
import { decodeFrame, encodeFrame } from '../../../src/net/rpc/wire'
import { createMetrics } from '../../../src/ops/metrics'
import { createTracing, type Tracing } from '../../../src/ops/tracing'

// Trace context across cluster RPC (issue 18 item 8): the per-message x-scratchbird-trace header
// round-trips; a frame without it (a peer of the previous release, or tracing off) is served as
// before; a malformed header is ignored, never an error; and over real sockets the receiving
// node's work is a child span of the caller's.

const TP1 = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00'
const CLUSTER = 'c'

describe('x-scratchbird-trace header', () => {
  it('round-trips per-message contexts and leaves out calls without one', () => {
    const h = encodeTraceHeader([{ id: 1, traceparent: TP1 }, { id: 2 }, { id: 4_000_000_000, traceparent: TP2 }])
    expect(h).toBe(`1;1=${TP1},4000000000=${TP2}`)
    const m = decodeTraceHeader(h)
    expect([...m.keys()]).toEqual([1, 4_000_000_000])
    expect(m.get(1)).toEqual(parseTraceparent(TP1))
    expect(m.get(4_000_000_000)?.sampled).toBe(false)
    expect(encodeTraceHeader([{ id: 1 }, { id: 2, traceparent: undefined }])).toBeUndefined()
  })

  it('sends at most RPC_TRACE_MAX_ENTRIES contexts', () => {
    const calls = Array.from({ length: RPC_TRACE_MAX_ENTRIES + 10 }, (_, i) => ({ id: i, traceparent: TP1 }))
    expect(decodeTraceHeader(encodeTraceHeader(calls)).size).toBe(RPC_TRACE_MAX_ENTRIES)
  })

  it.each([
    undefined, '', 'garbage', `2;1=${TP1}`, `1;x=${TP1}`, `1;-1=${TP1}`, `1;01=${TP1}`, '1;1=not-a-traceparent', `1;99999999999=${TP1}`, `;1=${TP1}`
  ])('ignores the malformed header %j', (value) => {
    expect(decodeTraceHeader(value).size).toBe(0)
  })

  it('keeps the good entries of a partly malformed header, the first of a repeated id', () => {
    const m = decodeTraceHeader(`1;1=${TP1},junk,2=bad,1=${TP2},3=${TP2}`)
    expect([...m.entries()]).toEqual([[1, parseTraceparent(TP1)], [3, parseTraceparent(TP2)]])
  })
})

/** Keeps its spans at shutdown (InMemorySpanExporter forgets them), so a test reads them after the last export. */
class KeptSpans extends InMemorySpanExporter {
  override shutdown (): Promise<void> { return Promise.resolve() }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

function tracing (exporter: KeptSpans, node: number): Tracing {
  const t = createTracing({ otlp_endpoint: '', sample_ratio: 1, service_name: 'test', queue_spans: 1000 }, { id: node }, createMetrics(), exporter)
  cleanups.push(() => t.shutdown(1000))
  return t
}

/** A node serving PING; `seen` collects each call's trace header and the traceparent current inside the method. */
async function serve (t: Tracing | null): Promise<{ address: string, seen: Array<{ header: string | undefined, current: string | undefined }> }> {
  const seen: Array<{ header: string | undefined, current: string | undefined }> = []
  let lastHeader: string | undefined
  const methods = new RpcMethods().register('PING', (payload) => {
    seen.push({ header: lastHeader, current: t?.port?.current() })
    return payload
  })
  const handler = rpcRoutes({ cluster: CLUSTER, secret: undefined, methods, metrics: createMetrics(), tracer: t?.port ?? null })[RPC_PATH]!.POST!
  const server: Server = createHttpServer({
    [RPC_PATH]: { POST: (req: IncomingMessage, res) => { lastHeader = req.headers[RPC_HEADER_TRACE] as string | undefined; return handler(req, res) } }
  }, e => { throw e })
  const addr = await listen(server, '127.0.0.1:0')
  cleanups.push(async () => { server.closeAllConnections(); await closeServer(server) })
  return { address: `127.0.0.1:${addr.port}`, seen }
}

function client (t: Tracing | null): RpcClient {
  const tracer = t?.port ?? null
  const c = new RpcClient({ cluster: CLUSTER, nodeId: asNodeId(1), secret: undefined, metrics: createMetrics(), ...(tracer === null ? {} : { traceparent: () => tracer.current() }) })
  cleanups.push(() => c.close())
  return c
}

async function rawPost (address: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number, bytes: Buffer }> {
  const res = await request(`http://${address}${RPC_PATH}`, { method: 'POST', headers: { 'content-type': RPC_CONTENT_TYPE, [RPC_HEADER_CLUSTER]: CLUSTER, [RPC_HEADER_NODE_ID]: '1', ...headers }, body })
  return { status: res.statusCode, bytes: Buffer.from(await res.body.arrayBuffer()) }
}

const pingFrame = (): Uint8Array => encodeFrame([{ kind: 'request', opcode: RPC_OPCODES.PING, id: 5, body: rpcPayloads('PING').request.encode(Uint8Array.of(1, 2, 3)) }])

describe('trace context over cluster RPC', () => {
  it('makes the receiving node\'s work a child span of the caller\'s', async () => {
    const callerSpans = new KeptSpans()
    const calleeSpans = new KeptSpans()
    const caller = tracing(callerSpans, 1)
    const callee = tracing(calleeSpans, 2)
    const node = await serve(callee)
    const c = client(caller)
    await caller.port!.root('statement', {}, undefined, async () => { await c.call(node.address, 'PING', Uint8Array.of(9)) })
    await caller.shutdown(1000)
    await callee.shutdown(1000)
    const root = callerSpans.getFinishedSpans().find(s => s.name === 'statement')!
    const served = calleeSpans.getFinishedSpans().find((s: ReadableSpan) => s.name === 'rpc PING')!
    expect(served.spanContext().traceId).toBe(root.spanContext().traceId)
    expect(served.parentSpanContext?.spanId).toBe(root.spanContext().spanId)
    expect(served.attributes['scratchbird.from_node']).toBe(1)
    // Inside the method the current span is the served one.
    expect(parseTraceparent(node.seen[0]!.current)?.spanId).toBe(served.spanContext().spanId)
  })

  it('sends no trace header outside a span, or with tracing off', async () => {
    const node = await serve(tracing(new KeptSpans(), 2))
    await client(tracing(new KeptSpans(), 1)).call(node.address, 'PING', Uint8Array.of(1))
    await client(null).call(node.address, 'PING', Uint8Array.of(1))
    expect(node.seen.map(s => s.header)).toEqual([undefined, undefined])
    expect(node.seen.map(s => s.current)).toEqual([undefined, undefined])
  })

  it('serves a frame without the header (a previous release\'s) and ignores a malformed header', async () => {
    const spans = new KeptSpans()
    const t = tracing(spans, 2)
    const node = await serve(t)
    for (const headers of [{} as Record<string, string>, { [RPC_HEADER_TRACE]: 'garbage' }, { [RPC_HEADER_TRACE]: '1;5=00-zz-00-01' }, { [RPC_HEADER_TRACE]: `9;5=${TP1}` }]) {
      const r = await rawPost(node.address, pingFrame(), headers)
      expect(r.status).toBe(200)
      const [reply] = decodeFrame(r.bytes, 'reply')
      expect(reply).toMatchObject({ kind: 'ok', id: 5 })
      expect([...rpcPayloads('PING').reply.decode(reply!.body)]).toEqual([1, 2, 3])
    }
    await t.shutdown(1000)
    expect(spans.getFinishedSpans()).toEqual([])
    // A good header on the same raw frame: the call joins the caller's trace.
    const spans2 = new KeptSpans()
    const t2 = tracing(spans2, 3)
    const node2 = await serve(t2)
    expect((await rawPost(node2.address, pingFrame(), { [RPC_HEADER_TRACE]: `1;5=${TP1}` })).status).toBe(200)
    await t2.shutdown(1000)
    const [served] = spans2.getFinishedSpans()
    expect(served?.spanContext().traceId).toBe(parseTraceparent(TP1)!.traceId)
    expect(served?.parentSpanContext?.spanId).toBe(parseTraceparent(TP1)!.spanId)
  })
})
