// --check-config with security.tls_enabled (issue 18): the TLS files are loaded as the node's
// start would load them (net/tls-material.ts: readable, PEM certificates, a key matching the
// certificate), so a wrong path or a mismatched key fails the check instead of the first start.
import type { Config } from '../core/config/schema'
import { loadTlsMaterial, tlsFiles } from '../net/tls-material'

/** Throws SB_TLS_MATERIAL (or SB_CONFIG_INVALID) when tls_enabled and the files would stop the start. */
export function checkTlsFiles (config: Config): void {
  if (!config.security.tls_enabled) return
  loadTlsMaterial(tlsFiles(config.security))
}
