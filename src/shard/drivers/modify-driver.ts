// The driver of a MODIFY_ROW request (shard/protocol/messages.ts ModifyRowRequest), run inside the
// shard worker: a pk-pinned UPDATE or DELETE in one request instead of a QUERY shipping the row to
// the coordinator and a WRITE shipping the new one back (issue 16: TPC-B's round trips). It does
// what the two-step path does (exec/modify.ts), in the same order and with the same rules: the row
// the transaction sees (MGA visibility), the WHERE program over it, the SET program over the old
// row, the assignment casts and NOT NULL (types/assign-columns.ts, the twin of exec/write-rows.ts
// assignRow for tables without domains), then the engine's write — its conflict rules and codes
// (storage/row-write.ts) are the same because it is the same write.
import type { Clock } from '../../core/clock'
import type { ShardEngine, Txn } from '../../storage/engine'
import type { RowDerive } from '../../storage/row-write'
import type { Program } from '../../sblr/program'
import { assignColumns, type AssignColumn } from '../../types/assign-columns'
import { encodeRow, RowImage } from '../../types/row-codec'
import { decodeRows } from '../protocol/value-rows'
import type { ModifyRowRequest, ShardReplies } from '../protocol/messages'
import { shardVm } from './query-driver'

/**
 * The rows affected (0 or 1) by `r` inside `txn`. Read committed: the row's newest committed
 * version (or the transaction's own) is read, filtered, assigned and replaced in ONE writer job
 * (engine writeDerived), so a version committed after the statement began is what the SET is
 * computed from — PostgreSQL's re-evaluation on the newest version, without a second pass: two
 * concurrent `SET x = x + 1` both count. Snapshot: the row its snapshot sees is read first and
 * written after, as in the two-step path — the write refuses a version committed since the
 * snapshot began (first committer wins), and only when the WHERE held on the snapshot's version.
 */
export async function runModifyRow (engine: ShardEngine, txn: Txn, r: ModifyRowRequest, clock: Clock, decode: (bytes: Uint8Array) => Program): Promise<number> {
  const derive = deriveOf(r, clock, decode)
  if (!txn.snapshot) return await engine.writeDerived(txn, { tableId: r.tableId, pk: r.pk, versionId: r.versionId, derive }) ? 1 : 0
  const image = await engine.get(r.tableId, r.pk, txn)
  if (image === undefined) return 0
  const row = derive(image)
  if (row === false) return 0
  const op = row === null ? { op: 'delete' as const, tableId: r.tableId, pk: r.pk, versionId: r.versionId } : { op: 'update' as const, tableId: r.tableId, pk: r.pk, row, versionId: r.versionId }
  return (await txn.write([op]))[0] === true ? 1 : 0
}

/** The statement applied to one stored row image: false when its WHERE does not hold, null for a
 *  DELETE, else the new image (row-write.ts RowDerive). */
function deriveOf (r: ModifyRowRequest, clock: Clock, decode: (bytes: Uint8Array) => Program): RowDerive {
  const filter = decode(r.filter)
  const assign = r.assign === null ? null : decode(r.assign)
  const params = decodeRows(r.params)[0] ?? []
  const types = filter.columns.map(c => c.type)
  const missing = filter.columns.map(c => c.missing ?? null)
  const columns = columnsOf(filter, r)
  return image => {
    const old = shardVm(filter, params, r.statementMicros, clock).run(new RowImage(types, image, missing))
    if (old === null) return false
    if (assign === null) return null
    const out = shardVm(assign, params, r.statementMicros, clock).run(old)
    if (out === null) throw new Error('ScratchBird assertion: an UPDATE\'s SET program emits one row')
    const next = old.slice()
    r.targets.forEach((col, k) => { next[col] = out[k] ?? null })
    return encodeRow(types, assignColumns(r.table, columns, next))
  }
}

/**
 * An autocommit MODIFY_ROW (`r.commitHlc`): read committed, and read, WHERE, SET, write and commit
 * at that HLC are one writer job (engine autocommitDerived). Nothing is logged when the row was
 * not changed.
 */
export async function runModifyRowAutocommit (engine: ShardEngine, r: ModifyRowRequest, clock: Clock, decode: (bytes: Uint8Array) => Program): Promise<ShardReplies['MODIFY_ROW']> {
  const commitHlc = r.commitHlc
  if (commitHlc === undefined) throw new Error('ScratchBird assertion: an autocommit MODIFY_ROW carries its commit HLC')
  const c = await engine.autocommitDerived({ tableId: r.tableId, pk: r.pk, versionId: r.versionId, derive: deriveOf(r, clock, decode) }, commitHlc)
  return { affected: c.affected[0] === true ? 1 : 0, lsn: c.lsn, commitHlc: c.commitHlc }
}

function columnsOf (filter: Program, r: ModifyRowRequest): AssignColumn[] {
  const notNull = new Set(r.notNull)
  const dropped = new Set(r.dropped)
  return filter.columns.map((c, i) => ({ name: c.name, type: c.type, notNull: notNull.has(i), dropped: dropped.has(i) }))
}
