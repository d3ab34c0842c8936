// Routing from the WHERE clause (DESIGN §5): equalities `column = constant` ANDed at the top pin
// key columns. All partition-key columns pinned → one shard; all primary-key columns pinned → the
// scan is bounded to that one key (a point lookup). Anything else scatters to every shard — unless
// an index narrows it, or the WHERE fixes the whole primary key to a list of keys (key-lists.ts),
// which a leaderless table reads as point reads.
import { ScratchBirdError } from '../core/errors'
import type { ScanOptions } from '../storage/engine'
import type { Expr } from '../sql/ast'
import { assignValue } from '../types/cast'
import type { SqlValue } from '../types/values'
import type { PlanEnv } from './plan-env'
import { conjuncts, evalConst, isConst } from './const-expr'
import { betterProbes, columnConstraints, indexProbes, prefixValues, probeOptions, type ColumnConstraint, type IndexProbes } from './index-probes'
import { pkTuple, shardOfValues, type TableShape } from './table-types'
import { type ShardId, shardIds } from '../core/ids'
import { indexShapes, type IndexShape } from './index-shapes'
import { keyList, type KeyList } from './key-lists'

// Constants and conjuncts live in a leaf module (index-probes.ts reads them too); re-exported for
// the callers that have always found them here.
export { conjuncts, evalConst, isConst } from './const-expr'

/**
 * A read through a global index (issue 19): the index entries of the pinned key (or of each value
 * of an IN list), each on the one shard of its key, name the shards (and keys) of the rows; those
 * are read next — two hops instead of every shard. The executor resolves it (exec/index-lookup.ts).
 */
export interface IndexRoute {
  readonly ix: IndexShape
  /** Per key probed: its shard and the entries' range there (a UNIQUE index's whole key: one entry, else a key prefix). */
  readonly probes: ReadonlyArray<{ readonly shard: ShardId, readonly options: ScanOptions }>
}

/**
 * A read through a local index (issue 19 item 2): its entries sit on their row's shard, so each
 * shard of the routing (one when the partition key is pinned, else all, in parallel) reads the
 * entries the WHERE selects — a pinned key, the values of an IN list, a range — and then the rows
 * they name by their primary keys. The executor resolves it (exec/index-lookup.ts).
 */
export interface LocalIndexRoute {
  readonly ix: IndexShape
  /** The entries' ranges on each shard, one per probe (none: an IN list of NULLs only, nothing matches). */
  readonly probes: readonly ScanOptions[]
}

export interface Routing {
  shards: ShardId[]
  options: ScanOptions
  routing: string
  /** Set when the rows' shards come from an index lookup (`shards` then is every shard, the fallback). */
  index?: IndexRoute
  /** Set when a local index names the rows on each of `shards`. */
  local?: LocalIndexRoute
  /**
   * Set when the WHERE fixes the whole primary key to a list of keys (key-lists.ts: IN lists, ORs
   * of equalities). Only a table whose access reads such lists by point reads uses it
   * (exec/access TableAccess.pointLists); the others read `shards` within `options` (or the index
   * route) as they always have.
   */
  keys?: KeyList
}

export function pinKeys (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[]): Routing {
  const r = pinColumns(env, t, where, params)
  // Only leaderless tables read key lists (exec/access TableAccess.pointLists decides, e.g. not on
  // a single node); for the others finding one would only cost planning time on every execution.
  if (r.options.exact === true || t.info.replication.replication_mode !== 'leaderless_quorum') return r
  const keys = keyList(env, t, where, params, env.shards)
  return keys === null ? r : { ...r, keys }
}

