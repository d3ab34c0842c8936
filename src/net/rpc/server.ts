import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ScratchBirdError, assert, isScratchBirdError, messageOf } from '../../core/errors'
import { countCodecRefusal, type NodeMetrics } from '../../ops/metrics'
import { readBody } from '../body'
import type { Handler, Routes } from '../http-server'
import { RPC_CONTENT_TYPE, RPC_HEADER_CLUSTER, RPC_HEADER_NODE_ID, RPC_HEADER_SECRET, RPC_PATH } from './headers'
import { RPC_OPCODES, rpcOpcodeInfo, rpcOpcodeLabel, type RpcOpcodeName } from './opcodes'
import { rpcPayloads, type RpcReplies, type RpcRequests } from './payloads'
import { encodeErrorPayload } from './remote-error'
import { RPC_MAX_BODY_BYTES, decodeFrame, encodeFrame, frameSize, type RpcFrameMessage } from './wire'
import { isNodeId, type NodeId } from '../../core/ids'
import type { TraceParent, TracePort } from '../../core/trace-context'
import { RPC_HEADER_TRACE, decodeTraceHeader } from './trace-header'

// The serving side of cluster RPC (DESIGN §7): `POST /v1/rpc` on the node's HTTP listener.
// Order of checks, each a rejection that is counted (scratchbird_rpc_rejected_total{reason}) and
// dispatches nothing:
//   1. cluster secret, when one is configured          → 401 SB_RPC_UNAUTHENTICATED
//   2. cluster name                                    → 403 SB_RPC_WRONG_CLUSTER
//   3. sender node id header                           → 400 SB_RPC_MALFORMED
//      and, under TLS, the client certificate naming it → 401 SB_TLS_PEER_REFUSED
//   4. body size (refused as soon as the limit passes) → 413 SB_BODY_TOO_LARGE
//   5. the whole frame and every payload decode        → 400 SB_RPC_MALFORMED
//      (payloads in their opcode's codec, payloads.ts; a payload in a newer codec version than
//      this node speaks is not malformed: that message alone is answered SB_CODEC_VERSION)
// The secret comes first so an unauthenticated sender learns nothing else. Rejections close the
// connection: the unread body is not worth draining for a peer we refuse.
// A valid batch dispatches every message to its method; a method's ScratchBirdError becomes an
// error reply for that message only, and the answer is always one reply frame (200).

/** What a method learns about the call besides its payload. */
export interface RpcContext {
  /** Sender's node id (x-scratchbird-node-id), authenticated only as far as the secret is. */
  readonly from: NodeId
  readonly opcode: RpcOpcodeName
  readonly id: number
}

/** Serves one opcode: returns the reply payload (in the opcode's codec) or throws a ScratchBirdError. */
export type RpcMethod<K extends RpcOpcodeName = RpcOpcodeName> = (payload: RpcRequests[K], ctx: RpcContext) => RpcReplies[K] | Promise<RpcReplies[K]>

interface Served {
  readonly name: RpcOpcodeName
  readonly method: (payload: unknown, ctx: RpcContext) => unknown
  readonly decode: (body: Uint8Array) => unknown
  readonly encode: (reply: unknown) => Uint8Array
}

/** The methods this node serves, by opcode. Subsystems register theirs at startup. */
export class RpcMethods {
  private readonly byCode = new Map<number, Served>()

  register<K extends RpcOpcodeName> (name: K, method: RpcMethod<K>): this {
    const code = RPC_OPCODES[name]
    assert(!this.byCode.has(code), `RPC method ${name} registered twice`)
    const codec = rpcPayloads(name)
    this.byCode.set(code, {
      name,
      method: method as (payload: unknown, ctx: RpcContext) => unknown,
      decode: b => codec.request.decode(b),
      encode: r => codec.reply.encode(r as RpcReplies[K])
    })
    return this
  }

  /** The method serving opcode `code` with its payload codecs. */
  get (code: number): Served | undefined {
    return this.byCode.get(code)
  }
}

export type RpcRejectReason = 'unauthenticated' | 'wrong_cluster' | 'malformed' | 'too_large'

