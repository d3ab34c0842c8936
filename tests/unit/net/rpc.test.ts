import type { Server } from 'node:http'
import { CODEC_VERSIONS } from '../../../src/core/codec-versions'
import { createServer } from 'node:net'
import { performance } from 'node:perf_hooks'
import { request } from 'undici'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ScratchBirdError, isScratchBirdError, type ErrorCode } from '../../../src/core/errors'
import { closeServer, createHttpServer, listen } from '../../../src/net/http-server'
import { RpcClient, type RpcClientOptions } from '../../../src/net/rpc/client'
import { RPC_CONTENT_TYPE, RPC_HEADER_CLUSTER, RPC_HEADER_NODE_ID, RPC_HEADER_SECRET, RPC_PATH } from '../../../src/net/rpc/headers'
import { RPC_OPCODES } from '../../../src/net/rpc/opcodes'
import { rpcPayloads } from '../../../src/net/rpc/payloads'
import { decodeErrorPayload, encodeErrorPayload } from '../../../src/net/rpc/remote-error'
import { RpcMethods, rpcRoutes, type RpcContext } from '../../../src/net/rpc/server'
import { decodeFrame, encodeFrame } from '../../../src/net/rpc/wire'
import type { GossipPing } from '../../../src/cluster/gossip/types'
import { createMetrics, type NodeMetrics } from '../../../src/ops/metrics'
import { asNodeId, asShardId } from '../../../src/core/ids'

// Cluster RPC over real loopback sockets: node:http server with the route table of
// src/net/http-server.ts on one side, RpcClient (undici Pool) on the other. Payloads travel in
// their opcode's codec (payloads.ts): PING echoes bytes, CATALOG_DDL's SQL text steers the test
// method (fail on demand, answer a given size).

const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (u: Uint8Array): string => new TextDecoder().decode(u)
const ping: GossipPing = { type: 'ping', from: asNodeId(7), hlc: '', members: [], sentAt: 1 }
/** A raw request frame of PING calls with these texts, ids from 1. */
const pingFrame = (...texts: string[]): Uint8Array =>
  encodeFrame(texts.map((t, i) => ({ kind: 'request', opcode: RPC_OPCODES.PING, id: i + 1, body: rpcPayloads('PING').request.encode(b(t)) })))

const SECRET = 'a-cluster-secret-of-some-length'
const CLUSTER = 'test-cluster'

