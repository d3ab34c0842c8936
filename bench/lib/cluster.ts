// Shared set-up of the cluster benchmarks (issue 6 item 8): N ScratchBird nodes from the esbuild
// bundle (dist/bundle/main.cjs, as startBundleNode runs one; bench/run.mjs builds it), each with a
// generated YAML config and data dir in one temp dir, talking to each other directly (no fault
// proxies), and autocannon load spread over several nodes at once with merged latencies.
import autocannon from 'autocannon'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { cpuSeconds, ROOT, spawnListening, sql, type LoadResult, type Spawned, type Target } from './http'

/** The secret every benchmark node presents on cluster RPC (tests use the same kind of value). */
const BENCH_SECRET = 'scratchbird-bench-cluster-secret' // 32 characters

/** node.durability of etc/scratchbird.yaml (sync), or SB_BENCH_DURABILITY=none|sync. */
export function benchDurability (): 'sync' | 'none' {
  const env = process.env.SB_BENCH_DURABILITY
  if (env !== undefined && env !== '') {
    if (env !== 'sync' && env !== 'none') throw new Error(`SB_BENCH_DURABILITY must be sync or none, got ${env}`)
    return env
  }
  const etc = parse(readFileSync(join(ROOT, 'etc/scratchbird.yaml'), 'utf8')) as { node?: { durability?: unknown } }
  const d = etc.node?.durability
  if (d !== 'sync' && d !== 'none') throw new Error(`etc/scratchbird.yaml: unexpected node.durability ${String(d)}`)
  return d
}

export interface ClusterNode extends Target {
  id: number
  /** host:port of its Prometheus metrics. */
  metricsListen: string
}

export interface BenchCluster {
  nodes: ClusterNode[]
  durability: 'sync' | 'none'
  /** Each node's data directory, by id. */
  dataDir (id: number): string
  /**
   * Starts node `id`, one of the `join` nodes left out at the start: its cluster.nodes lists every
   * node, the members' list only themselves (the seeds' "Add/Remove Nodes": the members learn it
   * by gossip). Resolves once it logged `ready`; admission and the moves follow on their own.
   */
  join (id: number): Promise<ClusterNode>
  /** SIGTERM to every node (SIGKILL after 20 s), then the temp dir is removed. Idempotent. */
  stop (): Promise<void>
}

/** `n` distinct free TCP ports on 127.0.0.1 (bound at once, then released: a small race). */
async function freePorts (n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer()
      servers.push(s)
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', () => resolve()) })
    }
    return servers.map(s => (s.address() as AddressInfo).port)
  } finally {
    await Promise.all(servers.map(s => new Promise<void>(resolve => s.close(() => resolve()))))
  }
}

/** Starts one node from the bundle; resolves once it logged `ready`. */
function startNode (configPath: string): Promise<Spawned> {
  // SB_BENCH_NODE_ARGS: extra node flags for every cluster node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.SB_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(a => a !== '')
  // N nodes start at once on 2 cores: allow longer than a single node.
  return spawnListening([...extra, join(ROOT, 'dist/bundle/main.cjs'), '--config', configPath], '"ready', { timeoutMs: 60_000 })
}

/**
 * A cluster of `size` nodes (ids 1..size) on 127.0.0.1 with random free ports: gossip every
 * 200 ms, heartbeat timeout 3000 ms, one shard worker per node (the machine has 2 cores for all
 * of them), node.durability per benchDurability(), `extra` merged over each config section. Resolves once SHOW
 * CLUSTER MEMBERS on every node shows every member `normal`. `size` 1 is a one-member cluster (the
 * single-node baseline).
 */
