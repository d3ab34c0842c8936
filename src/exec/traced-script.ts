// A script's statements in spans (issue 18 item 8), when tracing is on: one root span per
// statement — its kind, the protocol, the user and the node, never its parameter values — with
// the parse as a child of the first (a script is parsed once, for all its statements), and the
// planning, shard requests, quorum round trips, 2PC and commit the statement makes below it
// (executor.ts, node/shard-router.ts, node/quorum.ts, node/twopc-io.ts). The steps are the
// executor's own, passed in, so a traced and an untraced script run the same code.
import type { ScratchBirdError } from '../core/errors'
import type { TraceParent, TracePort } from '../core/trace-context'
import type { SqlValue } from '../types/values'
import type { ExecEnv } from './env'
import type { CachedScript } from './plan-cache'
import type { StatementResult } from './result'
import type { SessionState } from './txn'

export interface ScriptRun {
  readonly env: ExecEnv
  readonly session: SessionState
  readonly sql: string
  readonly params: readonly SqlValue[]
  readonly sessionId: string | undefined
  /** A client's trace context to continue (HTTP traceparent); undefined: a new trace. */
  readonly parent: TraceParent | undefined
}

type Parse = (env: ExecEnv, sql: string, params: readonly SqlValue[]) => CachedScript
type RunOne = (env: ExecEnv, session: SessionState, script: CachedScript, i: number, params: readonly SqlValue[], sessionId: string | undefined, results: StatementResult[]) => Promise<ScratchBirdError | null>

export async function tracedScript (tracer: TracePort, r: ScriptRun, parse: Parse, runOne: RunOne): Promise<{ results: StatementResult[], error: ScratchBirdError | null }> {
  const results: StatementResult[] = []
  const client = r.session.client
  const attributes = {
    'db.system': 'scratchbird',
    'scratchbird.protocol': client?.protocol ?? 'internal',
    'enduser.id': client?.user ?? ''
  }
  let script: CachedScript | undefined
  for (let i = 0; script === undefined || i < script.statements.length; i++) {
    const error = await tracer.root('statement', attributes, r.parent, async (set) => {
      if (script === undefined) {
        try {
          script = tracer.span('parse', { 'scratchbird.sql_bytes': r.sql.length }, () => parse(r.env, r.sql, r.params))
        } catch (e) {
          const code = (e as { code?: unknown } | null)?.code
          if (typeof code !== 'string') throw e
          set('scratchbird.statement.kind', 'unparsed')
          set('scratchbird.error_code', code)
          return e as ScratchBirdError
        }
        set('scratchbird.statements', script.statements.length)
        if (script.statements.length === 0) return null
      }
      set('scratchbird.statement.kind', script.statements[i]!.kind)
      const err = await runOne(r.env, r.session, script, i, r.params, r.sessionId, results)
      if (err !== null) set('scratchbird.error_code', err.code)
      return err
    })
    if (error !== null) return { results, error }
  }
  return { results, error: null }
}
