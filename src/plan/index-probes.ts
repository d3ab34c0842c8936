// Which entries of an index a WHERE clause needs (issue 19): the top-level ANDs constrain key
// columns by a set of values (`c = v`, `c IN (v1, v2, …)`) or by bounds (`c > a`, `c <= b`,
// `c BETWEEN a AND b`). An index is usable when a prefix of its key has value sets, optionally
// followed by bounds on the next key column: its probes are the key prefixes of every combination
// of the sets, each bounded on that next column. A pure decision function: pins.ts turns the best
// probes into a route, exec/index-lookup.ts reads them.
//
// Correctness rests on two facts. A row with a NULL in any key column has no entry
// (catalog/indexes.ts), so an index is used only when the WHERE rejects NULL in every key column
// (each one is constrained by `=`, IN, a bound or IS NOT NULL); otherwise such a row could match
// and not be found. And the index only narrows: the statement's own filter still runs over the
// rows read, so a probe may be wider than the WHERE (a bound that cannot be carried exactly into
// the column's type is widened or dropped) but never narrower.
import { ScratchBirdError } from '../core/errors'
import type { ScanOptions } from '../storage/engine'
import { encodeTuple, keyString, type TupleValue } from '../storage/keys'
import type { Expr } from '../sql/ast'
import { assignValue } from '../types/cast'
import { valueToKey } from '../types/key-codec'
import type { SqlType, TypeKind } from '../types/sql-types'
import { compareValues, type SqlValue } from '../types/values'
import type { IndexShape } from './index-shapes'
import type { PlanEnv } from './plan-env'
import { conjuncts, evalConst, isConst } from './const-expr'
import type { TableShape } from './table-types'

/**
 * Probes of one index read at most: an IN list (or a product of them) longer than this reads the
 * table instead — each probe is one read per shard, so the bound keeps a statement's reads bounded.
 */
export const MAX_INDEX_PROBES = 256

/**
 * Types whose key order (types/key-codec.ts) is their SQL comparison order, so a bounded scan of
 * the entries finds exactly the values a comparison accepts. Floats (NaN, -0) and CHAR (padding)
 * are left out; so are domain columns (an ENUM compares in declaration order, not as its text).
 */
const RANGE_KINDS: ReadonlySet<TypeKind> = new Set(['smallint', 'integer', 'bigint', 'decimal', 'varchar', 'text', 'date', 'timestamp'])

interface Bound { readonly value: SqlValue, readonly inclusive: boolean }

/** What the WHERE says about one column. */
export interface ColumnConstraint {
  /** Distinct non-NULL values the column must equal one of (`=` or IN); undefined: no such conjunct. */
  values?: SqlValue[]
  /** The value set came from an IN list (for EXPLAIN). */
  fromIn?: boolean
  lower?: Bound
  upper?: Bound
  /** Some conjunct is false or NULL when the column is NULL. */
  rejectsNull: boolean
}

/** A constant (pins.ts isConst) or NULL, which an IN list may hold: it matches nothing. */
function constOrNull (e: Expr): boolean { return e.kind === 'null' || isConst(e) }

