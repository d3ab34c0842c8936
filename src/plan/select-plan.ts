// SELECT planning: where the rows come from (no table, a system table, a user table on some or
// all shards, a join, or a derived table or expanded view — derived-plan.ts, view-expand.ts), the
// per-row SBLR program (filter + projection, or filter + group key + aggregate arguments) shipped
// to the shards, and for aggregate queries the coordinator's final program (HAVING + projection
// over merged groups). ORDER BY keys ride along as hidden trailing outputs.
import { ScratchBirdError } from '../core/errors'
import type { ScanOptions } from '../storage/engine'
import type { Program, ProgramColumn } from '../sblr/program'
import type { AggKind } from '../sblr/opcodes'
import type { DerivedTable, Expr, FuncCall, SelectItem, SelectStatement } from '../sql/ast'
import { formatExpr } from '../sql/format'
import { T, type SqlType } from '../types/sql-types'
import type { SortSpec, SqlValue } from '../types/values'
import { AGGREGATE_NAMES, compileExpr, exprChildren, posDetails, type Scope, type ScopeColumn, type TypedReg } from './compile-expr'
import type { PlanEnv } from './plan-env'
import { planJoin, type JoinPlan } from './join-plan'
import { evalConst, pinKeys } from './pins'
import { ProgramBuilder } from './program-builder'
import { withEnumOrder } from './enum-order'
import { SYSTEM_TABLES } from './system-tables'
import { scopeOf, tableShape, type TableShape } from './table-types'
import type { ShardId } from '../core/ids'
import { findSubqueries, SubqueryLevel, type ParamSlot, type SubqueryPlan } from './subquery-plan'
import { deriveTable, type DerivedSource } from './derived-plan'
import { expandViews } from './view-expand'
import { conjuncts } from './pins'
import type { KeyList } from './key-lists'

export type SelectSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'system', readonly name: string, readonly rows: SqlValue[][] }
  | { readonly kind: 'table', readonly shape: TableShape, readonly shards: ShardId[], readonly options: ScanOptions, readonly routing: string, readonly keys?: KeyList }
  | { readonly kind: 'join', readonly join: JoinPlan<SelectPlan> }
  /**
   * A derived table or an expanded view (derived-plan.ts): `plan`'s rows, computed first on the
   * coordinator; `moved`: how many WHERE conjuncts went into its query.
   */
  | { readonly kind: 'derived', readonly alias: string, readonly view: string | null, readonly plan: SelectPlan, readonly moved: number }
  /**
   * Rows computed on the coordinator: `fetch`'s rows (null: one empty row) each extended by the
   * values of the per-row subqueries (subquery-plan.ts); the programs below run over them.
   */
  | { readonly kind: 'rows', readonly fetch: SelectPlan | null }

export interface SelectPlan {
  readonly source: SelectSource
  /** Runs once per input row. */
  readonly scan: Program
  /** scan may run in the shard workers (it uses no UUID generator). */
  readonly pushdown: boolean
  /** `distinct`: per aggregate, whether it takes each argument value once (count(DISTINCT x)). */
  readonly aggregate: { readonly keys: number, readonly kinds: AggKind[], readonly distinct: boolean[], readonly final: Program } | null
  /** Visible output columns; the last program's outputs have `hidden` sort keys after them. */
  readonly columns: readonly ProgramColumn[]
  /** The select list after `*` expansion (a derived table moves predicates through it, a view stores it). */
  readonly outputs: readonly Output[]
  readonly order: readonly { index: number, spec: SortSpec }[]
  readonly distinct: boolean
  readonly limit: number | null
  readonly offset: number
  /** Parameters appended after the request's own at run time (subquery values, outer columns). */
  readonly slots: readonly ParamSlot[]
  readonly subqueries: readonly SubqueryPlan<SelectPlan>[]
}

interface AggCall { key: string, kind: AggKind, arg: Expr | null, call: FuncCall, distinct: boolean }

function collectAggregates (e: Expr | null, out: AggCall[]): void {
  if (e === null) return
  if (e.kind === 'call' && AGGREGATE_NAMES.has(e.name)) {
    const key = formatExpr(e)
    if (out.some(a => a.key === key)) return
    if (e.star && e.name !== 'count') throw new ScratchBirdError('SB_UNDEFINED_FUNCTION', `${e.name}(*) does not exist`, posDetails(e.pos))
    if (!e.star && e.args.length !== 1) throw new ScratchBirdError('SB_UNDEFINED_FUNCTION', `${e.name}() takes one argument`, posDetails(e.pos))
    out.push({ key, kind: e.star ? 'count_star' : e.name as AggKind, arg: e.star ? null : e.args[0]!, call: e, distinct: e.distinct })
    return
  }
  for (const child of exprChildren(e)) collectAggregates(child, out)
}

