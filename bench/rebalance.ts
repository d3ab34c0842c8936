// Rebalance on adding a node (issue 20 "Tests and figures"): three nodes hold a primary_replica
// table (N = 2) of SB_REBALANCE_BENCH_ROWS rows (default 20,000, ~150 bytes each) while a write
// load of single-row INSERTs runs through nodes 1–3; node 4 then joins as the seeds' "Add/Remove
// Nodes" does it (it lists the members, they learn it by gossip) and receives the shard replicas
// placement now gives it by snapshot bootstrap.
// Figures, in one run: the data moved (keys and bytes the sources' snapshot streams sent, from
// their replication.log "bootstrap … done" lines) per second of the move, and the write load's
// throughput during the move against the same load's throughput just before node 4 was started
// (the baseline; goal ≥ 0.7). Not a test: every acknowledged row is counted afterwards and a
// shortfall fails it.
// The move's window runs from node 4's admission (the admitting node's "Cluster layout:
// membership epoch …" line: every group gains its new replica then) to every shard settled (the
// old replicas released) — not from the first "bootstrap … starts" line, which a source writes
// only once its first chunk is installed (the snapshot read, the transfer and the install of that
// chunk fell outside the window). The settle check (SHOW SHARD MAP on every node every
// SETTLE_POLL_MS) also runs through the baseline, so both windows carry the same observer cost.
// Node 4's start (join → ready, before its admission) is reported apart: it is not the move.
//
// Also printed (the ack timeline, so a low ratio says where the writes went): per window, the
// longest gap between two acknowledgements, the number of gaps ≥ STALL_MS (stalls: an election, a
// hand-over, a writer held), the INSERT latency p50/p99 and the failed INSERTs by code; the cores
// each node process (all its threads) and this process used per window (/proc, sampled with the
// settle check); and the same load for as long as the baseline once the 4 nodes settled — on
// shared cores a fourth node takes throughput of its own, so "after" says how much of the dip is
// the move and how much the node.
// SB_REBALANCE_BENCH_LOGS=<dir>: every node's logs/replication.log, scratchbird.log and anti_entropy.log are copied
// there before the cluster stops (the timeline of elections and hand-overs behind a stall), with
// each node's metrics (n<id>-metrics.txt) and acks.json (every ack's time and latency, and the
// phase marks: baseline, join, ready, admitted, settled). SB_BENCH_NODE_ARGS (bench/lib/cluster.ts)
// passes node flags, e.g. --cpu-prof --cpu-prof-dir=DIR (a profile per thread; a thread blocked in
// Atomics.wait — waitSync, piscina's atomicsWaitLoop — shows as busy there, not as idle).
//
// SB_REBALANCE_BENCH_RATE / SB_REBALANCE_BENCH_SHARE set cluster.rebalance_rate_bytes_per_s and
// cluster.rebalance_max_busy_share on every node (default: the nodes' defaults, unlimited and 0.2).
//
//   npm run bench -- rebalance [--duration <s of baseline, default 10>] [--connections <n, default 6>]
import { copyFileSync, readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { printResult } from './lib/result'
import { benchArgs, cpuSeconds, sql } from './lib/http'
import { clusterMachineNote, startBenchCluster, type ClusterNode } from './lib/cluster'

const ROWS = Number(process.env.SB_REBALANCE_BENCH_ROWS ?? 20_000)
if (!Number.isSafeInteger(ROWS) || ROWS < 1) throw new Error(`SB_REBALANCE_BENCH_ROWS: expected a positive integer, got ${String(process.env.SB_REBALANCE_BENCH_ROWS)}`)
/** cluster.rebalance_rate_bytes_per_s of every node (0: unlimited, the default). */
const RATE = Number(process.env.SB_REBALANCE_BENCH_RATE ?? 0)
if (!Number.isSafeInteger(RATE) || RATE < 0) throw new Error(`SB_REBALANCE_BENCH_RATE: expected bytes per second (0: unlimited), got ${String(process.env.SB_REBALANCE_BENCH_RATE)}`)
/** cluster.rebalance_max_busy_share of every node (unset: the node's default, 0.2). */
const SHARE = process.env.SB_REBALANCE_BENCH_SHARE === undefined ? undefined : Number(process.env.SB_REBALANCE_BENCH_SHARE)
if (SHARE !== undefined && !(SHARE > 0 && SHARE <= 1)) throw new Error(`SB_REBALANCE_BENCH_SHARE: expected a share in (0, 1], got ${String(process.env.SB_REBALANCE_BENCH_SHARE)}`)
const args = benchArgs({ connections: 6, duration: 10, warmup: 3 })
const SHARDS = 8
const PER_INSERT = 200
const PAYLOAD = 'r'.repeat(128)
/** The move must settle within this (a loaded machine streams slowly). */
const MOVE_TIMEOUT_MS = 15 * 60_000
/** A gap between two acknowledgements at least this long counts as a stall (the load keeps 6 INSERTs in flight: at ~40/s a gap is ~25 ms). */
const STALL_MS = 500
/** How often the settle check polls SHOW SHARD MAP on every node (also during the baseline). */
const SETTLE_POLL_MS = 250

const cluster = await startBenchCluster(4, { storage: { shards: SHARDS }, replication: { election_timeout_ms: 2000, heartbeat_ms: 200 }, cluster: { rebalance_rate_bytes_per_s: RATE, ...(SHARE === undefined ? {} : { rebalance_max_busy_share: SHARE }) } }, { join: 1 })
const [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode]
const sources = [n1, n2, n3]

/**
 * One statement through `node`, retried for up to 5 min (elections on a loaded machine) on the codes of a primary changing (a
 * multi-shard INSERT aborted by a new primary's limbo recovery, SB_TXN_NOT_ACTIVE, did nothing; an
 * earlier attempt still holding its keys, SB_UPDATE_CONFLICT, is decided soon).
 */
async function retrying (node: ClusterNode, text: string, params: unknown[]): Promise<void> {
  const deadline = performance.now() + 300_000
  for (;;) {
    try { await sql(node, text, params); return } catch (e) {
      const m = (e as Error).message
      if (/SB_UNIQUE_VIOLATION/.test(m)) return // an earlier attempt landed
      if (performance.now() > deadline || !/SB_NOT_PRIMARY|SB_SHARD_UNAVAILABLE|SB_COMMIT_OUTCOME_UNKNOWN|SB_RPC_TIMEOUT|SB_NODE_UNREACHABLE|SB_TXN_NOT_ACTIVE|SB_UPDATE_CONFLICT/.test(m)) throw e
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
}

interface Load {
  stop: () => Promise<void>
  /** Date.now() of each acknowledgement, in order, and the INSERT's latency (ms) at the same index. */
  acks: number[]
  latencies: number[]
  /** Each failed INSERT: Date.now() when it failed and its code. */
  failures: Array<{ at: number, code: string }>
  errors: Map<string, number>
  keys: () => number
}

/** `args.connections` closed-loop clients, each inserting new rows one at a time through nodes 1–3 in turn; `acks` are Date.now() of each acknowledgement. */
function writeLoad (from: number): Load {
  let next = from
  const state = { on: true }
  const acks: number[] = []
  const latencies: number[] = []
  const failures: Array<{ at: number, code: string }> = []
  const errors = new Map<string, number>()
  const clients = Array.from({ length: args.connections }, async (_, c) => {
    while (state.on) {
      const k = next++
      const t0 = performance.now()
      try {
        await sql(sources[(k + c) % sources.length]!, 'INSERT INTO t (k, payload) VALUES ($1, $2)', [k, PAYLOAD])
        acks.push(Date.now())
        latencies.push(performance.now() - t0)
      } catch (e) {
        const code = /SB_[A-Z_]+/.exec((e as Error).message)?.[0] ?? 'other'
        errors.set(code, (errors.get(code) ?? 0) + 1)
        failures.push({ at: Date.now(), code })
      }
    }
  })
  return { acks, latencies, failures, errors, keys: () => next, stop: async () => { state.on = false; await Promise.all(clients) } }
}

/** The ack timeline of [from, to): longest gap between acknowledgements (window edges count), stalls (gaps ≥ STALL_MS), latency p50/p99, failures by code. */
function timeline (l: Load, from: number, to: number): string {
  const idx = l.acks.flatMap((t, i) => t >= from && t < to ? [i] : [])
  const times = [from, ...idx.map(i => l.acks[i]!), to]
  const gaps = times.slice(1).map((t, i) => t - times[i]!)
  const lat = idx.map(i => l.latencies[i]!).sort((a, b) => a - b)
  const pct = (q: number): string => lat.length === 0 ? 'n/a' : lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(0)
  const failed = new Map<string, number>()
  for (const f of l.failures) if (f.at >= from && f.at < to) failed.set(f.code, (failed.get(f.code) ?? 0) + 1)
  return `${((to - from) / 1000).toFixed(1)} s, ${idx.length} acks, longest gap ${Math.max(...gaps)} ms, ${gaps.filter(g => g >= STALL_MS).length} gaps ≥ ${STALL_MS} ms, ` +
    `latency p50 ${pct(0.5)} ms p99 ${pct(0.99)} ms, failed ${[...failed].map(([c, n]) => `${c} ×${n}`).join(' ') || 'none'}`
}

/** Every shard on its new placement: two replicas in sync under a primary, nothing moving, node 4 holding some. */
async function settled (): Promise<boolean> {
  const all = (await Promise.all(cluster.nodes.map(async n => await sql(n, 'SHOW SHARD MAP').then(r => r.rows, () => null))))
  if (all.some(r => r === null)) return false
  const rows = all.flat() as unknown[][]
  if (rows.some(r => r[8] !== null)) return false
  const led = new Map(rows.filter(r => /:primary/.test(String(r[6] ?? ''))).map(r => [Number(r[0]), String(r[6])]))
  if (led.size !== SHARDS) return false
  if (![...led.values()].every(s => s.split(',').length === 2 && s.split(',').every(x => /:(primary|in sync)$/.test(x)))) return false
  return [...led.values()].some(s => /(^|,)4:/.test(s))
}

/** Date.now() of node 4's admission: the earliest "membership epoch … admitted" line in the nodes' main logs (NaN: none found). */
function admittedAt (): number {
  let at = Infinity
  for (const id of [1, 2, 3]) {
    const file = join(cluster.dataDir(id), 'logs', 'scratchbird.log')
    if (!existsSync(file)) continue
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (/Cluster layout: membership epoch \d+[^"]*node 4 at [^"]* admitted/.test(line)) at = Math.min(at, Number(/"time":(\d+)/.exec(line)?.[1]))
    }
  }
  return Number.isFinite(at) ? at : NaN
}

/** The snapshot streams' totals and span, from the sources' replication.log: keys, bytes, first start and last end (ms since the epoch). */
function streamed (): { keys: number, bytes: number, shards: number, start: number, end: number } {
  let keys = 0; let bytes = 0; let shards = 0; let start = Infinity; let end = -Infinity
  for (const id of [1, 2, 3, 4]) {
    const file = join(cluster.dataDir(id), 'logs', 'replication.log')
    if (!existsSync(file)) continue
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const time = Number(/"time":(\d+)/.exec(line)?.[1])
      if (/bootstrap of shard \d+ on node 4 starts/.test(line)) start = Math.min(start, time)
      const done = /bootstrap of shard \d+ on node 4 done: (\d+) keys, (\d+) bytes/.exec(line)
      if (done !== null) { keys += Number(done[1]); bytes += Number(done[2]); shards++; end = Math.max(end, time) }
    }
  }
  return { keys, bytes, shards, start, end }
}

/** Each node's (and this process's) cumulative CPU seconds, sampled every SETTLE_POLL_MS: where the cores went in each window. */
const cpuSamples: Array<{ at: number, cpu: Map<string, number> }> = []
function sampleCpu (): void {
  const cpu = new Map(cluster.nodes.map(n => [`n${n.id}`, cpuSeconds(n.pid)]))
  const own = process.cpuUsage()
  cpu.set('bench', (own.user + own.system) / 1e6)
  cpuSamples.push({ at: Date.now(), cpu })
}
const cpuSampler = setInterval(sampleCpu, SETTLE_POLL_MS)
/** Cores used per node (n1…n4, then this process) between `from` and `to`, from the nearest samples. */
function coresIn (from: number, to: number): string {
  const first = cpuSamples.find(x => x.at >= from)
  const last = [...cpuSamples].reverse().find(x => x.at <= to)
  if (first === undefined || last === undefined || last.at <= first.at) return 'n/a'
  const secs = (last.at - first.at) / 1000
  return [...last.cpu].map(([name, b]) => {
    const a = first.cpu.get(name)
    return `${name} ${a === undefined || Number.isNaN(a) ? 'started' : ((b - a) / secs).toFixed(2)}`
  }).join(', ')
}

const rate = (acks: number[], from: number, to: number): number => acks.filter(t => t >= from && t < to).length * 1000 / Math.max(1, to - from)

let load: Load | undefined
try {
  await sql(n1, 'CREATE TABLE t (k BIGINT PRIMARY KEY, payload TEXT) WITH (replication_factor = 2)')
  // Fill, a few statements in flight (timed: the move rate's baseline is this insert rate).
  const fillFrom = performance.now()
  let filled = 0
  await Promise.all(Array.from({ length: 3 }, async (_, c) => {
    for (;;) {
      const from = filled
      if (from >= ROWS) return
      filled = Math.min(ROWS, from + PER_INSERT)
      const n = filled - from
      const values = Array.from({ length: n }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')
      await retrying(sources[c]!, `INSERT INTO t (k, payload) VALUES ${values}`, Array.from({ length: n }, (_, i) => [from + i, PAYLOAD]).flat())
    }
  }))

  const fillS = (performance.now() - fillFrom) / 1000
  load = writeLoad(ROWS)
  await new Promise(resolve => setTimeout(resolve, args.warmup * 1000))
  const baseFrom = Date.now()
  // The same observer as during the move: settled() every SETTLE_POLL_MS (it answers false here).
  while (Date.now() - baseFrom < args.duration * 1000) {
    await settled()
    await new Promise(resolve => setTimeout(resolve, SETTLE_POLL_MS))
  }
  const baseTo = Date.now()

  const joinAt = Date.now()
  await cluster.join(4)
  const readyAt = Date.now()
  const deadline = performance.now() + MOVE_TIMEOUT_MS
  while (!(await settled())) {
    if (performance.now() > deadline) throw new Error(`the shards did not settle on their new placement within ${MOVE_TIMEOUT_MS / 1000} s`)
    await new Promise(resolve => setTimeout(resolve, SETTLE_POLL_MS))
  }
  const settledAt = Date.now()
  // The same load on the 4 nodes once settled, for the same observer time as the baseline: on
  // shared cores a fourth node costs throughput of its own, move or not (printed, not the ratio).
  while (Date.now() - settledAt < args.duration * 1000) {
    await settled()
    await new Promise(resolve => setTimeout(resolve, SETTLE_POLL_MS))
  }
  const afterTo = Date.now()
  sampleCpu()
  clearInterval(cpuSampler)
  await load.stop()
  const keep = process.env.SB_REBALANCE_BENCH_LOGS
  if (keep !== undefined && keep !== '') {
    for (const id of [1, 2, 3, 4]) {
      const file = join(cluster.dataDir(id), 'logs', 'replication.log')
      mkdirSync(keep, { recursive: true })
      if (existsSync(file)) copyFileSync(file, join(keep, `n${id}-replication.log`))
      for (const name of ['scratchbird', 'anti_entropy']) {
        const f = join(cluster.dataDir(id), 'logs', `${name}.log`)
        if (existsSync(f)) copyFileSync(f, join(keep, `n${id}-${name}.log`))
      }
    }
  }
  const admitted = admittedAt()
  if (keep !== undefined && keep !== '') {
    // The ack times and phase marks (for a finer timeline than the note's), and each node's metrics.
    writeFileSync(join(keep, 'acks.json'), JSON.stringify({ acks: load.acks, latencies: load.latencies, baseFrom, baseTo, joinAt, readyAt, admitted, settledAt }))
    for (const n of cluster.nodes) writeFileSync(join(keep, `n${n.id}-metrics.txt`), await (await fetch(`http://${n.metricsListen}/metrics`)).text())
  }
  const s = streamed()
  if (s.shards === 0) throw new Error('no bootstrap to node 4 found in the replication logs')
  if (Number.isNaN(admitted)) throw new Error('no admission of node 4 found in the main logs of nodes 1–3')
  const moveFrom = admitted
  const moveTo = Math.max(s.end, settledAt)
  const moveS = (moveTo - moveFrom) / 1000
  const during = rate(load.acks, moveFrom, moveTo)
  const before = rate(load.acks, baseFrom, baseTo)

  // Every acknowledged row is there.
  const acked = ROWS + load.acks.length
  const count = Number((await sql(n1, 'SELECT count(*) FROM t')).rows[0]![0])
  const errors = [...load.errors].map(([c, n]) => `${c} ×${n}`).join(', ') || 'none'
  const note = `${ROWS} rows of ~${PAYLOAD.length + 8} bytes in a primary_replica table N=2 on ${SHARDS} shards, 3 → 4 nodes; ${s.shards} shard replicas bootstrapped on node 4 (${s.keys} keys, ${(s.bytes / 1e6).toFixed(2)} MB) in ${moveS.toFixed(1)} s (admission → every shard settled; the first source logged its first chunk installed ${((s.start - moveFrom) / 1000).toFixed(1)} s after admission); ` +
    `write load: ${args.connections} closed-loop clients of single-row INSERTs through nodes 1–3, ${during.toFixed(1)}/s during the move vs ${before.toFixed(1)}/s in the ${args.duration} s before node 4 started (${rate(load.acks, joinAt, readyAt).toFixed(1)}/s while node 4 started, ${((readyAt - joinAt) / 1000).toFixed(1)} s, not counted); failed INSERTs: ${errors}; count(*) ${count} (acknowledged ${acked}); ` +
    `ack timeline before: ${timeline(load, baseFrom, baseTo)}; during (${new Date(moveFrom).toISOString()} on): ${timeline(load, moveFrom, moveTo)}; ` +
    `cores used before: ${coresIn(baseFrom, baseTo)}; during: ${coresIn(moveFrom, moveTo)}; ` +
    `after the move (4 nodes settled, ${args.duration} s): ${rate(load.acks, settledAt, afterTo).toFixed(1)}/s, ${timeline(load, settledAt, afterTo)}, cores ${coresIn(settledAt, afterTo)}; ` +
    clusterMachineNote(4, 'Mode 1 N=2', cluster.durability)
  // value = throughput during the move / before it; baseline = the goal (ratio ≥ 1 meets it).
  printResult({ name: 'rebalance_write_ratio', value: before > 0 ? during / before : NaN, unit: 'ratio', baseline: 0.7, note })
  // Baseline: the same rows' bytes as the fill inserted them through SQL (multi-row INSERTs, N = 2) in this run.
  const rowBytes = s.keys > 0 ? s.bytes / s.keys : 0
  const fillMBs = ROWS * rowBytes / 1e6 / fillS
  printResult({ name: 'rebalance_move_rate', value: s.bytes / 1e6 / moveS, unit: 'MB/s', baseline: fillMBs, note: `${(s.keys / moveS).toFixed(0)} keys/s (rows and index entries) moved to node 4 while the write load ran; baseline = the fill's rate in the same bytes per row (${ROWS} rows by ${PER_INSERT}-row INSERTs in ${fillS.toFixed(1)} s); cluster.rebalance_rate_bytes_per_s ${RATE === 0 ? 'unlimited (0)' : RATE}, cluster.rebalance_max_busy_share ${SHARE ?? '0.2 (default)'}` })
  if (count < acked) {
    console.error(`FAILED rebalance: ${acked} rows acknowledged but count(*) is ${count}`)
    process.exitCode = 1
  }
} finally {
  await load?.stop()
  await cluster.stop()
}
