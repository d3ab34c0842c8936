// Failed-login throttling (issue 18 item 2): every password check costs a PBKDF2 of the verifier's
// iteration count (4096 SHA-256 rounds: milliseconds of CPU), so a client guessing passwords
// both guesses fast and burns the node's CPU. After `maxFailures` failed logins from one client
// address within `lockoutMs`, that address is refused without any password check for `lockoutMs`
// (SB_LOGIN_THROTTLED, HTTP 429 with Retry-After; on the PostgreSQL protocol a FATAL before the
// SCRAM exchange) — correct credentials included, as with PAM's faillock: otherwise a guess that
// happens to be right would still be answered. A successful login clears the address's count.
//
// Counted by client host (IP, not port: a client's connections come from many ports), the same
// key node.max_connections_per_client uses. The table holds at most MAX_TRACKED addresses; beyond
// that the oldest entry is dropped (a flood of addresses forgets the oldest first: a client can
// only lose its own throttling by making the node forget it among many others — the count
// then starts again, it is never raised for someone else). Pure: time comes from `now()`.
import { ScratchBirdError } from '../core/errors'
import { clientKey } from './client-limit'

/** Addresses tracked at most. */
export const MAX_TRACKED = 10_000

export interface ThrottleSettings {
  /** security.login_failures_max: failures within lockoutMs that lock an address out; 0: never. */
  readonly maxFailures: number
  /** security.login_lockout_ms: the counting window and the lockout's length. */
  readonly lockoutMs: number
}

export interface LoginThrottleOptions {
  /** The settings now (read at every call: a configuration reload applies to the next login). */
  readonly settings: () => ThrottleSettings
  /** Monotonic milliseconds. */
  readonly now: () => number
}

interface Entry {
  /** Failures counted since `since`. */
  failures: number
  /** When the counting window began (the first failure counted). */
  since: number
  /** Refused until then (0: not locked out). */
  lockedUntil: number
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly o: LoginThrottleOptions) {}

  /** Throws SB_LOGIN_THROTTLED when `address` is locked out now; call before any password check. */
  check (address: string): void {
    const { maxFailures, lockoutMs } = this.o.settings()
    if (maxFailures === 0) return
    const e = this.entries.get(clientKey(address))
    const now = this.o.now()
    if (e === undefined || e.lockedUntil <= now) return
    const retryAfterMs = e.lockedUntil - now
    throw new ScratchBirdError('SB_LOGIN_THROTTLED',
      `too many failed logins from ${clientKey(address)}: ${maxFailures} within security.login_lockout_ms (${lockoutMs} ms); try again in ${Math.ceil(retryAfterMs / 1000)} s`,
      { client: clientKey(address), retry_after_ms: retryAfterMs, max_failures: maxFailures })
  }

  /** A login of `address` failed (wrong password, unknown user): counted; the limit locks it out. */
  failure (address: string): void {
    const { maxFailures, lockoutMs } = this.o.settings()
    if (maxFailures === 0) return
    const key = clientKey(address)
    const now = this.o.now()
    let e = this.entries.get(key)
    if (e === undefined || now - e.since >= lockoutMs) {
      e = { failures: 0, since: now, lockedUntil: e?.lockedUntil ?? 0 }
    }
    this.entries.delete(key) // re-inserted last: the Map's order is the eviction order
    e.failures++
    if (e.failures >= maxFailures) {
      e.lockedUntil = now + lockoutMs
      e.failures = 0
      e.since = now
    }
    this.entries.set(key, e)
    if (this.entries.size > MAX_TRACKED) this.entries.delete(this.entries.keys().next().value!)
  }

  /** A login of `address` succeeded: its count starts again. */
  success (address: string): void {
    this.entries.delete(clientKey(address))
  }

  /** Addresses tracked now (tests, and the bound). */
  get size (): number { return this.entries.size }
}
