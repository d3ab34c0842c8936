// Resident memory of a process whose shard workers hold 1,000,000 rows (16 shards, 2 workers),
// loaded through the rings as 1000-row autocommit statements. Baseline: the same process with
// the workers started and empty. LevelDB keeps data on disk; what stays resident is its block
// cache and memtables, the TIP cache and V8 heaps.
import { printResult } from './lib/result'
import { insertOf, nextHlc, startShardWorkers } from './lib/shards'
import { asShardId, shardIds } from '../src/core/ids'

const ROWS = Number(process.argv[2] ?? 1_000_000)
const SHARDS = 16
const STATEMENT_ROWS = 1000
const MiB = 1024 * 1024

const w = await startShardWorkers('none', [shardIds(16).filter(s => s % 2 === 0), shardIds(16).filter(s => s % 2 === 1)])
const before = process.memoryUsage().rss
const t0 = performance.now()
const inflight: Promise<unknown>[] = []
for (let i = 0; i < ROWS; i += STATEMENT_ROWS) {
  const shard = asShardId((i / STATEMENT_ROWS) % SHARDS)
  inflight.push(w.request('AUTOCOMMIT', { shard, writes: Array.from({ length: STATEMENT_ROWS }, (_, k) => insertOf(i + k)), commitHlc: nextHlc() }))
  if (inflight.length >= 32) await Promise.all(inflight.splice(0))
}
await Promise.all(inflight)
const loadSeconds = (performance.now() - t0) / 1000
global.gc?.()
const after = process.memoryUsage().rss
await w.stop()
printResult({ name: 'shard_memory_rss_1m_rows', value: after / MiB, unit: 'MiB', baseline: before / MiB, note: `${ROWS} rows of 100 bytes in ${SHARDS} shards loaded in ${loadSeconds.toFixed(1)} s (${Math.round(ROWS / loadSeconds)} rows/s in 1000-row statements); baseline = RSS with empty shards` })
