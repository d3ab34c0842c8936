// Reading one table from its shards, the part every access method shares: the program runs in
// the shards (pushdown), or whole rows come back and it runs on the coordinator.
import { collectRows } from '../../shard/drivers/query-driver'
import type { SqlValue } from '../../types/values'
import type { Generators, ShardPort } from '../env'
import { localVm, passthrough } from '../local-vm'
import { queryShards } from '../shard-query'
import type { SqlTxn } from '../txn'
import type { TableRead } from './table-access'

export async function scanShards (env: ShardPort & Generators, q: TableRead, txn: SqlTxn | null): Promise<SqlValue[][]> {
  if (q.pushdown) {
    return await queryShards(env, { shape: q.shape, shards: q.shards, options: q.options, program: q.program, params: q.params, now: q.now, limit: q.limit, aggregate: q.aggregate }, txn)
  }
  const raw = await queryShards(env, { shape: q.shape, shards: q.shards, options: q.options, program: passthrough(q.shape.programColumns), params: [], now: q.now }, txn)
  return await runOnCoordinator(env, q, raw)
}

/** `q.program` run here over whole rows (table column order). */
export async function runOnCoordinator (env: Generators, q: TableRead, rows: Iterable<SqlValue[]>): Promise<SqlValue[][]> {
  return await collectRows(localVm(env, q.program, q.params, q.now), rows, { limit: q.limit, aggregate: q.aggregate })
}
