import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeChunk, encodeChunk, parseChunkMemberName } from '../../../src/backup/chunk'
import { MANIFEST_NAME, parseManifest } from '../../../src/backup/manifest'
import { scanBackup } from '../../../src/backup/scan'
import { BLOCK, parseTarHeader, readTar, tarPadding } from '../../../src/backup/tar'
import { ArchiveWriter } from '../../../src/backup/writer'
import { backupFileBytes, Output } from '../../../src/cli/backup-stream'
import { installFullBackup } from '../../../src/cli/full-restore'
import { systemClock } from '../../../src/core/clock'
import { loadConfig } from '../../../src/core/config/load'
import { asShardId } from '../../../src/core/ids'
import { BackupSource } from '../../../src/node/backup-source'
import { checkClusterLayout, layoutOfConfig } from '../../../src/node/cluster-layout'
import { checkNodeIdentity } from '../../../src/node/node-identity'
import { startToolWorkers } from '../../../src/node/restore-workers'
import type { SnapshotChunk } from '../../../src/storage/replica-snapshot'
import { hlcTs } from '../../../src/storage/types'
import { vid } from '../node/worker-fixtures'

// A full backup of a real shard (real workers, LevelDB) through the node's writer, restored by
// scratchbird_restore's two passes: the restored shard holds exactly the source's snapshot, in the
// current archive format and in format 1 (backups written before chunk compression), and a damaged
// archive installs nothing.

const ROWS = 12_000 // 2 chunks of BACKUP_CHUNK_KEYS
const base = loadConfig({})
const config = { ...base, cluster: { ...base.cluster, name: 't' }, storage: { ...base.storage, shards: 1 } }
let root: string
let dataDir: string
let current: string
let hlc = 2_000_000

/** Every entry of shard 0's snapshot, as hex "key=value" lines (what a restore must reproduce). */
async function dump (dir: string): Promise<string[]> {
  const { workers } = await startToolWorkers(dir, config.node.id, 1, config, systemClock)
  try {
    const out: string[] = []
    let snapshotId = 0n
    let after: Uint8Array | null = null
    for (;;) {
      const c: SnapshotChunk = await workers.request('REPL_SNAPSHOT_READ', { shard: asShardId(0), snapshotId, after, maxKeys: 10_000, maxBytes: 1 << 22 })
      snapshotId = c.snapshotId
      for (const e of c.entries) out.push(`${Buffer.from(e.key).toString('hex')}=${Buffer.from(e.value).toString('hex')}`)
      if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
      if (c.done) return out
    }
  } finally { await workers.stop() }
}

async function restore (file: string, target: string): Promise<number> {
  const report = await scanBackup(backupFileBytes(file))
  const { rows } = await installFullBackup({ file, report, target, force: false, config, clock: systemClock })
  return rows
}

/** The same backup in archive format 1: chunk format 1, manifest format 1, checksums of those bytes. */
async function asFormat1 (file: string, out: string): Promise<void> {
  const parts: Buffer[] = []
  const w = new ArchiveWriter(async (b) => { parts.push(Buffer.from(b)) }, 0)
  for await (const m of readTar(backupFileBytes(file))) {
    if (m.name === MANIFEST_NAME) {
      const { members: _, ...rest } = parseManifest(m.data)
      await w.finish({ ...rest, format: 1 })
    } else if (parseChunkMemberName(m.name) !== null) {
      await w.add(m.name, await encodeChunk(await decodeChunk(m.name, m.data), 1))
    } else {
      await w.add(m.name, m.data)
    }
  }
  writeFileSync(out, Buffer.concat(parts))
}

