import type { PeerCertificate, SecureContext } from 'node:tls'
import { Pool, buildConnector, type Dispatcher } from 'undici'
import { ScratchBirdError, isScratchBirdError, messageOf } from '../../core/errors'
import { countCodecRefusal, type NodeMetrics } from '../../ops/metrics'
import { RPC_CONTENT_TYPE, RPC_HEADER_CLUSTER, RPC_HEADER_NODE_ID, RPC_HEADER_SECRET, RPC_PATH } from './headers'
import { RPC_OPCODES, type RpcOpcodeName } from './opcodes'
import { rpcPayloads, type RpcReplies, type RpcRequests } from './payloads'
import { decodeErrorPayload, remoteError } from './remote-error'
import {
  RPC_FRAME_HEADER_BYTES, RPC_MAX_BODY_BYTES, RPC_MAX_MESSAGES, RPC_MESSAGE_HEADER_BYTES, decodeFrame, encodeFrame, frameSize
} from './wire'
import type { NodeId } from '../../core/ids'
import type { Clock } from '../../core/clock'
import { checkCertNode } from '../tls-names'
import { RPC_HEADER_TRACE, encodeTraceHeader } from './trace-header'

// The calling side of cluster RPC (DESIGN §7): one undici Pool per peer address. Calls to the same
// peer issued in one event-loop turn go out as one POST (flushed by setImmediate); while the
// peer's connections are all busy, calls keep queueing and leave together in the next batch, so
// batches grow with load instead of piling up as separate requests.
//
// Failure semantics every caller must assume: SB_RPC_TIMEOUT and SB_NODE_UNREACHABLE mean the
// outcome on the peer is unknown (it may have applied the call). Nothing is retried here.
//
// Pipelining: undici pipelines only requests marked idempotent and may *resend* such a request
// when the one ahead of it on the connection fails. So a batch is sent idempotent (pipelined,
// possibly resent) only when every call in it says `idempotent: true` — gossip, catalog fetch,
// ping, applies of versions the replica already holds. Other batches wait for their connection.

export const RPC_CONNECTIONS_PER_PEER = 4
export const RPC_PIPELINING = 8
/** Calls to one peer accepted and not yet answered (queued or in flight). */
export const RPC_MAX_OUTSTANDING_CALLS_PER_PEER = 4096
export const RPC_DEFAULT_TIMEOUT_MS = 5_000
/** A dead host should fail calls fast, not after undici's 10 s default. */
export const RPC_CONNECT_TIMEOUT_MS = 2_000

export interface RpcClientOptions {
  /** This node's cluster.name, presented to peers. */
  readonly cluster: string
  /** This node's node.id, presented to peers. */
  readonly nodeId: NodeId
  /** security.cluster_secret; undefined sends no secret header. */
  readonly secret: string | undefined
  readonly metrics: Pick<NodeMetrics, 'rpcBatchesSent' | 'rpcCallsSent' | 'rpcCallsFailed' | 'codecVersionRefused'> & Partial<Pick<NodeMetrics, 'rpcBatchSeconds'>>
  /** Times each batch's round trip (scratchbird_rpc_duration_seconds{peer}); absent: not timed. */
  readonly clock?: Clock
  readonly connections?: number
  readonly pipelining?: number
  readonly maxOutstandingCalls?: number
  /** Request and reply body limit; every node of a cluster must use the same. */
  readonly maxBodyBytes?: number
  readonly defaultTimeoutMs?: number
  /** security.tls_enabled: call peers over TLS (see RpcTls). Absent: plaintext HTTP. */
  readonly tls?: RpcTls
  /** Tracing on: the traceparent of the caller's current span, sent with its call (trace-header.ts). Absent: none sent. */
  readonly traceparent?: () => string | undefined
}

/**
 * The client half of mutual TLS between nodes: every connection presents this node's certificate
 * and accepts the peer only if its certificate chains to tls_ca and names the node cluster.nodes
 * lists at that address (net/tls-names.ts) — not the host name: nodes are named by id.
 */
export interface RpcTls {
  /** The running context (this node's certificate, key and tls_ca), read at each new connection so a reload applies. */
  readonly context: () => SecureContext
  /** The node expected at a peer address; undefined: any single node (an address cluster.nodes does not list). */
  readonly nodeAt: (address: string) => NodeId | undefined
  /** A peer whose certificate was refused (counted and logged by the caller). */
  readonly onRefused: (address: string, why: string) => void
}

export interface RpcCallOptions {
  /** Deadline of this call from now; SB_RPC_TIMEOUT after it. */
  readonly timeoutMs?: number
  /** Applying the call twice is harmless (see the pipelining note above). Default false. */
  readonly idempotent?: boolean
}

