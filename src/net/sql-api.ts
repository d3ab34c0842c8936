// The client SQL API (DESIGN §1, issue 4 "HTTP API"): POST /v1/sql runs a script and answers one
// result (one statement) or {"results": [...]}; POST /v1/sessions opens a session whose id the
// client sends as X-ScratchBird-Session to keep a transaction open across requests; DELETE
// /v1/sessions/<id> closes one (rolling back). Idle sessions expire and roll back on a timer.
// Every failure is a coded error with its HTTP status; a bug is logged and answered as 500.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { classifyIoError, isScratchBirdError, ScratchBirdError, describe } from '../core/errors'
import type { Clock } from '../core/clock'
import type { Rng } from '../core/rng'
import { decodeSqlRequest, parseJsonBody, readBody } from './body'
import { sendJson, type Routes } from './http-server'
import { SessionRegistry, type Session } from './sessions'
import { PreparedStatements } from './prepared'
import type { ExecEnv } from '../exec/env'
import { executeScript, paramValues } from '../exec/executor'
import { SessionState } from '../exec/txn'
import { hostPort } from './peer-address'
import { requestPrincipal } from './http-auth'
import type { Principal } from '../security/privileges'
import { parseTraceparent } from '../core/trace-context'

/** Who owns an HTTP session: only that user's requests may use it (the session id alone is not a credential). */
function ownerOf (p: Principal | undefined): string {
  return p === undefined ? '' : p.kind === 'user' ? `user:${p.id}` : `trusted:${p.name}`
}

export const SESSION_HEADER = 'x-scratchbird-session'

export interface SqlApiOptions { maxBodyBytes: number, sessionIdleTimeoutMs: number }

/** The error body: syntax errors' line/column become `position: {line, column}`. */
export function errorJson (e: ScratchBirdError): Record<string, unknown> {
  const j = e.toJSON()
  const d = e.details as { line?: unknown, column?: unknown }
  if (typeof d.line === 'number' && typeof d.column === 'number') {
    const { line, column, position, ...rest } = j
    return { ...rest, position: { line, column, offset: typeof position === 'number' ? position - 1 : undefined } }
  }
  return j
}

export class SqlApi {
  readonly sessions: SessionRegistry<SessionState>
  readonly prepared = new PreparedStatements()
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly env: ExecEnv, private readonly opts: SqlApiOptions, private readonly log: Logger, private readonly clock: Clock, rng: Rng) {
    this.sessions = new SessionRegistry(opts.sessionIdleTimeoutMs, () => new SessionState(), rng)
  }

  routes (): Routes {
    return {
      '/v1/sql': { POST: (req, res) => this.sql(req, res) },
      '/v1/sessions': { POST: (req) => ({ id: this.sessions.create(this.clock.monotonic(), ownerOf(requestPrincipal(req))).id }) },
      '/v1/sessions/*': { DELETE: (req) => this.closeSession(req) }
    }
  }

  start (): void {
    const every = Math.max(100, Math.min(1000, Math.floor(this.opts.sessionIdleTimeoutMs / 2)))
    this.timer = setInterval(() => {
      const now = this.clock.monotonic()
      for (const s of this.sessions.expire(now)) {
        this.log.info({ session: s.id, idleMs: Math.round(now - s.lastUsed) }, 'client session idle too long: closed, open transaction rolled back')
        void this.endSession(s)
      }
    }, every)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  private async endSession (s: Session<SessionState>): Promise<void> {
    const txn = s.state.txn
    s.state.txn = null
    // Its temporary tables go with it (exec/temp-tables.ts).
    s.state.temp.dropAll()
    if (txn) await txn.rollback()
  }

  private async closeSession (req: IncomingMessage): Promise<unknown> {
    const id = sessionIdOfPath(req.url ?? '')
    const s = this.sessions.close(id, ownerOf(requestPrincipal(req)))
    if (!s) throw new ScratchBirdError('SB_SESSION_NOT_FOUND', `no session ${id} (it may have timed out and rolled back)`, { session: id })
    await this.endSession(s)
    return { closed: id }
  }

  private async sql (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request = decodeSqlRequest(parseJsonBody(await readBody(req, this.opts.maxBodyBytes)))
    const text = request.sql ?? this.prepared.text(request.statement!)
    const header = req.headers[SESSION_HEADER]
    const id = Array.isArray(header) ? header[0] : header
    const principal = requestPrincipal(req)
    const session = id === undefined ? null : this.sessions.acquire(id, this.clock.monotonic(), ownerOf(principal))
    const state = session?.state ?? new SessionState()
    // The authenticated user (http-auth.ts): every statement is checked against its privileges.
    state.principal = principal
    state.settings.fix('session_authorization', principal?.name ?? '')
    state.client = { protocol: 'http', user: principal?.name ?? 'http', address: hostPort(req.socket.remoteAddress, req.socket.remotePort) }
    try {
      // A W3C traceparent from the client (tracing on): the statements' spans continue its trace; a malformed one is ignored.
      const parent = this.env.tracer == null ? undefined : parseTraceparent(req.headers.traceparent)
      const out = await executeScript(this.env, state, text, paramValues(request.params), session?.id, parent)
      // A text that does not parse gets no id; one that ran into an error at run time keeps it.
      const statement = request.prepare && out.error?.code !== 'SB_SYNTAX_ERROR' ? this.prepared.prepare(text) : null
      if (session === null && state.txn !== null) {
        // Without a session nothing can continue the transaction: it ends with the request.
        await state.txn.rollback()
        state.txn = null
        out.results.at(-1)?.warnings.push('the transaction was still open at the end of the request (no session) and was rolled back')
      }
      if (out.error !== null) {
        const body: Record<string, unknown> = { error: errorJson(out.error) }
        if (out.results.length > 0) body.results = out.results
        if (statement !== null) body.statement = statement
        if (out.error.httpStatus >= 500) this.log.error({ err: out.error.toJSON() }, `SQL request failed: ${out.error.message}`)
        sendJson(res, out.error.httpStatus, body)
        return
      }
      const answer = out.results.length === 1 ? out.results[0] : { results: out.results }
      sendJson(res, 200, statement === null ? answer : { ...answer, statement })
    } catch (e) {
      if (isScratchBirdError(e)) throw e
      const io = classifyIoError(e)
      if (io !== null) { this.log.error({ err: describe(e) }, `SQL request failed: ${io.message}`); throw io }
      this.log.error({ err: describe(e) }, 'internal error executing SQL')
      throw new ScratchBirdError('SB_INTERNAL', 'internal error; see the node log')
    } finally {
      if (session !== null) this.sessions.release(session, this.clock.monotonic())
    }
  }
}

/** The session id of `/v1/sessions/<id>` (percent-decoded); a broken escape such as `%ZZ` is a 400. */
export function sessionIdOfPath (url: string): string {
  const raw = url.split('?')[0]!.split('/').pop() ?? ''
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ScratchBirdError('SB_MALFORMED_REQUEST', `session id "${raw}" is not a well-formed percent-encoded path segment`)
  }
}
