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
import type { Program } from '../../sblr/program'
import { assignColumns, type AssignColumn } from '../../types/assign-columns'
import { encodeRow, RowImage } from '../../types/row-codec'
import { decodeRows } from '../protocol/value-rows'
import type { ModifyRowRequest, ShardReplies } from '../protocol/messages'
import { shardVm } from './query-driver'

/** The rows affected (0 or 1) by `r` inside `txn`. */
export async function runModifyRow (engine: ShardEngine, txn: Txn, r: ModifyRowRequest, clock: Clock, decode: (bytes: Uint8Array) => Program): Promise<number> {
  const filter = decode(r.filter)
  const assign = r.assign === null ? null : decode(r.assign)
  const image = await engine.get(r.tableId, r.pk, txn)
  if (image === undefined) return 0
  const params = decodeRows(r.params)[0] ?? []
  const types = filter.columns.map(c => c.type)
  const old = shardVm(filter, params, r.statementMicros, clock).run(new RowImage(types, image, filter.columns.map(c => c.missing ?? null)))
  if (old === null) return 0
  if (assign === null) return (await txn.write([{ op: 'delete', tableId: r.tableId, pk: r.pk, versionId: r.versionId }]))[0] === true ? 1 : 0
  const out = shardVm(assign, params, r.statementMicros, clock).run(old)
  if (out === null) throw new Error('ScratchBird assertion: an UPDATE\'s SET program emits one row')
  const next = old.slice()
  r.targets.forEach((col, k) => { next[col] = out[k] ?? null })
  const row = assignColumns(r.table, columnsOf(filter, r), next)
  const written = await txn.write([{ op: 'update', tableId: r.tableId, pk: r.pk, row: encodeRow(types, row), versionId: r.versionId }])
  return written[0] === true ? 1 : 0
}

/**
 * An autocommit MODIFY_ROW (`r.commitHlc`): its own read-committed transaction, committed at that
 * HLC when it changed the row, rolled back when it did not or failed (`rollbackFailed` hears of a
 * rollback that failed in turn; the request's own error is what it throws). Like AUTOCOMMIT's, the
 * transaction lives only inside this request: no other request can name it.
 */
export async function runModifyRowAutocommit (engine: ShardEngine, r: ModifyRowRequest, clock: Clock, decode: (bytes: Uint8Array) => Program,
  rollbackFailed: (txn: Txn, e: unknown) => void): Promise<ShardReplies['MODIFY_ROW']> {
  const commitHlc = r.commitHlc
  if (commitHlc === undefined) throw new Error('ScratchBird assertion: an autocommit MODIFY_ROW carries its commit HLC')
  const txn = await engine.begin({ isolation: 'read_committed', startHlc: commitHlc })
  try {
    const affected = await runModifyRow(engine, txn, r, clock, decode)
    if (affected === 0) {
      await txn.rollback()
      return { affected, lsn: null, commitHlc }
    }
    const c = await txn.commit(commitHlc)
    return { affected, lsn: c.lsn, commitHlc: c.commitHlc }
  } catch (e) {
    if (txn.state === 'active' || txn.state === 'failed') await txn.rollback().catch((x: unknown) => rollbackFailed(txn, x))
    throw e
  }
}

function columnsOf (filter: Program, r: ModifyRowRequest): AssignColumn[] {
  const notNull = new Set(r.notNull)
  const dropped = new Set(r.dropped)
  return filter.columns.map((c, i) => ({ name: c.name, type: c.type, notNull: notNull.has(i), dropped: dropped.has(i) }))
}
