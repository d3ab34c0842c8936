// Who a client is (issue 18 item 2), decided without I/O: the PostgreSQL listener asks how to
// authenticate a startup's user name, the HTTP listener hands over the Authorization header. The
// answers come from the catalog's users (their SCRAM-SHA-256 verifiers) and the mode:
//
//  - security.auth trust: everyone is admitted as a superuser (the node refuses to start with it
//    unless every client listener is on a loopback address).
//  - scram (default) with users in the catalog: credentials are checked against them.
//  - scram, no users yet, a bootstrap administrator configured: only that administrator's
//    credentials are accepted (checked against a verifier held in memory) until the user the
//    node creates for it has reached the catalog.
//  - scram, no users and no bootstrap administrator: open (trusted) — the node allows this only
//    when every client listener is on loopback (node/auth-mode.ts), so a first start and the
//    test suite work without credentials; the first CREATE USER closes it. The deprecated
//    security.pg_password still guards the PostgreSQL listener in this state.
//
// HTTP Bearer (issue 18 item 1) checks a token CREATE TOKEN made: the SHA-256 of the text sent
// must be a token of the catalog, not expired (by this node's clock); the request runs as its user.
//
// HTTP Basic checks a password by deriving the verifier's StoredKey (one PBKDF2); a success is
// remembered for BASIC_CACHE_MS under an HMAC of (user, password, verifier) with a per-process
// key, so a client sending the same credentials on every request pays the PBKDF2 once a minute,
// and a password change (a new verifier) or DROP USER takes effect at once.
import type { Catalog } from '../catalog/catalog'
import type { UserInfo } from '../catalog/user-records'
import type { Clock } from '../core/clock'
import { ScratchBirdError } from '../core/errors'
import type { Rng } from '../core/rng'
import type { Principal } from './privileges'
import { tokenByHash } from '../catalog/tokens'
import { bearerToken, tokenHash } from './bearer-token'
import { decodeVerifier, hmacSha256, passwordMatches, scramVerifier, type ScramVerifier } from './scram-verifier'

export type AuthMode = 'scram' | 'trust'

/** How long a verified HTTP Basic credential is remembered. */
export const BASIC_CACHE_MS = 60_000
/** Remembered credentials at most (oldest dropped first). */
export const BASIC_CACHE_ENTRIES = 1024
/** The HTTP user name of requests without credentials where none are needed (as before users existed). */
export const HTTP_TRUSTED_USER = 'http'

export interface BootstrapAdmin { readonly name: string, readonly password: string }

export interface AuthenticatorDeps {
  readonly mode: () => AuthMode
  readonly catalog: () => Catalog
  /** security.bootstrap_admin with its password; null: none configured. */
  readonly bootstrap: BootstrapAdmin | null
  /** security.pg_password (deprecated): read at each connection; applies only while the node is open. */
  readonly pgPassword: () => string | undefined
  /** Whether the node may be open (no users, no bootstrap administrator): every client listener on loopback (node/auth-setup.ts). */
  readonly openAllowed: boolean
  readonly clock: Clock
  readonly rng: Rng
}

/** How a PostgreSQL startup is authenticated: admitted as is, or by SCRAM against `verifier`. */
export type PgAuthPlan =
  | { readonly kind: 'trust', readonly principal: Principal }
  /** principal null: no such user — the exchange runs (so a client cannot tell) and fails. */
  | { readonly kind: 'scram', readonly verifier: ScramVerifier, readonly principal: Principal | null }

/** closed: no users, no bootstrap administrator, and listeners beyond loopback (every user dropped since start): nobody gets in. */
export type AuthState = 'trust' | 'open' | 'bootstrap' | 'users' | 'closed'

export class Authenticator {
  private readonly secret: Buffer
  private readonly basicCache = new Map<string, number>()
  private bootstrapVerifier: ScramVerifier | null = null
  private pgPasswordVerifier: { password: string, verifier: ScramVerifier } | null = null

  constructor (private readonly d: AuthenticatorDeps) {
    const b = new Uint8Array(32)
    d.rng.fill(b)
    this.secret = Buffer.from(b)
  }

  /** Which of the rules above applies now. */
  state (): AuthState {
    if (this.d.mode() === 'trust') return 'trust'
    if (this.d.catalog().users.length > 0) return 'users'
    if (this.d.bootstrap !== null) return 'bootstrap'
    return this.d.openAllowed ? 'open' : 'closed'
  }

  /** PostgreSQL: how to authenticate `user` (the startup packet's). */
  pg (user: string): PgAuthPlan {
    const state = this.state()
    if (state === 'trust') return { kind: 'trust', principal: { kind: 'trusted', name: user } }
    if (state === 'open') {
      const password = this.d.pgPassword()
      if (password === undefined) return { kind: 'trust', principal: { kind: 'trusted', name: user } }
      if (this.pgPasswordVerifier?.password !== password) this.pgPasswordVerifier = { password, verifier: scramVerifier(password, this.fakeSalt('pg_password')) }
      return { kind: 'scram', verifier: this.pgPasswordVerifier.verifier, principal: { kind: 'trusted', name: user } }
    }
    if (state === 'closed') return this.unknownUser(user)
    if (state === 'bootstrap') {
      const b = this.d.bootstrap!
      return b.name === user ? { kind: 'scram', verifier: this.bootstrapScram(), principal: { kind: 'trusted', name: user } } : this.unknownUser(user)
    }
    const u = this.d.catalog().user(user)
    if (u === undefined) return this.unknownUser(user)
    return { kind: 'scram', verifier: decodeVerifier(u.verifier), principal: principalOf(u) }
  }

