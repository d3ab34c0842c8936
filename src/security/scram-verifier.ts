// SCRAM-SHA-256 verifiers (RFC 5802 §3, RFC 7677): what a user's password becomes before it is
// stored — salt, iteration count, StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
// ServerKey = HMAC(SaltedPassword, "Server Key"). The password itself is never kept: the
// PostgreSQL protocol's SCRAM exchange needs only StoredKey and ServerKey, and HTTP Basic checks a
// password by deriving StoredKey again. Text form as PostgreSQL stores it in pg_authid
// (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64), so a verifier can be
// moved between the two systems and a `PASSWORD 'SCRAM-SHA-256$…'` is taken as a verifier.
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto'
import { ScratchBirdError } from '../core/errors'
import type { Rng } from '../core/rng'

export const SCRAM_MECHANISM = 'SCRAM-SHA-256'
/** PostgreSQL's default (scram_iterations). */
export const SCRAM_ITERATIONS = 4096
/** Bounds on a verifier read from a statement or the catalog (a huge count would stall every login). */
export const MIN_SCRAM_ITERATIONS = 1
export const MAX_SCRAM_ITERATIONS = 1_000_000
const SALT_BYTES = 16

export interface ScramVerifier {
  readonly salt: Buffer
  readonly iterations: number
  readonly storedKey: Buffer
  readonly serverKey: Buffer
}

export const hmacSha256 = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest()
export const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest()

/** SaltedPassword = Hi(password, salt, i) (SASLprep is the identity for ASCII; others are NFKC-normalised UTF-8). */
export function saltedPassword (password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
}

/** The verifier of `password` with `salt`. */
export function scramVerifier (password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): ScramVerifier {
  const salted = saltedPassword(password, salt, iterations)
  return { salt, iterations, storedKey: sha256(hmacSha256(salted, 'Client Key')), serverKey: hmacSha256(salted, 'Server Key') }
}

/** A new verifier of `password` with a fresh random salt. */
export function newScramVerifier (password: string, rng: Rng, iterations = SCRAM_ITERATIONS): ScramVerifier {
  const salt = new Uint8Array(SALT_BYTES)
  rng.fill(salt)
  return scramVerifier(password, Buffer.from(salt), iterations)
}

/** Does `password` derive this verifier's StoredKey? (HTTP Basic: one PBKDF2, constant-time compare.) */
export function passwordMatches (v: ScramVerifier, password: string): boolean {
  const stored = sha256(hmacSha256(saltedPassword(password, v.salt, v.iterations), 'Client Key'))
  return timingSafeEqual(stored, v.storedKey)
}

/** PostgreSQL's text form. */
export function encodeVerifier (v: ScramVerifier): string {
  return `${SCRAM_MECHANISM}$${v.iterations}:${v.salt.toString('base64')}$${v.storedKey.toString('base64')}:${v.serverKey.toString('base64')}`
}

const VERIFIER_TEXT = /^SCRAM-SHA-256\$(\d{1,7}):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/

/** Is this text a verifier (as opposed to a password)? Same test as PostgreSQL's: the prefix. */
export function looksLikeVerifier (text: string): boolean {
  return text.startsWith(`${SCRAM_MECHANISM}$`)
}

/** A verifier from its text form; SB_INVALID_PASSWORD when it is not one. */
export function decodeVerifier (text: string): ScramVerifier {
  const m = VERIFIER_TEXT.exec(text)
  const bad = (why: string): ScratchBirdError => new ScratchBirdError('SB_INVALID_PASSWORD', `not a valid SCRAM-SHA-256 verifier: ${why}`)
  if (m === null) throw bad('expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>')
  const iterations = Number(m[1])
  if (iterations < MIN_SCRAM_ITERATIONS || iterations > MAX_SCRAM_ITERATIONS) throw bad(`iterations must be ${MIN_SCRAM_ITERATIONS}–${MAX_SCRAM_ITERATIONS}`)
  const salt = Buffer.from(m[2]!, 'base64')
  const storedKey = Buffer.from(m[3]!, 'base64')
  const serverKey = Buffer.from(m[4]!, 'base64')
  if (salt.length === 0) throw bad('empty salt')
  if (storedKey.length !== 32 || serverKey.length !== 32) throw bad('StoredKey and ServerKey must be 32 bytes')
  return { salt, iterations, storedKey, serverKey }
}
