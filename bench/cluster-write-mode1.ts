// Single-row INSERTs into a primary_replica (Mode 1) table with replication_factor 3 and
// replication.sync_replicas 'majority' through all three nodes of a local cluster at once (issue
// 14, "Tests and figures"): each commit is answered once a majority of its shard's replicas hold
// it. Rows/s and p99, and the replication lag p99 under that load: scratchbird_replication_lag_ms
// (on each shard's primary, per replica: how long ago the oldest entry the replica lacks landed)
// sampled every 100 ms on every node during the measured window.
// Baselines, in the same run, with the same load (same connections, same bodies, three nodes):
// the same table with replication_factor 1 (one copy per shard, no replication), and a
// leaderless_quorum table with N=3 W=2 R=2 (bench/cluster-write.ts's shape).
import { printResult } from './lib/result'
import { benchArgs, describe, requireClean, sql } from './lib/http'
import { clusterMachineNote, describeNodes, loadMany, startBenchCluster, type BenchCluster, type ClusterNode, type MultiLoadResult } from './lib/cluster'

const args = benchArgs({ connections: 15 })
const INSERT = 'INSERT INTO events (user_id, seq, payload) VALUES ($1, $2, $3)'
const PAYLOAD = 'x'.repeat(64)
const SHAPE = 'CREATE TABLE events (user_id TEXT, seq BIGINT, payload TEXT, PRIMARY KEY (user_id, seq)) PARTITION BY user_id WITH '
let next = 0
// seq is unique across the runs, so every request inserts a new (user_id, seq).
const body = (): string => { const i = next++; return JSON.stringify({ sql: INSERT, params: [`user_${i % 1000}`, i, PAYLOAD] }) }

/** Every `scratchbird_replication_lag_ms` sample of every node, every 100 ms until `stop.on` is false. */
async function sampleLag (nodes: ClusterNode[], stop: { on: boolean }): Promise<number[]> {
  const samples: number[] = []
  const re = /^scratchbird_replication_lag_ms\{[^}]*\} (\S+)$/gm
  while (stop.on) {
    const texts = await Promise.all(nodes.map(async n => await fetch(`http://${n.metricsListen}/metrics`).then(async r => await r.text(), () => '')))
    for (const t of texts) for (const m of t.matchAll(re)) samples.push(Number(m[1]))
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return samples
}

/** count(*) of events, retried for up to 30 s while a shard has no primary (a saturated machine can delay heartbeats past the election timeout). */
async function countRows (node: ClusterNode): Promise<number> {
  const deadline = performance.now() + 30_000
  for (;;) {
    try {
      return Number((await sql(node, 'SELECT count(*) FROM events')).rows[0]![0])
    } catch (e) {
      if (performance.now() > deadline || !/SB_NOT_PRIMARY|SB_SHARD_UNAVAILABLE/.test((e as Error).message)) throw e
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }
}

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

interface Run { res: MultiLoadResult, count: number, acked: number, lag: number[], durability: string }

async function run (options: string): Promise<Run> {
  let cluster: BenchCluster | undefined
  try {
    cluster = await startBenchCluster(3, { replication: { sync_replicas: 'majority' } })
    await sql(cluster.nodes[0]!, SHAPE + options)
    const stop = { on: true }
    const lag = sampleLag(cluster.nodes, stop)
    let res: MultiLoadResult
    try {
      res = await loadMany(cluster.nodes, args, body)
    } finally {
      stop.on = false
    }
    const acked = res.ok + (res.warmup?.ok ?? 0)
    const count = await countRows(cluster.nodes[0]!)
    return { res, count, acked, lag: await lag, durability: cluster.durability }
  } finally {
    await cluster?.stop()
  }
}

const mode1 = await run('(replication_factor = 3)')
const single = await run('(replication_factor = 1)')
const leaderless = await run("(replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2, uuid_type = 'v8_hlc')")

const settings = `${args.connections} connections in all (split over the 3 nodes), pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
const line = (label: string, r: Run): string => `${label}: ${describe(r.res)}; ${describeNodes(r.res)}; count(*) ${r.count} (acknowledged ${r.acked})`
const lagP99 = percentile(mode1.lag, 0.99)
const note = `${line('Mode 1 N=3 majority', mode1)}; baseline ${line('primary_replica N=1', single)}; ${line('leaderless N=3 W=2', leaderless)}; ${settings}; ${clusterMachineNote(3, 'every row written on 3 replicas (N=1: one)', mode1.durability)}`
printResult({ name: 'cluster_write_mode1', value: mode1.res.rate, unit: 'rows/s', baseline: single.res.rate, note })
printResult({ name: 'cluster_write_mode1_vs_leaderless', value: mode1.res.rate, unit: 'rows/s', baseline: leaderless.res.rate, note: `Mode 1 N=3 majority vs leaderless N=3 W=2, same load; ${settings}` })
printResult({ name: 'cluster_write_mode1_p99', value: mode1.res.p99, unit: 'ms', baseline: single.res.p99, note: `p99 latency, Mode 1 N=3 majority vs N=1 (ratio = how many times slower); ${settings}` })
printResult({
  name: 'replication_lag_p99',
  value: lagP99,
  unit: 'ms',
  baseline: 100,
  note: `p99 of ${mode1.lag.length} samples of scratchbird_replication_lag_ms (every 100 ms, every primary's replicas) during the Mode 1 load; baseline = the seeds' goal of 100 ms in one datacenter (ratio ≤ 1 meets it); max ${Math.max(0, ...mode1.lag)} ms, median ${percentile(mode1.lag, 0.5)} ms`
})
requireClean('cluster_write_mode1', mode1.res, single.res, leaderless.res)
for (const [label, x] of [['mode1', mode1], ['N=1', single], ['leaderless', leaderless]] as const) {
  if (x.count < x.acked) {
    console.error(`FAILED cluster_write_mode1 (${label}): ${x.acked} INSERTs acknowledged but count(*) is ${x.count}`)
    process.exitCode = 1
  }
}
