// Planning a left-deep FROM … JOIN …: the tables and their aliases (one scope, so qualified,
// unqualified and ambiguous names resolve as in PostgreSQL), which WHERE/ON predicates filter a
// single table before the join (and so route it, as pins.ts does for one table), the equality keys
// of each ON, and whether the join is colocated — every ON equates the partition key of the new
// table with that of an earlier one, so joining rows share a shard and the join runs inside it.
// A derived table or view (derived-plan.ts) is a side too: its rows are computed first, on the
// coordinator, so a join with one always runs there; its pushed-down predicates move into its
// query where they can (which may pin its table to one shard) and filter its rows again here.
import { ScratchBirdError } from '../core/errors'
import { MAX_PROGRAM_COLUMNS } from '../sblr/limits'
import type { Program, ProgramColumn } from '../sblr/program'
import type { DerivedTable, Expr, FromItem, Join, Pos, TableRef } from '../sql/ast'
import { formatExpr } from '../sql/format'
import { isIntegerKind, T, typesEqual, type SqlType } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { AGGREGATE_NAMES, compileExpr, exprChildren, posDetails, type ScopeColumn } from './compile-expr'
import type { PlanEnv } from './plan-env'
import type { JoinKind } from '../shard/drivers/join-driver'
import { conjuncts, isConst, pinKeys, type Routing } from './pins'
import { ProgramBuilder } from './program-builder'
import { filterProgram, rowFilterProgram } from './row-filter'
import type { DerivedSource } from './derived-plan'
import { SYSTEM_TABLES } from './system-tables'
import { scopeOf, tableShape, type TableShape } from './table-types'
import { type ShardId, shardIds } from '../core/ids'

export interface TableSidePlan {
  readonly kind: 'table'
  readonly shape: TableShape
  readonly alias: string
  /** Emits the table's columns for the rows passing the predicates pushed down to it. */
  readonly filter: Program
  /** The pushed-down predicates' routing of this table alone. */
  readonly routing: Routing
  /** The right side of a LEFT JOIN: its columns may be NULL-extended. */
  readonly nullable: boolean
}

/** A derived table or view joined: `plan` (a SelectPlan, planned by select-plan.ts) gives its rows. */
export interface DerivedSidePlan<D> {
  readonly kind: 'derived'
  readonly plan: D
  /** The view it expands, or null. */
  readonly view: string | null
  readonly alias: string
  readonly columns: readonly ProgramColumn[]
  /** Runs over its rows on the coordinator: the predicates pushed down to it. */
  readonly filter: Program
  readonly nullable: boolean
  /** How many pushed-down predicates moved into its query (EXPLAIN). */
  readonly moved: number
}

export type JoinSidePlan<D = unknown> = TableSidePlan | DerivedSidePlan<D>

export interface JoinStepPlan {
  readonly kind: JoinKind
  readonly leftKeys: readonly number[]
  readonly rightKeys: readonly number[]
  readonly on: Program | null
  readonly width: number
  /** The equalities used as hash keys, for EXPLAIN. */
  readonly keyText: readonly string[]
  readonly colocated: boolean
}

export interface JoinPlan<D = unknown> {
  readonly sides: readonly JoinSidePlan<D>[]
  readonly steps: readonly JoinStepPlan[]
  readonly colocated: boolean
  /** Colocated: the shards that run the join. */
  readonly shards: readonly ShardId[]
  readonly routing: string
  /** The joined row: every table's columns in FROM order. */
  readonly columns: readonly ProgramColumn[]
  readonly scope: readonly ScopeColumn[]
}

/** `earlier.left = new.right` in an ON: column indexes within each table. */
interface KeyPair { table: number, left: number, right: number, hash: boolean }

const VOLATILE = new Set(['gen_uuidv7', 'gen_uuidv8_hlc'])

type JoinInput = TableRef | DerivedTable

function flatten (f: FromItem, tables: JoinInput[], joins: Join[]): void {
  if (f.kind !== 'join') { tables.push(f); return }
  flatten(f.left, tables, joins)
  tables.push(f.right)
  joins.push(f)
}

/**
 * The tables (indexes into `owner`) an expression reads, or null when it must stay where it is:
 * a name that does not resolve uniquely (compiling it reports the error), an aggregate, or a UUID
 * generator (runs on the coordinator).
 */
function tablesOf (e: Expr, scope: readonly ScopeColumn[], owner: readonly number[], out = new Set<number>()): Set<number> | null {
  if (e.kind === 'column') {
    const hits = scope.flatMap((c, i) => c.name === e.name && (e.table === null || c.table === e.table) ? [i] : [])
    if (hits.length !== 1) return null
    out.add(owner[hits[0]!]!)
    return out
  }
  if (e.kind === 'call' && (AGGREGATE_NAMES.has(e.name) || VOLATILE.has(e.name))) return null
  for (const c of exprChildren(e)) if (tablesOf(c, scope, owner, out) === null) return null
  return out
}