/** The constraints of the WHERE's top-level conjuncts, per column index of `t`. */
export function columnConstraints (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[]): Map<number, ColumnConstraint> {
  const out = new Map<number, ColumnConstraint>()
  const of = (name: string): ColumnConstraint | null => {
    const i = t.info.columns.findIndex(x => x.name === name)
    if (i < 0) return null
    let c = out.get(i)
    if (c === undefined) out.set(i, c = { rejectsNull: false })
    return c
  }
  const typeOf = (name: string): { type: SqlType, rangeable: boolean } => {
    const i = t.info.columns.findIndex(x => x.name === name)
    return { type: t.types[i]!, rangeable: RANGE_KINDS.has(t.types[i]!.kind) && t.info.columns[i]!.domain === undefined }
  }
  for (const e of conjuncts(where)) {
    if (e.kind === 'is_null' && e.not && e.operand.kind === 'column') {
      const c = of(e.operand.name)
      if (c !== null) c.rejectsNull = true
    } else if (e.kind === 'in' && !e.not && e.operand.kind === 'column' && e.list.every(constOrNull)) {
      const c = of(e.operand.name)
      if (c === null) continue
      c.rejectsNull = true
      const values = valueSet(env, e.list, typeOf(e.operand.name).type, params)
      // `=` already gave one value: the smaller set probes less (both still filter the rows).
      if (values !== null && (c.values === undefined || values.length < c.values.length)) { c.values = values; c.fromIn = true }
    } else if (e.kind === 'between' && !e.not && e.operand.kind === 'column' && isConst(e.low) && isConst(e.high)) {
      const c = of(e.operand.name)
      if (c === null) continue
      c.rejectsNull = true
      const { type, rangeable } = typeOf(e.operand.name)
      if (!rangeable) continue
      tighten(c, 'lower', bound(env, e.low, type, params, true))
      tighten(c, 'upper', bound(env, e.high, type, params, true))
    } else if (e.kind === 'binary' && ['=', '<', '<=', '>', '>='].includes(e.op)) {
      const flipped = e.left.kind !== 'column'
      const [col, other] = flipped ? [e.right, e.left] : [e.left, e.right]
      if (col.kind !== 'column' || !isConst(other)) continue
      const c = of(col.name)
      if (c === null) continue
      c.rejectsNull = true
      const { type, rangeable } = typeOf(col.name)
      if (e.op === '=') {
        const values = valueSet(env, [other], type, params)
        if (values !== null && (c.values === undefined || values.length < c.values.length)) { c.values = values; c.fromIn = false }
        continue
      }
      if (!rangeable) continue
      // `a < c` is `c > a`.
      const op = flipped ? ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as const)[e.op as '<' | '<=' | '>' | '>='] : e.op as '<' | '<=' | '>' | '>='
      const side = op === '>' || op === '>=' ? 'lower' : 'upper'
      tighten(c, side, bound(env, other, type, params, op.endsWith('=')))
    }
  }
  return out
}

/** The distinct non-NULL values of `list` in the column's type; null when one cannot be assigned to it (the filter decides then). */
function valueSet (env: PlanEnv, list: readonly Expr[], type: SqlType, params: readonly SqlValue[]): SqlValue[] | null {
  const seen = new Set<string>()
  const out: SqlValue[] = []
  for (const e of list) {
    let v: SqlValue
    try {
      v = assignValue(evalConst(env, e, params), type)
    } catch (err) {
      if (err instanceof ScratchBirdError) return null
      throw err
    }
    // NULL never equals anything: it adds no probe. Duplicates add none either.
    if (v === null) continue
    const k = keyString(encodeTuple([valueToKey(v, type)]))
    if (seen.has(k)) continue
    seen.add(k)
    out.push(v)
  }
  return out
}

/**
 * A bound in the column's type, or null when none can be used. A value the type does not hold
 * exactly (2.5 for an INTEGER: 3) becomes an inclusive bound at the value it is assigned.
 */
function bound (env: PlanEnv, e: Expr, type: SqlType, params: readonly SqlValue[], inclusive: boolean): Bound | null {
  try {
    const raw = evalConst(env, e, params)
    if (raw === null) return null
    const v = assignValue(raw, type)
    if (v === null) return null
    // Carried over exactly: as written. Else v is the column's value nearest the bound, and no
    // value of the column lies strictly between them: including v keeps every matching row.
    return { value: v, inclusive: inclusive || compareValues(v, raw) !== 0 }
  } catch (err) {
    // Not assignable or not comparable (a text literal against a DATE): no bound, the filter decides.
    if (err instanceof ScratchBirdError) return null
    throw err
  }
}

function tighten (c: ColumnConstraint, side: 'lower' | 'upper', b: Bound | null): void {
  if (b === null) return
  const old = c[side]
  if (old === undefined) { c[side] = b; return }
  const d = compareValues(b.value!, old.value!) * (side === 'lower' ? 1 : -1)
  if (d > 0 || (d === 0 && !b.inclusive)) c[side] = b
}

/** How one index would be read: its probes (ranges of its entries), and what EXPLAIN says. */
export interface IndexProbes {
  readonly ix: IndexShape
  /** Index key columns with value sets, then one with bounds (the prefix the probes fix). */
  readonly prefix: ReadonlyArray<readonly SqlValue[]>
  readonly range: { readonly lower?: Bound, readonly upper?: Bound } | null
  /** Every key column has exactly one value: the whole key pinned. */
  readonly pinned: boolean
  /** `city pinned`, `n IN (3 values)`, `d range`. */
  readonly describe: string
}

