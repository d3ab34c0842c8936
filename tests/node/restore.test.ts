import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode, postSql, runProgram } from '../helpers/node-process'

// scratchbird_restore against real nodes and files (issue 17 item 3): a backup taken while a
// writer runs, restored into a fresh directory, a node started on it — every row acknowledged
// before the backup began is there, none acknowledged after it ended, the catalog the same, and
// the restored node takes new writes; refusals (another cluster, a non-empty directory, a running
// node) change nothing; the seeds' --backup= spelling restores a node's own directory in place.

let dir: string
let node: RunningNode | null = null

type Json = Record<string, any>

const sql = postSql

const program = async (args: string[]): ReturnType<typeof runProgram> => await runProgram(args)

async function start (dataDir: string, extra: string[] = []): Promise<RunningNode> {
  const [cmd, args] = sourceCommand(['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...extra])
  return await startNode(cmd, args, { timeoutMs: 60_000 })
}

async function stop (n: RunningNode): Promise<void> {
  n.proc.kill('SIGTERM')
  expect(await n.exited).toBe(0)
}

const keysOf = (r: Json): number[] => (r.rows as Array<[number]>).map(row => Number(row[0])).sort((a, b) => a - b)

let backupFile: string
let ackedBefore: number[] = []
let ackedAfter: number[] = []
let catalogBefore: Json

beforeAll(async () => {
  dir = tempDir('sb-restore-')
  node = await start(join(dir, 'a'))
  expect((await sql(node, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)')).error).toBeUndefined()
  expect((await sql(node, 'CREATE TABLE other (id TEXT PRIMARY KEY)')).error).toBeUndefined()
  const n = node
  const acked: Array<{ k: number, at: number }> = []
  const control = { running: true }
  let seq = 0
  let phase = 0 // 0: before the backup started, 1: during, 2: after it ended
  const writer = (async () => {
    while (control.running) {
      const k = seq++
      const r = await sql(n, `INSERT INTO kv VALUES (${k}, 'v${k}')`)
      if (r.error === undefined) acked.push({ k, at: phase })
    }
  })()
  while (acked.length < 50) await new Promise(resolve => setImmediate(resolve))
  catalogBefore = await sql(n, 'SELECT table_name, replication_mode, uuid_type, partition_key_columns FROM sys_tables ORDER BY table_name')
  const startedAt = acked.length
  phase = 1
  backupFile = join(dir, 'full.tar.gz')
  const b = await program(['backup', `--url=http://${n.listen}`, '--type=full', `--output=${backupFile}`])
  phase = 2
  const endedAt = acked.length
  // Wait for a few writes acknowledged after the backup ended, then stop the writer.
  while (acked.length < endedAt + 5) await new Promise(resolve => setImmediate(resolve))
  control.running = false
  await writer
  expect(b.code, b.stderr).toBe(0)
  ackedBefore = acked.slice(0, startedAt).map(a => a.k)
  ackedAfter = acked.filter(a => a.at === 2).map(a => a.k)
  expect(ackedAfter.length).toBeGreaterThan(0)
}, 240_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('scratchbird_restore --file=FILE --target=DIR', () => {
  it('refuses to restore under a running node, into another cluster, or into a non-empty directory without --force; nothing changes', async () => {
    // The node still runs on a/.
    const running = await program(['restore', `--file=${backupFile}`, `--target=${join(dir, 'a')}`])
    expect(running.code).toBe(1)
    expect(running.stderr).toMatch(/in use by another ScratchBird process/)

    const foreign = join(dir, 'foreign')
    mkdirSync(foreign)
    writeFileSync(join(foreign, 'node.json'), JSON.stringify({ nodeId: 1, cluster: 'elsewhere' }))
    const other = await program(['restore', `--file=${backupFile}`, `--target=${foreign}`, '--force'])
    expect(other.code).toBe(1)
    expect(other.stderr).toMatch(/cluster "elsewhere".*never restored into another cluster.*SB_BACKUP_REFUSED/)
    expect(readdirSync(foreign)).toEqual(['node.json'])

    const busy = join(dir, 'busy')
    mkdirSync(busy)
    writeFileSync(join(busy, 'notes.txt'), 'mine')
    const nonEmpty = await program(['restore', `--file=${backupFile}`, `--target=${busy}`])
    expect(nonEmpty.code).toBe(1)
    expect(nonEmpty.stderr).toMatch(/not empty.*--force.*SB_BACKUP_REFUSED/)
    expect(readdirSync(busy)).toEqual(['notes.txt'])
    expect(readdirSync(dir).some(f => f.includes('.restoring-'))).toBe(false)
  }, 240_000)

  it('restores into a fresh directory a node starts on: rows acknowledged before the backup present, none after, same catalog, new writes work', async () => {
    const target = join(dir, 'b')
    const r = await program(['restore', `--file=${backupFile}`, `--target=${target}`])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/restored from/)
    await stop(node!)
    node = await start(target)
    const n = node
    const present = new Set(keysOf(await sql(n, 'SELECT k FROM kv')))
    for (const k of ackedBefore) expect(present.has(k), `row ${k} acknowledged before the backup`).toBe(true)
    for (const k of ackedAfter) expect(present.has(k), `row ${k} acknowledged after the backup`).toBe(false)
    expect(await sql(n, 'SELECT table_name, replication_mode, uuid_type, partition_key_columns FROM sys_tables ORDER BY table_name')).toEqual(catalogBefore)
    // The restored node goes on: new transactions commit and are read back.
    expect((await sql(n, "INSERT INTO kv VALUES (1000000, 'after restore')")).error).toBeUndefined()
    expect((await sql(n, "INSERT INTO other VALUES ('x')")).error).toBeUndefined()
    expect((await sql(n, 'SELECT v FROM kv WHERE k = 1000000')).rows).toEqual([['after restore']])
    expect(Number((await sql(n, 'SELECT count(*) FROM kv')).rows[0][0])).toBe(present.size + 1)
    await stop(n)
    node = null
  }, 240_000)

  it('restores a node\'s own data directory in place with the seeds\' --backup= spelling, keeping the old contents aside', async () => {
    const own = join(dir, 'a')
    const r = await program(['restore', `--backup=${backupFile}`, `--target=${own}`])
    expect(r.code, r.stderr).toBe(0)
    const aside = readdirSync(dir).filter(f => f.startsWith('a.replaced-'))
    expect(aside).toHaveLength(1)
    expect(existsSync(join(dir, aside[0]!, 'catalog.json'))).toBe(true)
    node = await start(own)
    const present = new Set(keysOf(await sql(node, 'SELECT k FROM kv')))
    for (const k of ackedAfter) expect(present.has(k)).toBe(false)
    for (const k of ackedBefore) expect(present.has(k)).toBe(true)
    expect(readFileSync(join(own, 'node.json'), 'utf8')).toMatch(/"nodeId":1/)
  }, 240_000)
})
