// Derived tables — `FROM (SELECT …) AS d (cols)` — and expanded views (view-expand.ts) as inputs
// of the query around them (issue 19 item 4). A derived table is planned as a query of its own;
// its rows are computed first and the outer query (or join) runs over them on the coordinator,
// as PostgreSQL runs a subquery scan. What lets the inner query still run near the data is
// predicate pushdown: a conjunct of the outer WHERE (or a join's pushed-down predicates) that
// reads only the derived table's columns is moved into the inner query's WHERE, with each column
// replaced by the expression behind it — so `SELECT * FROM v WHERE id = 7` over a view of one
// table pins that table's partition key and reads one shard. The outer filter still applies
// (the copy only narrows what the inner query reads). Not moved: into a query with GROUP BY,
// aggregates, DISTINCT, LIMIT or OFFSET (a filter there changes what they compute), and
// conjuncts with subqueries, aggregates or UUID generators (run once, where they are written).
import { ScratchBirdError } from '../core/errors'
import type { ProgramColumn } from '../sblr/program'
import type { ColumnRef, DerivedTable, Expr, SelectStatement } from '../sql/ast'
import { AGGREGATE_NAMES, exprChildren, posDetails, type ScopeColumn } from './compile-expr'
import { conjuncts } from './pins'

/** What a derived table needs of its planned query (a SelectPlan; structural, so no import cycle). */
export interface PlannedSelect {
  readonly columns: readonly ProgramColumn[]
  /** The select list after `*` expansion: each visible column's name and expression. */
  readonly outputs: readonly { readonly name: string, readonly expr: Expr }[]
}

/** A derived table as the query around it sees it. */
export interface DerivedSource<P> {
  readonly alias: string
  /** The view it expands (EXPLAIN), or null for a subquery written in FROM. */
  readonly view: string | null
  /** Its columns, named as the column list (or the inner select list) names them. */
  readonly columns: readonly ProgramColumn[]
  readonly scope: readonly ScopeColumn[]
  /** Its plan with what of `pushed` (predicates over its columns) can move into its WHERE. */
  plan: (pushed: readonly Expr[]) => P
  /** How many of `pushed` the plan moved in (EXPLAIN says so). */
  moved: (pushed: readonly Expr[]) => number
}

const GENERATORS = new Set(['gen_uuidv7', 'gen_uuidv8_hlc'])

/** Does `e` (no subqueries in it) compute the same wherever it runs, once per row? */
function rowLocal (e: Expr): boolean {
  if (e.kind === 'call' && (AGGREGATE_NAMES.has(e.name) || GENERATORS.has(e.name))) return false
  if (e.kind === 'subquery' || e.kind === 'exists' || e.kind === 'in_subquery') return false
  return exprChildren(e).every(rowLocal)
}

/** Does `e` hold an aggregate call of its own query (not one inside a subquery)? */
function hasAggregate (e: Expr): boolean {
  return (e.kind === 'call' && AGGREGATE_NAMES.has(e.name)) || exprChildren(e).some(hasAggregate)
}

/** `e` with each column reference replaced by `f`'s answer (null: give up). */
function mapColumns (e: unknown, f: (c: ColumnRef) => Expr | null): unknown {
  if (Array.isArray(e)) {
    const out: unknown[] = []
    for (const x of e) { const y = mapColumns(x, f); if (y === null) return null; out.push(y) }
    return out
  }
  if (typeof e !== 'object' || e === null) return e
  if ((e as Expr).kind === 'column') return f(e as ColumnRef)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(e)) {
    if (k === 'pos') { out[k] = v; continue }
    const y = mapColumns(v, f)
    if (y === null && v !== null) return null
    out[k] = y
  }
  return out
}

export function deriveTable<P extends PlannedSelect> (d: DerivedTable, plan: (s: SelectStatement) => P): DerivedSource<P> {
  const base = plan(d.select)
  const list = d.columns ?? []
  if (list.length > base.columns.length) {
    throw new ScratchBirdError('SB_SYNTAX_ERROR', `table "${d.alias}" has ${base.columns.length} columns available but ${list.length} columns specified`, posDetails(d.pos))
  }
  const names = base.columns.map((c, i) => list[i] ?? c.name)
  const seen = new Set<string>()
  for (const n of names) {
    // PostgreSQL defers this to a reference of the name; refusing it up front keeps `d.*` and every
    // reference unambiguous (give the columns distinct aliases or a column list).
    if (seen.has(n)) throw new ScratchBirdError('SB_DUPLICATE_COLUMN', `column "${n}" appears more than once in ${d.view !== undefined ? `view "${d.view}"` : `derived table "${d.alias}"`}; give the columns distinct names`, { table: d.alias, column: n, ...posDetails(d.pos) })
    seen.add(n)
  }
  const columns = base.columns.map((c, i) => ({ name: names[i]!, type: c.type }))
  const s = d.select
  const frozen = s.groupBy.length > 0 || s.having !== null || s.distinct || s.limit !== null || s.offset !== null ||
    base.outputs.some(o => hasAggregate(o.expr)) || s.orderBy.some(o => hasAggregate(o.expr))
  const movable = (pushed: readonly Expr[]): Expr[] => {
    if (frozen) return []
    const out: Expr[] = []
    for (const c of pushed.flatMap(p => conjuncts(p))) {
      if (!rowLocal(c)) continue
      const moved = mapColumns(c, ref => {
        if (ref.table !== null && ref.table !== d.alias) return null
        const i = names.indexOf(ref.name)
        const inner = i < 0 ? undefined : base.outputs[i]?.expr
        return inner !== undefined && rowLocal(inner) ? inner : null
      })
      if (moved !== null) out.push(moved as Expr)
    }
    return out
  }
  return {
    alias: d.alias,
    view: d.view ?? null,
    columns,
    scope: columns.map(c => ({ name: c.name, type: c.type, table: d.alias })),
    plan: (pushed) => {
      const moved = movable(pushed)
      if (moved.length === 0) return base
      const where = [...(s.where === null ? [] : [s.where]), ...moved].reduce((l, r) => ({ kind: 'binary', pos: d.pos, op: 'and', left: l, right: r }))
      return plan({ ...s, where })
    },
    moved: (pushed) => movable(pushed).length
  }
}
