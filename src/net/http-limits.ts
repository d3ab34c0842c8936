// Per-client request limits on the client HTTP API (request-limit.ts decides): every route but
// the open ones (/v1/health, which a load balancer polls) is admitted first — before
// authentication, so a flood of requests with bad credentials is bounded too. A refused request
// is 429 SB_TOO_MANY_REQUESTS with Retry-After (whole seconds, at least 1) and ran nothing.
import type { Handler, Routes } from './http-server'
import type { RefusalReason, RequestLimiter } from './request-limit'

export function limitedRoutes (routes: Routes, limiter: RequestLimiter, open: readonly string[], onRefused?: (reason: RefusalReason) => void): Routes {
  const wrap = (h: Handler): Handler => async (req, res) => {
    const a = limiter.admit(req.socket.remoteAddress ?? '')
    if (!a.ok) {
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(a.retryAfterMs / 1000))))
      onRefused?.(a.reason)
      throw a.error
    }
    try { return await h(req, res) } finally { a.release() }
  }
  return Object.fromEntries(Object.entries(routes).map(([path, methods]) => [path, open.includes(path)
    ? methods
    : Object.fromEntries(Object.entries(methods).map(([m, h]) => [m, wrap(h)]))]))
}
