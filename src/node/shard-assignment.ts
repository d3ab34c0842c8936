import { ScratchBirdError } from '../core/errors'
import { type ShardId, shardIds } from '../core/ids'

// Which worker owns which shard (DESIGN §2): explicit `storage.shard_workers` entries win, the rest
// are dealt round-robin so every worker gets a fair share. Pure function: tested directly.

export function assignShards (shards: number, workers: number, explicit: Record<number, number> = {}): ShardId[][] {
  if (!Number.isInteger(workers) || workers < 1) throw new ScratchBirdError('SB_BAD_ARGUMENT', `workers must be ≥ 1, got ${workers}`)
  const out: ShardId[][] = Array.from({ length: workers }, () => [])
  let next = 0
  for (const shard of shardIds(shards)) {
    const pinned = explicit[shard]
    if (pinned !== undefined) {
      if (pinned < 0 || pinned >= workers) {
        throw new ScratchBirdError('SB_CONFIG_INVALID', `storage.shard_workers.${shard}: worker ${pinned} does not exist (workers: ${workers})`)
      }
      out[pinned]!.push(shard)
    } else {
      out[next % workers]!.push(shard)
      next++
    }
  }
  return out
}
