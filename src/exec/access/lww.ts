// Statements on leaderless_quorum tables in a cluster (DESIGN §6 "Mode 3"; issue 6): last write
// wins over N replicas. The executor plans them as usual; this access hands the row versions to
// the node's quorum shell (env.quorum, src/node/quorum.ts) instead of the MGA write path:
//  - INSERT is an upsert (last write wins): a replica keeps the highest version of a key, so an
//    INSERT of an existing key replaces the row instead of failing with a duplicate-key error —
//    there is no single owner that could check uniqueness.
//  - UPDATE / DELETE read the matching rows first — a quorum read (R replicas) when the WHERE pins
//    the whole primary key or fixes it to a list of keys (`k IN (…)`, `k = 1 OR k = 2`: one
//    quorum read per key, plan/key-lists.ts), else a scan of one live replica per shard (which may
//    miss writes that replica has not received yet) — then quorum-write the new versions / tombstones.
//  - SELECT pinning the whole primary key (or fixing it to a list of keys) is a quorum read per
//    key (R replicas, newest version wins, stale replicas repaired in the background; a shard's
//    keys go out together, one REPLICA_READ per replica); other SELECTs (and joins) scan one live
//    replica per shard (src/node/shard-router.ts), like Cassandra's consistency ONE for range scans.
//  - Inside BEGIN … COMMIT (a session, or several statements of one request) INSERT / UPDATE /
//    DELETE write nothing yet: the rows are buffered in the transaction (lww-buffer.ts) and COMMIT
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
//    also write other tables (SB_FEATURE_NOT_SUPPORTED; see txn.ts, lww-buffer.ts).
// Without env.quorum (a single node) none of this applies: leaderless tables use mga.ts (choose.ts).
import type { TableInfo } from '../../catalog/catalog'
import { ScratchBirdError } from '../../core/errors'
import type { ReplicaWrite, ScanOptions } from '../../storage/engine'
import { encodeTuple, keyString, type Tuple } from '../../storage/keys'
import { decodeRow } from '../../types/row-codec'
import type { SqlValue } from '../../types/values'
import { pkTuple, type TableShape } from '../../plan/table-types'
import type { Generators, QuorumIo, ShardPort } from '../env'
import { passthrough } from '../local-vm'
import { queryShards } from '../shard-query'
import type { ShardWrites } from '../shard-writes'
import type { SqlTxn } from '../txn'
import { LwwTxnBuffer, mixedWrites } from './lww-buffer'
import { runOnCoordinator, scanShards } from './scan'
import { pushdownLine, type TableAccess, type TableRead } from './table-access'
import type { ShardId } from '../../core/ids'
import type { KeyList } from '../../plan/key-lists'

export type LwwPorts = ShardPort & Generators

/** Each transaction's buffered leaderless writes (registered with the transaction as its DeferredWrites). */
const buffers = new WeakMap<SqlTxn, LwwTxnBuffer>()

export class LwwAccess implements TableAccess {
  /** A key list is read as quorum point reads: a scan would read one replica and miss writes it lacks. */
  readonly pointLists = true

  constructor (private readonly env: LwwPorts, private readonly quorum: QuorumIo, readonly table: TableInfo) {}

  async read (q: TableRead, txn: SqlTxn | null): Promise<SqlValue[][]> {
    // Whole primary key pinned: quorum read (or the transaction's own image), the program runs here.
    if (q.keys !== undefined) return await runOnCoordinator(this.env, q, await this.pointRows(q.shape, q.shards, q.keys, txn))
    if (isPoint(q.options)) return await runOnCoordinator(this.env, q, await this.pointRows(q.shape, q.shards, [q.options.gte as Tuple], txn))
    // A table the transaction has buffered writes in: whole rows overlaid, the program runs here.
    const own = this.buffered(txn)
    if (own !== null) return await runOnCoordinator(this.env, q, await this.scanOverlay(q, own))
    // Scanned on one live replica per shard, inside a transaction too (no snapshot).
    return await scanShards(this.env, q, null)
  }

  /** INSERT (an upsert), UPDATE, DELETE: every version is applied (last write wins), so every row counts. */
  async write (writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
    const { versions, count } = toReplicaWrites(writes)
    if (txn !== null) this.buffer(txn).add(this.table, writes)
    else await this.quorum.write(this.table, versions)
    return count
  }

  /** No statement transaction: reads are not snapshot reads and the writes are one quorum write (or buffered in `txn`). */
  async statement<T> (txn: SqlTxn | null, run: (txn: SqlTxn | null) => Promise<T>): Promise<T> {
    return await run(txn)
  }

