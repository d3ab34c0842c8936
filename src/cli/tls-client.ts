// The operator programs talking to a node with security.tls_enabled (scratchbird_cli,
// scratchbird_backup): https:// URLs, verified against a CA the operator names — --cacert FILE, or
// security.tls_ca of the --config file — or the system's CAs (and NODE_EXTRA_CA_CERTS). The node's
// certificate must name the host in the URL (SAN DNS:/IP:), as for any HTTPS client.
import { readFileSync } from 'node:fs'
import { Agent, setGlobalDispatcher } from 'undici'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError, messageOf } from '../core/errors'
import type { ParsedFlags } from './args'

/** The CA file to trust: --cacert, else tls_ca of --config when it enables TLS; undefined: the system's. */
export function caFile (flags: ParsedFlags): string | undefined {
  if (typeof flags.cacert === 'string') return flags.cacert
  if (typeof flags.config === 'string') {
    const s = loadConfig({ file: flags.config }).security
    if (s.tls_enabled) return s.tls_ca
  }
  return undefined
}

/** Whether --host / --config lead to an https:// node (TLS on in the config, or a CA given). */
export function usesTls (flags: ParsedFlags): boolean {
  if (typeof flags.cacert === 'string') return true
  return typeof flags.config === 'string' && loadConfig({ file: flags.config }).security.tls_enabled
}

/** Makes this process's HTTP requests trust the CA file (once, at a program's start). */
export function trustCa (flags: ParsedFlags): void {
  const file = caFile(flags)
  if (file === undefined) return
  let ca: Buffer
  try { ca = readFileSync(file) } catch (e) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `--cacert: cannot read ${file}: ${messageOf(e)}`, { file })
  }
  setGlobalDispatcher(new Agent({ connect: { ca } }))
}