function aggResultType (kind: AggKind, arg: SqlType): SqlType {
  switch (kind) {
    case 'count': case 'count_star': return T.bigint
    case 'min': case 'max': return arg
    case 'sum': return arg.kind === 'real' || arg.kind === 'double' ? T.double : arg.kind === 'decimal' ? T.numeric : T.bigint
    case 'avg': return arg.kind === 'real' || arg.kind === 'double' ? T.double : T.numeric
  }
}

export interface Output { name: string, expr: Expr }

/** A select list (or RETURNING list) with `*` and `t.*` expanded to the visible columns. */
export function expandItems (items: readonly SelectItem[], scope: readonly ScopeColumn[]): Output[] {
  const out: Output[] = []
  for (const it of items) {
    if (it.kind === 'star') {
      const cols = scope.filter(c => c.hidden !== true && (it.table === null || c.table === it.table))
      if (cols.length === 0) throw new ScratchBirdError(it.table === null ? 'SB_FEATURE_NOT_SUPPORTED' : 'SB_UNDEFINED_TABLE', it.table === null ? 'SELECT * needs a FROM clause' : `missing FROM-clause entry for table "${it.table}"`, posDetails(it.pos))
      for (const c of cols) out.push({ name: c.name, expr: { kind: 'column', pos: it.pos, table: c.table, name: c.name } })
    } else {
      out.push({ name: it.alias ?? defaultName(it.expr), expr: it.expr })
    }
  }
  return out
}

function defaultName (e: Expr): string {
  if (e.kind === 'column') return e.name
  if (e.kind === 'call') return e.name
  if (e.kind === 'cast') return defaultName(e.operand)
  // As PostgreSQL: a scalar subquery is named by its one column, EXISTS "exists".
  if (e.kind === 'subquery') {
    const first = e.select.columns[0]
    return first?.kind === 'select_expr' ? first.alias ?? defaultName(first.expr) : '?column?'
  }
  if (e.kind === 'exists') return 'exists'
  return '?column?'
}

/** Where each ORDER BY item comes from: an output (ordinal, alias, same expression) or a hidden key. */
function orderTargets (s: SelectStatement, outputs: Output[]): { hidden: Expr[], order: { index: number, spec: SortSpec }[] } {
  const hidden: Expr[] = []
  const order = s.orderBy.map(o => {
    const spec: SortSpec = { desc: o.direction === 'desc', ...(o.nulls !== null ? { nullsFirst: o.nulls === 'first' } : {}) }
    if (o.expr.kind === 'integer') {
      const n = Number(o.expr.value)
      if (n < 1 || n > outputs.length) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `ORDER BY position ${n} is not in select list`, posDetails(o.pos))
      return { index: n - 1, spec }
    }
    if (o.expr.kind === 'column' && o.expr.table === null) {
      const name = o.expr.name
      const i = outputs.findIndex(x => x.name === name)
      if (i >= 0) return { index: i, spec }
    }
    const key = formatExpr(o.expr)
    const same = outputs.findIndex(x => formatExpr(x.expr) === key)
    if (same >= 0) return { index: same, spec }
    hidden.push(o.expr)
    return { index: outputs.length + hidden.length - 1, spec }
  })
  return { hidden, order }
}

/** Compiles `exprs` into a contiguous output block and EMITs it (after an optional filter). */
function emitRow (b: ProgramBuilder, scope: Scope, filter: Expr | null, exprs: readonly Expr[], names: readonly string[]): Program {
  const skip = b.label()
  if (filter !== null) {
    const c = compileExpr(filter, { ...scope, clause: scope.clause ?? 'WHERE' }, b)
    b.emit('JUMP_IF_NOT_TRUE', c.reg, skip)
  }
  const regs = exprs.map(e => compileExpr(e, scope, b))
  const first = b.regs(regs.length)
  regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
  b.emit('EMIT', first, regs.length)
  b.place(skip)
  b.emit('SKIP')
  const types = regs.map(r => r.type.kind === 'null' && r.untyped ? T.text : r.type)
  return b.build(names.map((n, i) => ({ name: n, type: types[i]! })))
}

/**
 * `outer`: the columns of the enclosing query when `s` is a subquery (its references to them
 * become parameter slots). `depth`: how many views this query sits inside (view-expand.ts bounds
 * it). A derived table or view in FROM is planned without `outer`: it cannot read the enclosing
 * query's columns (no LATERAL). `derived`: the plans of the derived tables' queries made so far
 * for this statement — moving a predicate into one plans it again, and without them each level
 * of views of views would plan the levels below twice (2^depth plans).
 */
