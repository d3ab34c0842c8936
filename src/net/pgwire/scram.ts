// SCRAM-SHA-256 (RFC 5802, RFC 7677) server side, as PostgreSQL runs it over SASL: no channel
// binding (we advertise SCRAM-SHA-256 only, so a client asking for -PLUS is refused), and the
// user name comes from the startup packet, not from the SCRAM message. Sans-I/O: the connection
// feeds it the client's two messages and sends back what it returns. The verifier keeps only
// StoredKey and ServerKey; the password itself is not needed after it is built.
import { timingSafeEqual } from 'node:crypto'
import { ScratchBirdError } from '../../core/errors'
import type { Rng } from '../../core/rng'
import { hmacSha256 as hmac, sha256, type ScramVerifier } from '../../security/scram-verifier'

// Verifiers (derivation, text form) live in src/security/scram-verifier.ts: users store them.
export { SCRAM_ITERATIONS, SCRAM_MECHANISM, scramVerifier, type ScramVerifier } from '../../security/scram-verifier'
const NONCE_BYTES = 18

function authFailed (user: string): ScratchBirdError {
  return new ScratchBirdError('SB_AUTH_FAILED', `password authentication failed for user "${user}"`, { user })
}

function malformed (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_MALFORMED_REQUEST', `malformed SCRAM message: ${what}`)
}

/** attr=value pairs of a SCRAM message, in order. */
function attributes (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw malformed(`attribute ${JSON.stringify(part.slice(0, 20))}`)
    out.set(part[0]!, part.slice(2))
  }
  return out
}

export class ScramServer {
  private clientFirstBare = ''
  private serverFirst = ''
  private gs2Header = ''
  private nonce = ''

  constructor (private readonly verifier: ScramVerifier, private readonly user: string, private readonly rng: Rng) {}

  /** client-first-message → server-first-message. */
  first (clientFirst: string): string {
    const m = /^([ny]|p=[^,]*),([^,]*),(.*)$/.exec(clientFirst)
    if (m === null) throw malformed('client-first-message has no GS2 header')
    if (m[1]!.startsWith('p=')) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'SCRAM channel binding is not supported (no TLS yet); use SCRAM-SHA-256 without -PLUS')
    this.gs2Header = `${m[1]},${m[2]},`
    this.clientFirstBare = m[3]!
    const attrs = attributes(this.clientFirstBare)
    const clientNonce = attrs.get('r')
    if (clientNonce === undefined || clientNonce === '') throw malformed('client nonce missing')
    const mine = new Uint8Array(NONCE_BYTES)
    this.rng.fill(mine)
    this.nonce = clientNonce + Buffer.from(mine).toString('base64')
    this.serverFirst = `r=${this.nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`
    return this.serverFirst
  }

  /** client-final-message → server-final-message; a wrong password throws SB_AUTH_FAILED. */
  final (clientFinal: string): string {
    const cut = clientFinal.lastIndexOf(',p=')
    if (cut < 0) throw malformed('client-final-message has no proof')
    const withoutProof = clientFinal.slice(0, cut)
    const attrs = attributes(withoutProof)
    if (attrs.get('c') !== Buffer.from(this.gs2Header).toString('base64')) throw malformed('channel binding data does not match the GS2 header')
    if (attrs.get('r') !== this.nonce) throw malformed('nonce does not match')
    const proof = Buffer.from(clientFinal.slice(cut + 3), 'base64')
    if (proof.length !== 32) throw authFailed(this.user)
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`
    const signature = hmac(this.verifier.storedKey, authMessage)
    const clientKey = Buffer.alloc(32)
    for (let i = 0; i < 32; i++) clientKey[i] = proof[i]! ^ signature[i]!
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) throw authFailed(this.user)
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`
  }
}
