// Authentication of the client HTTP API (issue 18 item 2): every route but the open ones
// (/v1/health) runs only once the request's credentials are accepted (security/authenticator.ts),
// and its handler finds the request's user with requestPrincipal(). A refused request is 401
// SB_AUTH_FAILED with a WWW-Authenticate challenge, and is reported (the audit log's failed
// logins); nothing of the route ran.
import type { IncomingMessage } from 'node:http'
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { Catalog } from '../catalog/catalog'
import { Authenticator } from '../security/authenticator'
import { mayBackup, type Principal } from '../security/privileges'
import type { Handler, Routes } from './http-server'
import type { LoginThrottle } from './login-throttle'
import { hostPort } from './peer-address'

// Both schemes are offered (RFC 9110 §11.6.1 allows several challenges in one header).
export const WWW_AUTHENTICATE = 'Basic realm="ScratchBird", charset="UTF-8", Bearer realm="ScratchBird"'

/** A refused HTTP login, for the audit log. */
export interface HttpLoginFailure { readonly user: string, readonly address: string, readonly outcome: string }

export interface HttpAuthPorts {
  readonly auth: Authenticator
  /** Failed-login throttling (login-throttle.ts): counts refused credentials, refuses a locked-out address before any check. */
  readonly throttle?: LoginThrottle | undefined
  readonly onFailure?: ((f: HttpLoginFailure) => void) | undefined
}

const principals = new WeakMap<IncomingMessage, Principal>()

/** The user an authenticated request runs as (undefined: the route is open, or not behind authenticatedRoutes). */
export function requestPrincipal (req: IncomingMessage): Principal | undefined {
  return principals.get(req)
}

function header (req: IncomingMessage): string | undefined {
  const h = req.headers.authorization
  return h === undefined || h === '' ? undefined : h
}

/** `routes` with every handler behind authentication, except the paths in `open`. */
export function authenticatedRoutes (routes: Routes, ports: HttpAuthPorts, open: readonly string[]): Routes {
  const wrap = (h: Handler): Handler => (req, res) => {
    let p: Principal
    const sent = header(req)
    const ip = req.socket.remoteAddress ?? ''
    try {
      // Only requests that present credentials count: one without any costs no password check.
      if (sent !== undefined) ports.throttle?.check(ip)
      p = ports.auth.http(sent)
      if (sent !== undefined) ports.throttle?.success(ip)
    } catch (e) {
      if (isScratchBirdError(e, 'SB_AUTH_FAILED') || isScratchBirdError(e, 'SB_LOGIN_THROTTLED')) {
        res.setHeader('www-authenticate', WWW_AUTHENTICATE)
        if (e.code === 'SB_AUTH_FAILED' && sent !== undefined) ports.throttle?.failure(ip)
        if (e.code === 'SB_LOGIN_THROTTLED') res.setHeader('retry-after', String(Math.ceil(Number(e.details?.retry_after_ms ?? 0) / 1000)))
        // A bearer token names no user; an expired one's error does (the audit line then says whose).
        const user = Authenticator.claimedUser(sent) || (typeof e.details?.user === 'string' ? e.details.user : '')
        ports.onFailure?.({ user, address: hostPort(req.socket.remoteAddress, req.socket.remotePort), outcome: e.code })
      }
      throw e
    }
    principals.set(req, p)
    return h(req, res)
  }
  return Object.fromEntries(Object.entries(routes).map(([path, methods]) => [path, open.includes(path)
    ? methods
    : Object.fromEntries(Object.entries(methods).map(([m, h]) => [m, wrap(h)]))]))
}

/** `routes` refused (403 SB_INSUFFICIENT_PRIVILEGE) unless the request's user has admin rights (the backup endpoint). */
export function adminRoutes (routes: Routes, catalog: () => Catalog): Routes {
  const wrap = (h: Handler): Handler => (req, res) => {
    const p = requestPrincipal(req)
    if (p === undefined || !mayBackup(catalog(), p)) {
      throw new ScratchBirdError('SB_INSUFFICIENT_PRIVILEGE', `permission denied: ${req.url?.split('?')[0] ?? ''} needs admin rights (GRANT ADMIN)`, { privilege: 'ADMIN', user: p?.name ?? '' })
    }
    return h(req, res)
  }
  return Object.fromEntries(Object.entries(routes).map(([path, methods]) => [path, Object.fromEntries(Object.entries(methods).map(([m, h]) => [m, wrap(h)]))]))
}
