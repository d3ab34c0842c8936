// The node's TLS (security.tls_enabled): the certificate set every listener and the RPC client
// use, reloaded on SIGHUP and when a file changes without dropping established connections (each
// server gets tls.Server.setSecureContext; connections keep the context they were made with, new
// ones get the new set), expiry watched, refused peers counted and logged (tls-failures.ts).
// A reload that fails — unreadable file, key not matching the certificate, a half-written file —
// keeps the running set and logs why; the next change of the files (or SIGHUP) tries again.
import { unwatchFile, watchFile, type Stats } from 'node:fs'
import type { Server as NetServer } from 'node:net'
import { Server as TlsServer, type TlsOptions, type SecureContext } from 'node:tls'
import type { Logger } from 'pino'
import type { Clock } from '../core/clock'
import { assert, describe, messageOf } from '../core/errors'
import type { NodeMetrics } from '../ops/metrics'
import { TLS_EXPIRY_CHECK_MS, expiryMessage, expiryState } from './tls-expiry'
import { TlsFailureReporter, classifyTlsError, type TlsListener } from './tls-failures'
import { hostPort } from './peer-address'
import { loadTlsMaterial, type TlsFiles, type TlsMaterial } from './tls-material'

/** How often the files are polled for changes (fs.watch misses files replaced by rename, as cert tools do). */
export const TLS_WATCH_INTERVAL_MS = 2_000
/** A change is reloaded this long after the last one seen, so a cert and key written one after the other load together. */
export const TLS_RELOAD_SETTLE_MS = 500

export interface TlsShellOptions {
  readonly files: TlsFiles
  readonly clock: Clock
  readonly log: Logger
  readonly metrics: Pick<NodeMetrics, 'tlsHandshakeFailures' | 'tlsCertExpirySeconds' | 'tlsReloads'>
}

export class TlsShell {
  private current: TlsMaterial
  readonly failures: TlsFailureReporter
  private readonly servers: TlsServer[] = []
  private expiryTimer: NodeJS.Timeout | null = null
  private settleTimer: NodeJS.Timeout | null = null
  private watching = false

  /** Loads the files; throws SB_TLS_MATERIAL (the node does not start) when they are unusable. */
  constructor (private readonly o: TlsShellOptions) {
    this.current = loadTlsMaterial(o.files)
    this.failures = new TlsFailureReporter({
      count: (labels) => o.metrics.tlsHandshakeFailures.inc(labels),
      log: (fields, msg) => o.log.warn(fields, msg)
    }, o.clock)
  }

  get material (): TlsMaterial { return this.current }
  /** The running context: for connections made now (the RPC client, pg's TLS upgrade). */
  get context (): SecureContext { return this.current.context }

  /**
   * Options of a TLS listener. 'require': the handshake itself refuses a client without a
   * certificate signed by tls_ca (the RPC's own listener); 'request': a certificate is asked for
   * but optional, and the RPC route checks it (node.listen serving clients and the RPC); 'none':
   * clients only (no certificate asked for: a browser would prompt for one).
   */
  serverOptions (clientCert: 'require' | 'request' | 'none'): TlsOptions {
    return { ...this.current.options, minVersion: 'TLSv1.2', requestCert: clientCert !== 'none', rejectUnauthorized: clientCert === 'require' }
  }

  /**
   * Counts and logs a listener's failed handshakes; reloads reach it through setSecureContext
   * (which leaves requestCert / rejectUnauthorized as the listener was created with).
   */
  attach (server: NetServer, listener: TlsListener): void {
    assert(server instanceof TlsServer, `the ${listener} listener was not created with TLS options`)
    this.servers.push(server)
    server.on('tlsClientError', (err, socket) => {
      // A client certificate that does not verify is not an OpenSSL error: Node checks it after
      // the handshake and destroys the socket (rejectUnauthorized), leaving authorizationError.
      const untrusted = socket.authorizationError as unknown
      const peer = hostPort(socket.remoteAddress, socket.remotePort)
      if (untrusted !== undefined && untrusted !== null) this.failures.report(listener, 'untrusted_certificate', peer, `client certificate: ${String(untrusted)}`)
      else this.failures.report(listener, classifyTlsError(err), peer, messageOf(err))
    })
  }

