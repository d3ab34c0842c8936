// Point reads/s through the rings and a shard worker with MGA visibility, many in flight.
// Baseline: raw classic-level get() of the same keys, same concurrency, in this process.
import { ClassicLevel } from 'classic-level'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeTuple } from '../src/storage/keys'
import { printResult } from './lib/result'
import { ROW, closedLoop, insertOf, nextHlc, startShardWorkers } from './lib/shards'
import { asShardId } from '../src/core/ids'

const MS = Number(process.argv[2] ?? 3000)
const ROWS = 100_000
const CONCURRENCY = 1024
const STATEMENT_ROWS = 1000

async function baselineGets (): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(mkdtempSync(join(tmpdir(), 'sb-bench-raw-')), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  for (let i = 0; i < ROWS; i += STATEMENT_ROWS) {
    const b = db.batch()
    for (let k = i; k < i + STATEMENT_ROWS; k++) b.put(encodeTuple([k]), ROW)
    await b.write()
  }
  const rate = await closedLoop(async (i) => { await db.get(encodeTuple([(i * 7919) % ROWS])) }, CONCURRENCY, MS)
  await db.close()
  return rate
}

async function shardGets (): Promise<number> {
  const w = await startShardWorkers('none')
  for (let i = 0; i < ROWS; i += STATEMENT_ROWS) {
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: Array.from({ length: STATEMENT_ROWS }, (_, k) => insertOf(i + k)), commitHlc: nextHlc() })
  }
  let misses = 0
  const rate = await closedLoop(async (i) => {
    const r = await w.request('GET', { shard: asShardId(0), tableId: 1, pk: [(i * 7919) % ROWS] })
    if (r.row === null) misses++
  }, CONCURRENCY, MS)
  await w.stop()
  if (misses > 0) throw new Error(`${misses} reads missed rows that were inserted`)
  return rate
}

const baseline = await baselineGets()
const value = await shardGets()
printResult({ name: 'shard_read', value, unit: 'reads/s', baseline, note: `${ROWS} rows, 1 shard, ${CONCURRENCY} in flight; baseline raw classic-level get` })
