// PostgreSQL side of `npm run bench -- pg`: a PostgreSQL server from the Debian package started in
// a temporary directory (fsync on, its own port), pgbench runs with per-transaction logs for the
// latency percentiles, and the CPU a server process tree used (for CPU per statement).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The newest /usr/lib/postgresql/<major>/bin holding initdb and postgres, or null. */
export function postgresBin (): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const majors = readdirSync(root).filter(d => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a))
  for (const m of majors) {
    const bin = join(root, m, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin
  }
  return null
}

/** pgbench runs (Debian's /usr/bin/pgbench is a wrapper that exists without pgbench itself). */
export function pgbenchWorks (): boolean {
  return spawnSync('pgbench', ['--version']).status === 0
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface PgServer {
  host: string
  port: number
  pid: number
  /** Resolves once the backends of finished connections have exited and been reaped, so their
   *  CPU is in the postmaster's cutime/cstime and not half in a process about to vanish. */
  settle (): Promise<void>
  stop (): Promise<void>
}

/** Pids of `pid`'s child processes. */
export function childPids (pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (s.slice(s.lastIndexOf(')') + 2).split(' ')[1] === String(pid)) out.push(Number(d))
    } catch { /* exited meanwhile */ }
  }
  return out
}

/**
 * initdb in a fresh temporary directory and a postmaster on a free port (fsync and synchronous
 * commit at their defaults: on). initdb refuses to run as root, so as root the server runs as the
 * package's `postgres` user.
 */