interface TestNode {
  readonly address: string
  readonly metrics: NodeMetrics
  /** HTTP requests that reached POST /v1/rpc. */
  requests: number
  /** Method invocations, any opcode. */
  calls: Array<{ opcode: string, from: number, payload: unknown }>
  readonly internalErrors: unknown[]
  /** Releases the calls parked by the HANG method. */
  release: () => void
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function startNode (opts: { secret?: string | undefined, maxBodyBytes?: number } = {}): Promise<TestNode> {
  const metrics = createMetrics()
  let releaseAll: Array<() => void> = []
  const node: TestNode = {
    address: '',
    metrics,
    requests: 0,
    calls: [],
    internalErrors: [],
    release: () => { for (const r of releaseAll.splice(0)) r() }
  }
  const seen = (payload: unknown, ctx: RpcContext): void => { node.calls.push({ opcode: ctx.opcode, from: ctx.from, payload }) }
  const methods = new RpcMethods()
    .register('PING', (payload, ctx) => { seen(payload, ctx); return payload })
    // Parks until released: the timeout test.
    .register('GOSSIP_SYNC', async (payload, ctx) => {
      seen(payload, ctx)
      await new Promise<void>(resolve => { releaseAll.push(resolve) })
      return null
    })
    // Fails on demand: with a coded error, with a plain Error (a bug), or answers `size:N` bytes.
    .register('CATALOG_DDL', (payload, ctx) => {
      seen(payload, ctx)
      if (payload.sql === 'fail:coded') throw new ScratchBirdError('SB_UNDEFINED_TABLE', 'no table of that name', { table: 'nope' })
      if (payload.sql === 'fail:bug') throw new TypeError('oops')
      const size = /^size:(\d+)$/.exec(payload.sql)
      return { command: 'z'.repeat(size === null ? 1 : Number(size[1])), warnings: [], catalog: null }
    })
  const rpc = rpcRoutes({
    cluster: CLUSTER,
    secret: 'secret' in opts ? opts.secret : SECRET,
    methods,
    metrics,
    ...(opts.maxBodyBytes === undefined ? {} : { maxBodyBytes: opts.maxBodyBytes }),
    onInternalError: e => { node.internalErrors.push(e) }
  })
  const handler = rpc[RPC_PATH]!.POST!
  const server: Server = createHttpServer({ [RPC_PATH]: { POST: (req, res) => { node.requests++; return handler(req, res) } } }, e => { throw e })
  const addr = await listen(server, '127.0.0.1:0')
  Object.assign(node, { address: `127.0.0.1:${addr.port}` })
  cleanups.push(async () => {
    releaseAll.forEach(r => r())
    releaseAll = []
    server.closeAllConnections()
    await closeServer(server)
  })
  return node
}

function client (over: Partial<RpcClientOptions> = {}): RpcClient {
  const c = new RpcClient({ cluster: CLUSTER, nodeId: asNodeId(7), secret: SECRET, metrics: createMetrics(), ...over })
  cleanups.push(() => c.close())
  return c
}

async function codeOf (p: Promise<unknown>): Promise<ErrorCode | 'resolved'> {
  try {
    await p
    return 'resolved'
  } catch (e) {
    if (isScratchBirdError(e)) return e.code
    throw e
  }
}

async function counterValue (c: { get: () => Promise<{ values: Array<{ value: number, labels: Record<string, string | number> }> }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await c.get()
  return values.find(v => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0
}

async function rawPost (node: TestNode, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number, bytes: Buffer }> {
  const res = await request(`http://${node.address}${RPC_PATH}`, {
    method: 'POST',
    headers: { 'content-type': RPC_CONTENT_TYPE, [RPC_HEADER_SECRET]: SECRET, [RPC_HEADER_CLUSTER]: CLUSTER, [RPC_HEADER_NODE_ID]: '7', ...headers },
    body
  })
  return { status: res.statusCode, bytes: Buffer.from(await res.body.arrayBuffer()) }
}

describe('cluster RPC over HTTP', () => {
  it('round-trips a call and tells the method who sent it', async () => {
    const node = await startNode()
    const c = client()
    expect(text(await c.call(node.address, 'PING', b('hello world')))).toBe('hello world')
    expect(await c.call(node.address, 'PING', new Uint8Array(0))).toEqual(new Uint8Array(0))
    expect(node.calls[0]).toEqual({ opcode: 'PING', from: 7, payload: b('hello world') })
    expect(await counterValue(node.metrics.rpcMessagesReceived, { opcode: 'PING' })).toBe(2)
    // A typed payload: the gossip ping arrives as sent, and the method's null reply comes back.
    const sync = c.call(node.address, 'GOSSIP_SYNC', ping)
    await vi.waitFor(() => { expect(node.calls).toHaveLength(3) })
    expect(node.calls[2]).toEqual({ opcode: 'GOSSIP_SYNC', from: 7, payload: ping })
    node.release()
    expect(await sync).toBeNull()
  })

  it('batches the calls of one event-loop turn into one POST', async () => {
    const node = await startNode()
    const metrics = createMetrics()
    const c = client({ metrics })
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => c.call(node.address, 'PING', b(String(i)), { idempotent: true })))
    expect(results.map(text)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)))
    expect(node.requests).toBe(1)
    expect(await counterValue(metrics.rpcBatchesSent, { peer: node.address })).toBe(1)
    expect(await counterValue(metrics.rpcCallsSent, { opcode: 'PING' })).toBe(100)
    // More than RPC_MAX_MESSAGES (1024) in one turn: split, never refused.
    node.requests = 0
    const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => c.call(node.address, 'PING', b(String(i)))))
    expect(text(many[1999]!)).toBe('1999')
    expect(node.requests).toBe(2)
  })

  it('rejects a missing or wrong secret and a wrong cluster, counts them, dispatches nothing', async () => {
    const node = await startNode()
    const wrongSecret = client({ secret: 'not-the-cluster-secret' })
    const noSecret = client({ secret: undefined })
    const otherCluster = client({ cluster: 'other-cluster' })
    expect(await codeOf(wrongSecret.call(node.address, 'PING', b('1')))).toBe('SB_RPC_UNAUTHENTICATED')
    expect(await codeOf(noSecret.call(node.address, 'PING', b('1')))).toBe('SB_RPC_UNAUTHENTICATED')
    expect(await codeOf(otherCluster.call(node.address, 'PING', b('1')))).toBe('SB_RPC_WRONG_CLUSTER')
    expect(await counterValue(node.metrics.rpcRejected, { reason: 'unauthenticated' })).toBe(2)
    expect(await counterValue(node.metrics.rpcRejected, { reason: 'wrong_cluster' })).toBe(1)
    expect(node.calls).toEqual([])
    const raw = await rawPost(node, pingFrame('1'), { [RPC_HEADER_SECRET]: SECRET.slice(0, -1) })
    expect(raw.status).toBe(401)
    expect(JSON.parse(raw.bytes.toString())).toMatchObject({ error: { code: 'SB_RPC_UNAUTHENTICATED' } })
    expect(node.calls).toEqual([])
  })

  it('accepts peers without a secret when none is configured', async () => {
    const node = await startNode({ secret: undefined })
    expect(text(await client({ secret: undefined }).call(node.address, 'PING', b('open')))).toBe('open')
  })

  it('rejects malformed bodies and sender ids with 400, dispatching nothing', async () => {
    const node = await startNode()
    const junk = Uint8Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) & 0xff)
    for (const body of [junk, new Uint8Array(0), Buffer.from('SBR1\u0002 not really')]) {
      const r = await rawPost(node, body)
      expect(r.status).toBe(400)
      expect(JSON.parse(r.bytes.toString())).toMatchObject({ error: { code: 'SB_RPC_MALFORMED' } })
    }
    // Byte 4 is the frame version: ' ' (32) is a version from the future, refused naming both.
    const future = await rawPost(node, Buffer.from('SBR1 but not really'))
    expect(future.status).toBe(400)
    expect(JSON.parse(future.bytes.toString())).toMatchObject({ error: { code: 'SB_CODEC_VERSION', version: 32, supported: 2 } })
    // Only that one is a refusal for a newer version (the junk above is malformed, not newer).
    expect(await counterValue(node.metrics.codecVersionRefused, { codec: 'cluster RPC frame' })).toBe(1)
    const valid = pingFrame('1')
    for (const id of ['0', '65536', 'seven', '']) {
      expect((await rawPost(node, valid, { [RPC_HEADER_NODE_ID]: id })).status).toBe(400)
    }
    // A malformed payload anywhere in the batch refuses the whole batch: the good PING is not served either.
    const badPayload = encodeFrame([
      { kind: 'request', opcode: RPC_OPCODES.PING, id: 1, body: rpcPayloads('PING').request.encode(b('ok')) },
      { kind: 'request', opcode: RPC_OPCODES.GOSSIP_SYNC, id: 2, body: Uint8Array.of(1, 0, 0, 7) }
    ])
    const refused = await rawPost(node, badPayload)
    expect(refused.status).toBe(400)
    expect(JSON.parse(refused.bytes.toString())).toMatchObject({ error: { code: 'SB_RPC_MALFORMED' } })
    expect(await counterValue(node.metrics.rpcRejected, { reason: 'malformed' })).toBe(9)
    expect(node.calls).toEqual([])
    expect((await rawPost(node, valid)).status).toBe(200)
  })

  it('refuses an oversized body with 413', async () => {
    const node = await startNode({ maxBodyBytes: 1024 })
    expect(await codeOf(client().call(node.address, 'PING', b('x'.repeat(2000))))).toBe('SB_BODY_TOO_LARGE')
    expect(await counterValue(node.metrics.rpcRejected, { reason: 'too_large' })).toBe(1)
    expect(node.calls).toEqual([])
    // A call over the client's own limit never leaves the node.
    expect(await codeOf(client({ maxBodyBytes: 1024 }).call(node.address, 'PING', b('x'.repeat(2000))))).toBe('SB_RPC_TOO_LARGE')
    expect(node.requests).toBe(1)
  })

  it('turns a reply that does not fit the body limit into SB_RPC_TOO_LARGE for that call only', async () => {
    const node = await startNode({ maxBodyBytes: 1024 })
    const c = client({ maxBodyBytes: 1024 })
    const [big, small] = [c.call(node.address, 'CATALOG_DDL', { sql: 'size:2000' }), c.call(node.address, 'CATALOG_DDL', { sql: 'size:10' })]
    expect(await codeOf(big)).toBe('SB_RPC_TOO_LARGE')
    expect((await small).command).toBe('z'.repeat(10))
  })

  it('times out a call with no reply within its deadline', async () => {
    const node = await startNode()
    const c = client()
    const t0 = performance.now()
    expect(await codeOf(c.call(node.address, 'GOSSIP_SYNC', ping, { timeoutMs: 150 }))).toBe('SB_RPC_TIMEOUT')
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
    expect(node.calls.map(x => x.opcode)).toEqual(['GOSSIP_SYNC'])
    node.release()
    // The client carries on with the same peer.
    expect(text(await c.call(node.address, 'PING', b('after')))).toBe('after')
  })

  it('fails fast with SB_NODE_UNREACHABLE naming the peer when nobody listens', async () => {
    const port = await new Promise<number>(resolve => {
      const s = createServer()
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const c = client()
    const t0 = performance.now()
    const err = await c.call(`127.0.0.1:${port}`, 'PING', b('1'), { timeoutMs: 10_000 }).catch((e: unknown) => e)
    expect(performance.now() - t0).toBeLessThan(2_000)
    expect(err).toBeInstanceOf(ScratchBirdError)
    expect(err).toMatchObject({ code: 'SB_NODE_UNREACHABLE', details: { peer: `127.0.0.1:${port}` } })
  })

  it('fails only the call whose method throws', async () => {
    const node = await startNode()
    const c = client()
    const calls = [
      c.call(node.address, 'PING', b('a')),
      c.call(node.address, 'CATALOG_DDL', { sql: 'fail:coded' }),
      c.call(node.address, 'CATALOG_DDL', { sql: 'fail:bug' }),
      c.call(node.address, 'SHARD_QUERY', { op: 'PING', shard: asShardId(0), catalogVersion: 0, payload: new Uint8Array(4) }), // no method registered for it
      c.call(node.address, 'PING', b('b'))
    ]
    const settled = await Promise.allSettled(calls)
    expect(node.requests).toBe(1)
    expect(settled[0]).toEqual({ status: 'fulfilled', value: b('a') })
    expect(settled[4]).toEqual({ status: 'fulfilled', value: b('b') })
    const reasons = settled.slice(1, 4).map(s => (s as PromiseRejectedResult).reason as ScratchBirdError)
    expect(reasons.map(r => r.code)).toEqual(['SB_UNDEFINED_TABLE', 'SB_INTERNAL', 'SB_RPC_UNKNOWN_OPCODE'])
    expect(reasons[0]!.details).toEqual({ table: 'nope' })
    expect(node.internalErrors).toHaveLength(1)
  })

  it('answers a raw batch with one reply per message, including unknown opcodes', async () => {
    const node = await startNode()
    const r = await rawPost(node, encodeFrame([
      { kind: 'request', opcode: RPC_OPCODES.PING, id: 10, body: rpcPayloads('PING').request.encode(b('x')) },
      { kind: 'request', opcode: 0xfe, id: 11, body: Uint8Array.of(9, 9) }
    ]))
    expect(r.status).toBe(200)
    const replies = decodeFrame(r.bytes, 'reply')
    expect(replies[0]).toMatchObject({ kind: 'ok', opcode: RPC_OPCODES.PING, id: 10 })
    expect(text(rpcPayloads('PING').reply.decode(replies[0]!.body))).toBe('x')
    expect(replies[1]).toMatchObject({ kind: 'error', opcode: 0xfe, id: 11 })
    expect(decodeErrorPayload(replies[1]!.body, 'p').code).toBe('SB_RPC_UNKNOWN_OPCODE')
  })

  it('answers a payload in a newer codec version with SB_CODEC_VERSION naming both, for that message alone', async () => {
    const node = await startNode()
    const newer = rpcPayloads('PING').request.encode(b('from the future'))
    newer[0] = 7
    const r = await rawPost(node, encodeFrame([
      { kind: 'request', opcode: RPC_OPCODES.PING, id: 1, body: newer },
      { kind: 'request', opcode: RPC_OPCODES.PING, id: 2, body: rpcPayloads('PING').request.encode(b('today')) }
    ]))
    expect(r.status).toBe(200)
    const [first, second] = decodeFrame(r.bytes, 'reply')
    const err = decodeErrorPayload(first!.body, 'p')
    expect(err).toMatchObject({ code: 'SB_CODEC_VERSION', details: { codec: 'PING', version: 7, supported: CODEC_VERSIONS.rpcPayload } })
    expect(err.message).toMatch(new RegExp(`version 7.*up to version ${CODEC_VERSIONS.rpcPayload}`))
    expect(second!.kind).toBe('ok')
    expect(text(rpcPayloads('PING').reply.decode(second!.body))).toBe('today')
    expect(node.calls.map(c => text(c.payload as Uint8Array))).toEqual(['today'])
    expect(await counterValue(node.metrics.codecVersionRefused, { codec: 'PING' })).toBe(1)
  })

  it('fails only the call whose reply is in a newer codec version or malformed', async () => {
    // A peer that answers PING "a" in codec version 9, "b" with junk, "c" properly and "d" with an
    // error reply in codec version 9.
    const server = createHttpServer({
      [RPC_PATH]: {
        POST: async (req, res) => {
          const chunks: Buffer[] = []
          for await (const c of req) chunks.push(c as Buffer)
          const replies = decodeFrame(Buffer.concat(chunks), 'request').map(m => {
            const t = text(rpcPayloads('PING').request.decode(m.body))
            const body = rpcPayloads('PING').reply.encode(b(t))
            if (t === 'a') body[0] = 9
            if (t === 'd') {
              const err = encodeErrorPayload(new ScratchBirdError('SB_INTERNAL', 'from the future'))
              err[0] = 9
              return { kind: 'error' as const, opcode: m.opcode, id: m.id, body: err }
            }
            return { kind: 'ok' as const, opcode: m.opcode, id: m.id, body: t === 'b' ? new Uint8Array(0) : body }
          })
          const frame = encodeFrame(replies)
          res.writeHead(200, { 'content-type': RPC_CONTENT_TYPE, 'content-length': frame.length })
          res.end(frame)
          return undefined
        }
      }
    }, e => { throw e })
    const addr = await listen(server, '127.0.0.1:0')
    cleanups.push(async () => { server.closeAllConnections(); await closeServer(server) })
    const metrics = createMetrics()
    const c = client({ metrics })
    const peer = `127.0.0.1:${addr.port}`
    const settled = await Promise.allSettled(['a', 'b', 'c', 'd'].map(t => c.call(peer, 'PING', b(t))))
    // Counted on this node, which refused the replies (the junk one is malformed, not newer).
    expect(await counterValue(metrics.codecVersionRefused, { codec: 'PING reply' })).toBe(1)
    expect(await counterValue(metrics.codecVersionRefused, { codec: 'error reply' })).toBe(1)
    expect((settled[3] as PromiseRejectedResult).reason).toMatchObject({ code: 'SB_CODEC_VERSION', details: { version: 9, supported: 1, peer } })
    expect((settled[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'SB_CODEC_VERSION', details: { version: 9, supported: CODEC_VERSIONS.rpcPayload, peer } })
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'SB_RPC_MALFORMED' })
    expect(settled[2]).toEqual({ status: 'fulfilled', value: b('c') })
  })

  it('bounds the calls outstanding to one peer', async () => {
    const node = await startNode()
    const c = client({ maxOutstandingCalls: 3 })
    const parked = [1, 2, 3].map(() => c.call(node.address, 'GOSSIP_SYNC', ping))
    expect(await codeOf(c.call(node.address, 'PING', b('4')))).toBe('SB_RPC_QUEUE_FULL')
    // Released calls free their slots.
    await new Promise(resolve => setTimeout(resolve, 50))
    node.release()
    expect(await Promise.all(parked)).toEqual([null, null, null])
    expect(text(await c.call(node.address, 'PING', b('5')))).toBe('5')
  })

  it('close() fails outstanding calls with SB_SHUTTING_DOWN and refuses new ones', async () => {
    const node = await startNode()
    const c = client()
    const pending = codeOf(c.call(node.address, 'GOSSIP_SYNC', ping))
    await new Promise(resolve => setTimeout(resolve, 50))
    await c.close()
    expect(await pending).toBe('SB_SHUTTING_DOWN')
    expect(await codeOf(c.call(node.address, 'PING', b('1')))).toBe('SB_SHUTTING_DOWN')
  })
})
