// Refused TLS peers and clients (issue 18 item 1): why a handshake or a peer check failed, counted
// in scratchbird_tls_handshake_failures_total{listener, reason} and logged at most once a minute
// per listener and reason (a scanner or a misconfigured peer retrying in a loop must not flood
// the log), with how many were not logged since.
import type { Clock } from '../core/clock'

export type TlsListener = 'client' | 'rpc' | 'pg' | 'rpc_client'

/**
 * no_certificate: a peer without a client certificate; untrusted_certificate: one not signed by
 * tls_ca (or expired); wrong_node: signed, but it names another node (or none);
 * plaintext: a client that spoke plaintext to a TLS listener; aborted: the client hung up
 * before the handshake ended (a peer's connect timeout, a port scanner: counted, not logged);
 * handshake: anything else.
 */
export type TlsFailureReason = 'no_certificate' | 'untrusted_certificate' | 'wrong_node' | 'plaintext' | 'aborted' | 'handshake'

export const TLS_FAILURE_REASONS: readonly TlsFailureReason[] = ['no_certificate', 'untrusted_certificate', 'wrong_node', 'plaintext', 'aborted', 'handshake']

/** The reason of an OpenSSL / Node TLS error, from its code and message. */
export function classifyTlsError (e: unknown): TlsFailureReason {
  const code = String((e as { code?: unknown } | null)?.code ?? '')
  const text = `${code} ${String((e as { message?: unknown } | null)?.message ?? '')}`.toLowerCase()
  if (/peer_did_not_return_a_certificate|peer did not return a certificate|certificate_required|certificate required/.test(text)) return 'no_certificate'
  if (/http_request|http request|wrong_version_number|wrong version number|unknown_protocol|unknown protocol|packet_length_too_long|record_layer_failure/.test(text)) return 'plaintext'
  if (/econnreset|epipe|socket hang up|ecanceled/.test(text)) return 'aborted'
  if (/certificate|unknown_ca|unknown ca|issuer|self.signed|cert_has_expired|bad_certificate|verify/.test(text)) return 'untrusted_certificate'
  return 'handshake'
}

export const TLS_FAILURE_LOG_INTERVAL_MS = 60_000

export interface TlsFailureSink {
  readonly count: (labels: { listener: TlsListener, reason: TlsFailureReason }) => void
  readonly log: (fields: Record<string, unknown>, msg: string) => void
}

export class TlsFailureReporter {
  private readonly lastLogged = new Map<string, { at: number, suppressed: number }>()

  constructor (private readonly sink: TlsFailureSink, private readonly clock: Clock) {}

  report (listener: TlsListener, reason: TlsFailureReason, peer: string, detail: string): void {
    this.sink.count({ listener, reason })
    if (reason === 'aborted') return
    const key = `${listener}/${reason}`
    const now = this.clock.monotonic()
    const last = this.lastLogged.get(key)
    if (last !== undefined && now - last.at < TLS_FAILURE_LOG_INTERVAL_MS) {
      last.suppressed++
      return
    }
    const suppressed = last?.suppressed ?? 0
    this.lastLogged.set(key, { at: now, suppressed: 0 })
    this.sink.log({ listener, reason, peer, suppressed },
      `TLS: refused ${peer} on the ${listener} listener (${reason}): ${detail}${suppressed > 0 ? ` (${suppressed} more like it not logged in the last minute)` : ''}`)
  }
}
