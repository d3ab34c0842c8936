// Running a JoinPlan from the coordinator. Colocated: one JOIN_QUERY per shard that runs the join
// (the statement's transaction, when there is one, joined on each shard so every table is read
// with its visibility); the replies merge like a single table's. Otherwise each table's filtered
// rows are fetched with QUERY — at most MAX_JOIN_ROWS per table — and joined here; a derived
// table's (or view's) rows come from running its query, filtered here by what was pushed to it.
import { serialize, type Program } from '../sblr/program'
import type { Vm } from '../vm/vm'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import type { ShardPort } from './env'
import { joinRows, MAX_JOIN_ROWS, tooManyRows, type JoinTablesRequest } from '../shard/drivers/join-driver'
import type { JoinPlan, TableSidePlan } from '../plan/join-plan'
import type { QueryAggregation } from '../shard/drivers/query-driver'
import type { SqlTxn } from './txn'
import { decodeRows, encodeRows } from '../shard/protocol/value-rows'
import { fanOut } from './fan-out'
import { collectRows } from '../shard/drivers/query-driver'
import { tempAccessOf } from './temp-access'
import { assert } from '../core/errors'

export interface ColocatedJoin {
  join: JoinPlan
  /** Runs on each joined row inside the shard (the statement's row program, or a passthrough). */
  program: Program
  params: readonly SqlValue[]
  now: SqlTimestamp
  limit?: number | undefined
  aggregate?: QueryAggregation | undefined
}

function sideRequests (join: JoinPlan): JoinTablesRequest {
  return {
    sides: join.sides.map(s => {
      assert(s.kind === 'table', 'a colocated join joins tables only')
      return { tableId: s.shape.info.id, options: s.routing.options, filter: serialize(s.filter) }
    }),
    steps: join.steps.map(s => ({ kind: s.kind, leftKeys: s.leftKeys, rightKeys: s.rightKeys, on: s.on === null ? null : serialize(s.on), width: s.width }))
  }
}

/** JOIN_QUERY on each shard of a colocated join, in parallel; rows in shard order. */
export async function joinInShards (env: ShardPort, q: ColocatedJoin, txn: SqlTxn | null): Promise<SqlValue[][]> {
  const tables = sideRequests(q.join)
  const program = serialize(q.program)
  const params = encodeRows([q.params])
  return await fanOut(q.join.shards, txn, q, (shard, common) =>
    env.request('JOIN_QUERY', { shard, ...tables, program, params, ...common }))
}

/** One table's rows passing its pushed-down filter, from the shards its routing names. */
async function fetchSide (env: ShardPort, side: TableSidePlan, params: readonly SqlValue[], now: SqlTimestamp, txn: SqlTxn | null): Promise<SqlValue[][]> {
  // A session's temporary table: its rows are in the session, not in the shards.
  const temp = tempAccessOf(side.shape.info)
  if (temp !== undefined) {
    const rows = await temp.readShards({ shape: side.shape, program: side.filter, params, now, limit: MAX_JOIN_ROWS + 1 }, side.routing.shards, side.routing.options)
    if (rows.length > MAX_JOIN_ROWS) throw tooManyRows(`${side.shape.info.name} (${side.alias})`)
    return rows
  }
  const program = serialize(side.filter)
  const encoded = encodeRows([params])
  let total = 0
  const parts = await Promise.all(side.routing.shards.map(async shard => {
    const req = {
      shard,
      tableId: side.shape.info.id,
      options: side.routing.options,
      program,
      params: encoded,
      statementMicros: now.micros,
      // one row more than allowed tells "too many" from "exactly the limit"
      limit: MAX_JOIN_ROWS + 1
    }
    const reply = txn === null ? await env.request('QUERY', req) : await txn.on(shard, at => env.request('QUERY', { ...req, ...at }))
    const rows = decodeRows(reply.rows)
    total += rows.length
    if (total > MAX_JOIN_ROWS) throw tooManyRows(`${side.shape.info.name} (${side.alias})`)
    return rows
  }))
  return parts.flat()
}

/** The joined rows of a non-colocated join, computed on the coordinator; `derived` runs a derived table's query. */
export async function joinOnCoordinator<D> (env: ShardPort, join: JoinPlan<D>, vm: (p: Program) => Vm, params: readonly SqlValue[], now: SqlTimestamp, txn: SqlTxn | null,
  derived: (plan: D) => Promise<SqlValue[][]>): Promise<AsyncIterable<SqlValue[]>> {
  const tables = await Promise.all(join.sides.map(async s => {
    if (s.kind === 'table') return await fetchSide(env, s, params, now, txn)
    const rows = await collectRows(vm(s.filter), await derived(s.plan), {})
    // The same bound as a table's fetched rows: the hash join holds every side in memory.
    if (rows.length > MAX_JOIN_ROWS) throw tooManyRows(`${s.view === null ? 'derived table' : `view ${s.view}`} (${s.alias})`)
    return rows
  }))
  const steps = join.steps.map(s => ({ ...s, on: s.on === null ? null : vm(s.on) }))
  return joinRows(tables[0]!, tables.slice(1), steps)
}
