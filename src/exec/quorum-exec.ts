// Statements on leaderless_quorum tables in a cluster (DESIGN §6 "Mode 3"; issue 6). The
// executor plans them as usual and hands the row versions to the node's quorum shell
// (env.quorum, src/node/quorum.ts) instead of the MGA write path:
//  - INSERT is an upsert (last write wins): a replica keeps the highest version of a key, so an
//    INSERT of an existing key replaces the row instead of failing with a duplicate-key error —
//    there is no single owner that could check uniqueness.
//  - UPDATE / DELETE read the matching rows first — a quorum read (R replicas) when the WHERE pins
//    the whole primary key, else a scan of one live replica per shard (which may miss writes that
//    replica has not received yet) — then quorum-write the new versions / tombstones.
//  - SELECT pinning the whole primary key is a quorum read (R replicas, newest version wins,
//    stale replicas repaired in the background); other SELECTs (and joins) scan one live replica
//    per shard (src/node/shard-router.ts), like Cassandra's consistency ONE for range scans.
//  - Inside BEGIN … COMMIT (a session, or several statements of one request) INSERT / UPDATE /
//    DELETE write nothing yet: the rows are buffered in the transaction (quorum-txn.ts) and COMMIT
//    ships them — one QuorumWrite per shard, one XID for the transaction, versions stamped at
//    COMMIT — succeeding when every shard reached W, else SB_QUORUM_NOT_ACHIEVED. Until then other
//    sessions see nothing of them. The transaction itself reads its own buffered writes:
//      · point reads (the whole primary key pinned, SELECT / UPDATE / DELETE): the buffered image
//        (or deletion) of the key answers without asking the replicas;
//      · scans of a table it has buffered writes in (SELECT, UPDATE / DELETE): the replica's rows
//        are fetched whole (no pushdown), the buffered keys replace / remove / add rows, and the
//        WHERE and the rest of the program run on the coordinator over that overlay;
//      · joins do not see buffered writes (they read the replicas as they are).
//    Reads inside a transaction are not snapshot reads on leaderless tables: each statement sees
//    the replicas' latest state, as in autocommit. A transaction writing leaderless tables may not
//    also write other tables (SB_FEATURE_NOT_SUPPORTED; see txn.ts).
// Without env.quorum (a single node) none of this applies: leaderless tables use the MGA path.
import type { TableInfo } from '../catalog/catalog'
import type { ReplicaWrite, ScanOptions } from '../storage/engine'
import { encodeTuple, keyString, type Tuple } from '../storage/keys'
import type { SqlTimestamp } from '../types/datetime'
import { decodeRow } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import type { ExecEnv } from './env'
import { passthrough, queryShards } from './select-exec'
import { pkTuple, type TableShape } from '../plan/table-types'
import type { SqlTxn } from './txn'
import type { ShardWrites } from './write-rows'

export function isQuorumTable (env: ExecEnv, info: TableInfo): boolean {
  return env.quorum !== undefined && info.replication.replication_mode === 'leaderless_quorum'
}

/** The statement's writes as replica versions (delete → tombstone), rows written and tombstones. */
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
  const { versions, rows } = toReplicaWrites(writes)
  if (txn !== null) txn.bufferQuorum(info, writes)
  else await env.quorum!.write(info, versions)
  return rows
}

/** UPDATE / DELETE writes: rows updated (new versions that are not tombstones) or deleted. */
export async function quorumModifyWrite (env: ExecEnv, info: TableInfo, kind: 'update' | 'delete', writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
  const { versions, rows, deletes } = toReplicaWrites(writes)
  if (txn !== null) txn.bufferQuorum(info, writes)
  else await env.quorum!.write(info, versions)
  return kind === 'update' ? rows : deletes
}

/** A point lookup (the whole primary key pinned) on a leaderless table: a quorum read. */
export function isQuorumPoint (env: ExecEnv, shape: TableShape, options: ScanOptions): boolean {
  return isQuorumTable(env, shape.info) && options.exact === true && options.gte !== undefined
}

/**
 * Quorum point read: the full rows (table column order) of the pinned key, 0 or 1 per shard.
 * Inside a transaction that buffered a write of the key, its own image answers (no replica read).
 */
export async function quorumPointRows (env: ExecEnv, shape: TableShape, shards: readonly number[], options: ScanOptions, txn: SqlTxn | null): Promise<SqlValue[][]> {
  const pk = options.gte as Tuple
  const own = txn?.quorumWrites.get(shape.info.id, pk)
  if (own !== undefined) return own === null ? [] : [decodeRow(shape.types, own)]
  const parts = await Promise.all(shards.map(shard => env.quorum!.read(shape.info, shard, [pk])))
  return parts.flat().filter((r): r is Uint8Array => r !== null).map(r => decodeRow(shape.types, r))
}

/** Does a scan of this table inside `txn` have to overlay the transaction's buffered writes? */
export function needsOverlay (env: ExecEnv, info: TableInfo, txn: SqlTxn | null): txn is SqlTxn {
  return txn !== null && isQuorumTable(env, info) && txn.quorumWrites.hasTable(info.id)
}

/**
 * Whole rows of a leaderless table on `shards` (one live replica each, `options` bounding the
 * range) overlaid with the transaction's buffered writes: a buffered key replaces or removes the
 * replica's row, buffered rows the replica lacks are added. The caller's program (with the full
 * WHERE) runs over the result, so buffered rows outside `options` are filtered there.
 */
export async function quorumScanOverlay (env: ExecEnv, shape: TableShape, shards: readonly number[], options: ScanOptions, now: SqlTimestamp, txn: SqlTxn): Promise<SqlValue[][]> {
  const scanned = await queryShards(env, { shape, shards, options, program: passthrough(shape.programColumns), params: [], now }, null)
  const own = txn.quorumWrites.tableRows(shape.info.id, shards)
  const out = scanned.filter(row => !own.has(keyString(encodeTuple(pkTuple(shape, row)))))
  for (const row of own.values()) if (row !== null) out.push(decodeRow(shape.types, row))
  return out
}

/** EXPLAIN lines of a statement on a leaderless table: its quorum settings and the shards' replicas. */
export function explainQuorum (env: ExecEnv, info: TableInfo, shards: readonly number[], access: 'point' | 'scan' | 'write'): string[] {
  const { replication_factor: n, write_quorum: w, read_quorum: r } = info.replication
  const how = access === 'write'
    ? `quorum write: each shard's rows to its ${n} replicas, answered after W=${w} acknowledgements (one XID, no two-phase commit; INSERT is an upsert; inside BEGIN … COMMIT buffered and shipped at COMMIT)`
    : access === 'point'
      ? `quorum read: R=${r} of ${n} replicas, newest version wins, stale replicas repaired in the background`
      : 'scan of one live replica per shard (not a quorum read)'
  const lines = [`Leaderless quorum (N=${n}, W=${w}, R=${r}): ${how}`]
  if (shards.length <= 4) for (const s of shards) lines.push(`  shard ${s} replicas: nodes ${env.quorum!.replicas(s, n).join(', ')}`)
  return lines
}
