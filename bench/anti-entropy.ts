// Anti-entropy's CPU while the cluster-write load runs (issue 15; seeds, Phase 4: < 2 % of a
// node's CPU). The load of bench/cluster-write.ts (single-row INSERTs into a leaderless_quorum
// table, N=3 W=2, through all three nodes at once) on a 3-node cluster twice in one run:
//   baseline  anti_entropy.enabled false (no forest, no rounds);
//   measured  anti_entropy.enabled true with rounds every second (anti_entropy.interval_ms 1000:
//             a round per shard as often as the scheduler allows, far more than the default 60 s,
//             and every active window differs while writes are in flight, so rounds drill into it).
// RESULT lines:
//   anti_entropy_cpu_share   the anti-entropy CPU the nodes count (scratchbird_anti_entropy_cpu_seconds_total,
//                            whose rate scratchbird_anti_entropy_cpu_percent{shard_id} shows: thread CPU
//                            of the anti-entropy work in the shard workers, summed over the shards) over
//                            the warm-up and the load, as a percent of the CPU the node process used
//                            meanwhile (/proc); the highest node; baseline = the seeds' 2 % ceiling
//                            (ratio < 1: met).
//   anti_entropy_write_on_vs_off   rows/s with anti-entropy on vs off (goal ≥ 0.95).
//   anti_entropy_rows_per_cpu_second   rows per CPU second of the node processes, on vs off: the
//                            whole cost of the forest and the rounds, readable on a loaded machine.
import { printResult } from './lib/result'
import { benchArgs, cpuSeconds, describe, requireClean, sql } from './lib/http'
import { clusterMachineNote, describeNodes, loadMany, startBenchCluster, type ClusterNode, type MultiLoadResult } from './lib/cluster'

const args = benchArgs({ connections: 15, duration: 20, warmup: 5 })
const INSERT = 'INSERT INTO events (user_id, seq, payload) VALUES ($1, $2, $3)'
const PAYLOAD = 'x'.repeat(64)
const TABLE = 'CREATE TABLE events (user_id TEXT, seq BIGINT, payload TEXT, PRIMARY KEY (user_id, seq)) PARTITION BY user_id ' +
  "WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2, uuid_type = 'v8_hlc')"
let next = 0
const body = (): string => { const i = next++; return JSON.stringify({ sql: INSERT, params: [`user_${i % 1000}`, i, PAYLOAD] }) }

/** Σ over shards of scratchbird_anti_entropy_cpu_seconds_total on one node, and how many shard series. */
async function aeCpuSeconds (n: ClusterNode): Promise<{ seconds: number, series: number }> {
  const text = await (await fetch(`http://${n.metricsListen}/metrics`)).text()
  let seconds = 0
  let series = 0
  for (const m of text.matchAll(/^scratchbird_anti_entropy_cpu_seconds_total\{[^}]*\} ([0-9.eE+-]+)$/gm)) { seconds += Number(m[1]); series++ }
  return { seconds, series }
}

/** Rounds completed on a node so far (SHOW ANTI_ENTROPY STATUS rows with a completed last round). */
async function completedRounds (n: ClusterNode): Promise<number> {
  return (await sql(n, 'SHOW ANTI_ENTROPY STATUS')).rows.filter(r => r[3] === 'completed').length
}

interface Run { res: MultiLoadResult, aePercent: number[], series: number[], nodeCores: number[], rounds: number[] }

/** The counter moves every 10 s (CPU_SAMPLE_MS): this much after the load, its last period is in. */
const SAMPLE_SETTLE_MS = 11_000

async function run (antiEntropy: boolean): Promise<Run> {
  const cluster = await startBenchCluster(3, { anti_entropy: antiEntropy ? { enabled: true, interval_ms: 1000 } : { enabled: false } })
  try {
    await sql(cluster.nodes[0]!, TABLE)
    const before = await Promise.all(cluster.nodes.map(aeCpuSeconds))
    const cpu0 = cluster.nodes.map(n => cpuSeconds(n.pid))
    const t0 = performance.now()
    const res = await loadMany(cluster.nodes, args, body)
    await new Promise(resolve => setTimeout(resolve, SAMPLE_SETTLE_MS))
    const after = await Promise.all(cluster.nodes.map(aeCpuSeconds))
    const elapsed = (performance.now() - t0) / 1000
    // Node CPU over the same span (warm-up, load and the settling time) as the counter's.
    const nodeCores = cluster.nodes.map((n, k) => (cpuSeconds(n.pid) - cpu0[k]!) / elapsed)
    const aePercent = after.map((a, k) => 100 * (a.seconds - before[k]!.seconds) / elapsed)
    const rounds = antiEntropy ? await Promise.all(cluster.nodes.map(completedRounds)) : cluster.nodes.map(() => 0)
    return { res, aePercent, series: after.map(a => a.series), nodeCores, rounds }
  } finally {
    await cluster.stop()
  }
}

const off = await run(false)
const on = await run(true)
requireClean('anti_entropy', on.res, off.res)

// Per node: AE CPU (percent of one core) over the node's CPU (cores × 100).
const shares = on.aePercent.map((p, k) => p / Math.max(1e-9, on.nodeCores[k]! * 100) * 100)
const share = Math.max(...shares)
const perCpuSecond = (r: MultiLoadResult): number => r.rate / Math.max(1e-9, r.serverCores)
const settings = `${args.connections} connections over 3 nodes, ${args.duration}s after ${args.warmup}s warm-up`
const machine = clusterMachineNote(3, 'every row written on all 3 replicas', 'per etc/scratchbird.yaml or SB_BENCH_DURABILITY')
printResult({
  name: 'anti_entropy_cpu_share',
  value: share,
  unit: '%',
  baseline: 2,
  note: `highest node; per node AE CPU ${on.aePercent.map(p => p.toFixed(4)).join('/')} % of a core (${on.series.join('/')} shard series) over node CPU ${on.nodeCores.map(c => c.toFixed(3)).join('/')} cores = ${shares.map(s => s.toFixed(4)).join('/')} %; ` +
    `rounds completed per node ${on.rounds.join('/')}; anti_entropy.interval_ms 1000; baseline = the seeds' 2 % ceiling; ${settings}`
})
printResult({ name: 'anti_entropy_write_on_vs_off', value: on.res.rate, unit: 'rows/s', baseline: off.res.rate, note: `on: ${describe(on.res)}; ${describeNodes(on.res)}; off: ${describe(off.res)}; ${describeNodes(off.res)}; ${machine}` })
printResult({ name: 'anti_entropy_rows_per_cpu_second', value: perCpuSecond(on.res), unit: 'rows/cpu-s', baseline: perCpuSecond(off.res), note: `node processes' CPU (all threads, /proc) per row: on ${(1000 / perCpuSecond(on.res)).toFixed(2)} ms, off ${(1000 / perCpuSecond(off.res)).toFixed(2)} ms; ${settings}` })
if (on.series.some(s => s === 0)) {
  console.error('FAILED anti_entropy: a node exported no scratchbird_anti_entropy_cpu_seconds_total series')
  process.exitCode = 1
}
