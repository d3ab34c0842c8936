// The PostgreSQL-protocol listener (node.pg_listen): a net.Server whose connections are
// PgConnections over the node's executor and session registry. Each connection gets a process id
// and a random secret (BackendKeyData) for CancelRequest. Closing: stop accepting, let each
// connection finish the message in hand, end it with a FATAL "shutting down", then resolve.
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { TLSSocket, type SecureContext } from 'node:tls'
import { ScratchBirdError } from '../../core/errors'
import { PgConnection, type PgServerPorts } from './connection'
import { hostPort } from '../peer-address'
import type { PerClientLimit } from '../client-limit'
import { readTlsPreamble } from './ssl-request'
import { classifyTlsError, type TlsFailureReason } from '../tls-failures'

export interface PgServerOptions extends Omit<PgServerPorts, 'cancel'> {
  /** node.pg_auth_timeout_ms: startup and authentication must be done this long after connecting. */
  readonly authTimeoutMs: number
  /** security.tls_enabled: only TLS connections (SSLRequest) are served. Absent: plaintext, SSLRequest answered 'N'. */
  readonly tls?: PgTls
  /** node.max_connections_per_client: connections one client address may hold on this listener. */
  readonly perClient?: PerClientLimit
}

export interface PgTls {
  /** The running context, read at each handshake (a reload applies to the next connections). */
  readonly context: () => SecureContext
  /** A client refused before startup (counted and logged by the caller). */
  readonly refused: (peer: string, reason: TlsFailureReason, detail: string) => void
}

/** Connections one listener serves at once; more are refused with a FATAL error (53300). */
export const MAX_PG_CONNECTIONS = 10_000

export class PgServer {
  private readonly server: Server
  private readonly connections = new Map<number, PgConnection>()
  private nextPid = 1