function pinColumns (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[]): Routing {
  const pins = new Map<number, SqlValue>()
  for (const c of conjuncts(where)) {
    if (c.kind !== 'binary' || c.op !== '=') continue
    const [col, other] = c.left.kind === 'column' ? [c.left, c.right] : [c.right, c.left]
    if (col.kind !== 'column' || !isConst(other)) continue
    const i = t.info.columns.findIndex(x => x.name === col.name)
    if (i < 0 || pins.has(i)) continue
    try {
      const v = assignValue(evalConst(env, other, params), t.types[i]!)
      if (v !== null) pins.set(i, v)
    } catch (e) {
      // Not assignable to the column (e.g. text that is no UUID): the filter decides, no pin.
      if (!(e instanceof ScratchBirdError)) throw e
    }
  }
  const all = shardIds(env.shards)
  let shards = all
  let routing = `all ${env.shards} shards (scatter)`
  if (t.partition.every(i => pins.has(i))) {
    const s = shardOfValues(t, t.partition.map(i => pins.get(i)!), env.shards)
    shards = [s]
    routing = `shard ${s} (partition key pinned)`
  }
  let options: ScanOptions = {}
  if (t.pk.every(i => pins.has(i))) {
    const row: SqlValue[] = t.info.columns.map((_, i) => pins.get(i) ?? null)
    const pk = pkTuple(t, row)
    options = { gte: pk, lte: pk, exact: true }
    routing += ', point lookup on the primary key'
  }
  // A point read (the whole primary key pinned) needs no index; one shard needs no global one.
  const indexes = indexShapes(env.catalog(), t.info).filter(ix => ix.index.building !== true)
  if (options.exact === true && shards.length === 1) return { shards, options, routing }
  const cons = indexes.length === 0 ? null : columnConstraints(env, t, where, params)
  if (cons === null) return { shards, options, routing }
  if (shards.length > 1) {
    const index = globalRoute(env, indexes, cons)
    if (index !== null) {
      const name = index.route.ix.info.name
      const where = index.route.probes.length === 1 ? `on shard ${index.route.probes[0]!.shard}` : `on the shard of each of its ${index.route.probes.length} keys`
      routing = `global index ${name} ${where} (${index.describe}${index.route.ix.index.unique && index.route.probes.length === 1 ? ', unique: at most one row' : ''}), then only the shard(s) its entries name` +
        (options.exact === true ? ', point lookup on the primary key' : '')
      return { shards, options, routing, index: index.route }
    }
  }
  // No point read yet: a local index the WHERE narrows reads its entries on each shard instead of
  // every row there.
  if (options.exact !== true) {
    const local = localRoute(indexes, cons)
    if (local !== null) {
      routing += `, through local index ${local.route.ix.info.name} (${local.describe}) on ${shards.length === 1 ? 'that shard' : 'each shard in parallel'}: its entries, then the rows they name`
      return { shards, options, routing, local: local.route }
    }
  }
  return { shards, options, routing }
}

/** The best ready local index the WHERE narrows (index-probes.ts betterProbes), as a route; null: none. */
function localRoute (indexes: readonly IndexShape[], cons: ReadonlyMap<number, ColumnConstraint>): { route: LocalIndexRoute, describe: string } | null {
  let best: IndexProbes | null = null
  for (const ix of indexes) {
    if (ix.index.global) continue
    const p = indexProbes(ix, cons)
    if (p !== null) best = best === null ? p : betterProbes(best, p)
  }
  if (best === null) return null
  const p = best
  return { route: { ix: p.ix, probes: prefixValues(p).map(v => probeOptions(p, v)) }, describe: p.describe }
}

/**
 * The ready global index (UNIQUE first) whose whole key the WHERE fixes to one value or a few (IN
 * lists), as a route; null: none. A global index is partitioned by a hash of its key, so a range
 * of keys spans every shard: ranges are not read through one (the table scan is one hop, not two).
 */
function globalRoute (env: PlanEnv, indexes: readonly IndexShape[], cons: ReadonlyMap<number, ColumnConstraint>): { route: IndexRoute, describe: string } | null {
  let best: IndexProbes | null = null
  for (const ix of indexes) {
    if (!ix.index.global) continue
    const p = indexProbes(ix, cons)
    if (p === null || p.range !== null || p.prefix.length < ix.key.length) continue
    best = best === null ? p : betterProbes(best, p)
  }
  if (best === null) return null
  const p = best
  const probes = prefixValues(p).map(keyValues => {
    const values: SqlValue[] = p.ix.from.map(() => null)
    p.ix.key.forEach((k, j) => { values[k] = keyValues[j]! })
    return { shard: shardOfValues(p.ix.shape, p.ix.shape.partition.map(i => values[i]!), env.shards), options: probeOptions(p, keyValues) }
  })
  return { route: { ix: p.ix, probes }, describe: p.describe }
}
