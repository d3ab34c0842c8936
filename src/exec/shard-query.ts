// QUERY on the shards of one table: the program runs next to the data, in parallel on each shard
// (inside the statement's transaction when one is given), rows back in shard order.
import { serialize, type Program } from '../sblr/program'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import type { QueryAggregation } from '../shard/drivers/query-driver'
import type { TableShape } from '../plan/table-types'
import { encodeRows } from '../shard/protocol/value-rows'
import type { ScanOptions } from '../storage/engine'
import type { ShardPort } from './env'
import { fanOut } from './fan-out'
import type { SqlTxn } from './txn'
import type { ShardId } from '../core/ids'

export interface ShardScan {
  shape: TableShape
  shards: readonly ShardId[]
  options: ScanOptions
  program: Program
  params: readonly SqlValue[]
  now: SqlTimestamp
  limit?: number | undefined
  aggregate?: QueryAggregation | undefined
}

/** QUERY on every shard in parallel (inside `txn` when given); rows in shard order. */
export async function queryShards (port: ShardPort, q: ShardScan, txn: SqlTxn | null): Promise<SqlValue[][]> {
  const program = serialize(q.program)
  const params = encodeRows([q.params])
  return await fanOut(q.shards, txn, q, (shard, common) =>
    port.request('QUERY', { shard, tableId: q.shape.info.id, options: q.options, program, params, ...common }))
}