function and (list: readonly Expr[], pos: Pos): Expr | null {
  return list.length === 0 ? null : list.reduce((l, r) => ({ kind: 'binary', pos, op: 'and', left: l, right: r }))
}

/** Equal values hash alike (group keys) only within these type pairs; other equalities are checked by ON alone. */
function hashable (a: SqlType, b: SqlType): boolean {
  if (isIntegerKind(a.kind) && isIntegerKind(b.kind)) return true
  const plainText = (t: SqlType): boolean => t.kind === 'text' || t.kind === 'varchar'
  if (plainText(a) && plainText(b)) return true
  return a.kind === b.kind && a.kind !== 'char' && a.kind !== 'real' && a.kind !== 'double'
}

/** Equal values route to the same shard (DESIGN §5 key bytes) for these column type pairs. */
function sameRouting (a: SqlType, b: SqlType): boolean {
  if (isIntegerKind(a.kind) && isIntegerKind(b.kind)) return true
  const plainText = (t: SqlType): boolean => t.kind === 'text' || t.kind === 'varchar'
  if (plainText(a) && plainText(b)) return true
  return typesEqual(a, b) && a.kind !== 'real' && a.kind !== 'double'
}

function onProgram (on: Expr, columns: readonly ProgramColumn[], scope: readonly ScopeColumn[], params: readonly SqlValue[]): Program {
  const b = new ProgramBuilder(params, columns)
  const c = compileExpr(on, { columns: scope, clause: 'JOIN conditions' }, b)
  if (c.type.kind !== 'boolean' && c.type.kind !== 'null') {
    throw new ScratchBirdError('SB_DATATYPE_MISMATCH', `argument of JOIN/ON must be type boolean, not type ${c.type.kind}`, posDetails(on.pos))
  }
  if (b.volatile) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'UUID generator functions in a JOIN condition are not supported', posDetails(on.pos))
  b.emit('EMIT', c.reg, 1)
  return b.build([{ name: 'on', type: T.boolean }])
}

/** The joined tables laid out in one scope: what every planning phase below reads. */
interface JoinTables<D> {
  readonly refs: readonly JoinInput[]
  readonly joins: readonly Join[]
  /** Per side: the table's shape, or null for a derived table (then `derived` is set). */
  readonly shapes: readonly (TableShape | null)[]
  readonly derived: readonly (DerivedSource<D> | null)[]
  /** Per side: column types and names, and the partition key's column indexes (none for a derived table). */
  readonly types: readonly (readonly SqlType[])[]
  readonly names: readonly (readonly string[])[]
  readonly partition: readonly (readonly number[])[]
  readonly aliases: readonly string[]
  /** Every table's columns in FROM order, as names resolve them. */
  readonly scope: readonly ScopeColumn[]
  /** Table index of each scope column, and each table's first column in the scope. */
  readonly owner: readonly number[]
  readonly offset: readonly number[]
  readonly columns: readonly ProgramColumn[]
  /** The right side of a LEFT JOIN: its rows may be NULL-extended. */
  readonly nullable: readonly boolean[]
}

/** An ON's column equalities between the new table of a step and earlier ones. */
interface StepEqualities { step: number, pairs: KeyPair[] }

/** `derive`: plans a derived table of the FROM (select-plan.ts passes it: no import cycle). */
export function planJoin<D> (env: PlanEnv, from: Join, where: Expr | null, params: readonly SqlValue[], derive: (d: DerivedTable) => DerivedSource<D>): JoinPlan<D> {
  const t = joinTables(env, from, derive)
  // Predicates pushed down to each table: they filter (and route) it before the join.
  const pushed: Expr[][] = t.refs.map(() => [])
  pushWhere(t, where, pushed)
  const equalities: StepEqualities[] = []
  const steps = t.joins.map((j, k) => planStep(t, j, k + 1, pushed, equalities, params))
  propagatePins(t, equalities, pushed)
  const sides = t.shapes.map((shape, i): JoinSidePlan<D> => {
    const pred = and(pushed[i]!, t.refs[i]!.pos)
    const alias = t.aliases[i]!
    const nullable = t.nullable[i]!
    if (shape === null) {
      const d = t.derived[i]!
      const own = t.scope.slice(t.offset[i]!, t.offset[i]! + d.columns.length)
      return { kind: 'derived', plan: d.plan(pushed[i]!), view: d.view, alias, columns: d.columns, filter: filterProgram(d.columns, own, pred, params), nullable, moved: d.moved(pushed[i]!) }
    }
    return { kind: 'table', shape, alias, filter: rowFilterProgram(shape, alias, pred, params), routing: pinKeys(env, shape, pred, params), nullable }
  })
  return { sides, steps, ...routeJoin(env.shards, sides, steps), columns: t.columns, scope: t.scope }
}

