import type { ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { stringify } from 'yaml'
import type { ConfigInput } from '../../src/core/config/schema'
import { sourceCommand, startNode, tempDir, type RunningNode } from './node-process'
import { TcpProxy } from './tcp-proxy'

// Real multi-node clusters for tests (DESIGN §11): N node processes started from source on
// 127.0.0.1, each with its own YAML config and data directory, and one TcpProxy per DIRECTED pair
// of nodes. Node i's config lists every other node j at the address of proxy i→j, so everything
// node i sends to j (and j's answers on those connections) crosses that proxy: cutting it breaks
// i→j, cutting i→j and j→i partitions the pair, cutting all links of i isolates it.
// Clients (cluster.sql, cluster.http) talk to each node directly, not through the proxies.
//
// Node ids are 1..N. Listen ports are picked by binding 127.0.0.1:0 and closing (the OS may hand
// the port to someone else before the node binds it: a node that fails with EADDRINUSE is given
// new ports and started again, and the proxies into it are retargeted).
//
// Caveat for cluster code: faults only apply if nodes reach peers at the addresses in
// cluster.nodes; a node that learns and dials a peer's own listen address (from gossip) bypasses
// the proxies.

export const TEST_CLUSTER_SECRET = 'scratchbird-test-cluster-secret!' // 32 characters

export interface GossipSettings { interval_ms?: number, fanout?: number, heartbeat_timeout_ms?: number }

export interface ClusterOptions {
  /** Number of nodes (ids 1..nodes). Default 3. */
  nodes?: number
  /** cluster.name. Default "sb-test". */
  name?: string
  /** security.cluster_secret. Default TEST_CLUSTER_SECRET. */
  secret?: string
  /** Merged over {interval_ms: 200, fanout: 2, heartbeat_timeout_ms: 3000}. */
  gossip?: GossipSettings
  /** storage.shards (must agree across the cluster). Default 16. */
  shards?: number
  /** storage.workers per node. Default 1 (these test machines have 2 cores for N nodes). */
  workers?: number
  /** Datacenter of each node (node.datacenter and its cluster.nodes entries). Default "dc1". */
  datacenter?: (nodeId: number) => string
  /** Deep-merged over each node's generated config (objects merge, arrays and values replace). */
  extraConfig?: (nodeId: number) => ConfigInput
  /** Extra environment of each node's process (e.g. SCRATCHBIRD_TEST_CLOCK_OFFSET_MS). */
  env?: (nodeId: number) => Record<string, string>
  /**
   * The bundle a node's next start runs (a main.cjs of `node build.mjs --outdir`), asked at each
   * start, so a test can switch a node to another build between restarts; undefined: from source.
   */
  program?: (nodeId: number) => string | undefined
  /** Start the nodes (in parallel) before returning. Default true; false: call cluster.start(i). */
  start?: boolean
  /** How long one node may take to log `ready`. Default 60 s (N tsx starts share 2 cores). */
  startTimeoutMs?: number
  /**
   * Give each node a cluster RPC listener of its own (node.rpc_listen): cluster.nodes and the
   * proxies then lead to the RPC addresses, the client listeners serve clients only. Default false.
   */
  separateRpc?: boolean
}

export interface ClusterNode {
  readonly id: number
  /** "127.0.0.1:PORT" the node listens on (stable across restarts unless its port was taken). */
  readonly listen: string
  readonly metricsListen: string
  /** "127.0.0.1:PORT" of the node's own RPC listener (separateRpc), null when the RPC shares `listen`. */
  readonly rpcListen: string | null
  /** The current process's PostgreSQL-protocol address (a free port per start), '' when not running. */
  readonly pg: string
  readonly dir: string
  readonly dataDir: string
  readonly configPath: string
  /** The config object last written to configPath. */
  readonly config: ConfigInput
  /** The current process, if running. */
  readonly proc: ChildProcess | undefined
  readonly running: boolean
  /** Exit codes / signals of earlier processes of this node, oldest first. */
  readonly exits: readonly (number | string)[]
  url (path: string): string
  metricsUrl (path?: string): string
  /** stdout of every process of this node so far (runs separated by a marker line). */
  stdout (): string
  stderr (): string
}

export interface HttpResult<B = any> { status: number, body: B, headers: Headers }
export interface SqlResult<B = any> extends HttpResult<B> { session?: string }

export interface WaitOptions { timeoutMs?: number, intervalMs?: number, what?: string }

export type FaultMode = 'cut' | 'blackhole'

const RUN_SEPARATOR = (n: number) => `\n----- scratchbird restart #${n} -----\n`

class NodeHandle implements ClusterNode {
  listen: string
  metricsListen: string
  rpcListen: string | null = null
  config: ConfigInput = {}
  /** Nodes left out of this node's cluster.nodes (Cluster.leaveOut), kept when its config is rewritten. */
  readonly leftOut = new Set<number>()
  run: RunningNode | undefined
  readonly runs: RunningNode[] = []
  readonly exits: (number | string)[] = []
  readonly dataDir: string
  readonly configPath: string

  constructor (readonly id: number, readonly dir: string, listenPort: number, metricsPort: number) {
    this.listen = `127.0.0.1:${listenPort}`
    this.metricsListen = `127.0.0.1:${metricsPort}`
    this.dataDir = join(dir, 'data')
    this.configPath = join(dir, 'scratchbird.yaml')
  }

  get proc (): ChildProcess | undefined { return this.run?.proc }
  get running (): boolean { return this.run !== undefined }
  /** Where peers (and the proxies into this node) reach its cluster RPC. */
  get rpcAddress (): string { return this.rpcListen ?? this.listen }
  get pg (): string { return this.run?.pg ?? '' }
  url (path: string): string { return `http://${this.listen}${path}` }
  metricsUrl (path = '/metrics'): string { return `http://${this.metricsListen}${path}` }
  stdout (): string { return this.runs.map((r, i) => (i > 0 ? RUN_SEPARATOR(i) : '') + r.stdout()).join('') }
  stderr (): string { return this.runs.map((r, i) => (i > 0 ? RUN_SEPARATOR(i) : '') + r.stderr()).join('') }
}

// Children die with the test process even when a test forgets cluster.close() or vitest bails.
const liveProcs = new Set<ChildProcess>()
let exitHookInstalled = false
function track (proc: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => { for (const p of liveProcs) p.kill('SIGKILL') })
  }
  liveProcs.add(proc)
  proc.once('exit', () => liveProcs.delete(proc))
}