export async function startBenchCluster (size: number, extra: Record<string, Record<string, unknown>> = {}, opts: { join?: number } = {}): Promise<BenchCluster> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`cluster size must be a positive integer, got ${size}`)
  const joiners = opts.join ?? 0
  if (!Number.isInteger(joiners) || joiners < 0 || joiners >= size) throw new RangeError(`join must be 0..${size - 1}, got ${joiners}`)
  /** The nodes that form the cluster at first; the rest join later (BenchCluster.join). */
  const members = size - joiners
  const durability = benchDurability()
  const root = mkdtempSync(join(tmpdir(), 'sb-bench-cluster-'))
  const ports = await freePorts(2 * size)
  const ids = Array.from({ length: size }, (_, k) => k + 1)
  const listenOf = (id: number): string => `127.0.0.1:${ports[2 * (id - 1)]!}`
  const procs: Spawned[] = []
  const nodes: ClusterNode[] = []
  let stopped: Promise<void> | undefined
  const stopAll = (): Promise<void> => {
    stopped ??= (async () => {
      await Promise.all(procs.map(p => p.stop()))
      rmSync(root, { recursive: true, force: true, maxRetries: 3 })
    })()
    return stopped
  }
  const configPath = (id: number): string => join(root, `n${id}`, 'scratchbird.yaml')
  const start = async (id: number): Promise<ClusterNode> => {
    const p = await startNode(configPath(id))
    procs.push(p)
    if (p.listen !== listenOf(id)) throw new Error(`node ${id} listens on ${p.listen}, configured ${listenOf(id)}`)
    const n = { id, listen: p.listen, pid: p.pid, stop: stopAll, metricsListen: `127.0.0.1:${ports[2 * (id - 1) + 1]!}` }
    nodes.push(n)
    nodes.sort((a, b) => a.id - b.id)
    return n
  }
  // A benchmark that throws still takes its nodes down with it.
  const onExit = (): void => { for (const p of procs) p.kill() }
  process.once('exit', onExit)
  try {
    for (const id of ids) {
      const dir = join(root, `n${id}`)
      mkdirSync(dir)
      const config = {
        // pg_listen off: the load is HTTP, and 5432 may be taken (by PostgreSQL, or another run).
        node: { id, listen: listenOf(id), metrics_listen: `127.0.0.1:${ports[2 * (id - 1) + 1]!}`, data_dir: join(dir, 'data'), datacenter: 'dc1', durability, pg_listen: 'off' },
        storage: { workers: 1 },
        cluster: { name: 'sb-bench', nodes: ids.filter(j => id > members || j <= members).map(j => ({ id: j, address: listenOf(j), datacenter: 'dc1' })) },
        gossip: { interval_ms: 200, heartbeat_timeout_ms: 3000 },
        security: { cluster_secret: BENCH_SECRET },
        logging: { console: 'json' }
      } as Record<string, unknown>
      // `extra`: more settings per section (e.g. anti_entropy), merged over the generated ones.
      for (const [section, values] of Object.entries(extra)) config[section] = { ...(config[section] as Record<string, unknown> | undefined), ...values }
      writeFileSync(configPath(id), `# Generated by bench/lib/cluster.ts\n${stringify(config)}`)
    }
    const started = await Promise.allSettled(ids.filter(id => id <= members).map(async id => await start(id)))
    const failed = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length > 0) throw new Error(failed.map(r => (r.reason as Error).message).join('\n\n'))
    for (const n of nodes) await waitAllNormal(n, members)
  } catch (e) {
    await stopAll()
    process.off('exit', onExit)
    throw e
  }
  return {
    nodes,
    durability,
    dataDir: (id) => join(root, `n${id}`, 'data'),
    join: async (id) => {
      if (id <= members || id > size || nodes.some(n => n.id === id)) throw new RangeError(`node ${id} is not one of the nodes left to join`)
      return await start(id)
    },
    async stop () { await stopAll(); process.off('exit', onExit) }
  }
}

