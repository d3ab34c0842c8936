// Statements a PostgreSQL-protocol connection answers itself, before the SQL parser sees them:
// the few catalog questions drivers and tools ask on connect — version(), current_setting(),
// current_database(), current_schema(), and postgres.js's lookup of array types in
// pg_catalog.pg_type (we have no array types: it gets no rows). They touch no table and no
// transaction. Anything else goes to the executor — SET / RESET / SHOW of settings included
// (exec/settings/: the same session settings as the HTTP API's sessions).
import { T, type SqlType } from '../../types/sql-types'
import type { SqlValue } from '../../types/values'
import type { SessionSettings } from '../../exec/settings/session-settings'

export interface Column { readonly name: string, readonly type: SqlType }

export interface LocalAnswer {
  readonly rows: SqlValue[][]
  readonly tag: string
  /** Parameters whose new value the client must be told (ParameterStatus). */
  readonly report: Array<{ name: string, value: string }>
  readonly notices: string[]
}

export interface LocalStatement {
  /** The result columns, known before running (Describe). */
  readonly columns: Column[]
  run (settings: SessionSettings): LocalAnswer
}

export interface ConnectionFacts { readonly database: string, readonly version: string }

const FUNC_RE = /^select\s+(?:pg_catalog\.)?(version|current_database|current_schema|current_user|session_user)\s*\(\s*\)(?:\s+as\s+("?)([A-Za-z_][A-Za-z0-9_]*)\2)?$/i
const CURRENT_SETTING_RE = /^select\s+(?:pg_catalog\.)?current_setting\s*\(\s*'([^']+)'\s*\)(?:\s+as\s+("?)([A-Za-z_][A-Za-z0-9_]*)\2)?$/i

function oneValue (column: string, value: (p: SessionSettings) => string, tag = 'SELECT 1'): LocalStatement {
  return { columns: [{ name: column, type: T.text }], run: (p) => ({ rows: [[value(p)]], tag, report: [], notices: [] }) }
}

/** The statement if this connection answers it itself, else null. `sql` is one statement without its `;`. */
export function localStatement (sql: string, facts: ConnectionFacts): LocalStatement | null {
  const text = sql.trim()
  const first = text.slice(0, 6).toLowerCase()
  if (first !== 'select') return null
  const f = FUNC_RE.exec(text)
  if (f !== null) {
    const fn = f[1]!.toLowerCase()
    const column = f[3] ?? fn
    switch (fn) {
      case 'version': return oneValue(column, () => `PostgreSQL ${facts.version} on ${process.arch}-${process.platform}, compatible wire protocol`)
      case 'current_database': return oneValue(column, () => facts.database)
      case 'current_schema': return oneValue(column, () => 'public')
      default: return oneValue(column, (p) => p.get('session_authorization'))
    }
  }
  const cs = CURRENT_SETTING_RE.exec(text)
  if (cs !== null) {
    const name = cs[1]!
    return {
      columns: [{ name: cs[3] ?? 'current_setting', type: T.text }],
      run: (p) => ({ rows: [[p.get(name)]], tag: 'SELECT 1', report: [], notices: [] })
    }
  }
  // postgres.js asks which array types exist (to parse arrays); we have none.
  if (/\bpg_catalog\.pg_type\b/i.test(text) && /\btyparray\b/i.test(text)) {
    return { columns: [{ name: 'oid', type: T.bigint }, { name: 'typarray', type: T.bigint }], run: () => ({ rows: [], tag: 'SELECT 0', report: [], notices: [] }) }
  }
  return null
}
