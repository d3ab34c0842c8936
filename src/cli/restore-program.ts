import { resolve } from 'node:path'
import { scanBackup } from '../backup/scan'
import type { Clock } from '../core/clock'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError, isScratchBirdError, messageOf } from '../core/errors'
import type { ParsedFlags } from './args'
import { backupFileBytes, backupFileFlag } from './backup-programs'
import { stderr } from './backup-stream'
import { isClusterBackup } from './cluster-backup'
import { clusterNodeFlag, restoreClusterNode } from './cluster-restore'
import { installFullBackup } from './full-restore'
import { restoreIncremental } from './incremental-restore'

// scratchbird_restore --file=FILE [--target=DIR] [--force] (issue 17 item 3; --backup=FILE is the
// seeds' rollback spelling of --file; without --target the data directory is node.data_dir of
// --config, else of the defaults). A restore is built beside the target and swapped in whole:
//   1. the backup is read end to end and checked (scan.ts) — nothing is written from a backup
//      that fails verification;
//   2. the target is judged (restore-rules.ts): refused when it is another cluster's, or not
//      empty and not this node's without --force; refused while a node runs on it (its lock);
//   3. <target>.restoring-<pid> gets the identity, layout, catalog and HLC mark, and every shard
//      is installed through the shard workers — this program starts them as a node does — with
//      the replica-bootstrap install (REPL_SNAPSHOT_INSTALL: the shard's log continues after the
//      snapshot's LSN, its transaction ids are kept behind the node's counter), each chunk as the
//      second read of the file passes it, then the shard's role is set back to a single copy;
//   4. an existing target is renamed to <target>.replaced-<time> (kept, never deleted) and the
//      new directory renamed into its place. A failure before that removes the half-built
//      directory and leaves the target as it was (full-restore.ts).
// --file=DIR of a cluster backup restores one node's part of it (--node=N): cluster-restore.ts.

export async function runRestore (flags: ParsedFlags, clock: Clock): Promise<number> {
  const program = 'scratchbird_restore'
  const file = backupFileFlag(program, flags)
  const config = loadConfig({ file: typeof flags.config === 'string' ? flags.config : undefined })
  const target = resolve(typeof flags.target === 'string' && flags.target !== '' ? flags.target : config.node.data_dir)
  const clusterNode = isClusterBackup(file) ? clusterNodeFlag(file, flags, config) : null
  try {
    if (clusterNode !== null) return await restoreClusterNode(file, clusterNode, flags, target, config, clock)
    stderr(`restore: checking ${file}`)
    const report = await scanBackup(backupFileBytes(file))
    const m = report.manifest
    if (m.type === 'incremental') return await restoreIncremental(file, report, target, flags['replay-commit-log'] === true, config, clock)
    if (flags['replay-commit-log'] === true) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: --replay-commit-log stages an incremental backup; ${file} is a full one`)
    const { rows, replaced } = await installFullBackup({ file, report, target, force: flags.force === true, config, clock })
    stderr(`restore: ${target} restored from ${file}: ${rows} row(s), shard LSNs ${m.shards.map(s => `${s.shard}:${s.lsn}`).join(' ')}` +
      (replaced !== null ? `; its previous contents are in ${replaced}` : ''))
    return 0
  } catch (e) {
    stderr(isScratchBirdError(e) ? `${program}: ${e.message} [${e.code}]` : `${program}: ${messageOf(e)}`)
    return 1
  }
}
