// The leaderless_quorum writes of an explicit transaction (DESIGN §6 "Mode 3": "Multi-statement
// transactions on quorum tables buffer their mutations and ship them at COMMIT as one batch per
// replica"; issue 6). INSERT / UPDATE / DELETE of a leaderless table inside BEGIN … COMMIT write
// nothing: the statement's rows go into this buffer, one entry per (table, primary key) holding
// the transaction's latest image of that row (a later statement on the same key replaces the
// earlier image; a DELETE leaves a tombstone). At COMMIT:
//  - every buffered row gets its version id then (UUIDv8-HLC or v7 per the table's uuid_type), so
//    the transaction's writes order after every write acknowledged before its COMMIT began — last
//    write wins follows commit order, as for autocommit statements;
//  - the rows are grouped per shard (and per (N, W) when tables with different quorum settings
//    share a shard: their replica sets differ) and each group is one QuorumWrite, i.e. one
//    REPLICA_APPLY batch per replica; every batch carries the same XID (allocated at COMMIT), which
//    each replica records committed in its TIP;
//  - COMMIT succeeds when every batch reached W; otherwise it fails with SB_QUORUM_NOT_ACHIEVED and
//    the failed shards' outcome is unknown (their rows may surface later, through the replicas that
//    did apply them and through hints), while batches that reached W stand: a transaction is not
//    atomic across shards on leaderless tables (no two-phase commit, as for autocommit statements).
// ROLLBACK (or a failed statement, then COMMIT/ROLLBACK) drops the buffer: nothing was sent.
// The buffer is the transaction's DeferredWrites (txn.ts): SqlTxn ships it after its shard
// transaction, and refuses shard writes while it holds rows (and the buffer refuses rows once the
// transaction wrote through the shards).
import type { TableInfo } from '../../catalog/catalog'
import { countedReplicas } from '../../catalog/replica-bootstrap'
import { ScratchBirdError } from '../../core/errors'
import { encodeTuple, keyString, type Tuple } from '../../storage/keys'
import type { Generators, QuorumBatch, QuorumIo } from '../env'
import type { ShardWrites } from '../shard-writes'
import type { DeferredWrites } from '../txn'
import { LIMITS } from '../../core/limits'
import type { ShardId } from '../../core/ids'

/** Rows one transaction may buffer on leaderless tables (all shards). */
export const MAX_QUORUM_TXN_ROWS = 10_000
/** Bytes (row images + keys) one transaction may buffer on leaderless tables (all shards). */
export const MAX_QUORUM_TXN_BYTES = LIMITS.quorumTxnBytes
/** Estimated per-row overhead of a REPLICA_APPLY write beyond its key and row bytes. */
const ROW_OVERHEAD_BYTES = 40

interface Buffered {
  readonly table: TableInfo
  readonly shard: ShardId
  readonly pk: Tuple
  readonly pkBytes: Uint8Array
  /** Row image; null: deleted (tombstone). */
  readonly row: Uint8Array | null
  readonly bytes: number
}

export class LwwTxnBuffer implements DeferredWrites {
  private readonly entries = new Map<string, Buffered>()
  private readonly shardBytes = new Map<ShardId, number>()
  private readonly tables = new Map<number, number>()
  private totalBytes = 0

  constructor (
    private readonly io: Pick<QuorumIo, 'writeBatches' | 'maxBatchBytes'>,
    private readonly gen: Pick<Generators, 'hlc' | 'uuidV7'>
  ) {}

  /** Rows buffered. */
  get size (): number { return this.entries.size }

