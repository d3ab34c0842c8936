import { ScratchBirdError } from '../core/errors'

// The manifest of a backup: the archive's last member, `manifest.json`. It names what the backup
// holds and how to check it: the format, whose data it is (cluster, node), each shard's snapshot
// (its LSN — every commit at or below it is in the backup, none above — its generation, HLC
// high-water mark, keys, rows and chunk count), and the size and SHA-256 of every other member.
// Written last because the checksums are known only once every member has gone out (a backup is
// streamed, never held whole).

export const MANIFEST_NAME = 'manifest.json'
export const BACKUP_KIND = 'scratchbird-backup'
/** Format of the archive (members, chunk and manifest layout); a reader refuses a newer one and
 *  reads every older one. 2: snapshot chunks in chunk format 2 (prefix-coded keys, deflated:
 *  chunk.ts); 1: chunk format 1. */
export const BACKUP_FORMAT = 2

/** The data-directory files a backup carries besides the shards' snapshots (node-identity.ts, cluster-layout.ts, catalog/store.ts, hlc.hwm). */
export const META_MEMBERS = ['node.json', 'cluster.json', 'catalog.json', 'hlc.hwm'] as const
/** Of META_MEMBERS, those every backup holds (a node that never wrote a catalog or an HLC mark has none). */
export const REQUIRED_META = ['node.json', 'cluster.json'] as const

/** One shard in a backup. Full: the snapshot. Incremental: the log entries fromLsn .. lsn. */
export interface ShardSnapshotInfo {
  readonly shard: number
  /** Last LSN of the shard the backup holds (decimal string: u64): the snapshot's, or the last log entry's. */
  readonly lsn: string
  readonly generation: string
  readonly hlcHighWater: string
  /** Full: keys of the snapshot. Incremental: log entries. */
  readonly keys: number
  /** Full: rows (record versions) of the snapshot. Incremental: row mutations in the log entries. */
  readonly rows: number
  readonly chunks: number
  /** Incremental only: the first LSN it holds (the previous backup's lsn + 1). */
  readonly fromLsn?: string
}

export type BackupType = 'full' | 'incremental'

export interface MemberInfo { readonly name: string, readonly bytes: number, readonly sha256: string }

export interface BackupManifest {
  readonly kind: typeof BACKUP_KIND
  readonly format: number
  readonly type: BackupType
  /** Unique per node (the node's HLC when the backup started); incrementals name their parent by it. */
  readonly backupId: string
  /** Incremental: the backup it continues (full or incremental). */
  readonly parentId: string | null
  /** The release that wrote it. */
  readonly version: string
  readonly cluster: string
  readonly nodeId: number
  /** storage.shards of the node (every shard 0 .. shards − 1 is in the backup). */
  readonly shardCount: number
  /** Wall-clock time the backup started (ms since the epoch) and the node's HLC then. */
  readonly createdAtMs: number
  readonly hlc: string
  readonly shards: readonly ShardSnapshotInfo[]
  readonly members: readonly MemberInfo[]
}

function bad (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_INVALID', `backup manifest: ${why}`, { member: MANIFEST_NAME })
}

const isU64Text = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v) && BigInt(v) < 1n << 64n
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Parse and validate the manifest's bytes (SB_BACKUP_INVALID naming what is wrong). */
export function parseManifest (bytes: Uint8Array): BackupManifest {
  let m: Record<string, unknown>
  try { m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown> } catch { throw bad('not valid JSON') }
  if (m === null || typeof m !== 'object') throw bad('not an object')
  if (m.kind !== BACKUP_KIND) throw bad(`not a ScratchBird backup (kind ${JSON.stringify(m.kind)})`)
  if (typeof m.format !== 'number' || m.format > BACKUP_FORMAT || m.format < 1) {
    throw bad(`format ${String(m.format)} is not one this release reads (${BACKUP_FORMAT}); use the release that wrote it (${String(m.version)})`)
  }
  if (m.type !== 'full' && m.type !== 'incremental') throw bad(`type ${JSON.stringify(m.type)} is not one this release restores`)
  if (!isU64Text(m.backupId)) throw bad('backupId missing')
  if (m.type === 'incremental' ? !isU64Text(m.parentId) : m.parentId !== null) throw bad('parentId does not fit the type')
  if (typeof m.version !== 'string' || typeof m.cluster !== 'string' || m.cluster === '') throw bad('version or cluster missing')
  if (!isCount(m.nodeId) || m.nodeId < 1 || m.nodeId > 65535) throw bad('nodeId out of range')
  if (!isCount(m.shardCount) || m.shardCount < 1) throw bad('shardCount out of range')
  if (!isCount(m.createdAtMs) || !isU64Text(m.hlc)) throw bad('createdAtMs or hlc missing')
  if (!Array.isArray(m.shards) || m.shards.length !== m.shardCount) throw bad(`it lists ${Array.isArray(m.shards) ? m.shards.length : 0} shard snapshots for ${String(m.shardCount)} shards`)
  m.shards.forEach((s: Record<string, unknown>, i: number) => {
    if (s === null || typeof s !== 'object' || s.shard !== i || !isU64Text(s.lsn) || !isU64Text(s.generation) || !isU64Text(s.hlcHighWater) ||
      !isCount(s.keys) || !isCount(s.rows) || !isCount(s.chunks) || (m.type === 'full' && s.chunks < 1) ||
      (m.type === 'incremental' && (!isU64Text(s.fromLsn) || BigInt(s.fromLsn) < 1n || BigInt(s.lsn) !== BigInt(s.fromLsn) + BigInt(s.keys as number) - 1n))) throw bad(`shard entry ${i} is malformed`)
  })
  if (!Array.isArray(m.members)) throw bad('members missing')
  const names = new Set<string>()
  for (const e of m.members as Array<Record<string, unknown>>) {
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string' || !isCount(e.bytes) || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw bad('a member entry is malformed')
    if (names.has(e.name) || e.name === MANIFEST_NAME) throw bad(`member ${e.name} listed twice`)
    names.add(e.name)
  }
  return m as unknown as BackupManifest
}
