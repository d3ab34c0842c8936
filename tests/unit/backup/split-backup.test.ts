import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { scanBackup } from '../../../src/backup/scan'
import { backupFileBytes, Output } from '../../../src/cli/backup-stream'
import { installFullBackup } from '../../../src/cli/full-restore'
import { restoreIncremental } from '../../../src/cli/incremental-restore'
import { systemClock } from '../../../src/core/clock'
import { loadConfig } from '../../../src/core/config/load'
import { asShardId } from '../../../src/core/ids'
import { BackupSource } from '../../../src/node/backup-source'
import { checkClusterLayout, layoutOfConfig } from '../../../src/node/cluster-layout'
import { checkNodeIdentity } from '../../../src/node/node-identity'
import { startToolWorkers } from '../../../src/node/restore-workers'
import type { BackupType } from '../../../src/backup/manifest'
import { hlcTs } from '../../../src/storage/types'
import { vid } from '../node/worker-fixtures'

// Backups across a shard split (cluster/shard-split.ts "WHAT ELSE KEYS ON SHARD IDS": each shard's
// log starts again at a split, so no incremental backup or point-in-time replay crosses one), on
// real workers and LevelDB: a node's backup reads the shard count live (a split adds shards while
// the node runs: the next full backup has them all); an incremental after a split is refused,
// naming it; an incremental taken at n shards is never applied to a data directory of 2n.

const base = loadConfig({})
const config = { ...base, cluster: { ...base.cluster, name: 't' }, storage: { ...base.storage, shards: 1 } }
const root = mkdtempSync(join(tmpdir(), 'sb-backup-split-'))
afterAll(() => { rmSync(root, { recursive: true, force: true }) })
let hlc = 3_000_000

/** cluster.json of 1 shard → the layout after its split into 2 (a later epoch, the split recorded). */
function splitLayout (file: string): void {
  const l = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  writeFileSync(file, JSON.stringify({ ...l, shards: 2, epoch: Number(l.epoch) + 1, splitFrom: [1] }))
}

describe('backups across a shard split', () => {
  it('a full backup after a split has every shard; an incremental is refused until then; an incremental of n shards is not applied to 2n', async () => {
    const dataDir = join(root, 'data')
    mkdirSync(dataDir)
    checkNodeIdentity(dataDir, { nodeId: config.node.id, cluster: 't' })
    checkClusterLayout(dataDir, layoutOfConfig(config))
    // Two shards open; the node follows 1 until the "split" below.
    const { workers } = await startToolWorkers(dataDir, config.node.id, 2, config, systemClock)
    const count = { shards: 1 }
    const source = new BackupSource({ workers, shards: count, dataDir, maxMessageBytes: 8 << 20, nodeId: config.node.id, cluster: 't', clock: systemClock, hlcNow: () => BigInt(++hlc) << 16n, log: pino({ level: 'silent' }) })
    const write = async (n: number): Promise<void> => {
      const writes = Array.from({ length: 10 }, (_, i) => ({ op: 'insert' as const, tableId: 1, pk: [n * 100 + i], row: Buffer.from(`row ${n} ${i}`), versionId: vid() }))
      await workers.request('AUTOCOMMIT', { shard: asShardId(0), writes, commitHlc: hlcTs(++hlc) })
    }
    const backup = async (type: BackupType, file: string): Promise<string> => {
      const out = new Output(file, false)
      await source.write(type, async (b) => { await out.write(b) }, () => {})
      await out.close()
      const { manifest } = await scanBackup(backupFileBytes(file))
      source.done(manifest.backupId)
      return file
    }
    try {
      await write(1)
      const full1 = await backup('full', join(root, 'full1.tar'))
      await write(2)
      const incr1 = await backup('incremental', join(root, 'incr1.tar'))
      expect((await scanBackup(backupFileBytes(incr1))).manifest.shardCount).toBe(1)

      // The split: the node records the layout of 2 shards in cluster.json, then follows it.
      splitLayout(join(dataDir, 'cluster.json'))
      count.shards = 2
      await write(3)
      await expect(source.write('incremental', async () => {}, () => {})).rejects.toMatchObject({ code: 'SB_BACKUP_REFUSED', message: expect.stringMatching(/taken at 1 shards; the node has 2 since a shard split/) })
      const full2 = await backup('full', join(root, 'full2.tar'))
      const m2 = (await scanBackup(backupFileBytes(full2))).manifest
      expect(m2.shardCount).toBe(2)
      expect(m2.shards.map(s => s.shard)).toEqual([0, 1])

      // A data directory restored from the first full backup, then split to 2 shards (cluster.json
      // records it): the incremental of 1 shard is refused and nothing is applied.
      const target = join(root, 'restored')
      await installFullBackup({ file: full1, report: await scanBackup(backupFileBytes(full1)), target, force: false, config, clock: systemClock })
      const layoutFile = join(target, 'cluster.json')
      const layout = readFileSync(layoutFile)
      splitLayout(layoutFile)
      await expect(restoreIncremental(incr1, await scanBackup(backupFileBytes(incr1)), target, false, config, systemClock))
        .rejects.toMatchObject({ code: 'SB_BACKUP_REFUSED', message: expect.stringMatching(/has 2 shards; incremental backup \d+ was taken at 1/) })
      // The same directory at its own count takes it.
      writeFileSync(layoutFile, layout)
      expect(await restoreIncremental(incr1, await scanBackup(backupFileBytes(incr1)), target, false, config, systemClock)).toBe(0)
    } finally {
      await workers.stop()
    }
  }, 240_000)
})
