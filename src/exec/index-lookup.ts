// The first hop of a read through an index (plan/pins.ts IndexRoute, LocalIndexRoute): the entries
// of the pinned key (or of each value of an IN list, or of a range: local indexes), read on their
// shard(s) (inside the statement's transaction, so with its visibility), name the shards of the rows — and their primary keys, so a single row is then one
// point read. The statement's own filter still runs over the rows, so an entry pointing at a row
// that no longer matches changes nothing.
import type { ScanOptions } from '../storage/engine'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import { pinKeys, type Routing } from '../plan/pins'
import type { PlanEnv } from '../plan/plan-env'
import type { Expr, Pos } from '../sql/ast'
import { sortCompare } from '../types/values'
import { pkTuple, shardOfRow, type TableShape } from '../plan/table-types'
import { tableAccess, type AccessPorts } from './access/choose'
import { passthrough } from './local-vm'
import type { SqlTxn } from './txn'
import type { ShardId } from '../core/ids'
import { encodeTuple, keyString, type Tuple } from '../storage/keys'
import type { KeyList } from '../plan/key-lists'

/**
 * Where a statement reads: `shards` within `options`, or — through a local index — the point reads
 * `reads` (on those shards), or — a key list its table's access reads by point reads — each of
 * `shards`' keys in `keys`.
 */
export interface ResolvedRouting {
  shards: ShardId[]
  options: ScanOptions
  reads?: ReadonlyArray<{ readonly shard: ShardId, readonly options: ScanOptions }>
  keys?: ReadonlyMap<ShardId, readonly Tuple[]>
}

/**
 * Rows one statement reads through a local index by point reads at most; more entries than this
 * and it scans the shards holding them instead (one range read each, the filter deciding), so an
 * unselective range or IN list costs a scan of fewer shards rather than unbounded point reads.
 */
export const MAX_INDEX_POINT_READS = 256

export async function resolveRouting (env: AccessPorts, t: TableShape, r: Routing, txn: SqlTxn | null, now: SqlTimestamp): Promise<ResolvedRouting> {
  // The WHERE fixes the whole primary key to a list of keys, which this table reads by point
  // reads (leaderless: quorum reads, where a scan or an index would read one replica).
  const keys = pointList(env, t, r)
  if (keys !== undefined) return { shards: keys.shards.map(s => s.shard), options: r.options, keys: new Map(keys.shards.map(s => [s.shard, s.keys])) }
  if (r.local !== undefined) return await resolveLocal(env, t, r, txn, now)
  const route = r.index
  if (route === undefined) return { shards: r.shards, options: r.options }
  const ix = route.ix
  const access = tableAccess(env, ix.info)
  const per = await Promise.all(route.probes.map(async probe => await access.read({
    shape: ix.shape, shards: [probe.shard], options: probe.options, program: passthrough(ix.shape.programColumns), params: [], now, pushdown: true
  }, txn)))
  const shards = new Set<ShardId>()
  const rows: SqlValue[][] = []
  for (const e of per.flat()) {
    const row: SqlValue[] = t.info.columns.map(() => null)
    ix.from.forEach((col, j) => { row[col] = e[j] ?? null })
    shards.add(shardOfRow(t, row, env.shards))
    rows.push(row)
  }
  let options = r.options
  if (options.exact !== true && rows.length === 1) {
    const pk = pkTuple(t, rows[0]!)
    options = { gte: pk, lte: pk, exact: true }
  }
  return { shards: [...shards].sort((a, b) => a - b), options }
}

/**
 * A local index's entries of each probe (a pinned key, a value of an IN list, a range), read on
 * each shard of the routing in parallel (in the statement's transaction; a shard's probes one after
 * another, so the reads in flight stay bounded by the shard count): the primary keys of the rows to
 * read there, one point read each. `shards` keeps only the shards holding entries, so a caller
 * reading `shards` within `options` (UPDATE / DELETE, foreign-key checks) still reads every
 * matching row and skips the others.
 */
async function resolveLocal (env: AccessPorts, t: TableShape, r: Routing, txn: SqlTxn | null, now: SqlTimestamp): Promise<ResolvedRouting> {
  const ix = r.local!.ix
  const access = tableAccess(env, ix.info)
  const per = await Promise.all(r.shards.map(async shard => {
    const entries: SqlValue[][] = []
    for (const options of r.local!.probes) {
      entries.push(...await access.read({ shape: ix.shape, shards: [shard], options, program: passthrough(ix.shape.programColumns), params: [], now, pushdown: true }, txn))
    }
    return { shard, entries }
  }))
  const reads: Array<{ shard: ShardId, options: ScanOptions }> = []
  const shards: ShardId[] = []
  for (const { shard, entries } of per) {
    if (entries.length > 0) shards.push(shard)
    // Distinct probes select distinct entries; the set only guards against counting a row twice.
    const seen = new Set<string>()
    for (const e of entries) {
      const row: SqlValue[] = t.info.columns.map(() => null)
      ix.from.forEach((col, j) => { row[col] = e[j] ?? null })
      const pk = pkTuple(t, row)
      const k = keyString(encodeTuple(pk))
      if (seen.has(k)) continue
      seen.add(k)
      reads.push({ shard, options: { gte: pk, lte: pk, exact: true } })
    }
  }
  if (reads.length > MAX_INDEX_POINT_READS) return { shards, options: r.options }
  return { shards, options: r.options, reads }
}

/** `r`'s key list when the table's access reads key lists by point reads (TableAccess.pointLists); else undefined. */
export function pointList (env: AccessPorts, t: TableShape, r: Pick<Routing, 'keys'>): KeyList | undefined {
  return r.keys !== undefined && tableAccess(env, t.info).pointLists === true ? r.keys : undefined
}

const POS: Pos = { line: 1, column: 1, offset: 0 }

/**
 * The rows of `t` whose columns `cols` equal `key`, read in `txn`: routed as `WHERE c1 = $1 AND …`
 * would be (one shard, a point read, or through a global index), compared here.
 */
export async function rowsWithKey (env: AccessPorts & Pick<PlanEnv, 'catalog'>, t: TableShape, cols: readonly number[], key: readonly SqlValue[], txn: SqlTxn | null, now: SqlTimestamp): Promise<SqlValue[][]> {
  let where: Expr | null = null
  cols.forEach((col, k) => {
    const eq: Expr = { kind: 'binary', pos: POS, op: '=', left: { kind: 'column', pos: POS, table: null, name: t.info.columns[col]!.name }, right: { kind: 'param', pos: POS, index: k + 1 } }
    where = where === null ? eq : { kind: 'binary', pos: POS, op: 'and', left: where, right: eq }
  })
  const route = await resolveRouting(env, t, pinKeys(env, t, where, key), txn, now)
  if (route.shards.length === 0) return []
  const rows = await tableAccess(env, t.info).read({ shape: t, shards: route.shards, options: route.options, program: passthrough(t.programColumns), params: [], now, pushdown: true }, txn)
  return rows.filter(r => cols.every((c, k) => sortCompare(r[c] ?? null, key[k] ?? null) === 0))
}