  constructor (private readonly opts: PgServerOptions) {
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket))
  }

  get size (): number { return this.connections.size }

  private secret (): number {
    const b = new Uint8Array(4)
    this.opts.rng.fill(b)
    return Buffer.from(b).readInt32BE(0)
  }

  private accept (socket: Socket): void {
    if (this.opts.tls === undefined) this.serve(socket)
    else this.negotiateTls(socket, this.opts.tls)
  }

  /**
   * security.tls_enabled: reads the first packet(s) of a plaintext connection (ssl-request.ts) and
   * starts TLS on an SSLRequest; the connection proper (serve) runs on the TLS socket.
   */
  private negotiateTls (raw: Socket, tls: PgTls): void {
    const peer = hostPort(raw.remoteAddress, raw.remotePort)
    let buf: Buffer = Buffer.alloc(0)
    // The whole of startup, TLS included, is bounded by node.pg_auth_timeout_ms (serve restarts it).
    const timer = setTimeout(() => raw.destroy(), this.opts.authTimeoutMs)
    timer.unref()
    raw.on('error', () => { /* reset by peer …: the socket closes */ })
    raw.once('close', () => clearTimeout(timer))
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        const p = readTlsPreamble(buf)
        if (p.kind === 'more') return
        if (p.kind === 'no-gss') {
          raw.write('N')
          buf = p.rest
          continue
        }
        raw.pause()
        raw.off('data', onData)
        clearTimeout(timer)
        if (p.kind === 'cancel') {
          this.serve(raw, p.bytes)
        } else if (p.kind === 'plaintext') {
          tls.refused(peer, 'plaintext', 'a plaintext startup')
          this.serve(raw, undefined, new ScratchBirdError('SB_TLS_REQUIRED', 'this server accepts only TLS connections (security.tls_enabled): connect with sslmode=require, verify-ca or verify-full'))
        } else if (p.extra) {
          tls.refused(peer, 'handshake', 'bytes after the SSLRequest, before the TLS handshake')
          raw.destroy()
        } else {
          this.startTls(raw, tls, peer)
        }
        return
      }
    }
    raw.on('data', onData)
  }

  private startTls (raw: Socket, tls: PgTls, peer: string): void {
    raw.write('S')
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls.context() })
    const timer = setTimeout(() => secure.destroy(), this.opts.authTimeoutMs)
    timer.unref()
    let done = false
    secure.once('secure', () => {
      done = true
      clearTimeout(timer)
      this.serve(secure)
    })
    secure.on('error', (e) => {
      if (!done) tls.refused(peer, classifyTlsError(e), e.message)
      secure.destroy()
    })
    secure.once('close', () => clearTimeout(timer))
  }

  /** A connection (plaintext, or TLS once negotiated); `initial`: bytes already read; `refusal`: FATAL at once. */
  private serve (socket: Socket, initial?: Buffer, refusal?: ScratchBirdError): void {
    const pid = this.nextPid
    this.nextPid = this.nextPid >= 0x7fffffff ? 1 : this.nextPid + 1
    const ports: PgServerPorts = {
      ...this.opts,
      cancel: (p, s) => this.cancel(p, s)
    }
    const conn = new PgConnection(ports, {
      write: (b) => { if (!socket.destroyed) socket.write(b) },
      // Ends after what was written, then closes even if the client never closes its side.
      end: () => { socket.destroySoon() },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      remoteAddress: hostPort(socket.remoteAddress, socket.remotePort)
    }, pid, this.secret())
    socket.on('data', (chunk: Buffer) => conn.onData(chunk))
    if (refusal !== undefined) {
      socket.on('error', () => {})
      conn.refuse(refusal)
      socket.resume()
      return
    }
    // A client that connects and never completes startup (or trickles it) would hold the
    // connection forever: startup and authentication have this long from connecting, in all.
    const authTimer = setTimeout(() => {
      if (conn.authenticated) return
      this.opts.log.info({ pid }, `PostgreSQL connection closed: no startup and authentication within ${this.opts.authTimeoutMs} ms`)
      conn.refuse(new ScratchBirdError('SB_AUTH_TIMEOUT', `startup and authentication did not complete within ${this.opts.authTimeoutMs} ms (node.pg_auth_timeout_ms)`, { timeout_ms: this.opts.authTimeoutMs }))
    }, this.opts.authTimeoutMs)
    authTimer.unref()
    socket.on('error', () => { /* reset by peer …: 'close' follows and cleans up */ })
    socket.on('close', () => { clearTimeout(authTimer); this.connections.delete(pid); conn.onClose() })
    if (this.connections.size >= MAX_PG_CONNECTIONS) {
      this.opts.log.warn({ max: MAX_PG_CONNECTIONS }, 'PostgreSQL connection refused: too many connections')
      conn.refuse(new ScratchBirdError('SB_TOO_MANY_SESSIONS', `too many PostgreSQL connections (at most ${MAX_PG_CONNECTIONS})`, { max: MAX_PG_CONNECTIONS }))
      return
    }
    const address = socket.remoteAddress ?? ''
    const perClient = this.opts.perClient
    if (perClient !== undefined) {
      if (!perClient.admit(address)) {
        this.opts.log.warn({ client: address, max: perClient.max }, 'PostgreSQL connection refused: too many connections from this client (node.max_connections_per_client)')
        conn.refuse(perClient.refusal(address))
        return
      }
      socket.once('close', () => perClient.release(address))
    }
    this.connections.set(pid, conn)
    if (initial !== undefined) conn.onData(initial)
    socket.resume()
  }

  /**
   * CancelRequest: the executor cannot interrupt a running statement yet (a statement's shard
   * requests are in flight on the rings with no cancel op), so a valid request is logged and
   * otherwise ignored — which the protocol allows (cancellation is best effort).
   */
  private cancel (pid: number, secret: number): void {
    const target = this.connections.get(pid)
    if (target === undefined || target.secret !== secret) return
    this.opts.log.info({ pid }, 'PostgreSQL cancel request accepted; running statements cannot be interrupted in this release, it completes')
  }

  listen (hostPort: string): Promise<AddressInfo> {
    const i = hostPort.lastIndexOf(':')
    const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '')
    const port = Number(hostPort.slice(i + 1))
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve(this.server.address() as AddressInfo)
      })
    })
  }

  /** Stops accepting, ends every connection after the message it is running, and resolves when all are gone. */
  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => this.server.close(() => resolve()))
    await Promise.all([...this.connections.values()].map(c => c.shutdown()))
    await closed
  }
}
