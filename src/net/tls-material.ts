// The node's TLS files (security.tls_cert, tls_key, tls_ca) read and checked as one set: the key
// must match the certificate and every PEM must parse, else a coded error and nothing changes —
// at start the node does not start, at a reload the running set stays (tls-shell.ts).
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls'
import { ScratchBirdError, messageOf } from '../core/errors'

export interface TlsFiles {
  readonly cert: string
  readonly key: string
  readonly ca: string
}

export interface TlsMaterial {
  readonly files: TlsFiles
  /** The PEM texts, as options for tls.createServer / setSecureContext / tls.connect. */
  readonly options: Pick<SecureContextOptions, 'cert' | 'key' | 'ca'>
  /** A context with this node's certificate, its key and the CA (clients: the RPC's undici dispatcher; pg's TLS upgrade). */
  readonly context: SecureContext
  /** notAfter (ms since the epoch) of the node certificate and of each CA certificate, by file. */
  readonly expiries: ReadonlyArray<{ readonly file: string, readonly notAfterMs: number, readonly subject: string }>
}

/** Files as configured, resolved against the working directory (as the schema's docs say). */
export function tlsFiles (s: { tls_cert?: string, tls_key?: string, tls_ca?: string }): TlsFiles {
  if (s.tls_cert === undefined || s.tls_key === undefined || s.tls_ca === undefined) {
    throw new ScratchBirdError('SB_CONFIG_INVALID', 'security.tls_enabled needs security.tls_cert, tls_key and tls_ca')
  }
  return { cert: resolve(s.tls_cert), key: resolve(s.tls_key), ca: resolve(s.tls_ca) }
}

function bad (file: string, what: string, e?: unknown): ScratchBirdError {
  return new ScratchBirdError('SB_TLS_MATERIAL', `TLS file ${file}: ${what}${e === undefined ? '' : `: ${messageOf(e)}`}`, { file }, e === undefined ? undefined : { cause: e })
}

function read (file: string): Buffer {
  try { return readFileSync(file) } catch (e) { throw bad(file, 'cannot be read', e) }
}

/** The PEM blocks of certificates in `pem` (a CA file may hold several). */
function certificates (file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw bad(file, 'holds no PEM certificate')
  return blocks.map(b => { try { return new X509Certificate(b) } catch (e) { throw bad(file, 'holds a certificate that does not parse', e) } })
}

export function loadTlsMaterial (files: TlsFiles): TlsMaterial {
  const cert = read(files.cert)
  const key = read(files.key)
  const ca = read(files.ca)
  const own = certificates(files.cert, cert.toString('utf8'))
  const cas = certificates(files.ca, ca.toString('utf8'))
  const options = { cert, key, ca }
  let context: SecureContext
  try {
    context = createSecureContext(options)
  } catch (e) {
    // Usually a key that is not tls_cert's ("key values mismatch") or a key that does not parse.
    throw bad(files.key, `does not make a usable pair with ${files.cert}`, e)
  }
  const leaf = own[0]!
  return {
    files,
    options,
    context,
    expiries: [
      { file: files.cert, notAfterMs: Date.parse(leaf.validTo), subject: leaf.subject },
      ...cas.map(c => ({ file: files.ca, notAfterMs: Date.parse(c.validTo), subject: c.subject }))
    ]
  }
}
