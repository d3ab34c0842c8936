// Tables read and written by MGA transactions on the shard owner (DESIGN §6 "Mode 1", and every
// table on a single node). Reads and writes run inside the statement's transaction when one is
// open, so they see its own writes and conflict as MGA does. Autocommit: an INSERT on one shard is
// one AUTOCOMMIT request; on several shards, and for UPDATE / DELETE (which read, then write), an
// implicit transaction committed locally or by two-phase commit — the statement is atomic either way.
import type { TableInfo } from '../../catalog/catalog'
import { nextHlcTs } from '../../storage/hlc-ts'
import type { RowWrite, ScanOptions } from '../../storage/engine'
import type { SqlValue } from '../../types/values'
import type { Generators, ShardPort, SnapshotPort, TwoPhasePort } from '../env'
import type { ShardWrites } from '../shard-writes'
import { SqlTxn } from '../txn'
import { scanShards } from './scan'
import { pushdownLine, type ModifyRowBody, type TableAccess, type TableRead } from './table-access'
import type { ShardId } from '../../core/ids'
import type { HlcTs } from '../../storage/types'
import { readPointEnv } from '../read-point'

export type MgaPorts = ShardPort & Generators & TwoPhasePort & SnapshotPort

export class MgaAccess implements TableAccess {
  constructor (private readonly env: MgaPorts, readonly table: TableInfo) {}

  async read (q: TableRead, txn: SqlTxn | null): Promise<SqlValue[][]> {
    return await scanShards(this.env, q, txn)
  }

  /** Counts the rows of this table affected (the writes may hold its index entries too). */
  async write (writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
    return await sendWrites(this.env, writes, txn, this.table.id)
  }

  atReadPoint (readHlc: HlcTs): TableAccess {
    return new MgaAccess(readPointEnv(this.env, readHlc), this.table)
  }

  async statement<T> (txn: SqlTxn | null, run: (txn: SqlTxn | null) => Promise<T>): Promise<T> {
    if (txn !== null) return await run(txn)
    return await inImplicitTxn(this.env, run)
  }

  async modifyRow (shard: ShardId, req: ModifyRowBody, txn: SqlTxn | null): Promise<number> {
    if (txn === null) return (await this.env.request('MODIFY_ROW', { ...req, commitHlc: nextHlcTs(this.env.hlc) })).affected
    return (await txn.writeOn(shard, at => this.env.request('MODIFY_ROW', { ...req, ...at }))).affected
  }

  checkJoinRead (): void {}

  explainRead (_shards: readonly number[], _options: ScanOptions, pushdown: boolean): string[] {
    return [pushdownLine(pushdown)]
  }

  explainInsert (shards: readonly ShardId[]): string[] {
    return [shards.length > 1 ? 'Commit: two-phase commit across the shards' : 'Commit: local (one shard)']
  }

  explainModify (shards: readonly ShardId[]): string[] {
    return [shards.length > 1 ? 'Commit: local if the matching rows are on one shard, else two-phase commit' : 'Commit: local (one shard)']
  }
}

/** `run` in a read-committed transaction of its own: committed when it succeeds, rolled back otherwise. */
async function inImplicitTxn<T> (env: MgaPorts, run: (txn: SqlTxn) => Promise<T>): Promise<T> {
  const implicit = new SqlTxn(env, 'read_committed', false)
  try {
    const out = await run(implicit)
    await implicit.commit()
    return out
  } catch (e) {
    await implicit.rollback()
    throw e
  }
}

/** Sends the writes, one request per shard touched; returns how many rows of table `tableId` were affected. */
async function sendWrites (env: MgaPorts, writes: ShardWrites, txn: SqlTxn | null, tableId: number): Promise<number> {
  const count = (w: readonly RowWrite[], a: boolean[]): number => a.filter((x, i) => x && w[i]!.tableId === tableId).length
  if (txn !== null) {
    const list = [...writes]
    // Through env (not txn.write): a read point's env (atReadPoint) sends them as WRITE_READ.
    const res = await Promise.all(list.map(async ([shard, w]) => (await txn.writeOn(shard, at => env.request('WRITE', { shard, writes: w, ...at }))).affected))
    return res.reduce((n, a, i) => n + count(list[i]![1], a), 0)
  }
  if (writes.size === 0) return 0
  if (writes.size === 1) {
    const [shard, w] = [...writes][0]!
    return count(w, (await env.request('AUTOCOMMIT', { shard, writes: w, commitHlc: nextHlcTs(env.hlc) })).affected)
  }
  return await inImplicitTxn(env, t => sendWrites(env, writes, t, tableId))
}
