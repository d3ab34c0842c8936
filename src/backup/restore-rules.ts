import { ScratchBirdError } from '../core/errors'
import type { BackupManifest } from './manifest'

// Whether a restore may write a target data directory (scratchbird_restore): the decision alone,
// from what the target holds, so the rules are tested without files.
//   - a missing or empty target: restored into;
//   - a data directory of ANOTHER cluster: refused, --force or not (its cluster would receive a
//     foreign node's rows and identity; the operator removes it by hand if that is really meant);
//   - a data directory of the same node of the same cluster: replaced (the seeds' recovery and
//     rollback runs restore a node's own directory, without --force);
//   - anything else non-empty (another node's directory, unrelated files): refused unless --force.
// A replaced directory is never deleted: its old contents are moved aside (restore-program.ts).

export interface TargetState {
  /** Entries in the target (0: missing or empty). */
  readonly entries: number
  /** The target's node.json, when it has one that parses. */
  readonly identity: { readonly nodeId: unknown, readonly cluster: unknown } | null
}

export type TargetDecision = 'create' | 'replace'

export function restoreTargetDecision (target: string, state: TargetState, manifest: Pick<BackupManifest, 'cluster' | 'nodeId'>, force: boolean): TargetDecision {
  if (state.entries === 0) return 'create'
  const id = state.identity
  if (id !== null && id.cluster !== manifest.cluster) {
    throw new ScratchBirdError('SB_BACKUP_REFUSED',
      `${target} is a data directory of cluster "${String(id.cluster)}"; this backup is of cluster "${manifest.cluster}": a backup is never restored into another cluster`,
      { target, targetCluster: id.cluster, backupCluster: manifest.cluster })
  }
  if (id !== null && id.nodeId === manifest.nodeId) return 'replace'
  if (force) return 'replace'
  throw new ScratchBirdError('SB_BACKUP_REFUSED',
    id === null
      ? `${target} is not empty and is not a data directory of node ${manifest.nodeId}; restore into an empty directory, or add --force to move its contents aside`
      : `${target} is the data directory of node ${String(id.nodeId)}; this backup is of node ${manifest.nodeId}: add --force to replace it (its contents are moved aside)`,
    { target })
}
