// CREATE [OR REPLACE] VIEW and DROP VIEW on this node's catalog (issue 19 item 4): the SELECT is
// planned against the catalog — which checks every name in it and gives its columns' names and
// types — and stored as canonical text with `*` expanded; catalog/views.ts decides the rest. Runs
// where DDL runs: on the catalog coordinator in a cluster (the statement travels as its text, as
// every DDL does), here alone.
import type { Catalog } from '../catalog/catalog'
import { applyViewStatement, type DescribedView } from '../catalog/views'
import { ScratchBirdError } from '../core/errors'
import { posDetails } from '../plan/compile-expr'
import type { PlanEnv } from '../plan/plan-env'
import { planSelect } from '../plan/select-plan'
import { tablesRead } from '../security/privileges'
import type { CreateViewStatement, SelectItem, ViewStatement } from '../sql/ast'
import { formatStatement } from '../sql/format'
import { typeName } from '../types/sql-types'
import type { CatalogPort, DdlPort } from './env'
import { commandResult, type StatementResult } from './result'

/** The first `$n` anywhere in a statement tree, or null. */
function firstParam (node: unknown): { pos: unknown } | null {
  if (Array.isArray(node)) {
    for (const x of node) { const p = firstParam(x); if (p !== null) return p }
    return null
  }
  if (typeof node !== 'object' || node === null) return null
  if ((node as { kind?: unknown }).kind === 'param') return node as { pos: unknown }
  for (const [k, v] of Object.entries(node)) {
    if (k === 'pos') continue
    const p = firstParam(v)
    if (p !== null) return p
  }
  return null
}

export function describeView (env: PlanEnv, s: CreateViewStatement): DescribedView {
  if (firstParam(s.select) !== null) {
    // A view is run by statements of its own, which bring their own parameters.
    throw new ScratchBirdError('SB_UNDEFINED_PARAMETER', `view "${s.name}" cannot use $n parameters`, posDetails(s.pos))
  }
  const plan = planSelect(env, s.select, [])
  const list = s.columns ?? []
  if (list.length > plan.columns.length) throw new ScratchBirdError('SB_SYNTAX_ERROR', 'CREATE VIEW specifies more column names than columns', posDetails(s.pos))
  const columns = plan.columns.map((c, i) => ({ name: list[i] ?? c.name, type: typeName(c.type) }))
  // `*` is expanded now, as PostgreSQL does: a column added to a table later is not in the view.
  const select = s.select.columns.some(c => c.kind === 'star')
    ? {
        ...s.select,
        columns: plan.outputs.map((o): SelectItem => ({ kind: 'select_expr', pos: s.select.pos, expr: o.expr, alias: o.expr.kind === 'column' && o.expr.name === o.name ? null : o.name }))
      }
    : s.select
  const c: Catalog = env.catalog()
  const reads = [...tablesRead(s.select)].filter(n => c.table(n) !== undefined || c.view(n) !== undefined)
  return { definition: formatStatement(select), columns, reads }
}

/** Validates a view statement against this node's catalog and installs the next version. */
export function applyViewDdl (env: CatalogPort & DdlPort & PlanEnv, s: ViewStatement): StatementResult {
  const cat = env.catalog()
  const res = applyViewStatement(cat, s, v => describeView(env, v))
  if (res.catalog !== cat) env.setCatalog(res.catalog)
  for (const w of res.warnings) env.warn(w, { view: s.name, statement: s.kind })
  return commandResult(s.kind === 'create_view' ? 'CREATE VIEW' : 'DROP VIEW', 0, res.warnings)
}

const VIEW_STATEMENTS: ReadonlySet<string> = new Set(['create_view', 'drop_view'] satisfies Array<ViewStatement['kind']>)
export function isViewStatement (s: { kind: string }): s is ViewStatement { return VIEW_STATEMENTS.has(s.kind) }