export interface RpcServerOptions {
  /** This node's cluster.name; senders must present the same. */
  readonly cluster: string
  /** security.cluster_secret. Undefined: no secret check (the node's config decides whether that is allowed). */
  readonly secret: string | undefined
  readonly methods: RpcMethods
  readonly metrics: Pick<NodeMetrics, 'rpcRejected' | 'rpcMessagesReceived' | 'codecVersionRefused'>
  /** Request and reply body limit; every node of a cluster must use the same. */
  readonly maxBodyBytes?: number
  /** A method threw something other than a ScratchBirdError (a bug): log it. */
  readonly onInternalError?: (e: unknown) => void
  /**
   * Mutual TLS (security.tls_enabled, net/tls-peer.ts): whether the connection's client
   * certificate names the node the request claims to come from; the error refuses the request
   * (counted as unauthenticated). Absent: no certificate check.
   */
  readonly authenticatePeer?: (req: IncomingMessage, from: NodeId) => ScratchBirdError | undefined
  /**
   * Tracing on: a call that arrives with its caller's trace context (trace-header.ts) runs in a
   * span that is a child of the caller's. Absent or null: the header is not even read.
   */
  readonly tracer?: TracePort | null
}

// Hashing both sides first gives equal lengths, which timingSafeEqual needs, and comparing raw
// lengths would leak the secret's length.
const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

const NODE_ID_TEXT = /^[1-9][0-9]{0,4}$/

function parseNodeId (text: string | string[] | undefined): NodeId | undefined {
  if (typeof text !== 'string' || !NODE_ID_TEXT.test(text)) return undefined
  const id = Number(text)
  return isNodeId(id) ? id : undefined
}