  /** Expiry check now and daily; file polling. */
  start (): void {
    this.checkExpiry()
    this.expiryTimer = setInterval(() => this.checkExpiry(), TLS_EXPIRY_CHECK_MS)
    this.expiryTimer.unref()
    this.watching = true
    for (const file of this.watchedFiles()) watchFile(file, { interval: TLS_WATCH_INTERVAL_MS, persistent: false }, this.onFileChange)
  }

  stop (): void {
    if (this.expiryTimer !== null) clearInterval(this.expiryTimer)
    if (this.settleTimer !== null) clearTimeout(this.settleTimer)
    if (this.watching) for (const file of this.watchedFiles()) unwatchFile(file, this.onFileChange)
    this.watching = false
  }

  private watchedFiles (): string[] {
    const f = this.o.files
    return [...new Set([f.cert, f.key, f.ca])]
  }

  private readonly onFileChange = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return
    if (this.settleTimer !== null) clearTimeout(this.settleTimer)
    this.settleTimer = setTimeout(() => { this.settleTimer = null; this.reload('a TLS file changed') }, TLS_RELOAD_SETTLE_MS)
    this.settleTimer.unref()
  }

  /** Loads the files again; on success every listener serves the new set to new connections. */
  reload (why: string): boolean {
    let next: TlsMaterial
    try {
      next = loadTlsMaterial(this.o.files)
    } catch (e) {
      this.o.metrics.tlsReloads.inc({ outcome: 'failed' })
      this.o.log.error({ err: describe(e) }, `TLS reload (${why}) failed, keeping the running certificates: ${messageOf(e)}`)
      return false
    }
    try {
      for (const s of this.servers) s.setSecureContext(this.optionsFor(next))
    } catch (e) {
      this.o.metrics.tlsReloads.inc({ outcome: 'failed' })
      this.o.log.error({ err: describe(e) }, `TLS reload (${why}) failed, keeping the running certificates: ${messageOf(e)}`)
      for (const s of this.servers) s.setSecureContext(this.optionsFor(this.current))
      return false
    }
    this.current = next
    this.o.metrics.tlsReloads.inc({ outcome: 'ok' })
    const leaf = next.expiries[0]!
    this.o.log.info({ cert: next.files.cert, subject: leaf.subject, notAfter: new Date(leaf.notAfterMs).toISOString() }, `TLS certificates reloaded (${why}): new connections use them, established ones keep theirs`)
    this.checkExpiry()
    return true
  }

  private optionsFor (m: TlsMaterial): TlsOptions {
    return { ...m.options, minVersion: 'TLSv1.2' }
  }

  /** scratchbird_tls_cert_expiry_seconds{file}: the earliest notAfter per file, as of now. */
  refreshGauges (): void {
    const now = this.o.clock.now()
    for (const [file, notAfterMs] of this.earliestByFile()) this.o.metrics.tlsCertExpirySeconds.set({ file }, expiryState(notAfterMs, now).secondsLeft)
  }

  private earliestByFile (): Map<string, number> {
    const out = new Map<string, number>()
    for (const e of this.current.expiries) out.set(e.file, Math.min(out.get(e.file) ?? Infinity, e.notAfterMs))
    return out
  }

  private checkExpiry (): void {
    this.refreshGauges()
    const now = this.o.clock.now()
    for (const [file, notAfterMs] of this.earliestByFile()) {
      const msg = expiryMessage(file, notAfterMs, now)
      if (msg !== null) this.o.log.warn({ file, notAfter: new Date(notAfterMs).toISOString() }, msg)
    }
  }
}
