import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// Test certificates made with the openssl CLI, the same commands README "TLS" gives operators:
// a CA, and node certificates naming node N (SAN URI:scratchbird://node/N, CN=nodeN) and the
// test host (DNS:localhost, IP:127.0.0.1) for clients that verify it (psql sslmode=verify-full).

export interface CertFiles { cert: string, key: string }

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
}

export class TestCa {
  readonly cert: string
  private readonly key: string
  private serial = 0

  /** A new CA in `dir` (created). */
  constructor (readonly dir: string, readonly name = 'ca') {
    mkdirSync(dir, { recursive: true })
    this.cert = join(dir, `${name}.crt`)
    this.key = join(dir, `${name}.key`)
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', this.key, '-out', this.cert,
      '-days', '3650', '-subj', `/CN=ScratchBird test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
  }

  /**
   * A certificate signed by this CA. `cn`: subject CN; `san`: subjectAltName entries; `days`:
   * validity. Written as `<file>.crt` and `<file>.key` in this CA's directory.
   */
  issue (file: string, opts: { cn: string, san?: string[], days?: number }): CertFiles {
    const cert = join(this.dir, `${file}.crt`)
    const key = join(this.dir, `${file}.key`)
    const csr = join(this.dir, `${file}.csr`)
    const ext = join(this.dir, `${file}.ext`)
    writeFileSync(ext, [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(opts.san !== undefined && opts.san.length > 0 ? [`subjectAltName=${opts.san.join(',')}`] : [])
    ].join('\n') + '\n')
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${opts.cn}`], this.dir)
    openssl(['x509', '-req', '-in', csr, '-CA', this.cert, '-CAkey', this.key, '-set_serial', String(++this.serial + 1000),
      '-out', cert, '-days', String(opts.days ?? 365), '-extfile', ext], this.dir)
    return { cert, key }
  }

  /** Node N's certificate in the README's form, valid on this host. */
  node (id: number, opts: { file?: string, days?: number } = {}): CertFiles {
    return this.issue(opts.file ?? `node${id}`, { cn: `node${id}`, san: [`URI:scratchbird://node/${id}`, 'DNS:localhost', 'IP:127.0.0.1'], days: opts.days })
  }
}

/** The security section of a node with TLS on. */
export function tlsSecurity (ca: TestCa, files: CertFiles): { tls_enabled: true, tls_cert: string, tls_key: string, tls_ca: string } {
  return { tls_enabled: true, tls_cert: files.cert, tls_key: files.key, tls_ca: ca.cert }
}