/** Where member `name`'s bytes start in a plain tar. */
function dataOffset (tar: Uint8Array, name: string): number {
  for (let at = 0; ;) {
    const h = parseTarHeader(tar.subarray(at, at + BLOCK), at)
    if (h === null) throw new Error(`no member ${name}`)
    if (h.name === name) return at + BLOCK
    at += BLOCK + h.size + tarPadding(h.size).length
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sb-backup-rt-'))
  dataDir = join(root, 'data')
  mkdirSync(dataDir)
  checkNodeIdentity(dataDir, { nodeId: config.node.id, cluster: 't' })
  checkClusterLayout(dataDir, layoutOfConfig(config))
  const { workers } = await startToolWorkers(dataDir, config.node.id, 1, config, systemClock)
  for (let from = 0; from < ROWS; from += 1000) {
    const writes = Array.from({ length: 1000 }, (_, i) => ({ op: 'insert' as const, tableId: 1, pk: [from + i], row: Buffer.from(`row ${from + i} `.padEnd(100, 'x')), versionId: vid() }))
    await workers.request('AUTOCOMMIT', { shard: asShardId(0), writes, commitHlc: hlcTs(++hlc) })
  }
  const source = new BackupSource({
    workers, shards: 1, dataDir, maxMessageBytes: 8 << 20, nodeId: config.node.id, cluster: 't', clock: systemClock, hlcNow: () => BigInt(++hlc) << 16n, log: pino({ level: 'silent' })
  })
  current = join(root, 'full.tar')
  const out = new Output(current, false)
  await source.write('full', async (b) => { await out.write(b) }, () => {})
  await out.close()
  await workers.stop()
}, 240_000)

afterAll(() => { rmSync(root, { recursive: true, force: true }) })

describe('full backup and restore of a real shard', () => {
  it('restores the current format: the restored shard holds exactly the source snapshot', async () => {
    const report = await scanBackup(backupFileBytes(current))
    expect(report.manifest.format).toBe(2)
    expect(report.manifest.shards[0]!.chunks).toBeGreaterThan(1)
    expect(await restore(current, join(root, 'restored2'))).toBe(ROWS)
    expect(await dump(join(root, 'restored2'))).toEqual(await dump(dataDir))
  }, 240_000)

  it('still restores and verifies a format-1 archive (written before chunk compression), which is far larger', async () => {
    const old = join(root, 'old.tar')
    await asFormat1(current, old)
    const report = await scanBackup(backupFileBytes(old))
    expect(report.manifest.format).toBe(1)
    expect(report.rows).toBe(ROWS)
    // Format 2's prefix-coded, deflated chunks: well under half of format 1 for these rows.
    expect(statSync(current).size).toBeLessThan(statSync(old).size * 0.5)
    expect(await restore(old, join(root, 'restored1'))).toBe(ROWS)
    expect(await dump(join(root, 'restored1'))).toEqual(await dump(dataDir))
  }, 240_000)

  it('refuses a flipped byte inside a compressed chunk, naming the member, and installs nothing', async () => {
    const bytes = readFileSync(current)
    // The first chunk member's data starts after its 512-byte header; flip a byte well inside it.
    const bad = Buffer.from(bytes)
    bad[512 + 4000] = bad[512 + 4000]! ^ 0x20
    const file = join(root, 'flipped.tar')
    writeFileSync(file, bad)
    await expect(scanBackup(backupFileBytes(file))).rejects.toMatchObject({ code: 'SB_BACKUP_INVALID', message: expect.stringMatching(/shards\/0\/000001\.kv/) })
  }, 240_000)

  it('refuses to swap in a restore whose file changed after the check pass (install pass rechecks checksums)', async () => {
    const file = join(root, 'changing.tar')
    writeFileSync(file, readFileSync(current))
    const report = await scanBackup(backupFileBytes(file))
    // A byte of node.json: the install pass neither decodes nor writes it (the first pass's copy is
    // written), so only the recomputed SHA-256 can notice.
    const bad = readFileSync(file)
    const at = dataOffset(bad, 'node.json') + 2
    bad[at] = bad[at]! ^ 0x20
    writeFileSync(file, bad)
    const target = join(root, 'never')
    await expect(installFullBackup({ file, report, target, force: false, config, clock: systemClock })).rejects.toMatchObject({ code: 'SB_BACKUP_INVALID', message: expect.stringMatching(/node\.json fails its SHA-256/) })
    expect(existsSync(target)).toBe(false)
    expect(existsSync(`${target}.restoring-${process.pid}`)).toBe(false)
  }, 240_000)
})