function joinTables<D> (env: PlanEnv, from: Join, derive: (d: DerivedTable) => DerivedSource<D>): JoinTables<D> {
  const refs: JoinInput[] = []
  const joins: Join[] = []
  flatten(from, refs, joins)
  const seen = new Set<string>()
  const aliases = refs.map(r => r.kind === 'derived' ? r.alias : r.alias ?? r.name)
  const shapes = refs.map((r, i) => {
    const alias = aliases[i]!
    if (seen.has(alias)) throw new ScratchBirdError('SB_DUPLICATE_ALIAS', `table name "${alias}" specified more than once`, posDetails(r.pos))
    seen.add(alias)
    if (r.kind === 'derived') return null
    if (SYSTEM_TABLES[r.name] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `system table ${r.name} cannot be joined yet; query it alone`, posDetails(r.pos))
    return tableShape(env.catalog().mustTable(r.name))
  })
  const derived = refs.map(r => r.kind === 'derived' ? derive(r) : null)
  const scope = shapes.flatMap((s, i) => s === null ? [...derived[i]!.scope] : scopeOf(s, aliases[i]!))
  if (scope.length > MAX_PROGRAM_COLUMNS) throw new ScratchBirdError('SB_PROGRAM_LIMIT_EXCEEDED', `the join has ${scope.length} columns, at most ${MAX_PROGRAM_COLUMNS}`, posDetails(from.pos))
  const types = shapes.map((s, i) => s === null ? derived[i]!.columns.map(c => c.type) : s.types)
  const owner = types.flatMap((ts, i) => ts.map(() => i))
  return {
    refs,
    joins,
    shapes,
    derived,
    types,
    names: shapes.map((s, i) => s === null ? derived[i]!.columns.map(c => c.name) : s.info.columns.map(c => c.name)),
    partition: shapes.map(s => s === null ? [] : s.partition),
    aliases,
    scope,
    owner,
    offset: shapes.map((_, i) => owner.indexOf(i)),
    columns: scope.map(c => ({ name: `${c.table}.${c.name}`, type: c.type })),
    nullable: refs.map((_, i) => i > 0 && joins[i - 1]!.type === 'left')
  }
}

/** WHERE conjuncts on one table go down to it — unless it may be NULL-extended: WHERE must see the NULLs. */
function pushWhere<D> (t: JoinTables<D>, where: Expr | null, pushed: Expr[][]): void {
  for (const c of conjuncts(where)) {
    const tables = tablesOf(c, t.scope, t.owner)
    if (tables?.size === 1) { const i = [...tables][0]!; if (!t.nullable[i]) pushed[i]!.push(c) }
  }
}

/**
 * Step `i` (joining table i to the tables before it): its ON conjuncts on one table are pushed
 * down (a LEFT JOIN's own ON still filters its table), its column equalities become hash keys,
 * and it is colocated when some earlier table's partition key equals table i's, column for column.
 */
function planStep<D> (t: JoinTables<D>, j: Join, i: number, pushed: Expr[][], equalities: StepEqualities[], params: readonly SqlValue[]): JoinStepPlan {
  const { scope, owner, offset, types, nullable } = t
  const width = types[i]!.length
  if (j.on === null) return { kind: j.type, leftKeys: [], rightKeys: [], on: null, width, keyText: [], colocated: false }
  const visible = scope.slice(0, offset[i]! + width)
  const leftKeys: number[] = []
  const rightKeys: number[] = []
  const keyText: string[] = []
  const pairs: KeyPair[] = []
  for (const c of conjuncts(j.on)) {
    const tables = tablesOf(c, visible, owner)
    if (tables?.size === 1) {
      const only = [...tables][0]!
      if (only === i || (j.type !== 'left' && !nullable[only])) pushed[only]!.push(c)
    }
    if (c.kind !== 'binary' || c.op !== '=' || c.left.kind !== 'column' || c.right.kind !== 'column') continue
    const a = tablesOf(c.left, visible, owner)
    const b = tablesOf(c.right, visible, owner)
    if (a === null || b === null) continue
    const [ta, tb] = [[...a][0]!, [...b][0]!]
    if ((ta === i) === (tb === i)) continue
    const [l, r] = ta === i ? [c.right, c.left] : [c.left, c.right]
    const li = visible.findIndex(x => x.name === l.name && (l.table === null || x.table === l.table))
    const ri = visible.findIndex(x => x.name === r.name && (r.table === null || x.table === r.table)) - offset[i]!
    const hash = hashable(scope[li]!.type, types[i]![ri]!)
    pairs.push({ table: owner[li]!, left: li - offset[owner[li]!]!, right: ri, hash })
    if (!hash) continue
    leftKeys.push(li)
    rightKeys.push(ri)
    keyText.push(`${scope[li]!.table}.${scope[li]!.name} = ${t.aliases[i]!}.${t.names[i]![ri]!}`)
  }
  const part = t.partition[i]!
  // A derived table's rows are on the coordinator, a temporary table's in the session's memory:
  // neither joins anything inside a shard.
  const onShards = (k: number): boolean => t.shapes[k] != null && t.shapes[k].info.temporary !== true
  const colocated = onShards(i) && [...new Set(pairs.map(p => p.table))].some(e => {
    const tp = t.partition[e]!
    return onShards(e) && tp.length === part.length && part.every((rc, n) => pairs.some(p => p.table === e && p.right === rc && p.left === tp[n] &&
      sameRouting(types[e]![p.left]!, types[i]![rc]!)))
  })
  equalities.push({ step: i, pairs })
  const on = onProgram(j.on, t.columns.slice(0, visible.length), visible, params)
  return { kind: j.type, leftKeys, rightKeys, on, width, keyText, colocated }
}

