// Client authentication at start (issue 18 item 2, security.auth): which mode the node may run
// in with the listeners it has, the bootstrap administrator's password (a file or the
// environment), and the WARNINGs an operator must see. Refusals are SB_CONFIG_INVALID naming the
// key, before anything listens.
import { readFileSync } from 'node:fs'
import type { Config } from '../core/config/load'
import { messageOf, ScratchBirdError } from '../core/errors'
import type { BootstrapAdmin } from '../security/authenticator'

export const ADMIN_PASSWORD_ENV = 'SCRATCHBIRD_ADMIN_PASSWORD'

/** Is HOST:PORT (as configured) on a loopback address? 'off' (no listener) counts as one. */
export function isLoopbackListen (hostPort: string): boolean {
  if (hostPort === 'off') return true
  const host = hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '').toLowerCase()
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** The client listeners a config opens: the HTTP API and the PostgreSQL protocol. */
export function clientListeners (c: Config): string[] {
  return [c.node.listen, c.node.pg_listen]
}

function invalid (key: string, message: string): ScratchBirdError {
  return new ScratchBirdError('SB_CONFIG_INVALID', `${key}: ${message}`, { key })
}

/** security.bootstrap_admin with its password, or null; SB_CONFIG_INVALID when the password cannot be had. */
export function bootstrapAdmin (c: Config, env: NodeJS.ProcessEnv): BootstrapAdmin | null {
  const name = c.security.bootstrap_admin
  if (name === undefined) return null
  let password: string | undefined
  const file = c.security.bootstrap_admin_password_file
  if (file !== undefined) {
    try { password = readFileSync(file, 'utf8').split('\n')[0]!.trim() } catch (e) {
      throw invalid('security.bootstrap_admin_password_file', `cannot read ${file}: ${messageOf(e)}`)
    }
  } else {
    password = env[ADMIN_PASSWORD_ENV]
  }
  if (password === undefined || password === '') {
    throw invalid('security.bootstrap_admin', `the password of "${name}" is missing: set security.bootstrap_admin_password_file or the environment variable ${ADMIN_PASSWORD_ENV}`)
  }
  return { name, password }
}

export interface AuthStartPlan {
  /** May the node admit clients without credentials while it has no user (every client listener on loopback)? */
  readonly openAllowed: boolean
  /** WARNINGs to log at start. */
  readonly warnings: string[]
}

/** Checks security.auth against the listeners and users; throws SB_CONFIG_INVALID for a node that would be open to other hosts. */
export function authStartPlan (c: Config, hasUsers: boolean, bootstrap: BootstrapAdmin | null): AuthStartPlan {
  const exposed = clientListeners(c).filter(l => !isLoopbackListen(l))
  const openAllowed = exposed.length === 0
  const warnings: string[] = []
  if (c.security.auth === 'trust') {
    if (!openAllowed) throw invalid('security.auth', `trust admits every client as a superuser and is allowed only on loopback listeners; ${exposed.join(', ')} is reachable from other hosts (use scram)`)
    warnings.push('security.auth is trust: every client of the HTTP API and the PostgreSQL protocol is admitted as a superuser without credentials (development only)')
    return { openAllowed, warnings }
  }
  if (c.security.pg_password !== undefined) {
    warnings.push(hasUsers || bootstrap !== null
      ? 'security.pg_password is deprecated and ignored: users exist (or security.bootstrap_admin is set), logins are checked against them'
      : 'security.pg_password is deprecated: it applies only until the first user exists (CREATE USER … PASSWORD, or security.bootstrap_admin)')
  }
  if (!hasUsers && bootstrap === null) {
    if (!openAllowed) {
      throw invalid('security.bootstrap_admin', `the catalog has no user and ${exposed.join(', ')} is reachable from other hosts: set security.bootstrap_admin (and its password) so the node is never open to them`)
    }
    warnings.push('no users exist yet: every client on the loopback listeners is admitted as a superuser until the first CREATE USER (or set security.bootstrap_admin)')
  }
  return { openAllowed, warnings }
}
