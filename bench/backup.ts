// Full backup and restore of one shard (issue 17 acceptance): the node's backup writer
// (BackupSource: REPL_SNAPSHOT_READ chunks through the shard worker into the tar archive) and
// scratchbird_restore's path (the checking pass over the file, then REPL_SNAPSHOT_INSTALL through
// fresh shard workers and the swap into place), in MB/s of the data directory and rows/s. Baseline, in the
// same run: `tar -cf` of the same data directory, and `tar -xf` of that tar into an empty one.
// SB_BACKUP_BENCH_ROWS shrinks the shard (default 1,000,000 rows of ~100 bytes).
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { scanBackup } from '../src/backup/scan'
import { Output, backupFileBytes } from '../src/cli/backup-stream'
import { installFullBackup } from '../src/cli/full-restore'
import { systemClock } from '../src/core/clock'
import { loadConfig } from '../src/core/config/load'
import { asShardId } from '../src/core/ids'
import { BackupSource } from '../src/node/backup-source'
import { checkClusterLayout, layoutOfConfig } from '../src/node/cluster-layout'
import { checkNodeIdentity } from '../src/node/node-identity'
import { startToolWorkers } from '../src/node/restore-workers'
import { printResult } from './lib/result'
import { insertOf, nextHlc } from './lib/shards'

const ROWS = Number(process.env.SB_BACKUP_BENCH_ROWS ?? 1_000_000)
if (!Number.isSafeInteger(ROWS) || ROWS < 1) throw new Error(`SB_BACKUP_BENCH_ROWS: expected a positive integer, got ${String(process.env.SB_BACKUP_BENCH_ROWS)}`)
const PER_COMMIT = 500
const IN_FLIGHT = 16

const root = mkdtempSync(join(tmpdir(), 'sb-bench-backup-'))
const dataDir = join(root, 'data')
mkdirSync(dataDir)
const base = loadConfig({})
const config = { ...base, cluster: { ...base.cluster, name: 'bench' }, storage: { ...base.storage, shards: 1 } }
checkNodeIdentity(dataDir, { nodeId: config.node.id, cluster: 'bench' })
checkClusterLayout(dataDir, layoutOfConfig(config))

function dirBytes (dir: string): number {
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size
  return n
}

function seconds (since: number): number { return (performance.now() - since) / 1000 }

// Fill shard 0 through the shard worker, as the node's writes would.
{
  const { workers } = await startToolWorkers(dataDir, config.node.id, 1, config, systemClock)
  let next = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    for (;;) {
      const from = next
      if (from >= ROWS) return
      next = Math.min(ROWS, from + PER_COMMIT)
      const writes = Array.from({ length: next - from }, (_, i) => insertOf(from + i))
      await workers.request('AUTOCOMMIT', { shard: asShardId(0), writes, commitHlc: nextHlc() })
    }
  }))
  await workers.stop()
}
const dataBytes = dirBytes(dataDir)

// Baseline: tar of the same (closed) data directory, and its extraction.
const tarFile = join(root, 'data.tar')
let t = performance.now()
const tc = spawnSync('tar', ['-cf', tarFile, '-C', dataDir, '.'], { stdio: 'inherit' })
if (tc.status !== 0) throw new Error('tar -cf failed')
const tarCreateS = seconds(t)
const tarBytes = statSync(tarFile).size
const untarDir = join(root, 'untar')
mkdirSync(untarDir)
t = performance.now()
const tx = spawnSync('tar', ['-xf', tarFile, '-C', untarDir], { stdio: 'inherit' })
if (tx.status !== 0) throw new Error('tar -xf failed')
const tarExtractS = seconds(t)

// Full backup: the node's writer, through a shard worker, into a plain tar file.
const backupFile = join(root, 'full.tar')
let backupBytes = 0
let backupS = 0
{
  const { workers } = await startToolWorkers(dataDir, config.node.id, 1, config, systemClock)
  const source = new BackupSource({
    workers,
    shards: 1,
    dataDir,
    maxMessageBytes: 8 * 1024 * 1024,
    nodeId: config.node.id,
    cluster: 'bench',
    clock: systemClock,
    hlcNow: () => nextHlc(),
    log: pino({ level: 'silent' })
  })
  const out = new Output(backupFile, false)
  t = performance.now()
  await source.write('full', async (b) => { backupBytes += b.length; await out.write(b) }, () => {})
  await out.close()
  backupS = seconds(t)
  await workers.stop()
}

// Restore: scratchbird_restore's two passes (check, then install) into an empty directory.
t = performance.now()
const report = await scanBackup(backupFileBytes(backupFile))
const checkS = seconds(t)
const { rows: restoredRows } = await installFullBackup({ file: backupFile, report, target: join(root, 'restored'), force: false, config, clock: systemClock })
const restoreS = seconds(t)
if (restoredRows !== ROWS) throw new Error(`restore installed ${restoredRows} rows, expected ${ROWS}`)

// MB/s of the DATA DIRECTORY moved (the bytes tar moves, the baseline's measure): since archive
// format 2 the archive is compressed, so its own size says nothing about speed (it is in the note).
const mb = (bytes: number, s: number): number => bytes / 1048576 / s
const note = `1 shard, ${ROWS} rows of ~100 bytes; data directory ${(dataBytes / 1048576).toFixed(1)} MB, backup ${(backupBytes / 1048576).toFixed(1)} MB, tar ${(tarBytes / 1048576).toFixed(1)} MB; backup ${backupS.toFixed(2)} s, restore ${restoreS.toFixed(2)} s (check pass ${checkS.toFixed(2)} s)`
printResult({ name: 'backup_full_mb', value: mb(dataBytes, backupS), unit: 'MB/s', baseline: mb(tarBytes, tarCreateS), note: `${note}; data-directory MB per s; baseline tar -cf of the data directory` })
printResult({ name: 'backup_full_rows', value: ROWS / backupS, unit: 'rows/s', baseline: ROWS / tarCreateS, note: `${note}; baseline tar -cf of the data directory` })
printResult({ name: 'restore_full_mb', value: mb(dataBytes, restoreS), unit: 'MB/s', baseline: mb(tarBytes, tarExtractS), note: `${note}; data-directory MB per s; restore = check pass + install; baseline tar -xf of that tar` })
printResult({ name: 'restore_full_rows', value: ROWS / restoreS, unit: 'rows/s', baseline: ROWS / tarExtractS, note: `${note}; restore = check pass + install; baseline tar -xf of that tar` })
rmSync(root, { recursive: true, force: true })
