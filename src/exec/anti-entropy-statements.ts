// SHOW ANTI_ENTROPY STATUS and REPAIR SHARD n / REPAIR TABLE t (issue 15 item 4): the operator's
// view of this node's repair rounds (src/node/anti-entropy.ts) and a round on demand.
import { ScratchBirdError } from '../core/errors'
import { asShardId, shardIds, type ShardId } from '../core/ids'
import { posDetails } from '../plan/compile-expr'
import type { RepairStatement } from '../sql/ast'
import { T } from '../types/sql-types'
import type { ExecEnv } from './env'
import { rowsResult, type StatementResult } from './result'

type Pos = Parameters<typeof posDetails>[0]

function unavailable (what: string, pos: Pos): ScratchBirdError {
  return new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${what} needs anti-entropy, which runs between the replicas of a shard in a cluster with anti_entropy.enabled true`, posDetails(pos))
}

export function showAntiEntropyStatus (env: ExecEnv, pos: Pos): StatementResult {
  if (env.antiEntropyStatus === undefined) throw unavailable('SHOW ANTI_ENTROPY STATUS', pos)
  const int = (v: number | null): bigint | null => v === null ? null : BigInt(v)
  const time = (v: number | null): string | null => v === null ? null : new Date(v).toISOString()
  return rowsResult('SHOW', [
    { name: 'shard_id', type: T.integer }, { name: 'peer', type: T.integer }, { name: 'last_round_at', type: T.text },
    { name: 'outcome', type: T.text }, { name: 'reason', type: T.text }, { name: 'windows_compared', type: T.bigint },
    { name: 'windows_diverged', type: T.bigint }, { name: 'rows_repaired', type: T.bigint }, { name: 'verified_through', type: T.text },
    { name: 'serving', type: T.boolean }
  ], env.antiEntropyStatus().map(r => [
    BigInt(r.shard), BigInt(r.peer), time(r.lastRoundAtMs), r.outcome, r.reason,
    int(r.windowsCompared), int(r.windowsDiverged), int(r.rowsRepaired), time(r.verifiedThroughMs), r.serving
  ]))
}

export function repair (env: ExecEnv, s: RepairStatement): StatementResult {
  if (env.repairNow === undefined) throw unavailable(s.table !== null ? 'REPAIR TABLE' : 'REPAIR SHARD', s.pos)
  let shards: ShardId[]
  if (s.table !== null) {
    const info = env.catalog().table(s.table)
    if (info === undefined) throw new ScratchBirdError('SB_UNDEFINED_TABLE', `table "${s.table}" does not exist`, { ...posDetails(s.pos), table: s.table })
    // Both modes: leaderless replicas repair each other, a primary/replica shard's primary
    // verifies its replicas (node/anti-entropy-mode1.ts); each node answers the shards it starts.
    shards = shardIds(env.shards)
  } else {
    if (s.shard === null || s.shard >= env.shards) throw new ScratchBirdError('SB_BAD_ARGUMENT', `no shard ${s.shard}: this cluster has shards 0..${env.shards - 1}`, posDetails(s.pos))
    shards = [asShardId(s.shard)]
  }
  const started = env.repairNow(shards)
  return rowsResult('REPAIR', [{ name: 'shard_id', type: T.integer }], started.map(x => [BigInt(x)]))
}