interface Batch {
  readonly abort: AbortController
  open: number
  done: boolean
}

interface Call {
  readonly id: number
  readonly opcode: number
  readonly name: RpcOpcodeName
  readonly body: Uint8Array
  readonly idempotent: boolean
  /** The opcode's reply codec. */
  readonly decode: (body: Uint8Array) => unknown
  readonly resolve: (payload: unknown) => void
  readonly reject: (err: ScratchBirdError) => void
  timer: NodeJS.Timeout | undefined
  batch: Batch | undefined
  /** The caller's trace context, read when the call was made (its async context is gone by the send). */
  readonly traceparent?: string | undefined
}

interface Peer {
  readonly address: string
  readonly pool: Pool
  queue: Call[]
  /** Every call accepted and not settled, queued or in flight. */
  readonly outstanding: Set<Call>
  inFlight: number
  scheduled: boolean
}

export class RpcClient {
  private readonly peers = new Map<string, Peer>()
  private readonly headers: Record<string, string>
  private readonly maxBody: number
  private readonly maxInFlight: number
  private nextId = 0
  private closed = false

  constructor (private readonly opts: RpcClientOptions) {
    this.headers = {
      'content-type': RPC_CONTENT_TYPE,
      [RPC_HEADER_CLUSTER]: opts.cluster,
      [RPC_HEADER_NODE_ID]: String(opts.nodeId),
      ...(opts.secret === undefined ? {} : { [RPC_HEADER_SECRET]: opts.secret })
    }
    this.maxBody = opts.maxBodyBytes ?? RPC_MAX_BODY_BYTES
    this.maxInFlight = (opts.connections ?? RPC_CONNECTIONS_PER_PEER) * (opts.pipelining ?? RPC_PIPELINING)
  }

  /**
   * Calls `opcode` on the node listening at `peer` (HOST:PORT) and resolves with its reply
   * payload, or rejects with a ScratchBirdError: the peer's own code for an error reply,
   * SB_RPC_TIMEOUT, SB_NODE_UNREACHABLE, SB_RPC_QUEUE_FULL, SB_RPC_TOO_LARGE, SB_RPC_MALFORMED,
   * SB_RPC_UNAUTHENTICATED / SB_RPC_WRONG_CLUSTER (refused batch), SB_CODEC_VERSION (the peer
   * answered in a newer codec), SB_SHUTTING_DOWN (closed). `payload` and the reply travel in the
   * opcode's binary codec (payloads.ts).
   */
  call<K extends RpcOpcodeName> (peer: string, opcode: K, payload: RpcRequests[K], options: RpcCallOptions = {}): Promise<RpcReplies[K]> {
    const fail = (err: ScratchBirdError): Promise<never> => {
      this.opts.metrics.rpcCallsFailed.inc({ opcode, code: err.code })
      return Promise.reject(err)
    }
    if (this.closed) return fail(new ScratchBirdError('SB_SHUTTING_DOWN', 'the cluster RPC client is closed'))
    let body: Uint8Array
    try {
      body = rpcPayloads(opcode).request.encode(payload)
    } catch (e) {
      return Promise.reject(e)
    }
    if (frameSize([body.length]) > this.maxBody) {
      return fail(new ScratchBirdError('SB_RPC_TOO_LARGE', `a ${opcode} call of ${body.length} bytes exceeds the ${this.maxBody}-byte cluster RPC body limit`, { peer, bytes: body.length, limit: this.maxBody }))
    }
    let p: Peer
    try {
      p = this.peer(peer)
    } catch (e) {
      return fail(new ScratchBirdError('SB_BAD_ARGUMENT', `cluster peer address "${peer}" is not HOST:PORT`, { peer }, { cause: e }))
    }
    const limit = this.opts.maxOutstandingCalls ?? RPC_MAX_OUTSTANDING_CALLS_PER_PEER
    if (p.outstanding.size >= limit) {
      return fail(new ScratchBirdError('SB_RPC_QUEUE_FULL', `${limit} cluster RPC calls to ${peer} are already outstanding`, { peer, limit }))
    }
    const timeoutMs = options.timeoutMs ?? this.opts.defaultTimeoutMs ?? RPC_DEFAULT_TIMEOUT_MS
    return new Promise<RpcReplies[K]>((resolve, reject) => {
      this.nextId = (this.nextId + 1) >>> 0
      const decode = (b: Uint8Array): unknown => rpcPayloads(opcode).reply.decode(b)
      const call: Call = { id: this.nextId, opcode: RPC_OPCODES[opcode], name: opcode, body, idempotent: options.idempotent ?? false, decode, resolve: resolve as (v: unknown) => void, reject, timer: undefined, batch: undefined, traceparent: this.opts.traceparent?.() }
      call.timer = setTimeout(() => {
        this.settle(p, call, new ScratchBirdError('SB_RPC_TIMEOUT', `${opcode} to cluster peer ${peer} got no reply within ${timeoutMs} ms; its outcome is unknown`, { peer, timeout_ms: timeoutMs }))
      }, timeoutMs)
      p.queue.push(call)
      p.outstanding.add(call)
      if (!p.scheduled) {
        p.scheduled = true
        setImmediate(() => { p.scheduled = false; this.flush(p) })
      }
    })
  }

