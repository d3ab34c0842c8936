import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import pino from 'pino'
import { CURRENT_FORMAT_NAME, migrateCatalog, type MigrationStep } from '../backup/migrate-rules'
import { scanBackup } from '../backup/scan'
import { writeFileAtomic } from '../core/atomic-file'
import type { Clock } from '../core/clock'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError, isScratchBirdError, messageOf } from '../core/errors'
import { BackupSource } from '../node/backup-source'
import { lockDataDir } from '../node/data-dir-lock'
import { dataFormatOf, recordDataFormat } from '../node/data-format'
import { startToolWorkers } from '../node/restore-workers'
import type { ParsedFlags } from './args'
import { backupFileBytes, Output } from './backup-programs'

// scratchbird_migrate --from=alpha --to=beta [--target=DIR | --config=FILE] [--dry-run]
// [--no-backup] [--backup-output=FILE] (issue 17 item 6; the seeds' "Step 2"). With the node
// stopped: checks the directory is in format alpha (already beta: nothing to do, exit 0 — the
// migration is idempotent), takes a full backup of it first (the shard workers read it as a node
// would serve GET /v1/admin/backup; checked after writing) unless --no-backup, then runs the six
// statements on the catalog (migrate-rules.ts) and records format beta. --dry-run prints what it
// would run and changes nothing. Rollback is scratchbird_restore --backup=<that backup>.

function stderr (line: string): void { process.stderr.write(line + '\n') }

function stamp (ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')
}

async function offlineBackup (dataDir: string, output: string, clock: Clock): Promise<void> {
  const identity = JSON.parse(readFileSync(join(dataDir, 'node.json'), 'utf8')) as { nodeId: number, cluster: string }
  const layout = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { shards: number }
  const config = loadConfig({})
  const { workers } = await startToolWorkers(dataDir, identity.nodeId, layout.shards, config, clock)
  const partial = `${output}.partial`
  const out = new Output(partial, /\.(t?gz)$/i.test(output))
  try {
    const source = new BackupSource({
      workers,
      shards: layout.shards,
      dataDir,
      maxMessageBytes: 8 * 1024 * 1024,
      nodeId: identity.nodeId,
      cluster: identity.cluster,
      clock,
      hlcNow: () => BigInt(clock.now()) << 12n,
      log: pino({ level: 'silent' })
    })
    await source.write('full', async (b) => { await out.write(b) }, () => {})
    await out.close()
  } catch (e) {
    out.destroy()
    rmSync(partial, { force: true })
    throw e
  } finally {
    await workers.stop()
  }
  await scanBackup(backupFileBytes(partial))
  renameSync(partial, output)
}

export async function runMigrate (flags: ParsedFlags, clock: Clock): Promise<number> {
  const program = 'scratchbird_migrate'
  if (flags.from !== 'alpha' || flags.to !== 'beta') {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: this release migrates --from=alpha --to=beta only (got --from=${String(flags.from)} --to=${String(flags.to)})`)
  }
  const config = loadConfig({ file: typeof flags.config === 'string' ? flags.config : undefined })
  const dataDir = resolve(typeof flags.target === 'string' && flags.target !== '' ? flags.target : config.node.data_dir)
  if (!existsSync(join(dataDir, 'node.json'))) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: ${dataDir} is not a data directory (no node.json)`)
  let lock: ReturnType<typeof lockDataDir> | null = null
  try {
    lock = lockDataDir(dataDir)
    const f = dataFormatOf(dataDir)
    if (f.name === CURRENT_FORMAT_NAME) {
      if (!f.recorded && flags['dry-run'] !== true) recordDataFormat(dataDir)
      stderr(`migrate: ${dataDir} is already in format ${CURRENT_FORMAT_NAME}; nothing to do`)
      return 0
    }
    if (f.name !== 'alpha') throw new ScratchBirdError('SB_DATA_FORMAT', `${dataDir} is in format ${f.format}, not alpha: this release cannot migrate it`, { dataDir })
    const catalogPath = join(dataDir, 'catalog.json')
    const { doc, steps } = migrateCatalog(JSON.parse(readFileSync(catalogPath, 'utf8')) as Parameters<typeof migrateCatalog>[0])
    const show = (s: MigrationStep): string => `  ${s.sql};  -- ${s.tables.length === 0 ? 'no table lacks it' : s.tables.join(', ')}`
    if (flags['dry-run'] === true) {
      process.stdout.write([`migrate (dry run): ${dataDir} alpha -> beta would run:`, ...steps.map(show), 'and record format beta; nothing was changed.'].join('\n') + '\n')
      return 0
    }
    if (flags['no-backup'] !== true) {
      const output = typeof flags['backup-output'] === 'string' ? resolve(flags['backup-output']) : join(dirname(dataDir), `${basename(dataDir)}.alpha-${stamp(clock.now())}.tar.gz`)
      if (existsSync(output)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: ${output} exists; give --backup-output a new file`)
      stderr(`migrate: backing up ${dataDir} to ${output} first`)
      await offlineBackup(dataDir, output, clock)
      stderr(`migrate: backup written and checked: ${output} (roll back with scratchbird_restore --backup=${output} --target=${dataDir})`)
    }
    // The catalog first, then the format: a crash between leaves an alpha-marked directory whose
    // catalog a rerun finds complete (each statement adds only what is missing).
    writeFileAtomic(catalogPath, JSON.stringify(doc, null, 1))
    recordDataFormat(dataDir)
    process.stdout.write([`migrate: ${dataDir} migrated alpha -> beta:`, ...steps.map(show)].join('\n') + '\n')
    return 0
  } catch (e) {
    stderr(isScratchBirdError(e) ? `${program}: ${e.message} [${e.code}]` : `${program}: ${messageOf(e)}`)
    return 1
  } finally {
    lock?.release()
  }
}
