// Leaderless replica writes (REPLICA_APPLY's engine path: applyVersions, one row per statement,
// many in flight) on a shard engine over LevelDB, with the Merkle forest kept (anti_entropy.enabled
// true: a leaf per version in the write batch) against the same writes without it, in one run
// (issue 15: write throughput with anti-entropy on vs off, goal ≥ 0.95). Rounds alternate off/on
// so drift of the machine hits both alike; each figure is the median of its rounds.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemClock } from '../src/core/clock'
import { encodeUuidV8 } from '../src/core/hlc'
import { initHashing } from '../src/core/hash'
import { asNodeId, asShardId } from '../src/core/ids'
import { ShardEngine } from '../src/storage/engine'
import { LevelKv } from '../src/storage/kv-level'
import { printResult } from './lib/result'
import { BENCH_LSM, ROW, closedLoop, nextHlc } from './lib/shards'

const MS = Number(process.argv[2] ?? 2000)
const ROUNDS = Number(process.argv[3] ?? 3)
const CONCURRENCY = 1024
const FOREST = { windowMs: 3_600_000, graceMs: 600_000 }

let counter = 0
function v8 (): Uint8Array {
  counter = (counter + 1) & 0x3ff
  return encodeUuidV8({ ts: Date.now(), counter, nodeId: 1, random: (Math.random() * 0xffffffff) >>> 0 })
}

async function applies (forest: boolean): Promise<number> {
  const kv = await LevelKv.open(mkdtempSync(join(tmpdir(), 'sb-bench-forest-')), BENCH_LSM)
  const engine = await ShardEngine.open(kv, {
    shardId: asShardId(0), nodeId: asNodeId(1), durability: 'none', clock: systemClock, ...(forest ? { merkle: FOREST } : {})
  })
  const rate = await closedLoop((i) => engine.applyVersions({ writes: [{ tableId: 1, pk: [BigInt(i)], versionId: v8(), row: ROW }], commitHlc: nextHlc() }), CONCURRENCY, MS)
  await engine.close()
  return rate
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

await initHashing()
const off: number[] = []
const on: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  off.push(await applies(false))
  on.push(await applies(true))
}
printResult({
  name: 'forest_write_on_vs_off',
  value: median(on),
  unit: 'rows/s',
  baseline: median(off),
  note: `leaderless applyVersions, 1 row per statement, ${CONCURRENCY} in flight, durability none; forest kept (leaf per version in the batch) vs not; median of ${ROUNDS} alternating rounds of ${MS} ms; on ${on.map(Math.round).join('/')} off ${off.map(Math.round).join('/')}`
})
