// Views as the catalog document holds them (issue 19 item 4, P-009). A view is its SELECT as
// canonical SQL text (sql/format.ts, with `*` expanded at CREATE VIEW so a column added to a table
// later does not change the view, as in PostgreSQL), the names and types of its columns, and the
// relations it names directly. It lives in the same versioned document as the tables, so it
// travels the same path (the catalog coordinator builds the version, every node installs it) and
// its name shares their name space. The planner expands it into a derived table (plan/view-expand.ts).
import { ScratchBirdError } from '../core/errors'

export interface ViewColumn {
  readonly name: string
  /** The SQL type's name as sys_columns prints it (types/sql-types.ts typeName). */
  readonly type: string
}

export interface ViewInfo {
  readonly name: string
  /** The SELECT, canonical SQL text. */
  readonly definition: string
  readonly columns: readonly ViewColumn[]
  /**
   * The tables and views the SELECT names (FROM, JOIN, subqueries), without repeats: dropping one
   * is refused while the view exists, and reading the view needs SELECT on the tables behind them.
   */
  readonly reads: readonly string[]
  /** Catalog version that created or last replaced it. */
  readonly version: number
}

/** Views a catalog holds (bounded like every input: the document travels whole). */
export const MAX_VIEWS = 10_000

function corrupt (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: ${what}`)
}

const names = (v: unknown): v is string[] => Array.isArray(v) && v.every(n => typeof n === 'string')

/** The views of a catalog document (absent in documents written before views existed: none). */
export function readViews (v: unknown): ViewInfo[] {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length > MAX_VIEWS) throw corrupt('views is not a list')
  return v.map((x: Partial<ViewInfo>) => {
    if (typeof x !== 'object' || x === null || typeof x.name !== 'string' || typeof x.definition !== 'string' || !names(x.reads) ||
      !Number.isInteger(x.version) || !Array.isArray(x.columns) || x.columns.length === 0 ||
      !x.columns.every((c: Partial<ViewColumn>) => typeof c === 'object' && c !== null && typeof c.name === 'string' && typeof c.type === 'string')) {
      throw corrupt('a view entry is malformed')
    }
    return { name: x.name, definition: x.definition, columns: x.columns.map(c => ({ name: c.name, type: c.type })), reads: [...x.reads], version: x.version! }
  })
}
