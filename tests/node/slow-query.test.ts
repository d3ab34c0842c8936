import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// logging.slow_query_ms as a real process (issue 13 item 7): the slow-query log stream is written
// with one JSON line per statement at or above the threshold.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

async function startWith (yaml: string): Promise<{ n: RunningNode, dir: string }> {
  const dir = tempDir()
  const cfg = join(dir, 'node.yaml')
  writeFileSync(cfg, yaml)
  const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args)
  running.push(n)
  return { n, dir }
}

async function sql (n: RunningNode, text: string): Promise<void> {
  const r = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: text }) })
  expect(r.status, text).toBe(200)
}

/** The slow-query log's lines, read after the node stopped (stop flushes and closes the logs). */
async function stopAndReadSlowLog (n: RunningNode, dir: string): Promise<Record<string, unknown>[]> {
  n.proc.kill('SIGTERM')
  expect(await n.exited).toBe(0)
  const file = join(dir, 'data', 'logs', 'slow_query.log')
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>)
}

describe('slow-query log', () => {
  it('slow_query_ms: 0 writes a JSON line per statement: text, duration, rows', async () => {
    const { n, dir } = await startWith('logging:\n  slow_query_ms: 0\n')
    await sql(n, 'CREATE TABLE sq (k INTEGER PRIMARY KEY, v INTEGER)')
    await sql(n, 'INSERT INTO sq VALUES (1, 10), (2, 20); SELECT * FROM sq WHERE v > 5')
    const lines = await stopAndReadSlowLog(n, dir)
    expect(lines).toHaveLength(3)
    expect(lines.map(l => l.statement)).toEqual([
      expect.stringMatching(/^CREATE TABLE sq /),
      expect.stringMatching(/^INSERT INTO sq /),
      expect.stringMatching(/^SELECT \* FROM sq WHERE v > 5$/)
    ])
    expect(lines.map(l => l.rows)).toEqual([0, 2, 2])
    for (const l of lines) {
      expect(l).toMatchObject({ stream: 'slow_query', level: 'WARNING' })
      expect(typeof l.durationMs).toBe('number')
      expect(l.msg).toMatch(/^Slow query: \d+ ms, \d+ rows?: /)
    }
  })

  it('a threshold no statement reaches writes nothing', async () => {
    const { n, dir } = await startWith('logging:\n  slow_query_ms: 600000\n')
    await sql(n, 'CREATE TABLE sq (k INTEGER PRIMARY KEY, v INTEGER)')
    await sql(n, 'INSERT INTO sq VALUES (1, 10); SELECT * FROM sq')
    expect(await stopAndReadSlowLog(n, dir)).toEqual([])
  })
})
