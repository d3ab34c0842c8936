// Merkle forest core (src/storage/merkle, DESIGN §6 "Anti-entropy"), pure in-memory figures:
//   merkle_build_10k_root   build a 10,000-leaf tree and compute its root (seeds: < 100 ms, goal < 20 ms);
//                           baseline = xxhash64 alone over the same leaves' bytes, one call per leaf
//   merkle_compare_720_roots compare 720 sealed window roots between two forests (seeds: < 100 ms,
//                           goal < 20 ms); baseline = the same 720 roots compared as two plain arrays
//   merkle_bytes_per_leaf   heap + external bytes per leaf of a 100,000-leaf tree (seeds estimate 48);
//                           baseline = the leaves' raw bytes kept as one Uint8Array each
//   merkle_build_10k_root_cpu the same runs' process CPU time (all threads), less disturbed than the
//                           wall time when other processes load the machine
// Time figures are the median of several runs after a warm-up long enough for the JIT to settle
// (the tree's write path runs hot for hours in a shard worker; its first ~15 builds here run
// partly unoptimised and deoptimise once). Memory needs --expose-gc (`npm run bench -- merkle`
// passes it); without it the memory line is skipped.
import { initHashing, xxhash64 } from '../src/core/hash'
import { encodeUuidV8 } from '../src/core/hlc'
import { divergentWindows, ForestIndex } from '../src/storage/merkle/forest-index'
import { MerkleTree } from '../src/storage/merkle/tree'
import { printResult } from './lib/result'

await initHashing()

const HOUR = 3_600_000
const T0 = 1_760_000_000_000 // a 2025 timestamp: realistic HLC ms
let sink = 0n // consumed below so the JIT cannot drop the work

function keyOf (i: number): Uint8Array {
  // a table-prefixed 8-byte primary key, the shape of an encoded row key
  const k = new Uint8Array(12)
  const v = new DataView(k.buffer)
  v.setUint32(0, 0x7400_0001)
  v.setBigUint64(4, BigInt(i))
  return k
}

interface Leaf { key: Uint8Array, version: Uint8Array, rowHash: bigint }
function leaves (n: number, base = 0): Leaf[] {
  return Array.from({ length: n }, (_, i) => ({
    key: keyOf(base + i),
    version: encodeUuidV8({ ts: T0 + i, counter: i & 0xfff, nodeId: 1, random: i }),
    rowHash: BigInt(i) * 0x9e37_79b9n
  }))
}

const WARM_UP_RUNS = 30
/** Median CPU time (ms, process.cpuUsage) of the runs of the last median() call. */
let cpuMedian = 0

function median (runs: number, fn: () => void): number {
  for (let i = 0; i < WARM_UP_RUNS; i++) fn()
  const t: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage()
    const s = performance.now()
    fn()
    t.push(performance.now() - s)
    const used = process.cpuUsage(c)
    cpu.push((used.user + used.system) / 1000)
  }
  t.sort((a, b) => a - b)
  cpu.sort((a, b) => a - b)
  cpuMedian = cpu[Math.floor(runs / 2)]!
  return t[Math.floor(runs / 2)]!
}

// 1. 10,000 leaves → root
const L10k = leaves(10_000)
const build = median(21, () => {
  const t = new MerkleTree()
  for (const l of L10k) t.set(l.key, l.version, l.rowHash)
  sink ^= t.root()
})
const buildCpu = cpuMedian
const leafBytes = L10k.map(l => {
  const b = new Uint8Array(l.key.length + 16 + 8)
  b.set(l.key); b.set(l.version, l.key.length)
  new DataView(b.buffer).setBigUint64(l.key.length + 16, l.rowHash)
  return b
})
const hashOnly = median(21, () => { for (const b of leafBytes) sink ^= xxhash64(b) })
printResult({ name: 'merkle_build_10k_root', value: build, unit: 'ms', baseline: hashOnly, note: `10,000 set() + root(), 12-byte keys, median of 21 runs after ${WARM_UP_RUNS}; baseline = xxhash64 of each leaf's 36 bytes; seeds < 100 ms, goal < 20 ms` })
printResult({ name: 'merkle_build_10k_root_cpu', value: buildCpu, unit: 'ms', baseline: cpuMedian, note: 'the same runs\' process CPU time; baseline = the xxhash64 runs\' CPU time' })

// 2. 720 sealed roots (30 days of 1-hour windows), one window diverged
const WINDOWS = 720
function forest (skip: number): ForestIndex {
  const f = new ForestIndex({ windowMs: HOUR, graceMs: 10 * 60_000 })
  for (let w = 0; w < WINDOWS; w++) {
    for (let i = 0; i < 10; i++) {
      const n = w * 10 + i
      if (n === skip) continue
      f.apply(keyOf(n), encodeUuidV8({ ts: T0 + w * HOUR, counter: i, nodeId: 1, random: n }), BigInt(n))
    }
  }
  f.seal(T0 + (WINDOWS + 2) * HOUR)
  return f
}
const a = forest(-1)
const b = forest(5_005)
let found = 0
const compare = median(101, () => { found = divergentWindows(a.sealedRoots(), b.sealedRoots()).length })
if (found !== 1) throw new Error(`expected 1 divergent window, found ${found}`)
const ra = [...a.sealedRoots().values()]
const rb = [...b.sealedRoots().values()]
const plain = median(101, () => { let d = 0; for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) d++; found = d })
printResult({ name: 'merkle_compare_720_roots', value: compare, unit: 'ms', baseline: plain, note: `${WINDOWS} sealed 1-hour windows of 10 leaves, 1 divergent; baseline = two arrays of the same roots compared; seeds < 100 ms, goal < 20 ms` })

// 3. memory per leaf
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error('merkle: run with --expose-gc (npm run bench -- merkle) for the memory figure')
} else {
  const N = 100_000
  const src = leaves(N, 1_000_000)
  const used = (): number => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.external }
  let before = used()
  const t = new MerkleTree()
  for (const l of src) t.set(l.key, l.version, l.rowHash)
  sink ^= t.root()
  const perLeaf = (used() - before) / N
  before = used()
  const raw = src.map(l => { const r = new Uint8Array(l.key.length + 16 + 8); r.set(l.key); r.set(l.version, l.key.length); return r })
  const perRaw = (used() - before) / N
  // what SHOW MERKLE FOREST SIZE reports for it (MerkleTree.heapBytes), to check that figure against the measured one
  const reported = (t.heapBytes() - new MerkleTree().heapBytes()) / N
  printResult({ name: 'merkle_bytes_per_leaf', value: perLeaf, unit: 'bytes', baseline: perRaw, note: `${N} leaves, 12-byte keys, heap+external; baseline = each leaf's 36 raw bytes as one Uint8Array; seeds estimate 48; bytes_in_memory reports ${reported.toFixed(1)} per leaf` })
  if (raw.length === 0 || t.size !== N) console.log('unreachable')
}
if (sink === 1n) console.log('unreachable')
