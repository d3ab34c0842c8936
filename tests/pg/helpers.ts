import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// A real node process for the PostgreSQL-protocol tests, its PostgreSQL listener on a free port.

export async function startPgNode (extraArgs: string[] = []): Promise<RunningNode & { host: string, port: number }> {
  const dir = join(tempDir('sb-pg-'), 'data')
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', dir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0', ...extraArgs])
  const n = await startNode(cmd, args)
  const i = n.pg.lastIndexOf(':')
  return Object.assign(n, { host: n.pg.slice(0, i), port: Number(n.pg.slice(i + 1)) })
}

/**
 * Runs a client program (psql, pgbench) without blocking this process: the cluster tests' TCP
 * proxies between nodes live in the test process, so a spawnSync would stall the cluster itself.
 */
export function runTool (cmd: string, args: string[], opts: { password?: string, timeoutMs?: number } = {}): Promise<{ status: number | null, stdout: string, stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10' }
  delete env.PGPASSWORD
  delete env.PGSERVICE
  if (opts.password !== undefined) env.PGPASSWORD = opts.password
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, opts.timeoutMs ?? 120_000)
    proc.on('error', reject)
    proc.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }) })
  })
}