/** The probes `ix` would need under `cons`; null when it cannot answer the WHERE or would not narrow the read. */
export function indexProbes (ix: IndexShape, cons: ReadonlyMap<number, ColumnConstraint>): IndexProbes | null {
  const cols = ix.key.map(k => ix.from[k]!)
  // Rows with a NULL in the key have no entry: each key column must be one the WHERE keeps non-NULL.
  if (!cols.every(c => cons.get(c)?.rejectsNull === true)) return null
  const prefix: SqlValue[][] = []
  const parts: string[] = []
  let probes = 1
  for (const [k, col] of cols.entries()) {
    const c = cons.get(col)!
    if (c.values === undefined) break
    probes *= c.values.length
    if (probes > MAX_INDEX_PROBES) return null
    prefix.push(c.values)
    const name = ix.index.columns[k]!
    parts.push(c.fromIn === true ? `${name} IN (${c.values.length} value${c.values.length === 1 ? '' : 's'})` : `${name} pinned`)
  }
  let range: IndexProbes['range'] = null
  if (prefix.length < cols.length) {
    const c = cons.get(cols[prefix.length]!)!
    if (c.lower !== undefined || c.upper !== undefined) {
      range = { ...(c.lower !== undefined ? { lower: c.lower } : {}), ...(c.upper !== undefined ? { upper: c.upper } : {}) }
      parts.push(`${ix.index.columns[prefix.length]!} range`)
    }
  }
  // Neither a value nor a bound: every entry, no better than the table itself.
  if (prefix.length === 0 && range === null) return null
  const pinned = prefix.length === cols.length && prefix.every(v => v.length === 1)
  return { ix, prefix, range, pinned, describe: pinned ? `${ix.index.columns.join(', ')} pinned` : parts.join(', ') }
}

/**
 * The better of two ways to read: the whole key pinned on a UNIQUE index (one entry) first, then
 * more key columns fixed by values, then a range over none, then fewer probes.
 */
export function betterProbes (a: IndexProbes, b: IndexProbes): IndexProbes {
  const rank = (p: IndexProbes): number[] => [p.pinned && p.ix.index.unique ? 1 : 0, p.prefix.length, p.range !== null ? 1 : 0, -probeCount(p)]
  const ra = rank(a)
  const rb = rank(b)
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! > rb[i]! ? a : b
  return a
}

export function probeCount (p: IndexProbes): number {
  return p.prefix.reduce((n, v) => n * v.length, 1)
}

/** The key prefixes of every combination of the value sets (none when a set is empty). */
export function prefixValues (p: IndexProbes): SqlValue[][] {
  let out: SqlValue[][] = [[]]
  for (const set of p.prefix) out = out.flatMap(pre => set.map(v => [...pre, v]))
  return out
}

/** The entries' range of one probe: `values` fixing the key prefix, then the bounds (if any) on the next column. */
export function probeOptions (p: IndexProbes, values: readonly SqlValue[]): ScanOptions {
  const ix = p.ix
  const key: TupleValue[] = values.map((v, i) => valueToKey(v, ix.shape.types[ix.key[i]!]!))
  if (p.range === null) {
    // The whole key of a UNIQUE index: one entry, one get.
    return p.pinned && ix.index.unique ? { gte: key, lte: key, exact: true } : { gte: key, lte: key }
  }
  const type = ix.shape.types[ix.key[values.length]!]!
  const o: ScanOptions = key.length > 0 ? { gte: key, lte: key } : {}
  const { lower, upper } = p.range
  // `gt x` skips x and every key extending it (the entries of x); `lte x` keeps them (storage/keys.ts).
  if (lower !== undefined) {
    const b = [...key, valueToKey(lower.value, type)]
    if (lower.inclusive) o.gte = b
    else { delete o.gte; o.gt = b }
  }
  if (upper !== undefined) {
    const b = [...key, valueToKey(upper.value, type)]
    if (upper.inclusive) o.lte = b
    else { delete o.lte; o.lt = b }
  }
  return o
}