/**
 * Constants flow across ON equalities: o.product_id = 10 with ON o.product_id = p.product_id
 * means p.product_id = 10 too, which may route p to one shard. Never from a NULL-extended side,
 * and into an earlier table only over an inner join.
 */
function propagatePins<D> (t: JoinTables<D>, equalities: readonly StepEqualities[], pushed: Expr[][]): void {
  const column = (side: number, col: number): { table: string, name: string } => ({ table: t.aliases[side]!, name: t.names[side]![col]! })
  /** `col = constant` conjuncts pushed to a table, for the column `col` of it. */
  const pinsOf = (side: number, col: number): Expr[] => {
    const name = t.names[side]![col]!
    return pushed[side]!.flatMap(c => {
      if (c.kind !== 'binary' || c.op !== '=') return []
      const [ref, value] = c.left.kind === 'column' ? [c.left, c.right] : [c.right, c.left]
      return ref.kind === 'column' && isConst(value) && ref.name === name && (ref.table === null || ref.table === t.aliases[side]) ? [value] : []
    })
  }
  const copyPins = (from: number, fromCol: number, to: number, toCol: number): void => {
    const have = new Set(pinsOf(to, toCol).map(formatExpr))
    for (const value of pinsOf(from, fromCol)) {
      if (have.has(formatExpr(value))) continue
      have.add(formatExpr(value))
      pushed[to]!.push({ kind: 'binary', pos: value.pos, op: '=', left: { kind: 'column', pos: value.pos, ...column(to, toCol) }, right: value })
    }
  }
  for (const { step, pairs } of equalities) {
    for (const p of pairs) {
      if (!p.hash || t.nullable[p.table]) continue
      copyPins(p.table, p.left, step, p.right)
      if (!t.nullable[step]) copyPins(step, p.right, p.table, p.left)
    }
  }
}

/** Where the join runs: inside the shards when every step is colocated (one shard when pinned), else on the coordinator. */
function routeJoin<D> (shardCount: number, sides: readonly JoinSidePlan<D>[], steps: readonly JoinStepPlan[]): Pick<JoinPlan, 'colocated' | 'shards' | 'routing'> {
  // A temporary table's rows are in the session's memory, on no shard: such a join runs on the coordinator.
  const temporary = sides.some(s => s.kind === 'table' && s.shape.info.temporary === true)
  const colocated = steps.every(s => s.colocated) && sides.every(s => s.kind === 'table') && !temporary
  if (!colocated) {
    const how = sides.some(s => s.kind === 'derived')
      ? 'a derived table or view is computed on the coordinator, so the join runs there'
      : temporary ? 'a temporary table is read on the coordinator, so the join runs there' : 'not colocated'
    const where = temporary ? 'each table is read where its rows are (shards, or the session\'s memory) and joined on the coordinator' : 'each table is read from its shards and joined on the coordinator'
    return { colocated, shards: shardIds(shardCount), routing: `${how}: ${where}` }
  }
  // Every joined row holds a row of each non-nullable table, and its colocated partners live
  // on that row's shard: one pinned non-nullable table pins the whole join.
  const pinned = sides.find((s): s is TableSidePlan => s.kind === 'table' && !s.nullable && s.routing.shards.length === 1)
  if (pinned === undefined) return { colocated, shards: shardIds(shardCount), routing: `colocated on the partition key: runs inside each of the ${shardCount} shards; the coordinator merges` }
  return { colocated, shards: pinned.routing.shards, routing: `colocated on the partition key: runs inside 1 shard, shard ${pinned.routing.shards[0]!} (partition key of ${pinned.alias} pinned)` }
}