  /**
   * Adds one statement's writes. Over the bounds (MAX_QUORUM_TXN_ROWS / _BYTES, or a shard's batch
   * larger than the largest REPLICA_APPLY a replica accepts) → SB_TXN_TOO_LARGE; the failed
   * statement aborts the transaction, so a half-added statement is never shipped.
   */
  add (table: TableInfo, writes: ShardWrites): void {
    const maxBatchBytes = this.io.maxBatchBytes
    for (const [shard, list] of writes) {
      for (const w of list) {
        const pkBytes = w.pkBytes ?? encodeTuple(w.pk)
        const row = w.op === 'delete' ? null : w.row
        const bytes = pkBytes.length + (row?.length ?? 0) + ROW_OVERHEAD_BYTES
        const key = `${table.id}/${keyString(pkBytes)}`
        const old = this.entries.get(key)
        if (old !== undefined) this.account(old, -1)
        // Re-inserted at the end: Map order is first-write order otherwise, which does not matter.
        this.entries.delete(key)
        const entry = { table, shard, pk: w.pk, pkBytes, row, bytes }
        this.entries.set(key, entry)
        this.account(entry, 1)
        const sb = this.shardBytes.get(shard)!
        if (this.entries.size > MAX_QUORUM_TXN_ROWS || this.totalBytes > MAX_QUORUM_TXN_BYTES || sb > maxBatchBytes) {
          throw new ScratchBirdError('SB_TXN_TOO_LARGE',
            `the transaction buffers more leaderless_quorum writes than one COMMIT ships (at most ${MAX_QUORUM_TXN_ROWS} rows, ${MAX_QUORUM_TXN_BYTES} bytes, ${maxBatchBytes} bytes per shard); commit in smaller transactions`,
            { table: table.name, rows: this.entries.size, bytes: this.totalBytes, shard, shard_bytes: sb, limit_rows: MAX_QUORUM_TXN_ROWS, limit_bytes: MAX_QUORUM_TXN_BYTES, limit_shard_bytes: maxBatchBytes })
        }
      }
    }
  }

  private account (e: Buffered, sign: 1 | -1): void {
    this.totalBytes += sign * e.bytes
    this.shardBytes.set(e.shard, (this.shardBytes.get(e.shard) ?? 0) + sign * e.bytes)
    this.tables.set(e.table.id, (this.tables.get(e.table.id) ?? 0) + sign)
  }

  /** The transaction's own image of a row: undefined when not buffered, null when it deleted it. */
  get (tableId: number, pk: Tuple): Uint8Array | null | undefined {
    const e = this.entries.get(`${tableId}/${keyString(encodeTuple(pk))}`)
    return e === undefined ? undefined : e.row
  }

  /** Does the transaction hold writes of table `tableId`? */
  hasTable (tableId: number): boolean { return (this.tables.get(tableId) ?? 0) > 0 }

  /** Every buffered key of the table on `shards` → its image (null: deleted); keys are keyString(pkBytes). */
  tableRows (tableId: number, shards: readonly ShardId[]): Map<string, Uint8Array | null> {
    const on = new Set(shards)
    const out = new Map<string, Uint8Array | null>()
    for (const e of this.entries.values()) if (e.table.id === tableId && on.has(e.shard)) out.set(keyString(e.pkBytes), e.row)
    return out
  }

  /** The COMMIT batches, each row versioned now; per shard and (N, W). */
  batches (): QuorumBatch[] {
    const groups = new Map<string, QuorumBatch>()
    for (const e of this.entries.values()) {
      const { replication_factor: n, write_quorum: w, uuid_type: uuidType } = e.table.replication
      const counted = countedReplicas(n, e.table.bootstrap, e.shard)
      const k = `${e.shard}/${n}/${w}/${counted}`
      let g = groups.get(k)
      if (g === undefined) groups.set(k, g = { shard: e.shard, replicationFactor: n, writeQuorum: w, countedReplicas: counted, writes: [] })
      const versionId = uuidType === 'v8_hlc' ? this.gen.hlc.generate() : this.gen.uuidV7.generate()
      g.writes.push({ tableId: e.table.id, pk: e.pk, pkBytes: e.pkBytes, versionId, row: e.row })
    }
    return [...groups.values()]
  }

  /** COMMIT: the batches, versioned now, to their replicas; the buffer is dropped whatever the outcome. */
  async ship (): Promise<void> {
    if (this.entries.size === 0) return
    const batches = this.batches()
    this.clear()
    await this.io.writeBatches(batches)
  }

  mixedWrites (): ScratchBirdError { return mixedWrites() }

  clear (): void {
    this.entries.clear()
    this.shardBytes.clear()
    this.tables.clear()
    this.totalBytes = 0
  }
}

/** A transaction writing both leaderless tables (buffered until COMMIT) and other tables (written now). */
export function mixedWrites (): ScratchBirdError {
  return new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
    'a transaction cannot write both leaderless_quorum tables and other tables: leaderless writes are shipped by quorum at COMMIT and cannot commit atomically with the others; use separate transactions')
}
