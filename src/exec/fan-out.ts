// One request per shard, in parallel, for QUERY and JOIN_QUERY alike: each shard first joins the
// statement's transaction (so it reads with that transaction's visibility), the fields every
// such request carries are filled in once, and the replies' rows come back in shard order.
import type { ShardId, Xid } from '../core/ids'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import type { QueryAggregation } from '../shard/drivers/query-driver'
import type { SqlTxn } from './txn'
import { decodeRows } from '../shard/protocol/value-rows'

export interface ShardRequestCommon {
  statementMicros: bigint
  xid?: Xid
  limit?: number
  aggregate?: QueryAggregation
}

export async function fanOut (
  shards: readonly ShardId[],
  txn: SqlTxn | null,
  q: { now: SqlTimestamp, limit?: number | undefined, aggregate?: QueryAggregation | undefined },
  send: (shard: ShardId, common: ShardRequestCommon) => Promise<{ rows: Parameters<typeof decodeRows>[0] }>
): Promise<SqlValue[][]> {
  const parts = await Promise.all(shards.map(async shard => {
    const xid = txn === null ? undefined : await txn.join(shard)
    const reply = await send(shard, {
      statementMicros: q.now.micros,
      ...(xid !== undefined ? { xid } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
      ...(q.aggregate !== undefined ? { aggregate: q.aggregate } : {})
    })
    return decodeRows(reply.rows)
  }))
  return parts.flat()
}