  /** Fails every outstanding call with SB_SHUTTING_DOWN and closes every connection. */
  async close (): Promise<void> {
    this.closed = true
    const peers = [...this.peers.values()]
    this.peers.clear()
    for (const p of peers) {
      for (const call of [...p.outstanding]) this.settle(p, call, new ScratchBirdError('SB_SHUTTING_DOWN', 'the cluster RPC client closed before the reply'))
      p.queue = []
    }
    await Promise.all(peers.map(p => p.pool.destroy()))
  }

  private peer (address: string): Peer {
    let p = this.peers.get(address)
    if (p === undefined) {
      const tls = this.opts.tls
      const pool = new Pool(`${tls === undefined ? 'http' : 'https'}://${address}`, {
        connections: this.opts.connections ?? RPC_CONNECTIONS_PER_PEER,
        pipelining: this.opts.pipelining ?? RPC_PIPELINING,
        connectTimeout: RPC_CONNECT_TIMEOUT_MS,
        ...(tls === undefined ? {} : { connect: tlsConnector(address, tls) })
      })
      p = { address, pool, queue: [], outstanding: new Set(), inFlight: 0, scheduled: false }
      this.peers.set(address, p)
    }
    return p
  }

  /** Sends queued calls as batches (≤ RPC_MAX_MESSAGES, ≤ the body limit) while slots are free. */
  private flush (p: Peer): void {
    if (this.closed) return
    p.queue = p.queue.filter(c => p.outstanding.has(c)) // drop calls that timed out while queued
    while (p.inFlight < this.maxInFlight && p.queue.length > 0) {
      let size = RPC_FRAME_HEADER_BYTES
      let n = 0
      while (n < p.queue.length && n < RPC_MAX_MESSAGES) {
        const s = RPC_MESSAGE_HEADER_BYTES + p.queue[n]!.body.length
        if (n > 0 && size + s > this.maxBody) break
        size += s
        n++
      }
      void this.send(p, p.queue.splice(0, n))
    }
  }

  private async send (p: Peer, calls: Call[]): Promise<void> {
    p.inFlight++
    const batch: Batch = { abort: new AbortController(), open: calls.length, done: false }
    for (const c of calls) {
      c.batch = batch
      this.opts.metrics.rpcCallsSent.inc({ opcode: c.name })
    }
    this.opts.metrics.rpcBatchesSent.inc({ peer: p.address })
    const idempotent = calls.every(c => c.idempotent)
    const started = this.opts.clock?.monotonic()
    try {
      const res = await p.pool.request({
        path: RPC_PATH,
        method: 'POST',
        headers: this.opts.traceparent === undefined ? this.headers : traceHeaders(this.headers, calls),
        body: encodeFrame(calls.map(c => ({ kind: 'request', opcode: c.opcode, id: c.id, body: c.body }))),
        signal: batch.abort.signal,
        idempotent,
        blocking: !idempotent
      })
      const bytes = await readBounded(res, this.maxBody, p.address)
      batch.done = true
      if (started !== undefined) this.opts.metrics.rpcBatchSeconds?.observe({ peer: p.address }, (this.opts.clock!.monotonic() - started) / 1000)
      if (res.statusCode !== 200) {
        const err = refusal(res.statusCode, bytes, p.address)
        for (const c of calls) this.settle(p, c, err)
        return
      }
      this.deliver(p, calls, bytes)
    } catch (e) {
      batch.done = true
      // An abort is ours: every call of the batch was already settled (timed out or closed).
      if (batch.abort.signal.aborted) return
      const err = isScratchBirdError(e) ? e : unreachable(p.address, e)
      for (const c of calls) this.settle(p, c, err)
    } finally {
      p.inFlight--
      this.flush(p)
    }
  }

