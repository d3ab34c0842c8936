import { existsSync } from 'node:fs'
import { scanBackup, type ScanReport } from '../backup/scan'
import { ScratchBirdError } from '../core/errors'
import type { ParsedFlags } from './args'
import { backupFileBytes, mb, printError, stderr, streamBackup } from './backup-stream'
import { authHeaders } from './credentials'
import { baseUrl } from './client'
import { isClusterBackup, runClusterBackup, verifyClusterBackup } from './cluster-backup'
import { trustCa } from './tls-client'

export { backupFileBytes, Output } from './backup-stream'

// scratchbird_backup and scratchbird_verify_backup (issue 17; the seeds' "Backup Strategy"):
//   scratchbird_backup --type=full --output=FILE [--url URL | --config FILE]
// asks the node for its backup (GET /v1/admin/backup, src/node/backup-source.ts) and writes it to
// FILE (gzip-compressed when FILE ends in .gz or .tgz), checking the archive as it passes exactly
// as verify does — so a backup that finishes with exit 0 has been verified once already. It is
// written to FILE.partial and renamed at the end: FILE never holds a half backup.
//   scratchbird_verify_backup --file=FILE
// reads FILE (plain or gzip) end to end and prints what it checked (src/backup/scan.ts).

export async function runBackup (flags: ParsedFlags): Promise<number> {
  if (flags.cluster === true) return await runClusterBackup(flags)
  const type = flags.type ?? 'full'
  if (type !== 'full' && type !== 'incremental') throw new ScratchBirdError('SB_BAD_ARGUMENT', `--type: expected full or incremental, got "${String(type)}"`)
  const output = flags.output
  if (typeof output !== 'string' || output === '') throw new ScratchBirdError('SB_BAD_ARGUMENT', 'scratchbird_backup: --output=FILE is required')
  if (existsSync(output)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `scratchbird_backup: ${output} exists; give a new file name (a backup never overwrites one)`, { output })
  const base = baseUrl(flags)
  // Backups need admin rights on the node (--user; credentials.ts).
  const headers = authHeaders(flags, process.env)
  trustCa(flags)
  try {
    const { report } = await streamBackup(base, headers, type, output)
    const m = report.manifest
    stderr(`backup: wrote ${output}: ${m.type} backup ${m.backupId}${m.parentId !== null ? ` (continues ${m.parentId})` : ''} of node ${m.nodeId} (cluster "${m.cluster}"), ${report.rows} row(s) in ${m.shardCount} shard(s), ${mb(report.bytes)}; ` +
      `shard LSNs ${m.shards.map(s => `${s.shard}:${s.lsn}`).join(' ')}`)
    return 0
  } catch (e) {
    printError('scratchbird_backup', e)
    return 1
  }
}

/** The backup file named by --file (or --backup, the spelling of the seeds' rollback section). */
export function backupFileFlag (program: string, flags: ParsedFlags): string {
  const f = typeof flags.file === 'string' ? flags.file : typeof flags.backup === 'string' ? flags.backup : undefined
  if (f === undefined || f === '') throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: --file=FILE is required`)
  return f
}

export async function runVerifyBackup (flags: ParsedFlags): Promise<number> {
  const file = backupFileFlag('scratchbird_verify_backup', flags)
  if (isClusterBackup(file)) return await verifyClusterBackup(file)
  let report: ScanReport
  try {
    report = await scanBackup(backupFileBytes(file))
  } catch (e) {
    printError(`scratchbird_verify_backup: ${file}`, e)
    return 1
  }
  const m = report.manifest
  const lines = [
    `${file}: ${m.type} backup ${m.backupId}${m.parentId !== null ? ` (continues ${m.parentId})` : ''} of node ${m.nodeId}, cluster "${m.cluster}", taken ${new Date(m.createdAtMs).toISOString()} by ScratchBird ${m.version} (format ${m.format})`,
    ...report.checked.map(l => `  ok: ${l}`),
    `${file}: OK (${report.members} members, ${report.rows} rows, ${mb(report.bytes)})`
  ]
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}
