// Statements on leaderless_quorum tables in a cluster (DESIGN §6 "Mode 3"; issue 6). The
// executor plans them as usual and hands the row versions to the node's quorum shell
// (env.quorum, src/server/quorum.ts) instead of the MGA write path:
//  - INSERT is an upsert (last write wins): a replica keeps the highest version of a key, so an
//    INSERT of an existing key replaces the row instead of failing with a duplicate-key error —
//    there is no single owner that could check uniqueness.
//  - UPDATE / DELETE read the matching rows first — a quorum read (R replicas) when the WHERE pins
//    the whole primary key, else a scan of one live replica per shard (which may miss writes that
//    replica has not received yet) — then quorum-write the new versions / tombstones.
//  - SELECT pinning the whole primary key is a quorum read (R replicas, newest version wins,
//    stale replicas repaired in the background); other SELECTs (and joins) scan one live replica
//    per shard (src/server/shard-router.ts), like Cassandra's consistency ONE for range scans.
//  - Autocommit only: inside BEGIN … COMMIT, writes to a leaderless table are refused with
//    SB_FEATURE_NOT_SUPPORTED (shipping the buffered mutations at COMMIT is not built yet).
// Without env.quorum (a single node) none of this applies: leaderless tables use the MGA path.
import type { TableInfo } from '../../catalog/catalog'
import { ScratchBirdError } from '../../core/errors'
import type { ReplicaWrite, ScanOptions } from '../../storage/engine'
import type { Tuple } from '../../storage/keys'
import { decodeRow } from '../row-codec'
import type { SqlValue } from '../values'
import type { ExecEnv } from './env'
import type { TableShape } from './table-types'
import type { SqlTxn } from './txn'
import type { ShardWrites } from './write-rows'

export function isQuorumTable (env: ExecEnv, info: TableInfo): boolean {
  return env.quorum !== undefined && info.replication.replication_mode === 'leaderless_quorum'
}

function refuseInTxn (info: TableInfo, txn: SqlTxn | null): void {
  if (txn !== null) {
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
      `writes to leaderless_quorum table "${info.name}" inside a transaction block are not supported yet; run them in autocommit (outside BEGIN … COMMIT)`,
      { table: info.name })
  }
}

/** The statement's writes as replica versions (delete → tombstone); returns [versions, rows written, tombstones]. */
function toReplicaWrites (writes: ShardWrites): { versions: Map<number, ReplicaWrite[]>, rows: number, deletes: number } {
  const versions = new Map<number, ReplicaWrite[]>()
  let rows = 0
  let deletes = 0
  for (const [shard, list] of writes) {
    versions.set(shard, list.map(w => {
      if (w.op === 'delete') deletes++
      else rows++
      return { tableId: w.tableId, pk: w.pk, pkBytes: w.pkBytes, versionId: w.versionId, row: w.op === 'delete' ? null : w.row }
    }))
  }
  return { versions, rows, deletes }
}

/** INSERT (upsert) into a leaderless table: rows written. */
export async function quorumInsert (env: ExecEnv, info: TableInfo, writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
  refuseInTxn(info, txn)
  const { versions, rows } = toReplicaWrites(writes)
  await env.quorum!.write(info, versions)
  return rows
}

/** UPDATE / DELETE writes: rows updated (new versions that are not tombstones) or deleted. */
export async function quorumModifyWrite (env: ExecEnv, info: TableInfo, kind: 'update' | 'delete', writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
  refuseInTxn(info, txn)
  const { versions, rows, deletes } = toReplicaWrites(writes)
  await env.quorum!.write(info, versions)
  return kind === 'update' ? rows : deletes
}

/** A point lookup (the whole primary key pinned) on a leaderless table: a quorum read. */
export function isQuorumPoint (env: ExecEnv, shape: TableShape, options: ScanOptions): boolean {
  return isQuorumTable(env, shape.info) && options.exact === true && options.gte !== undefined
}

/** Quorum point read: the full rows (table column order) of the pinned key, 0 or 1 per shard. */
export async function quorumPointRows (env: ExecEnv, shape: TableShape, shards: readonly number[], options: ScanOptions): Promise<SqlValue[][]> {
  const pk = options.gte as Tuple
  const parts = await Promise.all(shards.map(shard => env.quorum!.read(shape.info, shard, [pk])))
  return parts.flat().filter((r): r is Uint8Array => r !== null).map(r => decodeRow(shape.types, r))
}

/** EXPLAIN lines of a statement on a leaderless table: its quorum settings and the shards' replicas. */
export function explainQuorum (env: ExecEnv, info: TableInfo, shards: readonly number[], access: 'point' | 'scan' | 'write'): string[] {
  const { replication_factor: n, write_quorum: w, read_quorum: r } = info.replication
  const how = access === 'write'
    ? `quorum write: each shard's rows to its ${n} replicas, answered after W=${w} acknowledgements (one XID, no two-phase commit; INSERT is an upsert)`
    : access === 'point'
      ? `quorum read: R=${r} of ${n} replicas, newest version wins, stale replicas repaired in the background`
      : 'scan of one live replica per shard (not a quorum read)'
  const lines = [`Leaderless quorum (N=${n}, W=${w}, R=${r}): ${how}`]
  if (shards.length <= 4) for (const s of shards) lines.push(`  shard ${s} replicas: nodes ${env.quorum!.replicas(s, n).join(', ')}`)
  return lines
}
