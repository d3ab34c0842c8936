// A statement's row writes grouped by the shard they go to, as the executors build them and the
// table access methods (access/) send or buffer them.
import type { RowWrite } from '../storage/engine'
import type { ShardId } from '../core/ids'

export type ShardWrites = Map<ShardId, RowWrite[]>

export function addWrite (out: ShardWrites, shard: ShardId, w: RowWrite): void {
  const list = out.get(shard)
  if (list === undefined) out.set(shard, [w])
  else list.push(w)
}
