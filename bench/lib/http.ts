// Shared set-up of the HTTP benchmarks: a real node started from the esbuild bundle, the trivial
// node:http baseline endpoint in its own process, and autocannon runs with the same settings
// against both. Latency percentiles come from autocannon's per-response times (fractional ms)
// rather than its histogram, which keeps whole milliseconds only.
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const HERE = dirname(fileURLToPath(import.meta.url))
export const ROOT = join(HERE, '..', '..')

export interface HttpBenchArgs {
  /** Seconds measured per target. */
  duration: number
  /** Seconds of load before measuring (JIT, LevelDB caches), per target. Below ~5 s V8's optimising
   *  compiler still runs on background threads and steals CPU from the measured window. */
  warmup: number
  connections: number
  /** Rows preloaded (http-point-select). */
  rows: number
}

/** `npm run bench -- <name> [--duration 10] [--warmup 5] [--connections 16] [--rows 10000]` */
export function benchArgs (defaults: Partial<HttpBenchArgs> = {}): HttpBenchArgs {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      rows: { type: 'string' }
    }
  })
  const num = (name: keyof HttpBenchArgs, fallback: number): number => {
    const v = values[name] === undefined ? (defaults[name] ?? fallback) : Number(values[name])
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a non-negative number, got ${values[name]}`)
    return v
  }
  return { duration: num('duration', 10), warmup: num('warmup', 5), connections: num('connections', 16), rows: num('rows', 10_000) }
}

export interface Target {
  /** host:port */
  listen: string
  /** The whole start-up line (the node's also names its `pg` listener). */
  ready?: Record<string, unknown>
  pid: number
  stop (): Promise<void>
}

/** A spawned server: Target plus an immediate SIGKILL (for a benchmark that dies half-way). */
export interface Spawned extends Target { kill (): void }

export interface SpawnOptions {
  /** Called after the process exited on stop(). */
  onStop?: () => void
  /** How long start-up may take. Default 30 s. */
  timeoutMs?: number
}

/** Spawns `args` (node) and resolves once a JSON stdout line containing `marker` has a `listen`
 *  field. stop() sends SIGTERM (SIGKILL after 20 s) and waits for the exit. */
export function spawnListening (args: string[], marker: string, opts: SpawnOptions = {}): Promise<Spawned> {
  const proc: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let pending = ''
  let tail = ''
  let ready = false
  const exited = new Promise<number | string>(resolve => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)))
  const keepTail = (d: Buffer): void => { tail = (tail + d.toString()).slice(-4000) }
  proc.stderr!.on('data', keepTail)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${args.join(' ')} did not start listening\n${tail}`)) }, opts.timeoutMs ?? 30_000)
    proc.stdout!.on('data', (d: Buffer) => {
      keepTail(d)
      if (ready) return // after start-up only a little output is kept, nothing parsed
      pending += d.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.includes(marker)) continue
        let rec: Record<string, unknown>
        try { rec = JSON.parse(line) as Record<string, unknown> } catch { continue }
        const listen = rec.listen
        if (typeof listen !== 'string') continue
        ready = true
        pending = ''
        clearTimeout(timer)
        let stopping: Promise<void> | undefined
        resolve({
          listen,
          ready: rec,
          pid: proc.pid!,
          kill: () => { proc.kill('SIGKILL') },
          stop () {
            stopping ??= (async () => {
              if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
              const force = setTimeout(() => proc.kill('SIGKILL'), 20_000)
              const code = await exited
              clearTimeout(force)
              opts.onStop?.()
              if (code !== 0) console.error(`${args.join(' ')} exited with ${code}\n${tail}`)
            })()
            return stopping
          }
        })
        return
      }
    })
    void exited.then(code => { if (!ready) { clearTimeout(timer); reject(new Error(`${args.join(' ')} exited (${code}) before listening\n${tail}`)) } })
  })
}

/** The node's config: etc/scratchbird.yaml (durability sync), or SB_BENCH_CONFIG=<path> to compare. */
const NODE_CONFIG = process.env.SB_BENCH_CONFIG ?? join(ROOT, 'etc/scratchbird.yaml')

/** Extra node flags for the benchmarked node, e.g. SB_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 *  (node refuses --cpu-prof in NODE_OPTIONS; given on the command line it profiles the shard
 *  workers too, one .cpuprofile per thread, written when the node stops). */
const NODE_ARGS = process.env.SB_BENCH_NODE_ARGS?.split(' ').filter(a => a !== '') ?? []

/** A ScratchBird node from dist/bundle/main.cjs (bench/run.mjs builds it) in a fresh data dir. */
export function startBundleNode (): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-bench-http-'))
  return spawnListening([...NODE_ARGS, join(ROOT, 'dist/bundle/main.cjs'), '--data-dir', dataDir, '--listen', '127.0.0.1:0',
    '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0', '--config', NODE_CONFIG], '"ready', { onStop: () => rmSync(dataDir, { recursive: true, force: true }) })
}

