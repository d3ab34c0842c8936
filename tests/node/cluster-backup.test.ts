import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// scratchbird_backup --cluster against one real node (issue 17 item 5; the three-node restore is
// tests/cluster/backup-restore.test.ts): the directory it writes, verify of it, and the refusals —
// a damaged archive, an archive of another cluster backup, a node the backup does not hold, a
// node left out of --url.

let node: RunningNode
let dir: string

function program (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, argv] = sourceCommand(args)
  return runToExit(cmd, argv, { timeoutMs: 90_000 })
}

async function sql (text: string): Promise<void> {
  const res = await fetch(node.url('/v1/sql'), { method: 'POST', body: JSON.stringify({ sql: text }) })
  expect(res.status).toBe(200)
}

beforeAll(async () => {
  dir = tempDir('sb-cluster-backup-')
  const [cmd, args] = sourceCommand(['--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  node = await startNode(cmd, args)
  await sql('CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)')
  await sql(`INSERT INTO kv VALUES ${Array.from({ length: 50 }, (_, i) => `(${i}, 'v${i}')`).join(', ')}`)
}, 60_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('scratchbird_backup --cluster', () => {
  let a: string
  let b: string
  beforeAll(async () => {
    a = join(dir, 'a')
    b = join(dir, 'b')
    for (const out of [a, b]) {
      const r = await program(['backup', '--cluster', `--url=http://${node.listen}`, `--output=${out}`])
      expect(r.stderr).toMatch(/cut at HLC \d+/)
      expect(r.code).toBe(0)
      await sql(`INSERT INTO kv VALUES (${100 + (out === a ? 1 : 2)}, 'later')`)
    }
  }, 180_000)

  it('writes one full archive and one log archive per node and a cluster manifest that verify passes', async () => {
    const m = JSON.parse(readFileSync(join(a, 'cluster-manifest.json'), 'utf8'))
    expect(m.kind).toBe('scratchbird-cluster-backup')
    expect(m.nodes.map((n: any) => n.nodeId)).toEqual([1])
    expect(BigInt(m.cutHlc)).toBeGreaterThan(0n)
    expect(existsSync(join(a, 'node-1.full.tar')) && existsSync(join(a, 'node-1.log.tar'))).toBe(true)
    const v = await program(['verify-backup', `--file=${join(a, 'cluster-manifest.json')}`])
    expect(v.stdout).toMatch(/node 1: node-1\.full\.tar .* match the cluster manifest/)
    expect(v.code).toBe(0)
  }, 90_000)

  it('refuses a node\'s archive of another cluster backup, at verify and restore, and writes nothing', async () => {
    const mixed = join(dir, 'mixed')
    const r0 = await runToExit('cp', ['-r', a, mixed])
    expect(r0.code).toBe(0)
    copyFileSync(join(b, 'node-1.log.tar'), join(mixed, 'node-1.log.tar'))
    const v = await program(['verify-backup', `--file=${mixed}`])
    expect(v.code).toBe(1)
    expect(v.stderr).toMatch(/node-1\.log\.tar is not the archive its manifest names .*SB_BACKUP_INVALID/)
    const target = join(dir, 'restored-mixed')
    const r = await program(['restore', `--file=${mixed}`, '--node=1', `--target=${target}`])
    expect(r.code).toBe(1)
    expect(existsSync(target)).toBe(false)
  }, 90_000)

  it('fails verify on a flipped byte in an archive', async () => {
    const flipped = join(dir, 'flipped')
    expect((await runToExit('cp', ['-r', a, flipped])).code).toBe(0)
    const f = join(flipped, 'node-1.full.tar')
    const bytes = readFileSync(f)
    bytes[600] = bytes[600]! ^ 0xff
    writeFileSync(f, bytes)
    const v = await program(['verify-backup', `--file=${flipped}`])
    expect(v.code).toBe(1)
    expect(v.stderr).toMatch(/node-1\.full\.tar is not the archive/)
  }, 90_000)

  it('refuses a node the cluster backup does not hold, and a restore without --node', async () => {
    const r = await program(['restore', `--file=${a}`, '--node=2', `--target=${join(dir, 'n2')}`])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/holds no backup of node 2 .*SB_BACKUP_REFUSED/)
    const n = await program(['restore', `--file=${a}`, `--target=${join(dir, 'n1')}`])
    expect(n.code).toBe(2)
    expect(n.stderr).toMatch(/--node=N/)
  }, 90_000)

  it('restores node 1 as of the cut: rows inserted after the backup are absent', async () => {
    const target = join(dir, 'restored')
    const r = await program(['restore', `--file=${a}`, '--node=1', `--target=${target}`])
    expect(r.stderr).toMatch(/restored as node 1 of cluster backup \d+/)
    expect(r.code).toBe(0)
    expect(JSON.parse(readFileSync(join(target, 'cluster-backup.json'), 'utf8')).cutHlc).toBe(JSON.parse(readFileSync(join(a, 'cluster-manifest.json'), 'utf8')).cutHlc)
    const [cmd, args] = sourceCommand(['--data-dir', target, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const restored = await startNode(cmd, args)
    try {
      const res = await fetch(restored.url('/v1/sql'), { method: 'POST', body: JSON.stringify({ sql: 'SELECT count(*), max(k) FROM kv' }) })
      const body = await res.json() as any
      expect(body.rows[0].map(Number)).toEqual([50, 49])
    } finally { restored.proc.kill('SIGKILL') }
  }, 120_000)
})