/**
 * `n` distinct free TCP ports on 127.0.0.1, held bound until `release()`: whoever binds port 0
 * meanwhile (the link proxies) cannot be handed one of them. After release the OS may still give
 * one away before its node binds it — a small race `Cluster.start` retries on EADDRINUSE.
 */
export async function reservePorts (n: number): Promise<{ ports: number[], release: () => Promise<void> }> {
  const servers: Server[] = []
  const release = (): Promise<void> =>
    Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined)
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer()
      servers.push(s)
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', () => resolve()) })
    }
  } catch (e) {
    await release()
    throw e
  }
  return { ports: servers.map((s) => (s.address() as AddressInfo).port), release }
}

/** `n` distinct free TCP ports on 127.0.0.1 (all bound at once, then released: a small race). */
export async function freePorts (n: number): Promise<number[]> {
  const { ports, release } = await reservePorts(n)
  await release()
  return ports
}

/**
 * Polls `fn` until it returns a truthy value (which is returned) or the timeout passes. Errors
 * thrown by `fn` count as "not yet"; the failure message names `what`, the last value and the
 * last error.
 */
export async function waitFor<T> (fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 15_000
  const intervalMs = opts.intervalMs ?? 100
  const started = performance.now()
  let last: unknown
  let lastError: unknown
  let attempts = 0
  for (;;) {
    attempts++
    try {
      last = await fn()
      lastError = undefined
      if (last) return last as NonNullable<T>
    } catch (e) { lastError = e }
    if (performance.now() - started >= timeoutMs) break
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  const detail = lastError !== undefined
    ? `last error: ${lastError instanceof Error ? lastError.stack ?? lastError.message : String(lastError)}`
    : `last result: ${preview(last)}`
  throw new Error(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${opts.what ?? 'a condition'}; ${detail}`)
}

function preview (v: unknown): string {
  try { return JSON.stringify(v)?.slice(0, 2000) ?? String(v) } catch { return String(v) }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Objects merge recursively; arrays and other values in `over` replace. */
export function deepMerge<T> (base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v
  return out as T
}

export class Cluster {
  private closed: Promise<void> | undefined

  private constructor (
    readonly root: string,
    private readonly handles: Map<number, NodeHandle>,
    private readonly proxies: Map<string, TcpProxy>,
    private readonly opts: Required<Omit<ClusterOptions, 'extraConfig' | 'gossip' | 'env' | 'program'>> & Pick<ClusterOptions, 'extraConfig' | 'env' | 'program'> & { gossip: GossipSettings }
  ) {}

  /** Writes the configs and starts the proxies (and, unless `start: false`, all nodes in parallel). */
  static async start (options: ClusterOptions = {}): Promise<Cluster> {
    const n = options.nodes ?? 3
    if (!Number.isInteger(n) || n < 1 || n > 16) throw new RangeError(`nodes must be 1..16, got ${n}`)
    const opts = {
      nodes: n,
      name: options.name ?? 'sb-test',
      secret: options.secret ?? TEST_CLUSTER_SECRET,
      gossip: { interval_ms: 200, fanout: 2, heartbeat_timeout_ms: 3000, ...options.gossip },
      shards: options.shards ?? 16,
      workers: options.workers ?? 1,
      datacenter: options.datacenter ?? (() => 'dc1'),
      extraConfig: options.extraConfig,
      env: options.env,
      program: options.program,
      start: options.start ?? true,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      separateRpc: options.separateRpc ?? false
    }
    const root = tempDir('sb-cluster-')
    const ids = Array.from({ length: n }, (_, k) => k + 1)
    const per = opts.separateRpc ? 3 : 2
    // Held bound while the proxies bind port 0, so no proxy takes a node's port (CI saw a proxy
    // handed node 2's listen port: its config then named one address twice).
    const { ports, release } = await reservePorts(per * n)
    const handles = new Map<number, NodeHandle>()
    for (const id of ids) {
      const dir = join(root, `n${id}`)
      mkdirSync(dir, { recursive: true })
      const h = new NodeHandle(id, dir, ports[per * (id - 1)]!, ports[per * (id - 1) + 1]!)
      if (opts.separateRpc) h.rpcListen = `127.0.0.1:${ports[per * (id - 1) + 2]!}`
      handles.set(id, h)
    }
    const proxies = new Map<string, TcpProxy>()
    const cluster = new Cluster(root, handles, proxies, opts)
    try {
      try {
        await Promise.all(ids.flatMap((i) => ids.filter((j) => j !== i).map(async (j) => {
          proxies.set(`${i}->${j}`, await TcpProxy.start(handles.get(j)!.rpcAddress, { name: `n${i}->n${j}` }))
        })))
      } finally {
        await release()
      }
      for (const h of handles.values()) cluster.writeConfig(h)
      if (opts.start) await cluster.startAll()
    } catch (e) {
      await cluster.close()
      throw e
    }
    return cluster
  }

  get size (): number { return this.handles.size }
  get ids (): number[] { return [...this.handles.keys()] }
  /** storage.shards of every node. */
  get shards (): number { return this.opts.shards }
  get nodes (): ClusterNode[] { return [...this.handles.values()] }

  node (id: number): ClusterNode { return this.handle(id) }

  /** The proxy carrying what node i sends to node j (and the answers on those connections). */
  link (i: number, j: number): TcpProxy {
    const p = this.proxies.get(`${i}->${j}`)
    if (!p) throw new Error(`no link n${i}->n${j} in a cluster of ${this.ids.join(', ')}`)
    return p
  }

  /** Every link, as [from, to, proxy]. */
  links (): [number, number, TcpProxy][] {
    return [...this.proxies.entries()].map(([k, p]) => { const [i, j] = k.split('->').map(Number); return [i!, j!, p] })
  }

  // ---- processes -------------------------------------------------------------------------------

  /** Starts every node that is not running, in parallel; fails listing each node that did not start. */
  async startAll (): Promise<void> {
    const results = await Promise.allSettled(this.nodes.filter((h) => !h.running).map((h) => this.start(h.id)))
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length > 0) throw new Error(failed.map((r) => (r.reason as Error).message).join('\n\n'))
  }

  /** Starts node i with its config and data dir and waits for its `ready` line. */
  async start (id: number): Promise<ClusterNode> {
    const h = this.handle(id)
    if (h.running) throw new Error(`node ${id} is already running`)
    if (this.closed) throw new Error('cluster is closed')
    for (let attempt = 1; ; attempt++) {
      const program = this.opts.program?.(id)
      const [cmd, args] = program === undefined ? sourceCommand(['--config', h.configPath]) : [process.execPath, [program, '--config', h.configPath]]
      try {
        const run = await startNode(cmd, args, { timeoutMs: this.opts.startTimeoutMs, env: this.opts.env?.(id) })
        track(run.proc)
        h.run = run
        h.runs.push(run)
        void run.exited.then((code) => {
          h.exits.push(code)
          if (h.run === run) h.run = undefined
        })
        if (run.listen !== h.listen) {
          await this.kill(id)
          throw new Error(`listens on ${run.listen}, configured ${h.listen}`)
        }
        return h
      } catch (e) {
        const msg = (e as Error).message
        if (attempt < 3 && /EADDRINUSE/.test(msg)) {
          await this.movePorts(h)
          continue
        }
        throw new Error(`node ${id} (${h.configPath}) failed to start: ${msg}`)
      }
    }
  }

  /** SIGKILL; resolves with the exit signal once the process is gone. No-op if not running. */
  async kill (id: number): Promise<number | string | undefined> {
    const h = this.handle(id)
    const run = h.run
    if (!run) return undefined
    run.proc.kill('SIGKILL')
    const code = await run.exited
    if (h.run === run) h.run = undefined
    return code
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code. No-op if not running. */
  async stop (id: number, timeoutMs = 20_000): Promise<number | string | undefined> {
    const h = this.handle(id)
    const run = h.run
    if (!run) return undefined
    run.proc.kill('SIGTERM')
    const timer = setTimeout(() => run.proc.kill('SIGKILL'), timeoutMs)
    try {
      const code = await run.exited
      if (h.run === run) h.run = undefined
      return code
    } finally { clearTimeout(timer) }
  }

  /** Stops node i if it runs (SIGTERM), then starts it again: same config, same data dir. */
  async restart (id: number): Promise<ClusterNode> {
    await this.stop(id)
    return await this.start(id)
  }

  // ---- faults ----------------------------------------------------------------------------------

  /** Cuts (or blackholes) every link into and out of node i. */
  isolate (id: number, mode: FaultMode = 'cut'): void {
    this.handle(id)
    for (const [i, j, p] of this.links()) if (i === id || j === id) fault(p, mode)
  }

  /** Restores every link into and out of node i; without an id, every link of the cluster. */
  heal (id?: number): void {
    if (id !== undefined) this.handle(id)
    for (const [i, j, p] of this.links()) if (id === undefined || i === id || j === id) p.restore()
  }

  /**
   * Cuts (or blackholes) every link between nodes of different groups, both ways. Nodes in no
   * group keep all their links. partition([1, 2], [3]): 3 is cut off from 1 and 2.
   */
  partition (groups: number[][], mode: FaultMode = 'cut'): void {
    const groupOf = new Map<number, number>()
    groups.forEach((g, k) => g.forEach((id) => { this.handle(id); groupOf.set(id, k) }))
    for (const [i, j, p] of this.links()) {
      const gi = groupOf.get(i)
      const gj = groupOf.get(j)
      if (gi !== undefined && gj !== undefined && gi !== gj) fault(p, mode)
    }
  }

  // ---- clients ---------------------------------------------------------------------------------

  /** An HTTP request straight to node i (not through a proxy); JSON bodies are parsed. */
  async http<B = any> (id: number, method: string, path: string, body?: unknown, opts: { headers?: Record<string, string>, timeoutMs?: number } = {}): Promise<HttpResult<B>> {
    const h = this.handle(id)
    const res = await fetch(h.url(path), {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000)
    })
    const text = await res.text()
    let parsed: unknown = text
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try { parsed = JSON.parse(text) } catch { /* leave the text */ }
    }
    return { status: res.status, body: parsed as B, headers: res.headers }
  }

  /** The rows of one statement on node i; throws with the answer when it is not 200. */
  async rows (id: number, sql: string, params?: unknown[]): Promise<unknown[][]> {
    const r = await this.sql(id, sql, params)
    if (r.status !== 200) throw new Error(`node ${id}: ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
    return r.body.rows as unknown[][]
  }

  /** Waits until each of `ids` (every node by default) sees every member normal in SHOW CLUSTER MEMBERS. */
  async waitAllNormal (ids: number[] = this.ids, timeoutMs = 20_000): Promise<void> {
    for (const id of ids) {
      await this.waitFor(async () => (await this.rows(id, 'SHOW CLUSTER MEMBERS')).every(m => m[3] === 'normal'), { what: `node ${id} to see everyone normal`, timeoutMs })
    }
  }

  /** POST /v1/sql on node i. `session` continues a session (x-scratchbird-session). */
  async sql<B = any> (id: number, sql: string, params?: unknown[], opts: { session?: string, timeoutMs?: number } = {}): Promise<SqlResult<B>> {
    const res = await this.http<B>(id, 'POST', '/v1/sql', params ? { sql, params } : { sql }, {
      headers: opts.session ? { 'x-scratchbird-session': opts.session } : {},
      timeoutMs: opts.timeoutMs
    })
    const session = res.headers.get('x-scratchbird-session') ?? undefined
    return session ? { ...res, session } : res
  }

  /** GET /v1/health on node i. */
  health<B = any> (id: number, timeoutMs?: number): Promise<HttpResult<B>> {
    return this.http<B>(id, 'GET', '/v1/health', undefined, { timeoutMs })
  }

  waitFor<T> (fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
    return waitFor(fn, opts)
  }

  // ---- teardown --------------------------------------------------------------------------------

  /** SIGKILLs every node, closes the proxies, removes the temp dirs (kept if KEEP_CLUSTER=1). Idempotent. */
  close (): Promise<void> {
    this.closed ??= (async () => {
      await Promise.all(this.ids.map((id) => this.kill(id)))
      await Promise.all([...this.proxies.values()].map((p) => p.close()))
      if (process.env.KEEP_CLUSTER === '1') {
        process.stderr.write(`KEEP_CLUSTER=1: cluster files kept in ${this.root}\n`)
      } else {
        rmSync(this.root, { recursive: true, force: true, maxRetries: 3 })
      }
    })()
    return this.closed
  }

  /** Node i's output, for failure messages: the last `lines` lines of stdout and stderr. */
  logs (id: number, lines = 40): string {
    const h = this.handle(id)
    const tail = (s: string) => s.split('\n').slice(-lines).join('\n')
    return `--- node ${id} stdout ---\n${tail(h.stdout())}\n--- node ${id} stderr ---\n${tail(h.stderr())}`
  }

  // ---- internals -------------------------------------------------------------------------------

  private handle (id: number): NodeHandle {
    const h = this.handles.get(id)
    if (!h) throw new Error(`no node ${id} in a cluster of ${this.ids.join(', ')}`)
    return h
  }

  private writeConfig (h: NodeHandle): void {
    const dc = this.opts.datacenter
    const base: ConfigInput = {
      node: { id: h.id, listen: h.listen, metrics_listen: h.metricsListen, data_dir: h.dataDir, datacenter: dc(h.id), ...(h.rpcListen !== null ? { rpc_listen: h.rpcListen } : {}) },
      storage: { shards: this.opts.shards, workers: this.opts.workers },
      cluster: {
        name: this.opts.name,
        nodes: this.ids.filter(j => !h.leftOut.has(j)).map((j) => ({ id: j, address: j === h.id ? h.rpcAddress : this.link(h.id, j).address, datacenter: dc(j) }))
      },
      gossip: this.opts.gossip,
      security: { cluster_secret: this.opts.secret },
      logging: { console: 'json' }
    }
    h.config = deepMerge(base, this.opts.extraConfig?.(h.id))
    writeFileSync(h.configPath, `# Generated by tests/helpers/cluster-harness.ts\n${stringify(h.config)}`)
  }

  /**
   * Node `id`'s cluster.nodes no longer lists `other` (a node that joins later, or one removed), its
   * config file rewritten now and every time it is written again (a port race's retry rewrites it:
   * editing the file alone would be undone there, and the start then refused as listing a non-member).
   */
  leaveOut (id: number, other: number): void {
    const h = this.handle(id)
    h.leftOut.add(other)
    this.writeConfig(h)
  }

  /** Node i lost its port race: new ports, proxies into it retargeted, its config rewritten. */
  private async movePorts (h: NodeHandle): Promise<void> {
    const [listen, metrics, rpc] = await freePorts(3)
    h.listen = `127.0.0.1:${listen}`
    h.metricsListen = `127.0.0.1:${metrics}`
    if (h.rpcListen !== null) h.rpcListen = `127.0.0.1:${rpc!}`
    for (const [, j, p] of this.links()) if (j === h.id) p.setTarget(h.rpcAddress, true)
    this.writeConfig(h)
  }
}

function fault (p: TcpProxy, mode: FaultMode): void {
  if (mode === 'cut') p.cut()
  else p.blackhole()
}

/** Starts an N-node cluster (default 3) and waits until every node logged `ready`. */
export function startCluster (options: ClusterOptions = {}): Promise<Cluster> {
  return Cluster.start(options)
}
