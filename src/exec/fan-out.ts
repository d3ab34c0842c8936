// One request per shard, in parallel, for QUERY and JOIN_QUERY alike: each runs inside the
// statement's transaction when there is one (so it reads with that transaction's visibility; the
// first request on a shard begins it there, txn.ts on()), the fields every such request carries
// are filled in once, and the replies' rows come back in shard order.
import type { ShardId, Xid } from '../core/ids'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import type { QueryAggregation } from '../shard/drivers/query-driver'
import type { SqlTxn } from './txn'
import type { TxnBegin } from '../shard/protocol/messages'
import { decodeRows } from '../shard/protocol/value-rows'

export interface ShardRequestCommon {
  statementMicros: bigint
  xid?: Xid
  /** The transaction's BEGIN, on its first request to the shard (txn.ts on()). */
  begin?: TxnBegin
  limit?: number
  aggregate?: QueryAggregation
}

type RowsReply = { rows: Parameters<typeof decodeRows>[0], xid?: Xid }

export async function fanOut (
  shards: readonly ShardId[],
  txn: SqlTxn | null,
  q: { now: SqlTimestamp, limit?: number | undefined, aggregate?: QueryAggregation | undefined },
  send: (shard: ShardId, common: ShardRequestCommon) => Promise<RowsReply>
): Promise<SqlValue[][]> {
  const common: ShardRequestCommon = {
    statementMicros: q.now.micros,
    ...(q.limit !== undefined ? { limit: q.limit } : {}),
    ...(q.aggregate !== undefined ? { aggregate: q.aggregate } : {})
  }
  const parts = await Promise.all(shards.map(async shard => {
    const reply = txn === null ? await send(shard, common) : await txn.on(shard, at => send(shard, { ...common, ...at }))
    return decodeRows(reply.rows)
  }))
  return parts.flat()
}
