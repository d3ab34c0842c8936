// The slow-query log (seed "Log Files": slow_query.log — "Slow queries (>1s)"): which statements
// go to it and what a line holds. Pure; the node feeds it the executor's statement reports
// (src/core/statement-report.ts) and writes the record to the slow_query stream.
import type { StatementReport } from '../core/statement-report'

/** Longest statement text a record carries; longer text is cut and marked, so one line stays bounded. */
export const SLOW_QUERY_MAX_SQL = 2000

/** What the executor reports of one statement. */
export type StatementTiming = StatementReport

export interface SlowQueryRecord {
  readonly msg: string
  readonly fields: {
    statement: string
    durationMs: number
    rows: number
    session?: string
    txnShards?: number[]
    error?: string
  }
}

/** Statements taking at least `thresholdMs` (logging.slow_query_ms; 0: every statement). */
export function isSlow (durationMs: number, thresholdMs: number): boolean {
  return durationMs >= thresholdMs
}

/** The slow-query line of a statement, or null when it was not slow. */
export function slowQueryRecord (t: StatementTiming, thresholdMs: number): SlowQueryRecord | null {
  if (!isSlow(t.durationMs, thresholdMs)) return null
  const statement = bounded(sqlOf(t))
  // Whole milliseconds, rounded up: a statement over the threshold never prints below it.
  const durationMs = Math.ceil(t.durationMs)
  const fields: SlowQueryRecord['fields'] = { statement, durationMs, rows: t.rowCount }
  // The session id is the bearer of the session's open transaction: its first 8 characters
  // correlate the lines of one session without putting a usable id in a log file.
  if (t.session !== undefined) fields.session = t.session.slice(0, 8)
  if (t.txnShards !== undefined) fields.txnShards = [...t.txnShards]
  if (t.error !== undefined) fields.error = t.error
  const oneLine = statement.length > 200 ? `${statement.slice(0, 199)}…` : statement
  return { msg: `Slow query: ${durationMs} ms, ${t.rowCount} row${t.rowCount === 1 ? '' : 's'}${t.error !== undefined ? `, failed ${t.error}` : ''}: ${oneLine}`, fields }
}

function sqlOf (t: StatementTiming): string {
  try {
    return t.sql()
  } catch (e) {
    // A statement the formatter cannot print still gets its line (and the formatter bug a trace).
    return `(statement not printable: ${String(e)})`
  }
}

function bounded (text: string): string {
  return text.length > SLOW_QUERY_MAX_SQL ? `${text.slice(0, SLOW_QUERY_MAX_SQL - 1)}…` : text
}
