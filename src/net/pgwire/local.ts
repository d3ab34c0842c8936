// Statements a PostgreSQL-protocol connection answers itself, before the SQL parser sees them:
// SET / RESET / SHOW of run-time parameters (params.ts), and the few catalog questions drivers
// and tools ask on connect — version(), current_setting(), current_database(), current_schema(),
// and postgres.js's lookup of array types in pg_catalog.pg_type (we have no array types: it
// gets no rows). They touch no table and no transaction. Anything else goes to the executor.
import { ScratchBirdError } from '../../core/errors'
import { T, type SqlType } from '../../types/sql-types'
import type { SqlValue } from '../../types/values'
import type { ServerParams } from './params'

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
  run (params: ServerParams): LocalAnswer
}

export interface ConnectionFacts { readonly database: string, readonly version: string }

const NAME = '([A-Za-z_][A-Za-z0-9_.]*)'
const SET_RE = new RegExp(`^set\\s+(?:session\\s+|local\\s+)?${NAME}\\s*(?:=|\\s+to\\s+)\\s*([\\s\\S]+)$`, 'i')
const SET_TIME_ZONE_RE = /^set\s+(?:session\s+|local\s+)?time\s+zone\s+([\s\S]+)$/i
const RESET_RE = new RegExp(`^reset\\s+${NAME}$`, 'i')
const SHOW_RE = new RegExp(`^show\\s+${NAME}$`, 'i')
const FUNC_RE = /^select\s+(?:pg_catalog\.)?(version|current_database|current_schema|current_user|session_user)\s*\(\s*\)(?:\s+as\s+("?)([A-Za-z_][A-Za-z0-9_]*)\2)?$/i
const CURRENT_SETTING_RE = /^select\s+(?:pg_catalog\.)?current_setting\s*\(\s*'([^']+)'\s*\)(?:\s+as\s+("?)([A-Za-z_][A-Za-z0-9_]*)\2)?$/i

/** 'value' → value, "value" → value; a list (search_path = a, b) stays as written. */
function unquote (v: string): string {
  const t = v.trim()
  if (t.length >= 2 && ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"')))) {
    return t.slice(1, -1).replace(t[0] === "'" ? /''/g : /""/g, t[0]!)
  }
  return t
}

function setStatement (name: string, value: string): LocalStatement {
  return {
    columns: [],
    run: (params) => {
      const out = params.set(name, value)
      return {
        rows: [],
        tag: 'SET',
        report: out.report === null ? [] : [out.report],
        notices: out.noEffect ? [`parameter "${name.toLowerCase()}" is accepted but has no effect in ScratchBird`] : []
      }
    }
  }
}

function oneValue (column: string, value: (p: ServerParams) => string, tag = 'SELECT 1'): LocalStatement {
  return { columns: [{ name: column, type: T.text }], run: (p) => ({ rows: [[value(p)]], tag, report: [], notices: [] }) }
}

/** The statement if this connection answers it itself, else null. `sql` is one statement without its `;`. */
export function localStatement (sql: string, facts: ConnectionFacts): LocalStatement | null {
  const text = sql.trim()
  const first = text.slice(0, 6).toLowerCase()
  if (first.startsWith('set') || first.startsWith('reset')) {
    const tz = SET_TIME_ZONE_RE.exec(text)
    if (tz !== null) return setStatement('TimeZone', unquote(tz[1]!))
    const m = SET_RE.exec(text)
    if (m !== null) return setStatement(m[1]!, unquote(m[2]!))
    const r = RESET_RE.exec(text)
    // RESET goes back to what we start with; only the parameters we track can be reset.
    if (r !== null) return { columns: [], run: () => ({ rows: [], tag: 'RESET', report: [], notices: [] }) }
    return null
  }
  if (first.startsWith('show')) {
    const m = SHOW_RE.exec(text)
    if (m === null) return null
    const name = m[1]!
    // Our own SHOW statements (SHOW CLUSTER MEMBERS …) are several words; a single word is a parameter.
    return {
      columns: [{ name: name.toLowerCase(), type: T.text }],
      run: (p) => {
        const v = p.get(name)
        if (v === undefined) throw unknownParameter(name)
        return { rows: [[v]], tag: 'SHOW', report: [], notices: [] }
      }
    }
  }
  if (first !== 'select') return null
  const f = FUNC_RE.exec(text)
  if (f !== null) {
    const fn = f[1]!.toLowerCase()
    const column = f[3] ?? fn
    switch (fn) {
      case 'version': return oneValue(column, () => `PostgreSQL ${facts.version} on ${process.arch}-${process.platform}, compatible wire protocol`)
      case 'current_database': return oneValue(column, () => facts.database)
      case 'current_schema': return oneValue(column, () => 'public')
      default: return oneValue(column, (p) => p.get('session_authorization') ?? '')
    }
  }
  const cs = CURRENT_SETTING_RE.exec(text)
  if (cs !== null) {
    const name = cs[1]!
    return {
      columns: [{ name: cs[3] ?? 'current_setting', type: T.text }],
      run: (p) => {
        const v = p.get(name)
        if (v === undefined) throw unknownParameter(name)
        return { rows: [[v]], tag: 'SELECT 1', report: [], notices: [] }
      }
    }
  }
  // postgres.js asks which array types exist (to parse arrays); we have none.
  if (/\bpg_catalog\.pg_type\b/i.test(text) && /\btyparray\b/i.test(text)) {
    return { columns: [{ name: 'oid', type: T.bigint }, { name: 'typarray', type: T.bigint }], run: () => ({ rows: [], tag: 'SELECT 0', report: [], notices: [] }) }
  }
  return null
}

function unknownParameter (name: string): ScratchBirdError {
  return new ScratchBirdError('SB_NOT_FOUND', `unrecognized configuration parameter "${name.toLowerCase()}"`, { parameter: name.toLowerCase() })
}