export function planSelect (env: PlanEnv, s: SelectStatement, params: readonly SqlValue[], outer: readonly ScopeColumn[] | null = null, depth = 0,
  derived = new Map<SelectStatement, SelectPlan>()): SelectPlan {
  s = withEnumOrder(env.catalog(), s)
  let source: SelectSource = { kind: 'none' }
  let scopeCols: ScopeColumn[] = []
  let inputs: readonly ProgramColumn[] = []
  const found = findSubqueries([...s.columns.flatMap(c => c.kind === 'select_expr' ? [c.expr] : []), s.where, s.having, ...s.groupBy, ...s.orderBy.map(o => o.expr)])
  if (s.from !== null) {
    const from = expandViews(env.catalog(), s.from, depth)
    const derive = (d: DerivedTable): DerivedSource<SelectPlan> => deriveTable(d, sel => {
      let p = derived.get(sel)
      if (p === undefined) {
        p = planSelect(env, sel, params, null, d.view !== undefined ? depth + 1 : depth, derived)
        derived.set(sel, p)
      }
      return p
    })
    if (from.kind === 'join') {
      // A WHERE with subqueries or outer references cannot be pushed into the join's sides.
      const join = planJoin(env, from, found.length > 0 || outer !== null ? null : s.where, params, derive)
      source = { kind: 'join', join }
      inputs = join.columns
      scopeCols = [...join.scope]
    } else if (from.kind === 'derived') {
      const d = derive(from)
      const pushed = conjuncts(s.where)
      source = { kind: 'derived', alias: d.alias, view: d.view, plan: d.plan(pushed), moved: d.moved(pushed) }
      inputs = d.columns
      scopeCols = [...d.scope]
    } else {
      const alias = from.alias ?? from.name
      const sys = SYSTEM_TABLES[from.name]
      if (sys !== undefined) {
        source = { kind: 'system', name: from.name, rows: sys.rows(env.catalog(), env) }
        inputs = sys.columns
        scopeCols = sys.columns.map(c => ({ name: c.name, type: c.type, table: alias }))
      } else {
        const shape = tableShape(env.catalog().mustTable(from.name))
        inputs = shape.programColumns
        scopeCols = scopeOf(shape, alias)
        source = { kind: 'table', shape, ...pinKeys(env, shape, s.where, params) }
      }
    }
  }
  const level = new SubqueryLevel<SelectPlan>(params.length, outer, found, (sel, o) => planSelect(env, sel, params, o, depth, derived), scopeCols)
  const fetchFrom = source
  const fetchColumns = inputs
  if (level.hasPerRow) {
    level.compileOperands(params, inputs)
    const extra = level.perRowColumns(inputs.length)
    scopeCols = [...scopeCols, ...extra]
    inputs = [...inputs, ...extra.map(c => ({ name: c.name, type: c.type }))]
  }
  const scope: Scope = { columns: scopeCols, substitute: (e, b) => level.substitute(e, b) }
  const outputs = expandItems(s.columns, scopeCols)
  const aggs: AggCall[] = []
  for (const o of outputs) collectAggregates(o.expr, aggs)
  collectAggregates(s.having, aggs)
  for (const o of s.orderBy) collectAggregates(o.expr, aggs)
  const { hidden, order } = orderTargets(s, outputs)
  const limit = s.limit === null ? null : countValue(env, s.limit, params, 'LIMIT')
  const offset = s.offset === null ? 0 : countValue(env, s.offset, params, 'OFFSET')
  const names = [...outputs.map(o => o.name), ...hidden.map((_, i) => `?sort${i}`)]
  const exprs = [...outputs.map(o => o.expr), ...hidden]

  if (aggs.length === 0 && s.groupBy.length === 0) {
    if (s.having !== null) throw new ScratchBirdError('SB_GROUPING_ERROR', 'HAVING needs GROUP BY or an aggregate', posDetails(s.having.pos))
    const b = new ProgramBuilder(params, inputs)
    const scan = emitRow(b, scope, s.where, exprs, names)
    return {
      source: rowsSource(level, fetchFrom, fetchColumns, params),
      scan,
      pushdown: !b.volatile,
      aggregate: null,
      columns: scan.outputs.slice(0, outputs.length),
      outputs,
      order,
      distinct: s.distinct,
      limit,
      offset,
      slots: level.slots,
      subqueries: level.subqueries
    }
  }

  // Aggregate query: shards emit [group keys…, aggregate arguments…] for rows passing WHERE.
  const b = new ProgramBuilder(params, inputs)
  const argExprs: Expr[] = aggs.map(a => a.arg ?? { kind: 'null', pos: a.call.pos })
  const scanNames = [...s.groupBy.map((_, i) => `?key${i}`), ...aggs.map((_, i) => `?arg${i}`)]
  const scan = emitRow(b, { ...scope, clause: 'WHERE' }, s.where, [...s.groupBy, ...argExprs], scanNames)
  // A UUID generator in WHERE, GROUP BY or an aggregate argument must run where the node's HLC
  // is: the shards then send their rows and the coordinator runs the scan program and aggregates.
  const pushdown = !b.volatile
  const keyTypes = scan.outputs.slice(0, s.groupBy.length).map(c => c.type)
  const aggTypes = aggs.map((a, i) => aggResultType(a.kind, scan.outputs[s.groupBy.length + i]!.type))
  const finalInputs: ProgramColumn[] = [...keyTypes.map((t, i) => ({ name: `?key${i}`, type: t })), ...aggTypes.map((t, i) => ({ name: aggs[i]!.key, type: t }))]
  const keyText = s.groupBy.map(formatExpr)
  // A column is the same key however it is spelled: `u.name` and `name` (when unambiguous).
  const columnOf = (e: Expr): number => {
    if (e.kind !== 'column') return -1
    const hits = scopeCols.flatMap((c, i) => c.name === e.name && (e.table === null || c.table === e.table) ? [i] : [])
    return hits.length === 1 ? hits[0]! : -1
  }
  const keyColumns = s.groupBy.map(columnOf)
  const substitute = (e: Expr, fb: ProgramBuilder): TypedReg | undefined => {
    // Outer references and once-per-statement subqueries are parameters, constant across groups.
    if (!level.isPerRow(e)) {
      const p = level.substitute(e, fb)
      if (p !== undefined) return p
    }
    const text = formatExpr(e)
    const c = columnOf(e)
    const k = c >= 0 && keyColumns.includes(c) ? keyColumns.indexOf(c) : keyText.indexOf(text)
    const load = (i: number): TypedReg => { const r = fb.reg(); fb.emit('LOAD_COLUMN', r, i); return { reg: r, type: finalInputs[i]!.type, untyped: false } }
    if (k >= 0) return load(k)
    if (e.kind === 'call' && AGGREGATE_NAMES.has(e.name)) return load(s.groupBy.length + aggs.findIndex(a => a.key === text))
    if (level.isPerRow(e)) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'a correlated or IN subquery after GROUP BY or an aggregate (in HAVING or the select list) is not supported yet', posDetails(e.pos))
    if (e.kind === 'column') {
      throw new ScratchBirdError('SB_GROUPING_ERROR', `column "${e.table === null ? e.name : `${e.table}.${e.name}`}" must appear in the GROUP BY clause or be used in an aggregate function`, posDetails(e.pos))
    }
    return undefined
  }
  const fb = new ProgramBuilder(params, finalInputs)
  const final = emitRow(fb, { columns: [], substitute, clause: 'HAVING' }, s.having, exprs, names)
  return {
    source: rowsSource(level, fetchFrom, fetchColumns, params),
    scan,
    pushdown,
    aggregate: { keys: s.groupBy.length, kinds: aggs.map(a => a.kind), distinct: aggs.map(a => a.distinct), final },
    columns: final.outputs.slice(0, outputs.length),
    outputs,
    order,
    distinct: s.distinct,
    limit,
    offset,
    slots: level.slots,
    subqueries: level.subqueries
  }
}

