import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Clock } from '../core/clock'
import { ShardEngine } from '../storage/engine'
import { LevelKv } from '../storage/kv-level'
import { SharedXidCounter, SharedXidSource, readXidMark } from '../storage/xid-shared'
import type { ShardWorkerData } from './protocol/worker-protocol'

// Opening a worker's shard replicas: one classic-level database per shard under
// <data_dir>/shards/<shard>/ (DESIGN §4), each engine drawing xids from the node-wide shared
// counter, raised first past every xid the shard has already handed out.

export type ShardStoreSpec = Pick<ShardWorkerData, 'dataDir' | 'nodeId' | 'shards' | 'durability' | 'lsm' | 'xidCounter'>

/** Opens every shard of `spec`, or none: on a failure the ones already open are closed again. */
export async function openShardEngines (spec: ShardStoreSpec, clock: Clock): Promise<Map<number, ShardEngine>> {
  const counter = new SharedXidCounter(spec.xidCounter)
  const engines = new Map<number, ShardEngine>()
  try {
    for (const shard of spec.shards) {
      const dir = join(spec.dataDir, 'shards', String(shard))
      mkdirSync(dir, { recursive: true })
      const kv = await LevelKv.open(dir, spec.lsm)
      try {
        const mark = await readXidMark(kv)
        counter.raiseTo(mark)
        engines.set(shard, await ShardEngine.open(kv, {
          shardId: shard,
          nodeId: spec.nodeId,
          durability: spec.durability,
          clock,
          xids: new SharedXidSource(counter, spec.nodeId, mark)
        }))
      } catch (e) {
        await kv.close()
        throw e
      }
    }
  } catch (e) {
    await Promise.allSettled([...engines.values()].map(engine => engine.close()))
    throw e
  }
  return engines
}