  /**
   * HTTP: the principal of a request's Authorization header (undefined: none sent). Throws
   * SB_AUTH_FAILED (401) for missing credentials where they are needed, an unknown user, a wrong
   * password, or a header that is not Basic.
   */
  http (authorization: string | undefined): Principal {
    const state = this.state()
    if (state === 'trust' || (state === 'open' && authorization === undefined)) return { kind: 'trusted', name: HTTP_TRUSTED_USER }
    if (authorization === undefined) throw new ScratchBirdError('SB_AUTH_FAILED', 'authentication required: send HTTP Basic credentials of a user (Authorization: Basic …) or a bearer token (Authorization: Bearer …)')
    const token = bearerToken(authorization)
    if (token !== null) return this.bearer(token, state)
    const { user, password } = basicCredentials(authorization)
    if (state === 'open') return { kind: 'trusted', name: user }
    if (state === 'closed') throw failed(user)
    if (state === 'bootstrap') {
      const b = this.d.bootstrap!
      if (b.name === user && passwordMatches(this.bootstrapScram(), password)) return { kind: 'trusted', name: user }
      throw failed(user)
    }
    const u = this.d.catalog().user(user)
    if (u === undefined) throw failed(user)
    const key = `${u.id}:${hmacSha256(this.secret, `${user}\0${password}\0${u.verifier}`).toString('base64')}`
    const now = this.d.clock.monotonic()
    const until = this.basicCache.get(key)
    if (until !== undefined && until > now) return principalOf(u)
    if (!passwordMatches(decodeVerifier(u.verifier), password)) throw failed(user)
    this.basicCache.delete(key)
    this.basicCache.set(key, now + BASIC_CACHE_MS)
    if (this.basicCache.size > BASIC_CACHE_ENTRIES) this.basicCache.delete(this.basicCache.keys().next().value!)
    return principalOf(u)
  }

  /**
   * A bearer token (CREATE TOKEN): the user whose token hashes the same, unless it has expired.
   * One SHA-256, no cache needed. Tokens belong to catalog users, so before the first user exists
   * none can match: the open state admits the request as it admits one without credentials.
   */
  private bearer (token: string, state: AuthState): Principal {
    if (state === 'open') return { kind: 'trusted', name: HTTP_TRUSTED_USER }
    const t = state === 'users' ? tokenByHash(this.d.catalog(), tokenHash(token)) : undefined
    if (t === undefined) throw new ScratchBirdError('SB_AUTH_FAILED', 'bearer token not accepted: unknown or dropped token', { reason: 'unknown_token' })
    const u = this.d.catalog().userById(t.userId)
    if (u === undefined) throw new ScratchBirdError('SB_AUTH_FAILED', 'bearer token not accepted: its user no longer exists', { reason: 'unknown_token' })
    if (t.validUntil !== null && this.d.clock.now() >= t.validUntil) {
      throw new ScratchBirdError('SB_AUTH_FAILED', `bearer token "${t.name}" of user "${u.name}" expired at ${new Date(t.validUntil).toISOString()}`, { reason: 'token_expired', user: u.name, token: t.name })
    }
    return { kind: 'user', id: u.id, name: u.name, token: t.name }
  }

  /** The user name a request's Authorization header claims ('' when none can be read), for the audit line of a refused one. */
  static claimedUser (authorization: string | undefined): string {
    if (authorization === undefined) return ''
    try { return bearerToken(authorization) === null ? basicCredentials(authorization).user : '' } catch { return '' }
  }

  private bootstrapScram (): ScramVerifier {
    this.bootstrapVerifier ??= scramVerifier(this.d.bootstrap!.password, this.fakeSalt(`bootstrap:${this.d.bootstrap!.name}`))
    return this.bootstrapVerifier
  }

  /** A salt that stays the same for one name in this process (a client probing names sees no difference). */
  private fakeSalt (name: string): Buffer {
    return hmacSha256(this.secret, `salt:${name}`).subarray(0, 16)
  }

  /** The exchange for a user that does not exist: a stable fake salt, keys nobody can match. */
  private unknownUser (user: string): PgAuthPlan {
    const storedKey = hmacSha256(this.secret, `stored:${user}`)
    return { kind: 'scram', verifier: { salt: this.fakeSalt(user), iterations: 4096, storedKey, serverKey: hmacSha256(this.secret, `server:${user}`) }, principal: null }
  }
}

export function principalOf (u: UserInfo): Principal {
  return { kind: 'user', id: u.id, name: u.name }
}

function failed (user: string): ScratchBirdError {
  return new ScratchBirdError('SB_AUTH_FAILED', `password authentication failed for user "${user}"`, { user })
}

/** RFC 7617: `Basic base64(user:password)`; the password may contain ':'. */
export function basicCredentials (header: string): { user: string, password: string } {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header)
  if (m === null) throw new ScratchBirdError('SB_AUTH_FAILED', 'unsupported Authorization header: use HTTP Basic (Authorization: Basic base64(user:password))')
  const text = Buffer.from(m[1]!, 'base64').toString('utf8')
  const i = text.indexOf(':')
  if (i <= 0) throw new ScratchBirdError('SB_AUTH_FAILED', 'malformed HTTP Basic credentials: expected base64(user:password)')
  return { user: text.slice(0, i), password: text.slice(i + 1) }
}