  /**
   * Joins read the shards (or the coordinator's fetches) without the overlay of a transaction's
   * buffered writes: rather than answer without the transaction's own rows, refuse the join until
   * COMMIT (or before the first write to that table).
   */
  checkJoinRead (txn: SqlTxn | null): void {
    if (this.buffered(txn) === null) return
    const table = this.table.name
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
      `a join inside a transaction does not see the transaction's own uncommitted writes to leaderless_quorum table ${table}; run the join after COMMIT or before writing to ${table}`,
      { table })
  }

  explainRead (shards: readonly ShardId[], options: ScanOptions, pushdown: boolean, keys?: KeyList): string[] {
    if (keys !== undefined) return [...this.explainKeys(keys), 'The program runs on the coordinator over the quorum\'s answers']
    if (isPoint(options)) return [...this.explain(shards, 'point'), 'The program runs on the coordinator over the quorum\'s answer']
    return [...this.explain(shards, 'scan'), pushdownLine(pushdown)]
  }

  explainInsert (shards: readonly ShardId[]): string[] {
    return this.explain(shards, 'write')
  }

  explainModify (shards: readonly ShardId[], options: ScanOptions, keys?: KeyList): string[] {
    return [
      ...(keys !== undefined ? this.explainKeys(keys) : this.explain(shards, isPoint(options) ? 'point' : 'scan')).map(l => `Read rows: ${l.trimStart()}`),
      ...this.explain([], 'write').map(l => `Write: ${l}`)
    ]
  }

  /** The transaction's buffer, created and registered with it on its first leaderless write. */
  private buffer (txn: SqlTxn): LwwTxnBuffer {
    if (txn.wroteShards) throw mixedWrites()
    let b = buffers.get(txn)
    if (b === undefined) {
      b = new LwwTxnBuffer(this.quorum, this.env)
      txn.defer(b)
      buffers.set(txn, b)
    }
    return b
  }

  /** The transaction's buffer when it holds writes of this table (its reads must see them), else null. */
  private buffered (txn: SqlTxn | null): LwwTxnBuffer | null {
    const b = txn === null ? undefined : buffers.get(txn)
    return b !== undefined && b.hasTable(this.table.id) ? b : null
  }

  /**
   * Quorum point reads: the full rows (table column order) of the keys `pks`, 0 or 1 per key and
   * shard — one quorum read per key (R replicas each, read repair), a shard's keys sent together
   * (QuorumIo.read: one REPLICA_READ per replica). Inside a transaction that buffered a write of a
   * key, its own image answers for that key (no replica read).
   */
  private async pointRows (shape: TableShape, shards: readonly ShardId[], pks: readonly Tuple[], txn: SqlTxn | null): Promise<SqlValue[][]> {
    const buffer = txn === null ? undefined : buffers.get(txn)
    const images: Uint8Array[] = []
    const ask: Tuple[] = []
    for (const pk of pks) {
      const own = buffer?.get(shape.info.id, pk)
      if (own === undefined) ask.push(pk)
      else if (own !== null) images.push(own)
    }
    const parts = ask.length === 0 ? [] : await Promise.all(shards.map(shard => this.quorum.read(shape.info, shard, ask)))
    return [...images, ...parts.flat().filter((r): r is Uint8Array => r !== null)].map(r => decodeRow(shape.types, r, shape.missing))
  }

  /**
   * Whole rows on the read's shards (one live replica each, its options bounding the range)
   * overlaid with the transaction's buffered writes: a buffered key replaces or removes the
   * replica's row, buffered rows the replica lacks are added. The read's program (with the full
   * WHERE) runs over the result, so buffered rows outside the options are filtered there.
   */
  private async scanOverlay (q: TableRead, own: LwwTxnBuffer): Promise<SqlValue[][]> {
    const { shape, shards } = q
    const scanned = await queryShards(this.env, { shape, shards, options: q.options, program: passthrough(shape.programColumns), params: [], now: q.now }, null)
    const mine = own.tableRows(shape.info.id, shards)
    const out = scanned.filter(row => !mine.has(keyString(encodeTuple(pkTuple(shape, row)))))
    for (const row of mine.values()) if (row !== null) out.push(decodeRow(shape.types, row, shape.missing))
    return out
  }

  /** EXPLAIN lines of a key list's point reads: the table's quorum settings and the shards' replicas. */
  private explainKeys (keys: KeyList): string[] {
    const n = this.table.replication.replication_factor
    const lines = [`${this.explain([], 'point')[0]!}; a quorum read of each of the ${keys.count} primary keys (${keys.describe}), each shard's keys asked together`]
    if (keys.shards.length <= 4) for (const { shard } of keys.shards) lines.push(`  shard ${shard} replicas: nodes ${this.quorum.replicas(shard, n).join(', ')}`)
    return lines
  }

  /** EXPLAIN lines: the table's quorum settings and the shards' replicas. */
  private explain (shards: readonly ShardId[], access: 'point' | 'scan' | 'write'): string[] {
    const { replication_factor: n, write_quorum: w, read_quorum: r } = this.table.replication
    const how = access === 'write'
      ? `quorum write: each shard's rows to its ${n} replicas, answered after W=${w} acknowledgements (one XID, no two-phase commit; INSERT is an upsert; inside BEGIN … COMMIT buffered and shipped at COMMIT)`
      : access === 'point'
        ? `quorum read: R=${r} of ${n} replicas, newest version wins, stale replicas repaired in the background`
        : 'scan of one live replica per shard (not a quorum read)'
    const lines = [`Leaderless quorum (N=${n}, W=${w}, R=${r}): ${how}`]
    if (shards.length <= 4) for (const s of shards) lines.push(`  shard ${s} replicas: nodes ${this.quorum.replicas(s, n).join(', ')}`)
    return lines
  }
}

/** A point lookup: the whole primary key pinned (a quorum read). */
function isPoint (options: ScanOptions): boolean {
  return options.exact === true && options.gte !== undefined
}

/** The statement's writes as replica versions (delete → tombstone), and how many there are. */
function toReplicaWrites (writes: ShardWrites): { versions: Map<ShardId, ReplicaWrite[]>, count: number } {
  const versions = new Map<ShardId, ReplicaWrite[]>()
  let count = 0
  for (const [shard, list] of writes) {
    count += list.length
    versions.set(shard, list.map(w => ({ tableId: w.tableId, pk: w.pk, pkBytes: w.pkBytes, versionId: w.versionId, row: w.op === 'delete' ? null : w.row })))
  }
  return { versions, count }
}