/**
 * The level's source once its programs are compiled: per-row subqueries need the rows on the
 * coordinator, and so does a correlated subquery reading a table — fetched once per statement
 * and filtered per enclosing row there, rather than one shard round trip per enclosing row.
 */
function rowsSource (level: SubqueryLevel<SelectPlan>, from: SelectSource, columns: readonly ProgramColumn[], params: readonly SqlValue[]): SelectSource {
  const remote = from.kind === 'table' || from.kind === 'join'
  if (!level.hasPerRow && !(level.correlated && remote)) return from
  if (from.kind === 'none') return { kind: 'rows', fetch: null }
  const b = new ProgramBuilder(params, columns)
  const first = b.regs(columns.length)
  columns.forEach((_, i) => b.emit('LOAD_COLUMN', first + i, i))
  b.emit('EMIT', first, columns.length)
  b.emit('SKIP')
  const scan = b.build(columns)
  const fetch: SelectPlan = { source: from, scan, pushdown: true, aggregate: null, columns, outputs: [], order: [], distinct: false, limit: null, offset: 0, slots: [], subqueries: [] }
  return { kind: 'rows', fetch }
}

function countValue (env: PlanEnv, e: Expr, params: readonly SqlValue[], what: string): number {
  const v = evalConst(env, e, params, T.bigint)
  if (typeof v !== 'bigint' || v < 0n) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${what} must be a non-negative integer`, posDetails(e.pos))
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v)
}
