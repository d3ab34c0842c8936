import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Starts a real ScratchBird node as a child process (from source via tsx, or a built binary) and
// waits until it logs `ready`. Used by every test that needs a running node.

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const MAIN_TS = join(ROOT, 'src/main.ts')

export interface RunningNode {
  proc: ChildProcess
  listen: string
  metrics: string
  /** The PostgreSQL-protocol address ('' when off). */
  pg: string
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
  url (path: string): string
}

export function tempDir (prefix = 'sb-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** argv for running the program from source: node --import tsx src/main.ts … */
export function sourceCommand (args: string[]): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', MAIN_TS, ...args]]
}

export function runToExit (cmd: string, args: string[], opts: { cwd?: string, timeoutMs?: number, argv0?: string, env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, argv0: opts.argv0, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`timeout: ${cmd} ${args.join(' ')}\n${stdout}\n${stderr}`)) }, opts.timeoutMs ?? 30_000)
    proc.on('error', reject)
    proc.on('exit', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/**
 * Spawns a node and resolves once it logged `ready` (rejects if it exits first). Unless the test
 * chose one, the node's PostgreSQL listener gets a free port (node.pg_listen's default, 5432,
 * would collide between the test processes running at once, and with a local PostgreSQL).
 */
export function startNode (cmd: string, givenArgs: string[], opts: { cwd?: string, timeoutMs?: number, env?: Record<string, string> | undefined } = {}): Promise<RunningNode> {
  const args = givenArgs.includes('--pg-listen') ? givenArgs : [...givenArgs, '--pg-listen', '127.0.0.1:0']
  const proc = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env === undefined ? process.env : { ...process.env, ...opts.env } })
  let out = ''
  let err = ''
  const exited = new Promise<number | string>(resolve => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`node did not become ready\n${out}\n${err}`)) }, opts.timeoutMs ?? 30_000)
    proc.stderr.on('data', (d: Buffer) => { err += d.toString() })
    let ready = false
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      // Once ready, only collect: rescanning all output per chunk is quadratic in long runs.
      if (ready) return
      for (const line of out.split('\n')) {
        if (!line.includes('"ready')) continue
        try {
          const rec = JSON.parse(line) as { listen?: string, metrics?: string, pg?: string }
          if (rec.listen && rec.metrics) {
            clearTimeout(timer)
            ready = true
            const listen = rec.listen
            resolve({ proc, listen, metrics: rec.metrics, pg: rec.pg ?? '', stdout: () => out, stderr: () => err, exited, url: (p) => `http://${listen}${p}` })
            return
          }
        } catch { /* partial line */ }
      }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`node exited (${code}) before ready\n${out}\n${err}`)) })
  })
}

/** One ScratchBird program run from source to its exit (the operator programs: backup, restore, migrate, …). */
export function runProgram (args: string[], timeoutMs = 120_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, argv] = sourceCommand(args)
  return runToExit(cmd, argv, { timeoutMs })
}

/** POST /v1/sql on a node (in HTTP session `session` when given): status and parsed JSON answer. */
export async function postSqlAnswer (n: RunningNode, text: string, session?: string): Promise<{ status: number, body: Record<string, any> }> {
  const res = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session !== undefined ? { 'x-scratchbird-session': session } : {}) },
    body: JSON.stringify({ sql: text })
  })
  return { status: res.status, body: await res.json() as Record<string, any> }
}

/** POST /v1/sql on a node; the parsed JSON answer, whatever its status. */
export async function postSql (n: RunningNode, text: string, session?: string): Promise<Record<string, any>> {
  return (await postSqlAnswer(n, text, session)).body
}