export async function startPostgres (bin: string): Promise<PgServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-pg-'))
  const data = join(dir, 'data')
  const ids = process.getuid?.() === 0 ? postgresUser() : undefined
  if (ids) chownSync(dir, ids.uid, ids.gid)
  const run = (args: string[]): void => {
    const r = spawnSync(join(bin, 'initdb'), args, { ...ids, cwd: dir, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr}`)
  }
  run(['-D', data, '-U', 'bench', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-instructions'])
  const port = await freePort()
  const proc: ChildProcess = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'max_connections=100', '-c', 'shared_buffers=128MB'], { ...ids, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  const keep = (d: Buffer): void => { log = (log + d.toString()).slice(-4000) }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const exited = new Promise<void>(resolve => proc.on('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`postgres did not start\n${log}`)) }, 30_000)
    const check = (): void => { if (log.includes('ready to accept connections')) { clearTimeout(timer); resolve() } }
    proc.stderr!.on('data', check)
    proc.stdout!.on('data', check)
    void exited.then(() => { clearTimeout(timer); reject(new Error(`postgres exited before it was ready\n${log}`)) })
  })
  // The auxiliary processes (checkpointer, WAL writer …) once started; anything else is a backend.
  let aux = new Set<number>()
  for (let i = 0; i < 50 && aux.size < 4; i++) { await new Promise(resolve => setTimeout(resolve, 100)); aux = new Set(childPids(proc.pid!)) }
  return {
    host: '127.0.0.1',
    port,
    pid: proc.pid!,
    async settle () {
      for (let i = 0; i < 250 && childPids(proc.pid!).some(c => !aux.has(c)); i++) await new Promise(resolve => setTimeout(resolve, 20))
    },
    async stop () {
      proc.kill('SIGINT') // fast shutdown
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

function postgresUser (): { uid: number, gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find(l => l.startsWith('postgres:'))
  if (!line) throw new Error('running as root and there is no postgres user to run PostgreSQL as')
  const f = line.split(':')
  return { uid: Number(f[2]), gid: Number(f[3]) }
}

/**
 * CPU seconds (user + system) of a process, its threads and its children — living ones read from
 * /proc, exited and reaped ones from the parent's cutime/cstime (PostgreSQL runs a process per
 * connection; the node runs threads).
 */
export function treeCpuSeconds (pid: number): number {
  const stat = (p: number | string): string[] | null => {
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8')
      return s.slice(s.lastIndexOf(')') + 2).split(' ')
    } catch { return null }
  }
  const own = stat(pid)
  if (!own) return NaN
  // fields after the ")": [0]=state [1]=ppid … [11]=utime [12]=stime [13]=cutime [14]=cstime
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])
  const parents = new Set([String(pid)])
  // one level deeper is enough for PostgreSQL (backends and helpers are the postmaster's children)
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || d === String(pid)) continue
    const f = stat(d)
    if (f && parents.has(f[1]!)) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  }
  return ticks / 100 // USER_HZ
}

export interface PgbenchRun {
  /** transactions per second as pgbench reports it (without initial connection time) */
  tps: number
  transactions: number
  failed: number
  /** per-transaction latency percentiles, ms */
  p50: number
  p99: number
  /** server CPU seconds over the run (process tree) */
  cpuSeconds: number
  seconds: number
  output: string
}

export interface PgbenchOptions {
  host: string
  port: number
  user: string
  db: string
  mode: 'simple' | 'extended' | 'prepared'
  clients: number
  threads: number
  seconds: number
  script: string
  /** the server's pid for CPU accounting */
  serverPid: number
  /** Waits until the server's CPU accounting is complete (PostgreSQL: exited backends reaped). */
  settle?: () => Promise<void>
}

/** One pgbench run of a custom script (`-n`, no vacuum) with a per-transaction log. */
export async function runPgbench (o: PgbenchOptions): Promise<PgbenchRun> {
  await o.settle?.()
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-pgbench-'))
  const script = join(dir, 'script.sql')
  writeFileSync(script, o.script)
  const args = ['-n', '-h', o.host, '-p', String(o.port), '-U', o.user, '-M', o.mode, '-c', String(o.clients), '-j', String(o.threads),
    '-T', String(o.seconds), '-f', script, '-l', '--log-prefix', join(dir, 'tx'), o.db]
  const cpu0 = treeCpuSeconds(o.serverPid)
  const t0 = performance.now()
  return await new Promise((resolve, reject) => {
    const proc = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGCONNECT_TIMEOUT: '10' } })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { out += d.toString() })
    proc.on('error', reject)
    proc.on('close', (status) => { void finish(status) })
    const finish = async (status: number | null): Promise<void> => {
      const seconds = (performance.now() - t0) / 1000
      await o.settle?.()
      const cpuSeconds = treeCpuSeconds(o.serverPid) - cpu0
      try {
        if (status !== 0) throw new Error(`pgbench exited with ${status}:\n${out}`)
        const num = (re: RegExp): number => { const m = re.exec(out); if (!m) throw new Error(`pgbench output lacks ${re}:\n${out}`); return Number(m[1]) }
        // Each log line: client_id transaction_no time(µs) script_no time_epoch time_us
        const lat: number[] = []
        for (const f of readdirSync(dir).filter(n => n.startsWith('tx'))) {
          for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
            const us = Number(line.split(' ')[2])
            if (line !== '' && Number.isFinite(us)) lat.push(us / 1000)
          }
        }
        lat.sort((a, b) => a - b)
        const pct = (p: number): number => lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)]!
        resolve({
          tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
          transactions: num(/number of transactions actually processed: (\d+)/),
          failed: /number of failed transactions: (\d+)/.exec(out) ? num(/number of failed transactions: (\d+)/) : 0,
          p50: pct(0.5),
          p99: pct(0.99),
          cpuSeconds,
          seconds,
          output: out
        })
      } catch (e) {
        reject(e)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  })
}

/** psql -f of a script against a server; throws with its stderr on failure. */
export function psqlFile (host: string, port: number, user: string, db: string, sql: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-psql-'))
  try {
    const file = join(dir, 'init.sql')
    writeFileSync(file, sql)
    const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', user, '-d', db, '-f', file], { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } })
    if (r.status !== 0) throw new Error(`psql failed against ${host}:${port}: ${r.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
