import pino from 'pino'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import type { NodeId } from '../core/ids'
import { levelKvOptions } from '../storage/lsm-options'
import { assignShards } from './shard-assignment'
import { ShardWorkers } from './shard-workers'

// The shard workers the offline tools (scratchbird_restore, scratchbird_replay_commit_log) start on
// a data directory no node runs on: the same workers and ops a node uses, so a restored shard is
// written by the engine's own install and apply paths, never by a second writer of its format.

/** A backup chunk is at most 4 MiB (backup-source.ts) plus its framing. */
const TOOL_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
const TOOL_RING_BYTES = 4 * TOOL_MAX_MESSAGE_BYTES

export async function startToolWorkers (dataDir: string, nodeId: number, shards: number, config: Config, clock: Clock): Promise<{ workers: ShardWorkers, fatal: () => string | null }> {
  let fatal: string | null = null
  const workers = new ShardWorkers({
    dataDir,
    nodeId: nodeId as NodeId,
    durability: 'sync',
    ringBytes: TOOL_RING_BYTES,
    maxMessageBytes: TOOL_MAX_MESSAGE_BYTES,
    lsm: levelKvOptions(config.lsm),
    clock
  }, pino({ level: 'error' }, pino.destination(2)), (reason) => { fatal = reason })
  await workers.start(assignShards(shards, 1))
  return { workers, fatal: () => fatal }
}
