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
