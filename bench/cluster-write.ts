// Single-row INSERTs into a leaderless_quorum table (N=3, W=2, UUIDv8-HLC versions) through all
// three nodes of a local cluster at once (issue 6 item 8): three autocannon instances run together,
// one per node, the connections split evenly over them, every request a new row, the partition
// key cycling over 1000 users so each node coordinates writes to every shard. Rows/s and p99.
// Baseline, in the same run: the same load (same total connections, same bodies) on ONE node, a
// one-member cluster whose table is leaderless_quorum with replication_factor 1 (W=1, R=1).
import { printResult } from './lib/result'
import { benchArgs, describe, requireClean, sql } from './lib/http'
import { clusterMachineNote, describeNodes, idleCores, loadMany, startBenchCluster, type BenchCluster, type ClusterNode, type MultiLoadResult } from './lib/cluster'

const args = benchArgs({ connections: 15 })
const INSERT = 'INSERT INTO events (user_id, seq, payload) VALUES ($1, $2, $3)'
const PAYLOAD = 'x'.repeat(64)
const table = (n: number, w: number, r: number): string =>
  'CREATE TABLE events (user_id TEXT, seq BIGINT, payload TEXT, PRIMARY KEY (user_id, seq)) PARTITION BY user_id ' +
  `WITH (replication_mode = 'leaderless_quorum', replication_factor = ${n}, write_quorum = ${w}, read_quorum = ${r}, uuid_type = 'v8_hlc')`
let next = 0
// seq is unique across both runs, so every request inserts a new (user_id, seq).
const body = (): string => { const i = next++; return JSON.stringify({ sql: INSERT, params: [`user_${i % 1000}`, i, PAYLOAD] }) }

/** Rows every node's count(*) sees (a count reads one live replica), polled until ≥ acked or 15 s. */
async function storedCounts (nodes: ClusterNode[], acked: number): Promise<number[]> {
  const deadline = performance.now() + 15_000
  for (;;) {
    const counts = await Promise.all(nodes.map(async n => Number((await sql(n, 'SELECT count(*) FROM events')).rows[0]![0])))
    if (counts.every(c => c >= acked) || performance.now() > deadline) return counts
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

async function run (size: number, n: number, w: number, r: number): Promise<{ res: MultiLoadResult, idle: number, counts: number[], acked: number, durability: string }> {
  let cluster: BenchCluster | undefined
  try {
    cluster = await startBenchCluster(size)
    await sql(cluster.nodes[0]!, table(n, w, r))
    const idle = await idleCores(cluster.nodes)
    const res = await loadMany(cluster.nodes, args, body)
    const acked = res.ok + (res.warmup?.ok ?? 0)
    const counts = await storedCounts(cluster.nodes, acked)
    return { res, idle, counts, acked, durability: cluster.durability }
  } finally {
    await cluster?.stop()
  }
}

const base = await run(1, 1, 1, 1)
const clus = await run(3, 3, 2, 2)

const settings = `${args.connections} connections in all (split over the nodes), pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
const note = `cluster N=3 W=2 via 3 nodes at once: ${describe(clus.res)}; ${describeNodes(clus.res)}; count(*) per node ${clus.counts.join('/')} (acknowledged ${clus.acked}); idle nodes used ${clus.idle.toFixed(2)} cores before the load; ` +
  `baseline 1 node, replication_factor 1: ${describe(base.res)}; ${describeNodes(base.res)}; count(*) ${base.counts.join('/')} (acknowledged ${base.acked}); idle ${base.idle.toFixed(2)} cores; ${settings}; ${clusterMachineNote(3, 'every row written on all 3 replicas', clus.durability)}`
printResult({ name: 'cluster_write', value: clus.res.rate, unit: 'rows/s', baseline: base.res.rate, note })
printResult({ name: 'cluster_write_p99', value: clus.res.p99, unit: 'ms', baseline: base.res.p99, note: `p99 latency, N=3 W=2 through 3 nodes vs one node with replication_factor 1 (ratio = how many times slower); ${settings}` })
requireClean('cluster_write', clus.res, base.res)
for (const [label, x] of [['cluster', clus], ['baseline', base]] as const) {
  if (x.counts.some(c => c < x.acked)) {
    console.error(`FAILED cluster_write (${label}): ${x.acked} INSERTs acknowledged but count(*) per node is ${x.counts.join('/')}`)
    process.exitCode = 1
  }
}
