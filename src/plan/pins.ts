// Routing from the WHERE clause (DESIGN §5): equalities `column = constant` ANDed at the top pin
// key columns. All partition-key columns pinned → one shard; all primary-key columns pinned → the
// scan is bounded to that one key (a point lookup). Anything else scatters to every shard.
import { ScratchBirdError } from '../core/errors'
import type { ScanOptions } from '../storage/engine'
import { Vm } from '../vm/vm'
import type { Expr } from '../sql/ast'
import { assignValue, castValue } from '../types/cast'
import type { SqlType } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { compileExpr } from './compile-expr'
import type { PlanEnv } from './plan-env'
import { ProgramBuilder } from './program-builder'
import { pkTuple, shardOfValues, type TableShape } from './table-types'
import { type ShardId, shardIds } from '../core/ids'
import { indexShapes, type IndexShape } from './index-shapes'
import { valueToKey } from '../types/key-codec'

export function isConst (e: Expr): boolean {
  switch (e.kind) {
    case 'integer': case 'decimal': case 'string': case 'boolean': case 'typed_literal': case 'param': return true
    case 'cast': return isConst(e.operand)
    case 'unary': return e.op !== 'not' && isConst(e.operand)
    default: return false
  }
}

/** Value of an expression without columns, computed on the coordinator (optionally cast to `type`). */
export function evalConst (env: PlanEnv, e: Expr, params: readonly SqlValue[], type?: SqlType): SqlValue {
  // A bare parameter is its value (what LOAD_PARAM; EMIT would give): routing a cached plan by
  // `key = $1` on every execution then compiles and runs no one-off program.
  if (e.kind === 'param' && e.index <= params.length) {
    const v = params[e.index - 1]!
    return type === undefined ? v : castValue(v, type)
  }
  const b = new ProgramBuilder(params, [])
  const r = compileExpr(e, { columns: [], clause: 'this clause' }, b)
  b.emit('EMIT', r.reg, 1)
  const out = new Vm(b.build([{ name: 'v', type: r.type.kind === 'null' ? { kind: 'text' } : r.type }]), { params, hlc: env.hlc, uuidV7: env.uuidV7, clock: env.clock }).run()
  const v = out![0]!
  return type === undefined ? v : castValue(v, type)
}

/** The operands of the top-level ANDs of `e`. */
export function conjuncts (e: Expr | null, out: Expr[] = []): Expr[] {
  if (e === null) return out
  if (e.kind === 'binary' && e.op === 'and') { conjuncts(e.left, out); conjuncts(e.right, out) } else out.push(e)
  return out
}

/**
 * A read through a global index (issue 19): the index entries of the pinned key, on the one shard
 * of that key, name the shards (and keys) of the rows; those are read next — two hops instead of
 * every shard. The executor resolves it (exec/index-lookup.ts).
 */
export interface IndexRoute {
  readonly ix: IndexShape
  readonly shard: ShardId
  /** The entries' range on that shard: the whole key (a UNIQUE index: one entry), else a key prefix. */
  readonly options: ScanOptions
}

/**
 * A read through a local index (issue 19 item 2): its entries sit on their row's shard, so each
 * shard of the routing (one when the partition key is pinned, else all, in parallel) reads the
 * entries of the pinned key and then the rows they name by their primary keys. The executor
 * resolves it (exec/index-lookup.ts).
 */
export interface LocalIndexRoute {
  readonly ix: IndexShape
  /** The entries' range on each shard: the whole key (a UNIQUE index), else a key prefix. */
  readonly options: ScanOptions
}

export interface Routing {
  shards: ShardId[]
  options: ScanOptions
  routing: string
  /** Set when the rows' shards come from an index lookup (`shards` then is every shard, the fallback). */
  index?: IndexRoute
  /** Set when a local index names the rows on each of `shards`. */
  local?: LocalIndexRoute
}

export function pinKeys (env: PlanEnv, t: TableShape, where: Expr | null, params: readonly SqlValue[]): Routing {
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
  if (shards.length > 1) {
    const index = indexRoute(env, t, pins)
    if (index !== null) {
      const name = index.ix.info.name
      routing = `global index ${name} on shard ${index.shard} (${index.ix.index.columns.join(', ')} pinned${index.ix.index.unique ? ', unique: at most one row' : ''}), then only the shard(s) its entries name` +
        (options.exact === true ? ', point lookup on the primary key' : '')
      return { shards, options, routing, index }
    }
  }
  // No point read yet: a local index whose whole key the WHERE pins reads its entries on each
  // shard instead of every row there.
  if (options.exact !== true) {
    const local = localIndexRoute(env, t, pins)
    if (local !== null) {
      const name = local.ix.info.name
      routing += `, through local index ${name} (${local.ix.index.columns.join(', ')} pinned) on ${shards.length === 1 ? 'that shard' : 'each shard in parallel'}: its entries, then the rows they name`
      return { shards, options, routing, local }
    }
  }
  return { shards, options, routing }
}

/** The local index (ready, UNIQUE first, then the longest key) whose whole key the WHERE pins, as a route; null: none. */
function localIndexRoute (env: PlanEnv, t: TableShape, pins: ReadonlyMap<number, SqlValue>): LocalIndexRoute | null {
  const usable = indexShapes(env.catalog(), t.info).filter(ix => !ix.index.global && ix.index.building !== true &&
    ix.key.every(k => pins.has(ix.from[k]!)))
  const ix = usable.find(i => i.index.unique) ?? [...usable].sort((a, b) => b.key.length - a.key.length)[0]
  if (ix === undefined) return null
  const key = ix.key.map(k => valueToKey(pins.get(ix.from[k]!)!, ix.shape.types[k]!))
  return { ix, options: ix.index.unique ? { gte: key, lte: key, exact: true } : { gte: key, lte: key } }
}

/** The global index (ready, UNIQUE first) whose whole key the WHERE pins, as a route; null: none. */
function indexRoute (env: PlanEnv, t: TableShape, pins: ReadonlyMap<number, SqlValue>): IndexRoute | null {
  const usable = indexShapes(env.catalog(), t.info).filter(ix => ix.index.global && ix.index.building !== true &&
    ix.key.every(k => pins.has(ix.from[k]!)))
  const ix = usable.find(i => i.index.unique) ?? usable[0]
  if (ix === undefined) return null
  const values: SqlValue[] = ix.from.map(i => pins.get(i) ?? null)
  const key = ix.key.map(k => valueToKey(values[k]!, ix.shape.types[k]!))
  return { ix, shard: shardOfValues(ix.shape, ix.shape.partition.map(i => values[i]!), env.shards), options: ix.index.unique ? { gte: key, lte: key, exact: true } : { gte: key, lte: key } }
}
