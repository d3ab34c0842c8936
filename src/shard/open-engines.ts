import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Clock } from '../core/clock'
import { ShardEngine } from '../storage/engine'
import { HintStore } from '../storage/hint-store'
import { LevelKv } from '../storage/kv-level'
import { SharedXidCounter, SharedXidSource, readXidMark } from '../storage/xid-shared'
import type { ShardWorkerData } from './protocol/worker-protocol'
import type { ShardId } from '../core/ids'

// Opening a worker's shard replicas: one classic-level database per shard under
// <data_dir>/shards/<shard>/ (DESIGN §4), each engine drawing xids from the node-wide shared
// counter, raised first past every xid the shard has already handed out, and the hint log kept in
// the same database (`h` keys, src/storage/hint-store.ts), fsynced as the engine's commits are.
// Every node opens every shard (assignShards spreads 0..storage.shards-1 over its workers), so
// the hints of a row always go to the store of the row's own shard.

export type ShardStoreSpec = Pick<ShardWorkerData, 'dataDir' | 'nodeId' | 'shards' | 'durability' | 'lsm' | 'xidCounter'> & Partial<Pick<ShardWorkerData, 'merkle' | 'lsnBoard'>>

export interface ShardStores {
  readonly engines: Map<ShardId, ShardEngine>
  /** Over the engines' KvStores (shared: the engines close them). */
  readonly hints: Map<ShardId, HintStore>
}

/** Opens every shard of `spec`, or none: on a failure the ones already open are closed again. */
export async function openShardEngines (spec: ShardStoreSpec, clock: Clock): Promise<ShardStores> {
  const counter = new SharedXidCounter(spec.xidCounter)
  const board = spec.lsnBoard === undefined ? undefined : new BigInt64Array(spec.lsnBoard)
  const engines = new Map<ShardId, ShardEngine>()
  const hints = new Map<ShardId, HintStore>()
  try {
    for (const shard of spec.shards) {
      const dir = join(spec.dataDir, 'shards', String(shard))
      mkdirSync(dir, { recursive: true })
      const kv = await LevelKv.open(dir, spec.lsm)
      try {
        const mark = await readXidMark(kv)
        counter.raiseTo(mark)
        const engine = await ShardEngine.open(kv, {
          shardId: shard,
          nodeId: spec.nodeId,
          durability: spec.durability,
          clock,
          xids: new SharedXidSource(counter, spec.nodeId, mark),
          merkle: spec.merkle ?? undefined,
          onLsn: board === undefined ? undefined : lsn => { Atomics.store(board, shard, lsn) }
        })
        engines.set(shard, engine)
        hints.set(shard, await HintStore.open(kv, { ownsKv: false, sync: spec.durability === 'sync' }))
      } catch (e) {
        if (!engines.has(shard)) await kv.close()
        throw e
      }
    }
  } catch (e) {
    await Promise.allSettled([...engines.values()].map(engine => engine.close()))
    throw e
  }
  return { engines, hints }
}