  /** Settles the calls of a batch from its reply frame. */
  private deliver (p: Peer, calls: Call[], bytes: Uint8Array): void {
    let replies
    try {
      replies = decodeFrame(bytes, 'reply')
    } catch (e) {
      countCodecRefusal(this.opts.metrics, e)
      const err = new ScratchBirdError('SB_RPC_MALFORMED', `cluster peer ${p.address} sent a malformed reply: ${messageOf(e)}`, { peer: p.address })
      for (const c of calls) this.settle(p, c, err)
      return
    }
    const byId = new Map(calls.map(c => [c.id, c]))
    for (const r of replies) {
      const c = byId.get(r.id)
      if (c === undefined || c.opcode !== r.opcode) continue
      byId.delete(r.id)
      this.settle(p, c, r.kind === 'ok' ? this.decodeReply(c, r.body, p.address) : decodeErrorPayload(r.body, p.address, e => countCodecRefusal(this.opts.metrics, e)))
    }
    for (const c of byId.values()) {
      this.settle(p, c, new ScratchBirdError('SB_RPC_MALFORMED', `cluster peer ${p.address} sent no reply for a ${c.name} call`, { peer: p.address }))
    }
  }

  /** A reply's payload, or the coded error its bytes earn (for that call alone). */
  private decodeReply (c: Call, body: Uint8Array, peer: string): { payload: unknown } | ScratchBirdError {
    try {
      return { payload: c.decode(body) }
    } catch (e) {
      if (!isScratchBirdError(e)) throw e
      countCodecRefusal(this.opts.metrics, e)
      return new ScratchBirdError(e.code, `cluster peer ${peer} answered ${c.name}: ${e.message}`, { ...e.details, peer })
    }
  }

  /** Resolves or rejects a call once; the last open call of a batch aborts its request. */
  private settle (p: Peer, call: Call, outcome: { payload: unknown } | ScratchBirdError): void {
    if (!p.outstanding.delete(call)) return
    clearTimeout(call.timer)
    const batch = call.batch
    if (batch !== undefined && --batch.open === 0 && !batch.done) batch.abort.abort()
    if (outcome instanceof ScratchBirdError) {
      this.opts.metrics.rpcCallsFailed.inc({ opcode: call.name, code: outcome.code })
      call.reject(outcome)
    } else {
      call.resolve(outcome.payload)
    }
  }
}

/**
 * undici's TLS connector with the running context, rebuilt when a reload changed it (a connector
 * keeps a TLS session cache, so it is not rebuilt per connection).
 */
function tlsConnector (address: string, tls: RpcTls): buildConnector.connector {
  let built: { context: SecureContext, connect: buildConnector.connector } | null = null
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    const check = checkCertNode(cert, tls.nodeAt(address))
    if (check.ok) return undefined
    tls.onRefused(address, check.why)
    return new Error(`cluster peer ${address}: ${check.why}`)
  }
  return (options, callback) => {
    const context = tls.context()
    if (built?.context !== context) {
      built = { context, connect: buildConnector({ secureContext: context, rejectUnauthorized: true, checkServerIdentity, timeout: RPC_CONNECT_TIMEOUT_MS }) }
    }
    built.connect(options, callback)
  }
}

/** The batch's headers, with the trace context of its traced calls (a new object only then). */
function traceHeaders (headers: Record<string, string>, calls: readonly Call[]): Record<string, string> {
  const trace = encodeTraceHeader(calls)
  return trace === undefined ? headers : { ...headers, [RPC_HEADER_TRACE]: trace }
}

async function readBounded (res: Dispatcher.ResponseData, limit: number, peer: string): Promise<Buffer> {
  const tooLarge = (): ScratchBirdError => new ScratchBirdError('SB_RPC_TOO_LARGE', `cluster peer ${peer} sent a reply over the ${limit}-byte cluster RPC body limit`, { peer, limit })
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy()
    throw tooLarge()
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body) {
    const b = chunk as Buffer
    size += b.length
    if (size > limit) {
      res.body.destroy()
      throw tooLarge()
    }
    chunks.push(b)
  }
  return Buffer.concat(chunks)
}

/** A refused batch (401, 403, 400, 413 …): the peer's coded JSON error applies to every call. */
function refusal (status: number, bytes: Buffer, peer: string): ScratchBirdError {
  try {
    const { error } = JSON.parse(bytes.toString('utf8')) as { error?: Record<string, unknown> }
    if (typeof error === 'object' && error !== null) {
      const { code, message, sqlstate: _sqlstate, ...details } = error
      return remoteError(code, message, details, peer)
    }
  } catch {
    // Not our JSON error shape: report the status below.
  }
  return new ScratchBirdError('SB_RPC_MALFORMED', `cluster peer ${peer} answered HTTP ${status} without a ScratchBird error`, { peer, status })
}

function unreachable (peer: string, e: unknown): ScratchBirdError {
  const code = (e as { code?: unknown } | null)?.code
  const why = typeof code === 'string' ? code : messageOf(e)
  return new ScratchBirdError('SB_NODE_UNREACHABLE', `cluster peer ${peer} is unreachable (${why}); the outcome of the calls in flight is unknown`, { peer, cause_code: why }, { cause: e })
}
