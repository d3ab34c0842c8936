// When a certificate's expiry is worth a WARNING (issue 18 item 1): within 14 days of its notAfter,
// at start and then once a day (tls-shell.ts runs the timer, the metric carries the seconds left).
// Pure, on times the caller reads from its Clock.

export const TLS_EXPIRY_WARN_MS = 14 * 24 * 3600_000
/** How often a running node looks again (and warns again while within the window). */
export const TLS_EXPIRY_CHECK_MS = 24 * 3600_000

export interface ExpiryState {
  /** Seconds until notAfter (negative: expired), what scratchbird_tls_cert_expiry_seconds shows. */
  readonly secondsLeft: number
  readonly level: 'ok' | 'warn' | 'expired'
}

export function expiryState (notAfterMs: number, nowMs: number): ExpiryState {
  const left = notAfterMs - nowMs
  const secondsLeft = Math.floor(left / 1000)
  if (left <= 0) return { secondsLeft, level: 'expired' }
  return { secondsLeft, level: left <= TLS_EXPIRY_WARN_MS ? 'warn' : 'ok' }
}

/** The log line for a state that is not 'ok'; null when there is nothing to say. */
export function expiryMessage (file: string, notAfterMs: number, nowMs: number): string | null {
  const s = expiryState(notAfterMs, nowMs)
  const when = new Date(notAfterMs).toISOString()
  if (s.level === 'expired') return `TLS certificate ${file} expired at ${when}: peers and clients refuse it; replace it and send SIGHUP (or just replace the file)`
  if (s.level === 'warn') return `TLS certificate ${file} expires in ${Math.ceil(s.secondsLeft / 86400)} day(s), at ${when}: replace it before then (reloaded on change or SIGHUP)`
  return null
}
