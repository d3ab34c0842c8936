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
// the hints of a row always go to the store of the row's own shard. A split (cluster/shard-split.ts)
// opens the new shards n..2n-1 while the node runs: the worker's SHARD_OPEN job, the same opener.

export type ShardStoreSpec = Pick<ShardWorkerData, 'dataDir' | 'nodeId' | 'shards' | 'durability' | 'lsm' | 'xidCounter'> & Partial<Pick<ShardWorkerData, 'merkle' | 'lsnBoard'>>

export interface ShardStores {
  readonly engines: Map<ShardId, ShardEngine>
  /** Over the engines' KvStores (shared: the engines close them). */
  readonly hints: Map<ShardId, HintStore>
}

/** One shard replica's engine and hint store (over the engine's KvStore). */
export interface ShardStore { engine: ShardEngine, hints: HintStore }

/** Opens one shard replica of `spec` (what the SHARD_OPEN job does at run time, and the start for each shard). */
export type ShardOpener = (shard: ShardId) => Promise<ShardStore>

/**
 * The opener of `spec`'s shard replicas: every engine draws xids from the node-wide shared
 * counter, raised first past every xid its shard has already handed out. A shard that fails to
 * open leaves nothing open behind it.
 */
export function shardOpener (spec: ShardStoreSpec, clock: Clock): ShardOpener {
  const counter = new SharedXidCounter(spec.xidCounter)
  const board = spec.lsnBoard === undefined ? undefined : new BigInt64Array(spec.lsnBoard)
  return async (shard) => {
    const dir = join(spec.dataDir, 'shards', String(shard))
    mkdirSync(dir, { recursive: true })
    const kv = await LevelKv.open(dir, spec.lsm)
    let engine: ShardEngine | undefined
    try {
      const mark = await readXidMark(kv)
      counter.raiseTo(mark)
      engine = await ShardEngine.open(kv, {
        shardId: shard,
        nodeId: spec.nodeId,
        durability: spec.durability,
        clock,
        xids: new SharedXidSource(counter, spec.nodeId, mark),
        merkle: spec.merkle ?? undefined,
        onLsn: board === undefined ? undefined : lsn => { Atomics.store(board, shard, lsn) }
      })
      return { engine, hints: await HintStore.open(kv, { ownsKv: false, sync: spec.durability === 'sync' }) }
    } catch (e) {
      await (engine === undefined ? kv.close() : engine.close())
      throw e
    }
  }
}

/** Opens every shard of `spec`, or none: on a failure the ones already open are closed again. */
export async function openShardEngines (spec: ShardStoreSpec, clock: Clock, open: ShardOpener = shardOpener(spec, clock)): Promise<ShardStores> {
  const engines = new Map<ShardId, ShardEngine>()
  const hints = new Map<ShardId, HintStore>()
  try {
    for (const shard of spec.shards) {
      const store = await open(shard)
      engines.set(shard, store.engine)
      hints.set(shard, store.hints)
    }
  } catch (e) {
    await Promise.allSettled([...engines.values()].map(engine => engine.close()))
    throw e
  }
  return { engines, hints }
}
