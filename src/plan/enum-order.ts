// ENUM values order by declaration (issue 19 item 4, P-002): a column of an ENUM domain stores its
// label (text), so everything that orders its values is rewritten, before planning, to work on the
// label's position (CASE col WHEN 'a' THEN 0 WHEN 'b' THEN 1 … END) instead:
//   · ORDER BY such a column (by name, qualified name, select-list ordinal or alias; one table or
//     a join; with GROUP BY too) → ORDER BY its position, a hidden sort key;
//   · col < > <= >= 'label' and col BETWEEN 'a' AND 'b' → the positions compared (a literal that
//     is no label: SB_INVALID_TEXT_REPRESENTATION, as PostgreSQL's enum input refuses it); two
//     columns of the same ENUM domain compare their positions; `=` / `<>` keep comparing the
//     labels (the same answer, and a partition key or index still pins on them), the literal
//     checked the same way;
//   · min(col) / max(col) → the label at min / max of the positions.
// A rewrite of the statement rather than a new comparison in the VM: the stored value stays the
// label — output, keys, equality, partition routing are unchanged — and the shards run the
// rewritten filter as any other. Only columns of tables named in FROM are seen (not those of a
// derived table or view, whose own query is rewritten when it is planned); a subquery is
// rewritten when it is planned (planSelect of it). UPDATE and DELETE filter with the same
// comparisons (withEnumWhere).
import type { Catalog } from '../catalog/catalog'
import { ScratchBirdError } from '../core/errors'
import type { BinaryOp, ColumnRef, Expr, FromItem, OrderItem, SelectItem, SelectStatement } from '../sql/ast'

interface EnumColumn { readonly domain: string, readonly members: readonly string[] }

/** The ENUM-domain columns of a query's FROM tables, by `alias.column`, and by `column` where one table has it. */
interface EnumScope { readonly qualified: Map<string, EnumColumn>, readonly bare: Map<string, EnumColumn | null> }

function enumScope (catalog: Catalog, from: FromItem | null): EnumScope | null {
  const qualified = new Map<string, EnumColumn>()
  const bare = new Map<string, EnumColumn | null>()
  const visit = (f: FromItem): void => {
    if (f.kind === 'join') { visit(f.left); visit(f.right); return }
    if (f.kind !== 'table_ref') return
    const t = catalog.table(f.name)
    if (t === undefined) return
    const alias = f.alias ?? f.name
    for (const c of t.columns) {
      if (c.dropped === true) continue
      const d = c.domain === undefined ? undefined : catalog.domain(c.domain)
      const e = d?.kind === 'enum' ? { domain: d.name, members: d.members } : null
      if (e !== null) qualified.set(`${alias}.${c.name}`, e)
      // A name two tables have is ambiguous (the planner says so); null marks it as not one ENUM column.
      bare.set(c.name, bare.has(c.name) ? null : e)
    }
  }
  if (from !== null) visit(from)
  return qualified.size === 0 ? null : { qualified, bare }
}

function enumOf (scope: EnumScope, e: Expr): EnumColumn | null {
  if (e.kind !== 'column') return null
  return (e.table === null ? scope.bare.get(e.name) : scope.qualified.get(`${e.table}.${e.name}`)) ?? null
}

/** CASE col WHEN 'a' THEN 0 WHEN 'b' THEN 1 … END: the label's position (NULL for NULL). */
export function labelPosition (col: ColumnRef, members: readonly string[]): Expr {
  const pos = col.pos
  return {
    kind: 'case',
    pos,
    operand: col,
    whens: members.map((m, i) => ({ pos, when: { kind: 'string', pos, value: m }, then: { kind: 'integer', pos, value: BigInt(i) } })),
    else: null
  }
}

/** The position of literal `e` among the labels; SB_INVALID_TEXT_REPRESENTATION when it is none. */
function literalPosition (c: EnumColumn, e: Expr & { kind: 'string' }): Expr {
  const i = c.members.indexOf(e.value)
  if (i < 0) {
    throw new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', `invalid input value for ENUM domain "${c.domain}": ${JSON.stringify(e.value)} is not one of ${c.members.map(m => `'${m}'`).join(', ')}`,
      { domain: c.domain })
  }
  return { kind: 'integer', pos: e.pos, value: BigInt(i) }
}

const ORDERING: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['<', '>', '<=', '>='])
const EQUALITY: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['=', '<>'])
const NESTED_QUERY = new Set(['subquery', 'exists', 'in_subquery'])

