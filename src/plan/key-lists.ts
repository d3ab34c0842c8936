// A WHERE clause that fixes the whole primary key to a short list of keys: `k IN (k1, k2, …)`, a
// product of IN lists / equalities over a composite key (`a IN (1, 2) AND b = 3`; the dialect has
// no row values, so no `(a, b) IN ((…), (…))`), or an OR of such (`k = 1 OR k = 2`,
// `(a = 1 AND b = 2) OR (a = 3 AND b = 4)`). pins.ts attaches the list to the routing; a table
// whose access reads key lists by point reads (exec/access: leaderless tables, where a point read
// is a quorum read and a scan reads one replica) reads those keys and nothing else. A pure
// decision function, like index-probes.ts.
//
// The list only narrows: it holds every key a matching row can have (a superset is fine — the
// statement's filter still runs over the rows read), so each conjunct that yields a list is
// enough on its own, and the smallest one is taken.
import type { ScanOptions } from '../storage/engine'
import { encodeTuple, keyString, type Tuple } from '../storage/keys'
import type { Expr } from '../sql/ast'
import type { SqlValue } from '../types/values'
import type { ShardId } from '../core/ids'
import { conjuncts } from './const-expr'
import { columnConstraints } from './index-probes'
import type { PlanEnv } from './plan-env'
import { pkTuple, shardOfValues, type TableShape } from './table-types'

/**
 * Most keys one statement reads by point reads: a longer list is read as before (a scan). Each
 * shard's keys go out as one quorum read (one REPLICA_READ per replica, cluster/quorum/
 * coordinator.ts MAX_READ_KEYS = 1000 per shard), so this also bounds that request.
 */
export const MAX_KEY_LIST = 256

/** The whole primary keys a WHERE allows, grouped by shard (ascending), and what EXPLAIN says of them. */
export interface KeyList {
  readonly shards: ReadonlyArray<{ readonly shard: ShardId, readonly keys: readonly Tuple[] }>
  /** Distinct keys in all. */
  readonly count: number
  /** `k IN (3 values)`, `3 ORed keys`. */
  readonly describe: string
}

/** One candidate: the key values (table column order, pk columns set) and how they came about. */
interface Candidate { readonly rows: ReadonlyArray<readonly SqlValue[]>, readonly describe: string }

/**
 * The keys `where` allows when it fixes the whole primary key to at most MAX_KEY_LIST of them;
 * null otherwise (and for a single key: that is pins.ts's point lookup already).
 */
export function keyList (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[], nShards: number): KeyList | null {
  // A key's shard must follow from the key alone.
  if (!t.partition.every(i => t.pk.includes(i))) return null
  const c = candidates(env, t, where, params, 0)
  if (c === null) return null
  const byShard = new Map<ShardId, Tuple[]>()
  const seen = new Set<string>()
  for (const row of c.rows) {
    const pk = pkTuple(t, row)
    const k = keyString(encodeTuple(pk))
    if (seen.has(k)) continue
    seen.add(k)
    const shard = shardOfValues(t, t.partition.map(i => row[i]!), nShards)
    let list = byShard.get(shard)
    if (list === undefined) byShard.set(shard, list = [])
    list.push(pk)
  }
  if (seen.size === 1) return null
  const shards = [...byShard.entries()].sort(([a], [b]) => a - b).map(([shard, keys]) => ({ shard, keys }))
  return { shards, count: seen.size, describe: c.describe }
}

/** The point-read options of one key (pins.ts's point lookup). */
export function keyOptions (pk: Tuple): ScanOptions {
  return { gte: pk, lte: pk, exact: true }
}

/** Nesting of ORs and ANDs followed (the parser bounds depth; this bounds the work). */
const MAX_DEPTH = 16

/** The smallest key list one of `where`'s top-level conjuncts (or all their `=` / IN together) gives; null: none. */
function candidates (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[], depth: number): Candidate | null {
  if (depth > MAX_DEPTH) return null
  let best = product(env, t, where, params)
  for (const c of conjuncts(where)) {
    if (c.kind !== 'binary' || c.op !== 'or') continue
    const u = union(env, t, c, params, depth + 1)
    if (u !== null && (best === null || u.rows.length < best.rows.length)) best = u
  }
  return best
}

/** Every combination of the value sets `=` and IN conjuncts give the pk columns; null when one has none. */
function product (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[]): Candidate | null {
  const cons = columnConstraints(env, t, where, params)
  const sets: Array<readonly SqlValue[]> = []
  const parts: string[] = []
  let n = 1
  for (const i of t.pk) {
    const values = cons.get(i)?.values
    if (values === undefined) return null
    n *= values.length
    if (n > MAX_KEY_LIST) return null
    sets.push(values)
    const name = t.info.columns[i]!.name
    parts.push(cons.get(i)!.fromIn === true ? `${name} IN (${values.length} value${values.length === 1 ? '' : 's'})` : `${name} pinned`)
  }
  let rows: SqlValue[][] = [t.info.columns.map(() => null)]
  t.pk.forEach((col, k) => {
    rows = rows.flatMap(row => sets[k]!.map(v => { const r = row.slice(); r[col] = v; return r }))
  })
  return { rows, describe: parts.join(', ') }
}

/** The keys of an OR: each side's (a conjunction, or another OR); null when a side gives none. */
function union (env: PlanEnv, t: TableShape, e: Expr, params: readonly SqlValue[], depth: number): Candidate | null {
  const sides: Expr[] = []
  const collect = (x: Expr): void => { if (x.kind === 'binary' && x.op === 'or') { collect(x.left); collect(x.right) } else sides.push(x) }
  collect(e)
  const rows: Array<readonly SqlValue[]> = []
  for (const side of sides) {
    const c = candidates(env, t, side, params, depth)
    if (c === null) return null
    rows.push(...c.rows)
    if (rows.length > MAX_KEY_LIST) return null
  }
  return { rows, describe: `${sides.length} ORed conditions on the primary key` }
}

/** EXPLAIN's routing of a key list read by point reads: `shards 2, 7 (2 primary keys: k IN (2 values)), a point read of each`. */
export function keyListRouting (keys: KeyList): string {
  const s = keys.shards.map(x => x.shard)
  const where = s.length === 1 ? `shard ${s[0]!}` : s.length <= 8 ? `shards ${s.join(', ')}` : `${s.length} shards`
  return `${where} (the ${keys.count} primary keys ${keys.describe} allows), a point read of each key`
}
