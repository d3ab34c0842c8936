import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { TlsOptions } from 'node:tls'
import type { AddressInfo, Socket } from 'node:net'
import { keepConnectionsThroughStalls, type StallWatch } from './stall-guard'
import { ScratchBirdError, isScratchBirdError } from '../core/errors'
import { LIMITS } from '../core/limits'
import type { PerClientLimit } from './client-limit'

// The node's HTTP listener (client SQL API now, cluster RPC later). Routes are a table; every
// error answer has the same JSON shape {"error": {code, sqlstate, message}} so clients and the
// CLI handle one format.

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<unknown> | unknown
export type Routes = Record<string, Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE', Handler>>>

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/**
 * The rest of a refused (413) body is read and dropped up to this many bytes, so a client still
 * sending it gets to read the answer instead of a connection reset (closing a socket with unread
 * input makes the kernel send RST, and the client's write fails with EPIPE before it reads the
 * 413). A body larger still is not worth reading: the connection is cut.
 */
export const REFUSED_BODY_DRAIN_BYTES = LIMITS.refusedBodyDrainBytes

export function sendError (res: ServerResponse, err: ScratchBirdError): void {
  if (res.headersSent) { res.destroy(); return }
  if (err.code === 'SB_BODY_TOO_LARGE') drainRefusedBody(res.req)
  sendJson(res, err.httpStatus, { error: err.toJSON() })
}

function drainRefusedBody (req: IncomingMessage): void {
  let dropped = 0
  req.removeAllListeners('data')
  req.on('data', (c: Buffer) => {
    dropped += c.length
    if (dropped > REFUSED_BODY_DRAIN_BYTES) req.socket.destroy()
  })
  req.resume()
}

/**
 * `stalls`: keep kept-alive connections through a stall of this process (stall-guard.ts); every
 * node listener passes the node's watch. `tls`: serve HTTPS only (security.tls_enabled; the
 * options come from net/tls-shell.ts, which also reloads them).
 */
export function createHttpServer (routes: Routes, onInternalError: (e: unknown) => void, stalls?: StallWatch, tls?: TlsOptions, perClient?: PerClientLimit): Server {
  // Connections over node.max_connections_per_client: their first request is answered 503 and
  // the connection closed (answering before a request arrives would be read as a reply to none).
  const refused = new WeakSet<Socket>()
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (refused.has(req.socket)) {
      res.shouldKeepAlive = false
      sendError(res, perClient!.refusal(req.socket.remoteAddress ?? ''))
      return
    }
    // Node's own check (requireHostHeader, off below) answers a bare 400 without our JSON body.
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      res.shouldKeepAlive = false
      sendError(res, new ScratchBirdError('SB_MALFORMED_REQUEST', 'an HTTP/1.1 request must carry a Host header'))
      return
    }
    const path = (req.url ?? '/').split('?')[0]!
    // `/a/b/*` routes serve `/a/b/<anything>` (resource ids in the path); exact routes win.
    const route = routes[path] ?? routes[path.slice(0, path.lastIndexOf('/') + 1) + '*']
    const handler = route?.[req.method as keyof typeof route]
    if (!route) { sendError(res, new ScratchBirdError('SB_NOT_FOUND', `no such endpoint: ${path}`)); return }
    if (!handler) {
      res.setHeader('allow', Object.keys(route).join(', '))
      sendJson(res, 405, { error: new ScratchBirdError('SB_MALFORMED_REQUEST', `method ${req.method ?? ''} not allowed on ${path}`).toJSON() })
      return
    }
    Promise.resolve().then(() => handler(req, res)).then(body => {
      if (!res.headersSent && body !== undefined) sendJson(res, 200, body)
    }, (e: unknown) => {
      if (isScratchBirdError(e)) { sendError(res, e); return }
      onInternalError(e)
      sendError(res, new ScratchBirdError('SB_INTERNAL', 'internal error; the request changed nothing'))
    })
  }
  const server = tls === undefined ? createServer({ requireHostHeader: false }, handle) : createHttpsServer({ ...tls, requireHostHeader: false }, handle)
  server.on('clientError', answerClientError)
  if (perClient !== undefined && perClient.max > 0) {
    // Under TLS the socket a request arrives on is the TLSSocket of 'secureConnection'.
    server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      const address = socket.remoteAddress ?? ''
      if (!perClient.admit(address)) { refused.add(socket); return }
      socket.once('close', () => perClient.release(address))
    })
  }
  // Bounded: slow or idle clients cannot hold sockets forever.
  server.headersTimeout = 10_000
  server.requestTimeout = 60_000
  server.keepAliveTimeout = 5_000
  if (stalls !== undefined) keepConnectionsThroughStalls(server, stalls)
  return server
}

/**
 * What a request the HTTP parser refused is answered (the 'clientError' of node:http): our coded
 * JSON body instead of Node's bare "400 Bad Request", so a client sees one error format whatever
 * it sent. Null: the connection is gone or broke mid-answer — nothing can be sent.
 */
export function clientErrorAnswer (e: Error & { code?: string }): ScratchBirdError | null {
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return null
  if (e.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ScratchBirdError('SB_REQUEST_TIMEOUT', 'the request did not arrive in time; connection closed')
  if (e.code === 'HPE_HEADER_OVERFLOW') return new ScratchBirdError('SB_MALFORMED_REQUEST', 'request headers are too large', { parser: e.code })
  return new ScratchBirdError('SB_MALFORMED_REQUEST', 'not a well-formed HTTP/1.1 request', { parser: e.code ?? 'unknown' })
}

function answerClientError (e: Error & { code?: string }, socket: Socket): void {
  const err = clientErrorAnswer(e)
  // Mid-answer (a response already started on this connection) a second status line would corrupt it.
  const busy = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (err === null || !socket.writable || busy) { socket.destroy(); return }
  const text = JSON.stringify({ error: err.toJSON() })
  socket.end(`HTTP/1.1 ${err.httpStatus} ${STATUS_CODES[err.httpStatus] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}

export function listen (server: Server, hostPort: string): Promise<AddressInfo> {
  const i = hostPort.lastIndexOf(':')
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '')
  const port = Number(hostPort.slice(i + 1))
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

/** How often a closing server closes the keep-alive connections that went idle since. */
const CLOSE_IDLE_EVERY_MS = 25

/**
 * Stops accepting connections and resolves once every open one has ended — at the latest
 * `graceMs` after the call, when the connections still open are destroyed (their requests'
 * clients see the connection reset: outcome unknown, as with any node going away). Without the
 * bound a stop waited on requests that could outlast node.shutdown_timeout_ms, and on keep-alive
 * clients (peers' RPC, undici pools) that kept sending: issue 21's chaos runs saw the HTTP
 * listener's close overrun the timeout and the node exit 1. Meanwhile a request arriving on an
 * open connection is answered with `connection: close`, and connections are closed as they go idle.
 */
export function closeServer (server: Server, graceMs = Infinity): Promise<void> {
  return new Promise(resolve => {
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => { res.setHeader('connection', 'close') })
    const idle = setInterval(() => server.closeIdleConnections(), CLOSE_IDLE_EVERY_MS)
    const force = Number.isFinite(graceMs) ? setTimeout(() => server.closeAllConnections(), graceMs) : undefined
    server.close(() => {
      clearInterval(idle)
      if (force !== undefined) clearTimeout(force)
      resolve()
    })
    server.closeIdleConnections()
  })
}