/** The baseline: bench/lib/trivial-server.ts in its own process. */
export function startTrivialServer (): Promise<Target> {
  return spawnListening(['--import', 'tsx', join(HERE, 'trivial-server.ts')], '"listen"')
}

export interface SqlResult { command: string, columns: string[], rows: unknown[][], rowCount: number, results?: SqlResult[] }

/** One POST /v1/sql; throws with the error body on a non-2xx answer. */
export async function sql (t: Target, text: string, params: unknown[] = []): Promise<SqlResult> {
  const res = await fetch(`http://${t.listen}/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: text, params }) })
  const body = await res.text()
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${text.slice(0, 80)}: ${body}`)
  return JSON.parse(body) as SqlResult
}

/** CPU seconds (user + system) a process (all threads) or one of its threads has used so far, from /proc (Linux). */
export function cpuSeconds (pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN
  }
}

export interface LoadResult {
  /** 2xx responses in the measured window */
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
  seconds: number
  /** 2xx responses per second */
  rate: number
  p50: number
  p99: number
  /** CPU cores the server process used on average while measured (all threads) */
  serverCores: number
  /** of which its main thread (the thread whose id is the process id) */
  serverMainCores: number
  /** CPU cores this (autocannon) process used on average while measured */
  clientCores: number
}

export interface LoadOptions { duration: number, connections: number }

function once (t: Target, opts: LoadOptions, body: () => string): Promise<LoadResult> {
  let lat = new Float64Array(1 << 16)
  let n = 0
  const cpu0 = cpuSeconds(t.pid)
  const main0 = cpuSeconds(t.pid, t.pid)
  const client0 = process.cpuUsage()
  return new Promise((resolve, reject) => {
    const tracker = autocannon({
      url: `http://${t.listen}`,
      connections: opts.connections,
      pipelining: 1,
      duration: opts.duration,
      timeout: 10,
      requests: [{
        method: 'POST',
        path: '/v1/sql',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: body() })
      }]
    }, (err, r) => {
      if (err) { reject(err); return }
      const cpu = cpuSeconds(t.pid) - cpu0
      const main = cpuSeconds(t.pid, t.pid) - main0
      const client = process.cpuUsage(client0)
      const sorted = lat.subarray(0, n).sort()
      const pct = (p: number): number => n === 0 ? NaN : sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]!
      const statusCodes: Record<string, number> = {}
      for (const [code, s] of Object.entries(r.statusCodeStats)) statusCodes[code] = s.count
      resolve({
        ok: r['2xx'],
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        statusCodes,
        seconds: r.duration,
        rate: r['2xx'] / r.duration,
        p50: pct(0.5),
        p99: pct(0.99),
        serverCores: cpu / r.duration,
        serverMainCores: main / r.duration,
        clientCores: (client.user + client.system) / 1e6 / r.duration
      })
    })
    tracker.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status < 200 || status >= 300) return
      if (n === lat.length) { const grown = new Float64Array(n * 2); grown.set(lat); lat = grown }
      lat[n++] = ms
    })
  })
}

/** A warm-up run (discarded) and then the measured run, with the same settings. */
export async function load (t: Target, opts: LoadOptions & { warmup: number }, body: () => string): Promise<LoadResult & { warmup: LoadResult | null }> {
  const warmup = opts.warmup > 0 ? await once(t, { ...opts, duration: opts.warmup }, body) : null
  return { ...(await once(t, opts, body)), warmup }
}

export function describe (r: LoadResult): string {
  const codes = Object.entries(r.statusCodes).map(([c, k]) => `${c}:${k}`).join(',')
  return `${r.ok} ok in ${r.seconds}s, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts} [${codes}], p50 ${r.p50.toFixed(2)} ms, server CPU ${r.serverCores.toFixed(2)} cores (main thread ${r.serverMainCores.toFixed(2)}), client CPU ${r.clientCores.toFixed(2)} cores`
}

/** Fails the benchmark (exit code 1) when a run had any non-2xx answer, error or timeout. */
export function requireClean (label: string, ...runs: Array<LoadResult & { warmup: LoadResult | null }>): void {
  const all = runs.flatMap(r => r.warmup ? [r.warmup, r] : [r])
  const bad = all.filter(r => r.non2xx > 0 || r.errors > 0 || r.timeouts > 0)
  if (bad.length === 0) return
  for (const r of bad) console.error(`FAILED ${label}: ${describe(r)}`)
  process.exitCode = 1
}

/** What the machine limits; the 1-minute load average shows other work sharing the cores. */
export function machineNote (): string {
  return `${availableParallelism()} cores shared by the node (main thread + shard workers), autocannon (this process), the idle other server and whatever else runs here (1-min load average ${loadavg()[0]!.toFixed(2)}); node config ${NODE_CONFIG}`
}

/** "goal ratio >= 0.5: met" or by how much it is missed. */
export function goalNote (ratio: number, goal: number): string {
  return ratio >= goal ? `goal ratio >= ${goal}: met` : `goal ratio >= ${goal}: MISSED by ${(goal / ratio).toFixed(1)}x`
}
