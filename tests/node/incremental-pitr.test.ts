import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode, postSql, runProgram } from '../helpers/node-process'

// Incremental backups and point-in-time recovery against real nodes and files (issue 17 item 4):
// full backup, rows, incremental, rows, incremental; an incremental applied out of order is
// refused naming the gap; the chain applied in order restores every row; the seeds' PITR run —
// restore the full backup, stage the incrementals with --replay-commit-log, replay_commit_log
// --until a time between two commits — leaves exactly the rows committed at or before it.

let dir: string
let node: RunningNode | null = null

const sql = postSql

const program = async (args: string[]): ReturnType<typeof runProgram> => await runProgram(args)

async function start (dataDir: string): Promise<RunningNode> {
  const [cmd, args] = sourceCommand(['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  return await startNode(cmd, args, { timeoutMs: 60_000 })
}

async function stop (n: RunningNode): Promise<void> {
  n.proc.kill('SIGTERM')
  expect(await n.exited).toBe(0)
}

async function insert (n: RunningNode, from: number, to: number): Promise<void> {
  for (let k = from; k <= to; k++) expect((await sql(n, `INSERT INTO t VALUES (${k}, 'v${k}')`)).error).toBeUndefined()
}

async function keys (dataDir: string): Promise<number[]> {
  const n = await start(dataDir)
  try {
    const r = await sql(n, 'SELECT k FROM t')
    return (r.rows as Array<[number]>).map(row => Number(row[0])).sort((a, b) => a - b)
  } finally { await stop(n) }
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i)

let full: string
let inc1: string
let inc2: string
let cutMs: number

beforeAll(async () => {
  dir = tempDir('sb-pitr-')
  full = join(dir, 'full.tar.gz')
  inc1 = join(dir, 'inc1.tar.gz')
  inc2 = join(dir, 'inc2.tar.gz')
  node = await start(join(dir, 'a'))
  const n = node
  const before = await program(['backup', `--url=http://${n.listen}`, '--type=incremental', `--output=${join(dir, 'none.tar')}`])
  expect(before.code).toBe(1)
  expect(before.stderr).toMatch(/take a full backup first.*SB_BACKUP_REFUSED/)
  expect((await sql(n, 'CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)')).error).toBeUndefined()
  await insert(n, 1, 10)
  expect((await program(['backup', `--url=http://${n.listen}`, '--type=full', `--output=${full}`])).code).toBe(0)
  await insert(n, 11, 15)
  // Rows 11-15 are acknowledged, so committed at or before now; the next commits come later.
  cutMs = Date.now()
  while (Date.now() <= cutMs + 1) await new Promise(resolve => setImmediate(resolve))
  await insert(n, 16, 20)
  const i1 = await program(['backup', `--url=http://${n.listen}`, '--type=incremental', `--output=${inc1}`])
  expect(i1.code, i1.stderr).toBe(0)
  expect(i1.stderr).toMatch(/incremental backup \d+ \(continues \d+\)/)
  await insert(n, 21, 25)
  expect((await program(['backup', `--url=http://${n.listen}`, '--type=incremental', `--output=${inc2}`])).code).toBe(0)
  await stop(n)
  node = null
}, 300_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('incremental backups', () => {
  it('verify reports an incremental backup and its log range', async () => {
    const v = await program(['verify-backup', `--file=${inc1}`])
    expect(v.code, v.stderr).toBe(0)
    expect(v.stdout).toMatch(/incremental backup \d+ \(continues \d+\)/)
    expect(v.stdout).toMatch(/LSNs contiguous; 10 entries/)
  }, 120_000)

  it('restore applies a chain in order and refuses an incremental that skips one', async () => {
    const target = join(dir, 'b')
    expect((await program(['restore', `--file=${full}`, `--target=${target}`])).code).toBe(0)
    const skip = await program(['restore', `--file=${inc2}`, `--target=${target}`])
    expect(skip.code).toBe(1)
    expect(skip.stderr).toMatch(/does not continue .*shard \d+ is at LSN \d+, the backup starts at LSN \d+ \(an incremental backup in between is missing\).*SB_BACKUP_REFUSED/)
    expect((await program(['restore', `--file=${inc1}`, `--target=${target}`])).code).toBe(0)
    const again = await program(['restore', `--file=${inc1}`, `--target=${target}`])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already applied/)
    expect((await program(['restore', `--file=${inc2}`, `--target=${target}`])).code).toBe(0)
    expect(await keys(target)).toEqual(range(1, 25))
  }, 300_000)
})

describe('point-in-time recovery (the seeds\' three commands)', () => {
  it('replays the staged commit log up to a time between two commits: exactly the earlier rows', async () => {
    const target = join(dir, 'c')
    expect((await program(['restore', `--file=${full}`, `--target=${target}`])).code).toBe(0)
    const s1 = await program(['restore', `--file=${inc1}`, `--target=${target}`, '--replay-commit-log'])
    expect(s1.code, s1.stderr).toBe(0)
    expect((await program(['restore', `--file=${inc2}`, `--target=${target}`, '--replay-commit-log'])).code).toBe(0)
    const until = new Date(cutMs).toISOString().replace('T', ' ').replace('Z', '')
    const r = await program(['replay-commit-log', `--until=${until}`, `--target=${target}`])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/5 transaction\(s\) applied from 2 staged backup/)
    expect(await keys(target)).toEqual(range(1, 15))
  }, 300_000)
})
