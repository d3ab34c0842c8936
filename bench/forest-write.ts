// Leaderless replica writes (REPLICA_APPLY's engine path: applyVersions, one row per statement,
// many in flight) on a shard engine over LevelDB, with the Merkle forest kept (anti_entropy.enabled
// true: a leaf per version in the write batch) against the same writes without it, in one run
// (issue 15: write throughput with anti-entropy on vs off, goal ≥ 0.95). Rounds alternate off/on
// so drift of the machine hits both alike; each figure is the median of its rounds. A second
// RESULT divides the rows by the CPU time the process used (every thread: LevelDB's included), so
// the cost of the forest can be read on a machine other processes are loading too.
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

interface Round { rate: number, perCpuSecond: number }

async function applies (forest: boolean): Promise<Round> {
  const kv = await LevelKv.open(mkdtempSync(join(tmpdir(), 'sb-bench-forest-')), BENCH_LSM)
  const engine = await ShardEngine.open(kv, {
    shardId: asShardId(0), nodeId: asNodeId(1), durability: 'none', clock: systemClock, ...(forest ? { merkle: FOREST } : {})
  })
  let rows = 0
  const cpu = process.cpuUsage()
  const rate = await closedLoop(async (i) => { await engine.applyVersions({ writes: [{ tableId: 1, pk: [BigInt(i)], versionId: v8(), row: ROW }], commitHlc: nextHlc() }); rows++ }, CONCURRENCY, MS)
  const used = process.cpuUsage(cpu)
  await engine.close()
  return { rate, perCpuSecond: rows / ((used.user + used.system) / 1e6) }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

await initHashing()
const offRounds: Round[] = []
const onRounds: Round[] = []
for (let r = 0; r < ROUNDS; r++) {
  offRounds.push(await applies(false))
  onRounds.push(await applies(true))
}
const off = offRounds.map(r => r.rate)
const on = onRounds.map(r => r.rate)
const offCpu = offRounds.map(r => r.perCpuSecond)
const onCpu = onRounds.map(r => r.perCpuSecond)
printResult({
  name: 'forest_write_on_vs_off',
  value: median(on),
  unit: 'rows/s',
  baseline: median(off),
  note: `leaderless applyVersions, 1 row per statement, ${CONCURRENCY} in flight, durability none; forest kept (leaf per version in the batch) vs not; median of ${ROUNDS} alternating rounds of ${MS} ms; on ${on.map(Math.round).join('/')} off ${off.map(Math.round).join('/')}`
})
printResult({
  name: 'forest_write_cpu_on_vs_off',
  value: median(onCpu),
  unit: 'rows/cpu-s',
  baseline: median(offCpu),
  note: `the same rounds, rows per second of process CPU (all threads); on ${onCpu.map(Math.round).join('/')} off ${offCpu.map(Math.round).join('/')}`
})
