// The first packet of a connection, decided without I/O: an SSLRequest or GSSENCRequest (on a
// plaintext listener we answer 'N'; with security.tls_enabled server.ts reads the first packet
// itself, ssl-request.ts), a CancelRequest (process id and secret of another connection), or the
// StartupMessage of protocol 3.x with its parameters. Another major version is refused, as
// PostgreSQL refuses it; a newer 3.x minor or `_pq_.` options are answered with
// NegotiateProtocolVersion by the connection.
import { ScratchBirdError } from '../../core/errors'
import { BodyReader } from './frames'

export const PROTOCOL_3_0 = 196608
export const SSL_REQUEST = 80877103
export const GSSENC_REQUEST = 80877104
export const CANCEL_REQUEST = 80877102

export type StartupRequest =
  | { readonly kind: 'encryption' }
  | { readonly kind: 'cancel', readonly pid: number, readonly secret: number }
  | {
    readonly kind: 'startup'
    readonly minor: number
    readonly user: string
    readonly database: string
    /** Parameters for the session (user, database, client_encoding, application_name …). */
    readonly params: ReadonlyMap<string, string>
    /** `_pq_.` protocol options we do not know (named back in NegotiateProtocolVersion). */
    readonly unknownOptions: readonly string[]
  }

export function readStartup (body: Buffer): StartupRequest {
  const r = new BodyReader(body)
  const code = r.int32()
  if (code === SSL_REQUEST || code === GSSENC_REQUEST) return { kind: 'encryption' }
  if (code === CANCEL_REQUEST) {
    const pid = r.int32()
    const secret = r.int32()
    r.end()
    return { kind: 'cancel', pid, secret }
  }
  const major = code >>> 16
  const minor = code & 0xffff
  if (major !== 3) {
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `unsupported frontend protocol ${major}.${minor}: server supports 3.0`, { protocol: `${major}.${minor}` })
  }
  const params = new Map<string, string>()
  const unknownOptions: string[] = []
  for (;;) {
    const name = r.cstring()
    if (name === '') break
    const value = r.cstring()
    if (name.startsWith('_pq_.')) unknownOptions.push(name)
    else params.set(name, value)
  }
  r.end()
  const user = params.get('user')
  if (user === undefined || user === '') throw new ScratchBirdError('SB_AUTH_FAILED', 'no user name specified in the startup packet')
  return { kind: 'startup', minor, user, database: params.get('database') ?? user, params, unknownOptions }
}
