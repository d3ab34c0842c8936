// The first packet of a PostgreSQL connection on a node with security.tls_enabled, decided without
// I/O (server.ts acts): an SSLRequest is answered 'S' and the TLS handshake follows; a
// GSSENCRequest 'N' (no GSS encryption), after which the client sends its next first packet; a
// CancelRequest goes on in plaintext (libpq before 17 always sends it so, and it carries only the
// pid and random secret of another connection); anything else — a plaintext StartupMessage — is
// refused with SB_TLS_REQUIRED. Bytes after an SSLRequest that arrived before the handshake are a
// protocol violation (they would be read as if encrypted: CVE-2021-23214): refused.
import { CANCEL_REQUEST, GSSENC_REQUEST, SSL_REQUEST } from './startup'

export type TlsPreamble =
  /** Not a whole packet yet. */
  | { readonly kind: 'more' }
  /** Answer 'S' and start TLS; `extra`: bytes the client sent too early (refuse). */
  | { readonly kind: 'tls', readonly extra: boolean }
  /** Answer 'N' and read the next first packet from `rest`. */
  | { readonly kind: 'no-gss', readonly rest: Buffer }
  /** A CancelRequest: the plaintext connection handles it (packet included in `bytes`). */
  | { readonly kind: 'cancel', readonly bytes: Buffer }
  /** A plaintext startup (or garbage): refused, TLS is required. */
  | { readonly kind: 'plaintext' }

export function readTlsPreamble (buf: Buffer): TlsPreamble {
  if (buf.length < 8) return { kind: 'more' }
  const len = buf.readInt32BE(0)
  const code = buf.readInt32BE(4)
  if (len === 8 && code === SSL_REQUEST) return { kind: 'tls', extra: buf.length > 8 }
  if (len === 8 && code === GSSENC_REQUEST) return { kind: 'no-gss', rest: buf.subarray(8) }
  if (len === 16 && code === CANCEL_REQUEST) return buf.length < 16 ? { kind: 'more' } : { kind: 'cancel', bytes: buf }
  return { kind: 'plaintext' }
}
