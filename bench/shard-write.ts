// Autocommit single-row inserts issued from the main thread with many in flight, through the
// rings and a shard worker into LevelDB (issue: ≥ 50,000 rows/s on one shard and ratio ≥ 0.5
// with durability none). Baseline: raw classic-level batch() of 1000 puts in this process.
import { ClassicLevel } from 'classic-level'
import { systemClock } from '../src/core/clock'
import { ShardEngine } from '../src/storage/engine'
import { LevelKv } from '../src/storage/kv-level'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { printResult } from './lib/result'
import { BENCH_LSM, ROW, closedLoop, insertOf, nextHlc, startShardWorkers } from './lib/shards'
import { asNodeId, asShardId } from '../src/core/ids'

const MS = Number(process.argv[2] ?? 3000)
const CONCURRENCY = 1024

async function baselineBatchPuts (): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(mkdtempSync(join(tmpdir(), 'sb-bench-raw-')), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  let k = 0
  const key = (): Uint8Array => { const b = new Uint8Array(12); new DataView(b.buffer).setUint32(8, k++); return b }
  const rate = await closedLoop(async () => {
    const batch = db.batch()
    for (let i = 0; i < 1000; i++) batch.put(key(), ROW)
    await batch.write()
  }, 1, MS)
  await db.close()
  return rate * 1000
}

/** The same statements on a shard engine in this thread (no rings, no worker): what the rings
 *  and the worker hop cost is the gap between this and shardInserts('none'). */
async function engineInserts (): Promise<number> {
  const kv = await LevelKv.open(mkdtempSync(join(tmpdir(), 'sb-bench-engine-')), BENCH_LSM)
  const engine = await ShardEngine.open(kv, { shardId: asShardId(0), nodeId: asNodeId(1), durability: 'none', clock: systemClock })
  const rate = await closedLoop((i) => engine.autocommit({ writes: [insertOf(i)], commitHlc: nextHlc() }), CONCURRENCY, MS)
  await engine.close()
  return rate
}

async function shardInserts (durability: 'sync' | 'none'): Promise<number> {
  const w = await startShardWorkers(durability)
  const rate = await closedLoop((i) => w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insertOf(i)], commitHlc: nextHlc() }), CONCURRENCY, MS)
  await w.stop()
  return rate
}

const baseline = await baselineBatchPuts()
const none = await shardInserts('none')
const sync = await shardInserts('sync')
const inProcess = await engineInserts()
printResult({ name: 'shard_write_none', value: none, unit: 'rows/s', baseline, note: `durability none, 1 shard, ${CONCURRENCY} in flight; baseline raw classic-level batch of 1000 puts` })
printResult({ name: 'shard_write_sync', value: sync, unit: 'rows/s', baseline, note: `durability sync (fsync per group commit), 1 shard, ${CONCURRENCY} in flight` })
printResult({ name: 'shard_write_vs_engine', value: none, unit: 'rows/s', baseline: inProcess, note: `durability none through rings and a worker; baseline the same inserts on a shard engine in this thread (${CONCURRENCY} in flight)` })
