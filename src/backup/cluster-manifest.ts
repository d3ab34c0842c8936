import { ScratchBirdError } from '../core/errors'
import { asHlcTs } from '../core/ids'
import { hlcMs } from '../storage/types'
import type { BackupManifest } from './manifest'

// The manifest of a cluster backup (`scratchbird_backup --cluster --output=DIR`): DIR holds, per
// node, the node's full backup (`node-<id>.full.tar`) and the commit log after it
// (`node-<id>.log.tar`, an incremental backup), each an ordinary backup archive the node streamed
// and the tool checked as it passed, plus this file, `cluster-manifest.json`, written last. It
// binds them: the cut HLC every node's restore applies (cluster-cut.ts), the cluster backup's id,
// and the size, SHA-256 and backup id of each archive — a node's archive of another cluster
// backup (or a damaged one) does not match and is refused, so the nodes of one restored cluster
// are always cut at the same HLC.
// One archive per node (not one archive for all): each node's backup streams from its node on
// its own connection and restores from its own files, no archive member is larger than one
// node's chunk, and each file is also a plain backup verify_backup reads.

export const CLUSTER_MANIFEST_NAME = 'cluster-manifest.json'
export const CLUSTER_BACKUP_KIND = 'scratchbird-cluster-backup'
export const CLUSTER_BACKUP_FORMAT = 1

export interface ClusterArchive {
  /** File name inside the backup directory. */
  readonly file: string
  readonly backupId: string
  readonly bytes: number
  readonly sha256: string
}

export interface ClusterNodeEntry {
  readonly nodeId: number
  readonly full: ClusterArchive
  readonly log: ClusterArchive
}

export interface ClusterManifest {
  readonly kind: typeof CLUSTER_BACKUP_KIND
  readonly format: number
  /** The cut HLC (decimal u64) and the cluster backup's id (the same number: T is unique per cluster). */
  readonly clusterBackupId: string
  readonly cutHlc: string
  readonly cluster: string
  readonly version: string
  readonly createdAtMs: number
  readonly nodes: readonly ClusterNodeEntry[]
}

export const fullArchiveName = (nodeId: number): string => `node-${nodeId}.full.tar`
export const logArchiveName = (nodeId: number): string => `node-${nodeId}.log.tar`

/** The wall-clock time (ms since the epoch) of a cut HLC. */
export function cutTimeMs (cut: bigint): number { return hlcMs(asHlcTs(cut)) }

function bad (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_INVALID', `cluster backup manifest: ${why}`, { member: CLUSTER_MANIFEST_NAME })
}

const isU64Text = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v) && BigInt(v) < 1n << 64n
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

function checkArchive (a: unknown, name: string, where: string): void {
  const r = a as Record<string, unknown> | null
  if (r === null || typeof r !== 'object' || r.file !== name || !isU64Text(r.backupId) || !isCount(r.bytes) ||
    typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) throw bad(`${where} is malformed`)
}

/** Parse and validate a cluster manifest's bytes (SB_BACKUP_INVALID naming what is wrong). */
export function parseClusterManifest (bytes: Uint8Array): ClusterManifest {
  let m: Record<string, unknown>
  try { m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown> } catch { throw bad('not valid JSON') }
  if (m === null || typeof m !== 'object') throw bad('not an object')
  if (m.kind !== CLUSTER_BACKUP_KIND) throw bad(`not a ScratchBird cluster backup (kind ${JSON.stringify(m.kind)})`)
  if (typeof m.format !== 'number' || m.format > CLUSTER_BACKUP_FORMAT || m.format < 1) throw bad(`format ${String(m.format)} is not one this release reads (${CLUSTER_BACKUP_FORMAT})`)
  if (!isU64Text(m.clusterBackupId) || !isU64Text(m.cutHlc)) throw bad('clusterBackupId or cutHlc missing')
  if (typeof m.cluster !== 'string' || m.cluster === '' || typeof m.version !== 'string' || !isCount(m.createdAtMs)) throw bad('cluster, version or createdAtMs missing')
  if (!Array.isArray(m.nodes) || m.nodes.length === 0) throw bad('no nodes')
  const ids = new Set<number>()
  for (const n of m.nodes as Array<Record<string, unknown>>) {
    if (n === null || typeof n !== 'object' || !isCount(n.nodeId) || n.nodeId < 1 || n.nodeId > 65535) throw bad('a node entry is malformed')
    if (ids.has(n.nodeId)) throw bad(`node ${n.nodeId} listed twice`)
    ids.add(n.nodeId)
    checkArchive(n.full, fullArchiveName(n.nodeId), `node ${n.nodeId}'s full archive`)
    checkArchive(n.log, logArchiveName(n.nodeId), `node ${n.nodeId}'s log archive`)
  }
  return m as unknown as ClusterManifest
}

/**
 * Does a node's pair of archives (their manifests, already checked) belong to this cluster backup?
 * SB_BACKUP_REFUSED naming the mismatch: an archive of another cluster backup, another node or
 * cluster, or a log that does not continue the full backup.
 */
export function checkNodeArchives (cm: ClusterManifest, nodeId: number, full: BackupManifest, log: BackupManifest): ClusterNodeEntry {
  const entry = cm.nodes.find(n => n.nodeId === nodeId)
  const refuse = (why: string): ScratchBirdError => new ScratchBirdError('SB_BACKUP_REFUSED', `cluster backup ${cm.clusterBackupId}: ${why}`, { nodeId, clusterBackupId: cm.clusterBackupId })
  if (entry === undefined) throw refuse(`it holds no backup of node ${nodeId} (nodes ${cm.nodes.map(n => n.nodeId).join(', ')})`)
  if (full.type !== 'full' || full.backupId !== entry.full.backupId || full.nodeId !== nodeId || full.cluster !== cm.cluster) {
    throw refuse(`${entry.full.file} is backup ${full.backupId} of node ${full.nodeId} (cluster "${full.cluster}"), not the full backup ${entry.full.backupId} of node ${nodeId} this cluster backup names: the archives of different cluster backups are never mixed`)
  }
  if (log.type !== 'incremental' || log.backupId !== entry.log.backupId || log.parentId !== full.backupId || log.nodeId !== nodeId || log.cluster !== cm.cluster) {
    throw refuse(`${entry.log.file} is backup ${log.backupId} of node ${log.nodeId}, not the commit log ${entry.log.backupId} after full backup ${full.backupId} this cluster backup names: the archives of different cluster backups are never mixed`)
  }
  for (const s of log.shards) {
    const f = full.shards[s.shard]
    if (f === undefined || BigInt(s.fromLsn!) !== BigInt(f.lsn) + 1n) throw refuse(`node ${nodeId}'s commit log of shard ${s.shard} starts at LSN ${String(s.fromLsn)}, not right after its snapshot (${String(f?.lsn)})`)
  }
  return entry
}