/** Polls SHOW CLUSTER MEMBERS on `n` until it lists `size` members, all `normal` (30 s at most). */
async function waitAllNormal (n: ClusterNode, size: number): Promise<void> {
  const deadline = performance.now() + 30_000
  let last = ''
  for (;;) {
    try {
      const rows = (await sql(n, 'SHOW CLUSTER MEMBERS')).rows
      last = JSON.stringify(rows)
      if (rows.length === size && rows.every(r => r[3] === 'normal')) return
    } catch (e) { last = (e as Error).message }
    if (performance.now() > deadline) throw new Error(`node ${n.id} does not see all ${size} members normal after 30 s: ${last}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Busy fraction of the whole machine (all cores) between two /proc/stat samples. */
function machineTicks (): { busy: number, total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = cpu.reduce((a, b) => a + b, 0)
  const idle = cpu[3]! + (cpu[4] ?? 0) // idle + iowait
  return { busy: total - idle, total }
}

/** autocannon's result of one run (the declarations in autocannon.d.ts are not exported by name). */
type AutocannonResult = Parameters<Parameters<typeof autocannon>[1]>[1]

export interface MultiLoadResult extends LoadResult {
  /** Per target: 2xx answers per second and CPU cores its process used. */
  perNode: Array<{ id: number, rate: number, cores: number, connections: number }>
  /** Cores the whole machine was busy on average (everything running here, not only us). */
  machineCores: number
  warmup: MultiLoadResult | null
}

export interface MultiLoadOptions { duration: number, warmup: number, connections: number }

/** Splits `total` connections over `k` targets as evenly as possible (at least one each). */
export function splitConnections (total: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.max(1, Math.floor(total / k) + (i < total % k ? 1 : 0)))
}

function onceMany (targets: ClusterNode[], opts: { duration: number, connections: number }, body: (node: ClusterNode) => string): Promise<MultiLoadResult> {
  let lat = new Float64Array(1 << 16)
  let n = 0
  const conns = splitConnections(opts.connections, targets.length)
  const cpu0 = targets.map(t => cpuSeconds(t.pid))
  const main0 = targets.map(t => cpuSeconds(t.pid, t.pid))
  const client0 = process.cpuUsage()
  const m0 = machineTicks()
  const runs = targets.map((t, k) => new Promise<AutocannonResult>((resolve, reject) => {
    const tracker = autocannon({
      url: `http://${t.listen}`,
      connections: conns[k]!,
      pipelining: 1,
      duration: opts.duration,
      timeout: 10,
      requests: [{
        method: 'POST',
        path: '/v1/sql',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: body(t) })
      }]
    }, (err, r) => { if (err) reject(err); else resolve(r) })
    tracker.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status < 200 || status >= 300) return
      if (n === lat.length) { const grown = new Float64Array(n * 2); grown.set(lat); lat = grown }
      lat[n++] = ms
    })
  }))
  return Promise.all(runs).then(results => {
    const client = process.cpuUsage(client0)
    const m1 = machineTicks()
    const seconds = Math.max(...results.map(r => r.duration))
    const cores = targets.map((t, k) => (cpuSeconds(t.pid) - cpu0[k]!) / seconds)
    const mains = targets.map((t, k) => (cpuSeconds(t.pid, t.pid) - main0[k]!) / seconds)
    const sorted = lat.subarray(0, n).sort()
    const pct = (p: number): number => n === 0 ? NaN : sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]!
    const statusCodes: Record<string, number> = {}
    for (const r of results) for (const [code, s] of Object.entries(r.statusCodeStats)) statusCodes[code] = (statusCodes[code] ?? 0) + s.count
    const sum = (f: (r: AutocannonResult) => number): number => results.reduce((a, r) => a + f(r), 0)
    const ok = sum(r => r['2xx'])
    return {
      ok,
      non2xx: sum(r => r.non2xx),
      errors: sum(r => r.errors),
      timeouts: sum(r => r.timeouts),
      statusCodes,
      seconds,
      rate: ok / seconds,
      p50: pct(0.5),
      p99: pct(0.99),
      serverCores: cores.reduce((a, b) => a + b, 0),
      serverMainCores: mains.reduce((a, b) => a + b, 0),
      clientCores: (client.user + client.system) / 1e6 / seconds,
      perNode: targets.map((t, k) => ({ id: t.id, rate: results[k]!['2xx'] / results[k]!.duration, cores: cores[k]!, connections: conns[k]! })),
      machineCores: (m1.busy - m0.busy) / (m1.total - m0.total) * availableParallelism(),
      warmup: null
    }
  })
}

/**
 * Load on every target at once: one autocannon instance per target (all in this process), the
 * `connections` split evenly over them, the same duration; a discarded warm-up run first. Rates
 * and CPU are summed over the targets, latency percentiles come from all answers together.
 */
export async function loadMany (targets: ClusterNode[], opts: MultiLoadOptions, body: (node: ClusterNode) => string): Promise<MultiLoadResult> {
  const warmup = opts.warmup > 0 ? await onceMany(targets, { ...opts, duration: opts.warmup }, body) : null
  return { ...(await onceMany(targets, opts, body)), warmup }
}

/** Per-node rates and CPU, and what the whole machine did meanwhile. */
export function describeNodes (r: MultiLoadResult): string {
  const per = r.perNode.map(p => `n${p.id} ${Math.round(p.rate)}/s ${p.cores.toFixed(2)} cores (${p.connections} conn)`).join(', ')
  const cpuMs = r.rate > 0 ? (r.serverCores / r.rate * 1000).toFixed(2) : 'NaN'
  return `per node: ${per}; node CPU ${cpuMs} ms per request (all nodes); machine busy ${r.machineCores.toFixed(2)} of ${availableParallelism()} cores`
}

/** CPU cores the nodes use together with no client load (gossip, hint delivery, timers), over `ms`. */
export async function idleCores (nodes: ClusterNode[], ms = 2000): Promise<number> {
  const t0 = performance.now()
  const c0 = nodes.map(n => cpuSeconds(n.pid))
  await new Promise(resolve => setTimeout(resolve, ms))
  const seconds = (performance.now() - t0) / 1000
  return nodes.reduce((a, n, k) => a + (cpuSeconds(n.pid) - c0[k]!) / seconds, 0)
}

/** What the 2-core machine limits when N nodes and the load generator share it. */
export function clusterMachineNote (nodes: number, work: string, durability: string): string {
  return `${availableParallelism()} cores shared by ${nodes} node processes (main thread + 1 shard worker each; ${work}) and autocannon (this process), plus whatever else runs here (1-min load average ${loadavg()[0]!.toFixed(2)}): ` +
    `with every process on the same cores the cluster figure measures the CPU cost of replication (node CPU per request above), not the scale-out of nodes on separate machines, and latency under load is mostly queueing for the cores; durability ${durability}`
}
