// Quorum point reads (R=2) of a preloaded leaderless_quorum table (N=3, W=2, R=2) through all
// three nodes of a local cluster at once (issue 6 item 8): SELECT … WHERE k = $1, each request a
// different key in a scattered order, three autocannon instances together (one per node, the
// connections split evenly). Reads/s, p50 and p99 (seed: p99 < 20 ms). Baseline, in the same run:
// the same reads (same total connections) on ONE node, a one-member cluster whose table is
// leaderless_quorum with replication_factor 1 (W=1, R=1). Any non-2xx answer fails the run, and
// a sample of answers is checked for the right row afterwards on every node. A second, light run
// (3 connections in all: one per cluster node) shows the latency without queueing for the cores.
import { printResult } from './lib/result'
import { benchArgs, describe, requireClean, sql } from './lib/http'
import { clusterMachineNote, describeNodes, idleCores, loadMany, startBenchCluster, type BenchCluster, type MultiLoadResult } from './lib/cluster'

const args = benchArgs({ connections: 15 })
const ROWS = Math.max(1, Math.floor(args.rows))
const PER_INSERT = 500
const SAMPLE = 300
const SEED_P99_MS = 20
const LIGHT_CONNECTIONS = 3
const LIGHT_SECONDS = Math.max(1, Math.round(args.duration / 2))
const SELECT = 'SELECT k, v FROM kv WHERE k = $1'
const keyOf = (i: number): string => `key_${i}`
const valueOf = (i: number): string => `value-${i}-${'x'.repeat(48)}`
const table = (n: number, w: number, r: number): string =>
  'CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) ' +
  `WITH (replication_mode = 'leaderless_quorum', replication_factor = ${n}, write_quorum = ${w}, read_quorum = ${r}, uuid_type = 'v8_hlc')`

// Visits the rows in a scattered order (stride coprime with most row counts), every key present.
const STRIDE = 7919
let next = 0
const body = (): string => JSON.stringify({ sql: SELECT, params: [keyOf((next++ * STRIDE) % ROWS)] })

async function run (size: number, n: number, w: number, r: number): Promise<{ res: MultiLoadResult, light: MultiLoadResult, idle: number, preloadS: number, checked: number, durability: string }> {
  let cluster: BenchCluster | undefined
  try {
    cluster = await startBenchCluster(size)
    const nodes = cluster.nodes
    await sql(nodes[0]!, table(n, w, r))
    const t0 = performance.now()
    for (let from = 0, k = 0; from < ROWS; from += PER_INSERT, k++) {
      const count = Math.min(PER_INSERT, ROWS - from)
      const values: string[] = []
      const params: unknown[] = []
      for (let i = from; i < from + count; i++) {
        values.push(`($${params.length + 1}, $${params.length + 2})`)
        params.push(keyOf(i), valueOf(i))
      }
      // Preload batches go through every node in turn, as the reads will.
      const res = await sql(nodes[k % nodes.length]!, `INSERT INTO kv (k, v) VALUES ${values.join(', ')}`, params)
      if (res.rowCount !== count) throw new Error(`preload: inserted ${res.rowCount} of ${count} rows`)
    }
    const preloadS = (performance.now() - t0) / 1000
    const idle = await idleCores(nodes)
    const res = await loadMany(nodes, args, body)
    const light = await loadMany(nodes, { duration: LIGHT_SECONDS, warmup: 0, connections: LIGHT_CONNECTIONS }, body)
    // The answers were not inspected under load (that would slow the client); check a sample now,
    // spread over the nodes.
    let checked = 0
    for (let s = 0; s < SAMPLE; s++) {
      const i = (s * STRIDE * 31 + 17) % ROWS
      const a = await sql(nodes[s % nodes.length]!, SELECT, [keyOf(i)])
      if (a.rowCount !== 1 || a.rows[0]![0] !== keyOf(i) || a.rows[0]![1] !== valueOf(i)) {
        throw new Error(`node ${nodes[s % nodes.length]!.id}: point read of ${keyOf(i)} answered ${JSON.stringify(a.rows)}`)
      }
      checked++
    }
    return { res, light, idle, preloadS, checked, durability: cluster.durability }
  } finally {
    await cluster?.stop()
  }
}

const base = await run(1, 1, 1, 1)
const clus = await run(3, 3, 2, 2)

const c = clus.res
const verdict = (p99: number): string => p99 < SEED_P99_MS ? 'met' : `MISSED (${p99.toFixed(1)} ms)`
const seed = `seed p99 < ${SEED_P99_MS} ms: ${verdict(c.p99)} at ${args.connections} connections, ${verdict(clus.light.p99)} at ${LIGHT_CONNECTIONS} (light run)`
const settings = `${args.connections} connections in all (split over the nodes), pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
const lightSettings = `${LIGHT_CONNECTIONS} connections in all (one per cluster node; all on the one baseline node), pipelining 1, ${LIGHT_SECONDS}s right after the main run`
const note = `${seed}; cluster N=3 W=2 R=2 via 3 nodes at once: ${describe(c)}; ${describeNodes(c)}; light run: ${describe(clus.light)}; ` +
  `${ROWS} rows preloaded in ${clus.preloadS.toFixed(1)}s, ${clus.checked} sampled answers checked; idle nodes used ${clus.idle.toFixed(2)} cores before the load; ` +
  `baseline 1 node, replication_factor 1: ${describe(base.res)}; ${describeNodes(base.res)}; light run: ${describe(base.light)}; preload ${base.preloadS.toFixed(1)}s, ${base.checked} sampled answers checked; idle ${base.idle.toFixed(2)} cores; ` +
  `${settings}; ${clusterMachineNote(3, 'every read answered by 2 of the 3 replicas', clus.durability)}`
printResult({ name: 'cluster_read', value: c.rate, unit: 'reads/s', baseline: base.res.rate, note })
printResult({ name: 'cluster_read_p50', value: c.p50, unit: 'ms', baseline: base.res.p50, note: `p50 latency, R=2 of N=3 through 3 nodes vs one node with replication_factor 1 (ratio = how many times slower); ${settings}` })
printResult({ name: 'cluster_read_p99', value: c.p99, unit: 'ms', baseline: base.res.p99, note: `${seed}; p99 latency, R=2 of N=3 through 3 nodes vs one node with replication_factor 1 (ratio = how many times slower); ${settings}` })
printResult({ name: 'cluster_read_light_p99', value: clus.light.p99, unit: 'ms', baseline: base.light.p99, note: `${seed}; p99 latency of the light run (p50 ${clus.light.p50.toFixed(2)} ms, baseline ${base.light.p50.toFixed(2)} ms; ${Math.round(clus.light.rate)} vs ${Math.round(base.light.rate)} reads/s); ${lightSettings}` })
requireClean('cluster_read', c, clus.light, base.res, base.light)
