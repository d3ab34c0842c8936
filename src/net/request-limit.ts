// Per-client request limits (issue 18 item 5): one client address — a runaway loop, a pool
// gone wild — must not take all of a node's executor, whatever the connection limit lets it
// hold. Two bounds, each per client IP (clientKey, like node.max_connections_per_client and the
// login throttle), on the requests that run SQL (HTTP API routes but /v1/health, PostgreSQL
// Query and Execute messages), both listeners counted together:
//  - in flight: requests admitted and not finished (node.max_requests_in_flight_per_client);
//  - rate: a token bucket of node.request_burst_per_client tokens refilled at
//    node.max_requests_per_second_per_client per second; a request takes one.
// A refused request has run nothing: SB_TOO_MANY_REQUESTS (HTTP 429 with Retry-After; on the
// PostgreSQL protocol an ErrorResponse, the connection stays). Pure: time comes from `now()`,
// the settings are read at every request (a configuration reload applies to the next one).
//
// The table holds at most MAX_TRACKED addresses; beyond that the oldest idle entry (nothing in
// flight) is dropped — its bucket starts full again next time, which only ever favours that
// client, never raises anyone's count.
import { ScratchBirdError } from '../core/errors'
import { clientKey } from './client-limit'

export const MAX_TRACKED = 10_000
/** Entries looked at for an idle one to drop when the table is full (bounded work per request). */
const EVICT_SCAN = 64

export interface RequestLimitSettings {
  /** Requests in flight per client; 0: no limit. */
  readonly maxInFlight: number
  /** Requests per second per client (the bucket's refill rate); 0: no rate limit. */
  readonly perSecond: number
  /** The bucket's size: requests a client may send at once after being quiet. */
  readonly burst: number
}

export type RefusalReason = 'requests_in_flight' | 'request_rate'

export type Admission =
  | { readonly ok: true, readonly release: () => void }
  | { readonly ok: false, readonly reason: RefusalReason, readonly retryAfterMs: number, readonly error: ScratchBirdError }

export interface RequestLimiterOptions {
  readonly settings: () => RequestLimitSettings
  /** Monotonic milliseconds. */
  readonly now: () => number
}

interface Entry {
  inFlight: number
  /** Tokens in the bucket at `at` (fractions kept). */
  tokens: number
  at: number
}

const NOTHING = (): void => {}

export class RequestLimiter {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly o: RequestLimiterOptions) {}

  /** Admits one request of `address` (call release() when it ends), or says why not. */
  admit (address: string): Admission {
    const s = this.o.settings()
    if (s.maxInFlight === 0 && s.perSecond === 0) return { ok: true, release: NOTHING }
    const key = clientKey(address)
    const now = this.o.now()
    let e = this.entries.get(key)
    if (e === undefined) e = { inFlight: 0, tokens: s.burst, at: now }
    else this.entries.delete(key) // re-inserted last: the Map's order is the eviction order
    this.entries.set(key, e)
    if (s.perSecond > 0) {
      e.tokens = Math.min(s.burst, e.tokens + Math.max(0, now - e.at) * s.perSecond / 1000)
    } else {
      e.tokens = s.burst
    }
    e.at = now
    if (s.maxInFlight > 0 && e.inFlight >= s.maxInFlight) {
      return refused('requests_in_flight', 1000, `too many requests in flight from ${key}: ${e.inFlight} (at most ${s.maxInFlight}: node.max_requests_in_flight_per_client); retry when one has finished`, key)
    }
    if (s.perSecond > 0 && e.tokens < 1) {
      const retryAfterMs = Math.ceil((1 - e.tokens) * 1000 / s.perSecond)
      return refused('request_rate', retryAfterMs, `too many requests from ${key}: more than ${s.perSecond} per second (node.max_requests_per_second_per_client, bursts of ${s.burst}); retry in ${retryAfterMs} ms`, key)
    }
    if (s.perSecond > 0) e.tokens -= 1
    e.inFlight++
    this.evict()
    let done = false
    return {
      ok: true,
      release: () => {
        if (done) return
        done = true
        // The entry may have been dropped meanwhile (a full table): nothing left to count down.
        if (this.entries.get(key) === e) e.inFlight--
      }
    }
  }

  /** Requests `address` has in flight (tests, logs). */
  inFlight (address: string): number { return this.entries.get(clientKey(address))?.inFlight ?? 0 }

  /** Addresses tracked now (tests, and the bound). */
  get size (): number { return this.entries.size }

  private evict (): void {
    if (this.entries.size <= MAX_TRACKED) return
    let scanned = 0
    let oldest: string | undefined
    for (const [k, e] of this.entries) {
      oldest ??= k
      if (e.inFlight === 0) { this.entries.delete(k); return }
      if (++scanned >= EVICT_SCAN) break
    }
    // Every entry looked at is busy: the oldest goes anyway (the table stays bounded).
    if (oldest !== undefined) this.entries.delete(oldest)
  }
}

function refused (reason: RefusalReason, retryAfterMs: number, message: string, client: string): Admission {
  return { ok: false, reason, retryAfterMs, error: new ScratchBirdError('SB_TOO_MANY_REQUESTS', message, { client, reason, retry_after_ms: retryAfterMs }) }
}
