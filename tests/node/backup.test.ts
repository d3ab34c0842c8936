import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readTar } from '../../src/backup/tar'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// scratchbird_backup and scratchbird_verify_backup against a real node (issue 17 items 1-2): the
// seeds' command lines (--type=full --output=FILE, --file=FILE), a backup taken while a writer
// runs, and verify catching a flipped byte, a truncated file and a missing member.

let node: RunningNode
let dir: string

type Json = Record<string, any>

async function sql (text: string): Promise<Json> {
  const res = await fetch(node.url('/v1/sql'), { method: 'POST', body: JSON.stringify({ sql: text }) })
  return await res.json() as Json
}

function program (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, argv] = sourceCommand(args)
  return runToExit(cmd, argv, { timeoutMs: 60_000 })
}

beforeAll(async () => {
  dir = tempDir('sb-backup-')
  const [cmd, args] = sourceCommand(['--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  node = await startNode(cmd, args)
  await sql('CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)')
  const values = Array.from({ length: 200 }, (_, i) => `(${i}, 'v${i}')`).join(', ')
  expect((await sql(`INSERT INTO kv VALUES ${values}`)).rowCount).toBe(200)
}, 60_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('scratchbird_backup --type=full --output=FILE', () => {
  it('writes a gzip tar with every shard, the catalog, identity and a manifest; verify passes', async () => {
    const file = join(dir, 'scratchbird_full.tar.gz')
    const b = await program(['backup', `--url=http://${node.listen}`, '--type=full', `--output=${file}`])
    expect(b.stderr).toMatch(/backup: wrote .*\d+ row\(s\) in 16 shard/)
    expect(b.code).toBe(0)
    expect(existsSync(`${file}.partial`)).toBe(false)
    const names: string[] = []
    let manifest: Json = {}
    for await (const m of readTar((async function * () { yield gunzipSync(readFileSync(file)) })())) {
      names.push(m.name)
      if (m.name === 'manifest.json') manifest = JSON.parse(Buffer.from(m.data).toString()) as Json
    }
    expect(names).toContain('catalog.json')
    expect(names).toContain('node.json')
    expect(names).toContain('cluster.json')
    expect(names.at(-1)).toBe('manifest.json')
    expect(manifest.nodeId).toBe(1)
    // 200 rows of kv, plus the 2PC decision record of the multi-shard INSERT.
    expect(manifest.shards.reduce((n: number, s: Json) => n + s.rows, 0)).toBeGreaterThanOrEqual(200)
    expect(manifest.members.every((m: Json) => /^[0-9a-f]{64}$/.test(m.sha256))).toBe(true)

    const v = await program(['verify-backup', `--file=${file}`])
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/OK \(\d+ members, \d+ rows/)
    expect(v.stdout).toMatch(/SHA-256 match the manifest/)
  }, 60_000)

  it('refuses an existing output file and leaves it alone', async () => {
    const file = join(dir, 'exists.tar')
    writeFileSync(file, 'keep me')
    const b = await program(['backup', `--url=http://${node.listen}`, '--type=full', `--output=${file}`])
    expect(b.code).toBe(2)
    expect(b.stderr).toMatch(/exists/)
    expect(readFileSync(file, 'utf8')).toBe('keep me')
  }, 60_000)
})

describe('scratchbird_verify_backup --file=FILE', () => {
  let plain: Buffer
  beforeAll(async () => {
    const file = join(dir, 'plain.tar')
    const b = await program(['backup', `--url=http://${node.listen}`, `--output=${file}`])
    expect(b.code).toBe(0)
    plain = readFileSync(file)
  }, 60_000)

  async function verifyBytes (name: string, bytes: Uint8Array): Promise<{ code: number | null, stderr: string }> {
    const file = join(dir, name)
    writeFileSync(file, bytes)
    return await program(['verify-backup', `--file=${file}`])
  }

  it('passes the untouched file', async () => {
    expect((await verifyBytes('ok.tar', plain)).code).toBe(0)
  }, 60_000)

  it('fails on a flipped byte inside a shard chunk, naming the member', async () => {
    const copy = Buffer.from(plain)
    // The first member is shard 0's first chunk: its data starts after the 512-byte header.
    copy[512 + 40] = copy[512 + 40]! ^ 0xff
    const r = await verifyBytes('flipped.tar', copy)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/shards\/0\/000001\.kv/)
    expect(r.stderr).toMatch(/SB_BACKUP_INVALID/)
  }, 60_000)

  it('fails on a truncated file', async () => {
    const r = await verifyBytes('truncated.tar', plain.subarray(0, Math.floor(plain.length / 2)))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/truncated|ends inside|without its end marker/)
  }, 60_000)

  it('fails on a missing member, naming it', async () => {
    // Drop the member catalog.json (header + data + padding) from the archive.
    const parts: Buffer[] = []
    let pos = 0
    let dropped = ''
    while (pos + 512 <= plain.length) {
      const h = plain.subarray(pos, pos + 512)
      if (h.every(b => b === 0)) break
      const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')
      const size = Number.parseInt(h.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim(), 8)
      const span = 512 + Math.ceil(size / 512) * 512
      if (name === 'catalog.json') dropped = name
      else parts.push(plain.subarray(pos, pos + span))
      pos += span
    }
    parts.push(Buffer.alloc(1024))
    expect(dropped).toBe('catalog.json')
    const r = await verifyBytes('missing.tar', Buffer.concat(parts))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/catalog\.json is missing/)
  }, 60_000)
})
