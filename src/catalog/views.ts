// CREATE [OR REPLACE] VIEW and DROP VIEW against a catalog version (issue 19 item 4). Pure, like the
// table DDL of catalog.ts: checks the statement and yields the next version. What the SELECT means
// (its columns and types, the relations it names) needs the planner, a layer above: the caller
// describes it (exec/view-ddl.ts) and this module decides.
import { ScratchBirdError } from '../core/errors'
import type { CreateViewStatement, ViewStatement } from '../sql/ast'
import { Catalog, MAX_COLUMNS } from './catalog'
import { MAX_VIEWS, type ViewColumn, type ViewInfo } from './view-records'

/** A view's SELECT as the planner understood it. */
export interface DescribedView {
  /** Canonical SQL text, `*` expanded. */
  readonly definition: string
  readonly columns: readonly ViewColumn[]
  /** Tables and views named directly. */
  readonly reads: readonly string[]
}

export interface ViewDdlResult { catalog: Catalog, warnings: string[] }

function fail (code: 'SB_DUPLICATE_TABLE' | 'SB_UNDEFINED_TABLE' | 'SB_WRONG_OBJECT_TYPE' | 'SB_INVALID_TABLE_DEFINITION' | 'SB_DUPLICATE_COLUMN', message: string, details: Record<string, unknown>): ScratchBirdError {
  return new ScratchBirdError(code, message, details)
}

export function applyViewStatement (c: Catalog, s: ViewStatement, describe: (s: CreateViewStatement) => DescribedView): ViewDdlResult {
  if (s.kind === 'drop_view') {
    const v = c.view(s.name)
    if (v === undefined) {
      if (c.hasRelation(s.name)) throw fail('SB_WRONG_OBJECT_TYPE', `"${s.name}" is not a view`, { table: s.name })
      if (s.ifExists) return { catalog: c, warnings: [`view "${s.name}" does not exist, skipping`] }
      throw fail('SB_UNDEFINED_TABLE', `view "${s.name}" does not exist`, { view: s.name })
    }
    c.checkNoDependentView(s.name, 'view')
    return { catalog: new Catalog({ ...c.state, version: c.version + 1, views: c.views.filter(x => x !== v) }), warnings: [] }
  }
  const old = c.view(s.name)
  if (old === undefined && c.hasRelation(s.name)) {
    throw s.orReplace
      ? fail('SB_WRONG_OBJECT_TYPE', `"${s.name}" is not a view`, { table: s.name })
      : fail('SB_DUPLICATE_TABLE', `relation "${s.name}" already exists`, { table: s.name })
  }
  if (old !== undefined && !s.orReplace) throw fail('SB_DUPLICATE_TABLE', `relation "${s.name}" already exists`, { view: s.name })
  if (old === undefined && c.views.length >= MAX_VIEWS) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `at most ${MAX_VIEWS} views`, { max: MAX_VIEWS })
  const d = describe(s)
  if (d.columns.length > MAX_COLUMNS) throw fail('SB_INVALID_TABLE_DEFINITION', `view "${s.name}" has ${d.columns.length} columns, at most ${MAX_COLUMNS}`, { view: s.name })
  const seen = new Set<string>()
  for (const col of d.columns) {
    if (seen.has(col.name)) throw fail('SB_DUPLICATE_COLUMN', `column "${col.name}" specified more than once in view "${s.name}"`, { view: s.name, column: col.name })
    seen.add(col.name)
  }
  // OR REPLACE plans the new SELECT against the old view, so one naming itself (or a view that
  // reads it) would plan fine and then expand forever: refused here.
  const path = readPath(c, d.reads, s.name)
  if (path !== null) throw fail('SB_INVALID_TABLE_DEFINITION', `view "${s.name}" would read itself (${[s.name, ...path].join(' → ')})`, { view: s.name })
  if (old !== undefined) checkReplacement(old, d.columns)
  const version = c.version + 1
  const view: ViewInfo = { name: s.name, definition: d.definition, columns: d.columns.map(x => ({ ...x })), reads: [...d.reads], version }
  const views = old === undefined ? [...c.views, view] : c.views.map(x => x === old ? view : x)
  return { catalog: new Catalog({ ...c.state, version, views }), warnings: [] }
}

/** The views leading from `reads` to view `target` (through the views they read), or null. */
function readPath (c: Catalog, reads: readonly string[], target: string, seen = new Set<string>()): string[] | null {
  for (const r of reads) {
    if (r === target) return [r]
    const v = c.view(r)
    if (v === undefined || seen.has(r)) continue
    seen.add(r)
    const rest = readPath(c, v.reads, target, seen)
    if (rest !== null) return [r, ...rest]
  }
  return null
}

/**
 * As PostgreSQL: a replacement keeps the old columns, by name and type and in order, and may add
 * columns after them — views reading this one name its columns, and their types were fixed when
 * they were created.
 */
function checkReplacement (old: ViewInfo, next: readonly ViewColumn[]): void {
  if (next.length < old.columns.length) throw fail('SB_INVALID_TABLE_DEFINITION', `cannot drop columns from view "${old.name}"`, { view: old.name })
  old.columns.forEach((o, i) => {
    const n = next[i]!
    if (n.name !== o.name) throw fail('SB_INVALID_TABLE_DEFINITION', `cannot change name of view column "${o.name}" to "${n.name}"`, { view: old.name, column: o.name })
    if (n.type !== o.type) throw fail('SB_INVALID_TABLE_DEFINITION', `cannot change data type of view column "${o.name}" from ${o.type} to ${n.type}`, { view: old.name, column: o.name })
  })
}