export function createRpcHandler (opts: RpcServerOptions): Handler {
  const expected = opts.secret === undefined ? undefined : sha256(opts.secret)
  const limit = opts.maxBodyBytes ?? RPC_MAX_BODY_BYTES
  const onInternalError = opts.onInternalError ?? (() => {})

  const rejected = (res: ServerResponse, reason: RpcRejectReason, err: ScratchBirdError): ScratchBirdError => {
    opts.metrics.rpcRejected.inc({ reason })
    res.setHeader('connection', 'close')
    return err
  }

  /** A request whose payload decoded, or the error reply it gets instead (unknown opcode, newer codec). */
  type Decoded = { m: RpcFrameMessage, served: Served, payload: unknown } | RpcFrameMessage

  function decodeRequest (m: RpcFrameMessage): Decoded {
    const served = opts.methods.get(m.opcode)
    if (rpcOpcodeInfo(m.opcode) === undefined || served === undefined) {
      return errorReply(m, new ScratchBirdError('SB_RPC_UNKNOWN_OPCODE', `this node does not serve cluster RPC opcode ${rpcOpcodeLabel(m.opcode)}`, { opcode: rpcOpcodeLabel(m.opcode) }))
    }
    try {
      return { m, served, payload: served.decode(m.body) }
    } catch (e) {
      if (isScratchBirdError(e, 'SB_CODEC_VERSION')) {
        countCodecRefusal(opts.metrics, e)
        return errorReply(m, e)
      }
      throw e // SB_RPC_MALFORMED: the whole batch is refused below
    }
  }

  const tracer = opts.tracer ?? null

  async function dispatch (d: Decoded, from: NodeId, parent: TraceParent | undefined): Promise<RpcFrameMessage> {
    if (!('served' in d)) return d
    const { m, served } = d
    try {
      const ctx: RpcContext = { from, opcode: served.name, id: m.id }
      const result = tracer === null || parent === undefined
        ? await served.method(d.payload, ctx)
        : await tracer.root(`rpc ${served.name}`, { 'rpc.system': 'scratchbird', 'rpc.method': served.name, 'scratchbird.from_node': from }, parent, () => served.method(d.payload, ctx))
      return { kind: 'ok', opcode: m.opcode, id: m.id, body: served.encode(result) }
    } catch (e) {
      if (isScratchBirdError(e)) return errorReply(m, e)
      onInternalError(e)
      return errorReply(m, new ScratchBirdError('SB_INTERNAL', `internal error in cluster RPC method ${served.name}`, { opcode: served.name }))
    }
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<undefined> => {
    if (expected !== undefined) {
      const got = req.headers[RPC_HEADER_SECRET]
      if (typeof got !== 'string' || !timingSafeEqual(sha256(got), expected)) {
        throw rejected(res, 'unauthenticated', new ScratchBirdError('SB_RPC_UNAUTHENTICATED',
          got === undefined ? `cluster RPC without the ${RPC_HEADER_SECRET} header` : 'cluster RPC with a wrong cluster secret'))
      }
    }
    const cluster = req.headers[RPC_HEADER_CLUSTER]
    if (cluster !== opts.cluster) {
      throw rejected(res, 'wrong_cluster', new ScratchBirdError('SB_RPC_WRONG_CLUSTER',
        `cluster RPC from cluster "${String(cluster ?? '')}", this node belongs to "${opts.cluster}"`, { cluster: String(cluster ?? '') }))
    }
    const from = parseNodeId(req.headers[RPC_HEADER_NODE_ID])
    if (from === undefined) {
      throw rejected(res, 'malformed', new ScratchBirdError('SB_RPC_MALFORMED', `cluster RPC without a valid ${RPC_HEADER_NODE_ID} header (1..65535)`))
    }
    const refusedPeer = opts.authenticatePeer?.(req, from)
    if (refusedPeer !== undefined) throw rejected(res, 'unauthenticated', refusedPeer)
    let body: Buffer
    try {
      body = await readBody(req, limit)
    } catch (e) {
      if (isScratchBirdError(e, 'SB_BODY_TOO_LARGE')) {
        throw rejected(res, 'too_large', new ScratchBirdError('SB_BODY_TOO_LARGE', `cluster RPC body exceeds ${limit} bytes`, { limit }))
      }
      throw rejected(res, 'malformed', new ScratchBirdError('SB_RPC_MALFORMED', `cluster RPC body could not be read: ${messageOf(e)}`))
    }
    // All or nothing: the frame and every payload decode before any method runs.
    let received: RpcFrameMessage[]
    let messages: Decoded[]
    try {
      received = decodeFrame(body, 'request')
      messages = received.map(decodeRequest)
    } catch (e) {
      countCodecRefusal(opts.metrics, e) // a frame of a newer wire version (decodeRequest answers newer payloads itself)
      throw isScratchBirdError(e) ? rejected(res, 'malformed', e) : e
    }
    for (const m of received) opts.metrics.rpcMessagesReceived.inc({ opcode: rpcOpcodeLabel(m.opcode) })
    // Methods start in batch order (each runs synchronously up to its first await) and then run
    // concurrently; a caller that needs one call done before the next awaits it.
    const parents = tracer === null ? undefined : decodeTraceHeader(req.headers[RPC_HEADER_TRACE])
    const replies = await Promise.all(messages.map(m => dispatch(m, from, parents?.get(('m' in m ? m.m : m).id))))
    const frame = encodeFrame(fitReplies(replies, limit))
    res.writeHead(200, { 'content-type': RPC_CONTENT_TYPE, 'content-length': frame.length })
    res.end(frame)
    return undefined
  }
}

/** The route to merge into the node's route table (src/net/http-server.ts). */
export function rpcRoutes (opts: RpcServerOptions): Routes {
  return { [RPC_PATH]: { POST: createRpcHandler(opts) } }
}

function errorReply (m: { opcode: number, id: number }, err: ScratchBirdError): RpcFrameMessage {
  return { kind: 'error', opcode: m.opcode, id: m.id, body: encodeErrorPayload(err) }
}

/**
 * Keeps the reply frame within the body limit the caller reads with: while it is too big, the
 * largest successful reply becomes an SB_RPC_TOO_LARGE error reply (error replies are bounded, so
 * this ends). The caller sees exactly which calls did not fit.
 */
function fitReplies (replies: RpcFrameMessage[], limit: number): RpcFrameMessage[] {
  let total = frameSize(replies.map(r => r.body.length))
  if (total <= limit) return replies
  const out = [...replies]
  const largestFirst = out.map((_, i) => i).filter(i => out[i]!.kind === 'ok').sort((a, b) => out[b]!.body.length - out[a]!.body.length)
  for (const i of largestFirst) {
    if (total <= limit) break
    const r = out[i]!
    const err = errorReply(r, new ScratchBirdError('SB_RPC_TOO_LARGE', `the reply (${r.body.length} bytes) does not fit the ${limit}-byte cluster RPC body limit`, { bytes: r.body.length, limit }))
    total += err.body.length - r.body.length
    out[i] = err
  }
  return out
}