/** One node, its children already rewritten. */
function rewriteNode (scope: EnumScope, e: Expr): Expr {
  if (e.kind === 'binary' && (ORDERING.has(e.op) || EQUALITY.has(e.op))) {
    const l = enumOf(scope, e.left)
    const r = enumOf(scope, e.right)
    if (l !== null && r !== null) {
      return ORDERING.has(e.op) && l.domain === r.domain
        ? { ...e, left: labelPosition(e.left as ColumnRef, l.members), right: labelPosition(e.right as ColumnRef, r.members) }
        : e
    }
    const [c, col, lit, colLeft] = l !== null ? [l, e.left, e.right, true] : [r, e.right, e.left, false]
    if (c === null || lit.kind !== 'string') return e
    const at = literalPosition(c, lit)
    if (EQUALITY.has(e.op)) return e
    const p = labelPosition(col as ColumnRef, c.members)
    return colLeft ? { ...e, left: p, right: at } : { ...e, left: at, right: p }
  }
  if (e.kind === 'between') {
    const c = enumOf(scope, e.operand)
    if (c === null || e.low.kind !== 'string' || e.high.kind !== 'string') return e
    return { ...e, operand: labelPosition(e.operand as ColumnRef, c.members), low: literalPosition(c, e.low), high: literalPosition(c, e.high) }
  }
  if (e.kind === 'call' && (e.name === 'min' || e.name === 'max') && e.args.length === 1) {
    const c = enumOf(scope, e.args[0]!)
    if (c === null) return e
    const pos = e.pos
    const agg: Expr = { ...e, args: [labelPosition(e.args[0] as ColumnRef, c.members)] }
    return { kind: 'case', pos, operand: agg, whens: c.members.map((m, i) => ({ pos, when: { kind: 'integer', pos, value: BigInt(i) }, then: { kind: 'string', pos, value: m } })), else: null }
  }
  return e
}

/** `e` with every ENUM comparison and min/max rewritten (children first; nested queries left to their own planning). */
function rewriteExpr (scope: EnumScope, e: Expr): Expr {
  if (NESTED_QUERY.has(e.kind)) return e
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk)
    if (typeof x !== 'object' || x === null || x instanceof Uint8Array) return x
    const o = x as Record<string, unknown>
    if (typeof o.kind === 'string' && 'pos' in o) return rewriteExpr(scope, o as unknown as Expr)
    return walkFields(o)
  }
  const walkFields = (o: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(o)) out[k] = k === 'pos' || typeof v === 'bigint' ? v : walk(v)
    return out
  }
  return rewriteNode(scope, walkFields(e as unknown as Record<string, unknown>) as unknown as Expr)
}

/** What an ORDER BY item sorts by, for ENUM columns: the label's position (min/max of it for those aggregates); null: leave it. */
function orderKey (scope: EnumScope, s: SelectStatement, o: OrderItem): Expr | null {
  let e: Expr = o.expr
  if (e.kind === 'integer') {
    const item = s.columns[Number(e.value) - 1]
    if (item?.kind !== 'select_expr') return null
    e = item.expr
  } else if (e.kind === 'column' && e.table === null) {
    // A select-list alias names its item first, as in PostgreSQL's ORDER BY.
    const named = s.columns.find(c => c.kind === 'select_expr' && c.alias === (e as ColumnRef).name)
    if (named?.kind === 'select_expr') e = named.expr
  }
  const c = enumOf(scope, e)
  if (c !== null) return labelPosition(e as ColumnRef, c.members)
  if (e.kind === 'call' && (e.name === 'min' || e.name === 'max') && e.args.length === 1) {
    const a = enumOf(scope, e.args[0]!)
    if (a !== null) return { ...e, args: [labelPosition(e.args[0] as ColumnRef, a.members)] }
  }
  return null
}

/** `s` with ENUM columns ordered by declaration (see the header); `s` itself when it reads none. */
export function withEnumOrder (catalog: Catalog, s: SelectStatement): SelectStatement {
  if (catalog.domains.length === 0) return s
  const scope = enumScope(catalog, s.from)
  if (scope === null) return s
  // ORDER BY first, over the statement as written (an ordinal or alias names the select item before its rewrite).
  const orderBy = s.orderBy.map(o => {
    const key = orderKey(scope, s, o)
    return key === null ? o : { ...o, expr: key }
  })
  const columns = s.columns.map((c): SelectItem => {
    if (c.kind !== 'select_expr') return c
    const expr = rewriteExpr(scope, c.expr)
    // min(col) became a CASE: the output column keeps the name "min" / "max" (planSelect names a call by its function).
    const alias = c.alias ?? (c.expr.kind === 'call' && expr.kind === 'case' ? c.expr.name : null)
    return { ...c, expr, alias }
  })
  const rewriteFrom = (f: FromItem | null): FromItem | null => {
    if (f === null || f.kind !== 'join') return f
    return { ...f, left: rewriteFrom(f.left)!, on: f.on === null ? null : rewriteExpr(scope, f.on) }
  }
  return {
    ...s,
    columns,
    from: rewriteFrom(s.from),
    where: s.where === null ? null : rewriteExpr(scope, s.where),
    having: s.having === null ? null : rewriteExpr(scope, s.having),
    orderBy
  }
}

/** The WHERE of an UPDATE or DELETE of `table` with its ENUM comparisons rewritten the same way. */
export function withEnumWhere (catalog: Catalog, table: string, where: Expr | null): Expr | null {
  if (where === null || catalog.domains.length === 0) return where
  const scope = enumScope(catalog, { kind: 'table_ref', pos: where.pos, name: table, alias: null })
  return scope === null ? where : rewriteExpr(scope, where)
}
