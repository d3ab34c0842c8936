import { applyBatches } from '../backup/apply-batches'
import { cutEntries } from '../backup/cluster-cut'
import { scanBackup } from '../backup/scan'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import { ScratchBirdError } from '../core/errors'
import { asShardId } from '../core/ids'
import type { ParsedFlags } from './args'
import { backupFileBytes, stderr } from './backup-stream'
import { checkClusterNode, clusterBackupDir, readClusterManifest } from './cluster-backup'
import { installFullBackup } from './full-restore'

// scratchbird_restore --file=DIR --node=N --target=DIR (issue 17 item 5): node N's part of a
// cluster backup (cluster-backup.ts) as node N's data directory. Every node of the cluster is
// restored this way from the same DIR, each into its own data directory (on its own machine, or
// side by side); the restored nodes then hold exactly the transactions with commit HLC ≤ the cut.
//   1. the cluster manifest is read and node N's two archives are checked against it (size,
//      SHA-256, backup ids: an archive of another cluster backup is refused) and end to end;
//   2. the full backup is installed as a plain restore does (full-restore.ts), then the node's
//      commit log after it is applied through the shard workers' replica apply, each entry at its
//      LSN, those committed above the cut emptied (backup/cluster-cut.ts);
//   3. the catalog and HLC mark are the log archive's (taken after the cut: every DDL before it).
// Without --node the node is node.id of --config.
// Schema changes during the backup are outside the cut: the catalog is the one of the moment the
// log was read (documented in scratchbird_backup(1)).

export const CLUSTER_RESTORE_MARK = 'cluster-backup.json'

/** The node whose part of the cluster backup at `path` to restore: --node, else node.id of --config (SB_BAD_ARGUMENT: exit 2). */
export function clusterNodeFlag (path: string, flags: ParsedFlags, config: Config): number {
  const nodeText = typeof flags.node === 'string' ? flags.node : typeof flags.config === 'string' ? String(config.node.id) : undefined
  if (nodeText === undefined || !/^\d{1,5}$/.test(nodeText) || Number(nodeText) < 1) throw new ScratchBirdError('SB_BAD_ARGUMENT', `scratchbird_restore: ${clusterBackupDir(path)} is a cluster backup: name the node to restore with --node=N (or --config of that node)`)
  if (flags['replay-commit-log'] === true) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'scratchbird_restore: a cluster backup is restored at its cut; --replay-commit-log is for an incremental backup of one node')
  return Number(nodeText)
}

export async function restoreClusterNode (path: string, nodeId: number, flags: ParsedFlags, target: string, config: Config, clock: Clock): Promise<number> {
  const dir = clusterBackupDir(path)
  stderr(`restore: checking node ${nodeId}'s part of cluster backup ${dir}`)
  const cm = readClusterManifest(dir)
  const b = await checkClusterNode(dir, cm, nodeId)
  const cut = BigInt(cm.cutHlc)
  let applied = 0
  let emptied = 0
  const files = new Map<string, Uint8Array>()
  for (const name of ['catalog.json', 'hlc.hwm']) {
    const data = b.log.meta.get(name)
    if (data !== undefined) files.set(name, data)
  }
  files.set(CLUSTER_RESTORE_MARK, Buffer.from(JSON.stringify({ clusterBackupId: cm.clusterBackupId, cutHlc: cm.cutHlc, nodeId }) + '\n'))
  const { rows, replaced } = await installFullBackup({
    file: b.fullPath,
    report: b.full,
    target,
    force: flags.force === true,
    config,
    clock,
    files,
    after: async (w) => {
      await scanBackup(backupFileBytes(b.logPath), {
        onLogChunk: async (c) => {
          const cutChunk = cutEntries(c.entries, cut)
          for (const batch of applyBatches(cutChunk.entries)) await w.request('REPL_APPLY', { shard: asShardId(c.shard), entries: batch })
          applied += c.entries.length
          emptied += cutChunk.emptied
        }
      })
    }
  })
  stderr(`restore: ${target} restored as node ${nodeId} of cluster backup ${cm.clusterBackupId} (cut at HLC ${cm.cutHlc}): ${rows} row version(s) from the snapshots, ` +
    `${applied} commit-log entries applied (${emptied} committed after the cut, emptied)` + (replaced !== null ? `; its previous contents are in ${replaced}` : ''))
  return 0
}
