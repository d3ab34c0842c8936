// Bearer tokens (issue 18 item 1): the token text, its hash, and reading it from an HTTP
// Authorization header. A token is "sbt_" and 256 random bits in base64url: the prefix lets a
// secret scanner (and a person) recognise one; the catalog keeps only the SHA-256 of the whole
// text, so neither a catalog file nor a peer's copy of it lets anyone sign in.
import { ScratchBirdError } from '../core/errors'
import type { Rng } from '../core/rng'
import { sha256 } from './scram-verifier'

export const TOKEN_PREFIX = 'sbt_'
/** Random bytes in a token (256 bits). */
export const TOKEN_SECRET_BYTES = 32
/** Longest Bearer value looked at (a real one has 47 characters); longer is refused unhashed. */
export const MAX_TOKEN_TEXT = 256

export interface NewToken {
  /** Shown once to whoever created it. */
  readonly token: string
  /** What the catalog keeps (tokenHash(token)). */
  readonly hash: string
}

export function newBearerToken (rng: Rng): NewToken {
  const secret = new Uint8Array(TOKEN_SECRET_BYTES)
  rng.fill(secret)
  const token = TOKEN_PREFIX + Buffer.from(secret).toString('base64url')
  return { token, hash: tokenHash(token) }
}

/** SHA-256 of the token text, lower-case hex (the catalog's form). */
export function tokenHash (token: string): string {
  return sha256(token).toString('hex')
}

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1); null when the header
 * uses another scheme. Throws SB_AUTH_FAILED for a Bearer header without a well-formed token.
 */
export function bearerToken (header: string): string | null {
  const m = /^Bearer +(\S*) *$/i.exec(header)
  if (m === null) return /^Bearer(\s|$)/i.test(header) ? malformed() : null
  const token = m[1]!
  if (token.length === 0 || token.length > MAX_TOKEN_TEXT || !/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) return malformed()
  return token
}

function malformed (): never {
  throw new ScratchBirdError('SB_AUTH_FAILED', 'malformed bearer token: expected Authorization: Bearer <token> (the token CREATE TOKEN showed)')
}
