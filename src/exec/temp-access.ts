// How statements read and write a temporary table (temp-tables.ts says where its rows live and
// why): the TableAccess of every table whose TableInfo is `temporary`. A read runs the statement's
// program here, on the coordinator, over the rows each asked-for shard would hold — in key order,
// within the bounds and limit a shard's scan would apply — so plans made for shard tables (scans,
// point lookups, UPDATE/DELETE per shard, joins on the coordinator) give the same rows. Writes go
// to the session's undo log: the statement, or the open transaction, undoes them.
import type { TableInfo } from '../catalog/catalog'
import type { ShardId } from '../core/ids'
import { collectRows } from '../shard/drivers/query-driver'
import type { ScanOptions } from '../storage/engine'
import { rowScanRange } from '../storage/keys'
import { RowImage } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import type { TableRead, TableAccess } from './access/table-access'
import type { Generators } from './env'
import { localVm } from './local-vm'
import type { ShardWrites } from './shard-writes'
import type { SessionTempTables, TempTable } from './temp-tables'
import type { SqlTxn } from './txn'

/** Each temporary table's access, by its TableInfo (made once per CREATE; gone with it). */
const accesses = new WeakMap<TableInfo, TempAccess>()

/** The access of temporary table `info`; undefined for any other table. */
export function tempAccessOf (info: TableInfo): TempAccess | undefined {
  return info.temporary === true ? accesses.get(info) : undefined
}

export function registerTempAccess (gen: Generators, store: SessionTempTables, table: TempTable): void {
  accesses.set(table.info, new TempAccess(gen, store, table))
}

export const TEMP_READ_LINE = 'Temporary table: this session\'s rows in this node\'s memory; the program runs on the coordinator'
const TEMP_COMMIT_LINE = 'Commit: with the session (temporary table: never replicated, undone by ROLLBACK)'

export class TempAccess implements TableAccess {
  constructor (private readonly gen: Generators, private readonly store: SessionTempTables, readonly table: TempTable) {}

  async read (q: TableRead, _txn: SqlTxn | null): Promise<SqlValue[][]> {
    return await this.readShards(q, q.shards, q.options)
  }

  /** The rows `q.program` emits over the rows of `shards`, shard by shard as a scatter read returns them. */
  async readShards (q: Omit<TableRead, 'shards' | 'options' | 'pushdown'>, shards: readonly ShardId[], options: ScanOptions): Promise<SqlValue[][]> {
    const range = rowScanRange(this.table.info.id, options)
    const types = q.shape.types
    const out: SqlValue[][] = []
    for (const shard of shards) {
      let rows = this.store.rowsIn(this.table, shard, range.gte, range.lt)
      if (options.reverse === true) rows = rows.reverse()
      if (options.limit !== undefined) rows = rows.slice(0, options.limit)
      const images = rows.map(r => new RowImage(types, r.row, q.shape.missing))
      out.push(...await collectRows(localVm(this.gen, q.program, q.params, q.now), images, { limit: q.limit, aggregate: q.aggregate }))
    }
    return out
  }

  async write (writes: ShardWrites, _txn: SqlTxn | null): Promise<number> {
    return this.store.atomicallySync(() => {
      let n = 0
      for (const [shard, list] of writes) n += this.store.apply(this.table, shard, list).filter(Boolean).length
      return n
    })
  }

  /** UPDATE / DELETE: no shard transaction to open; the statement's writes are undone together if it fails. */
  async statement<T> (txn: SqlTxn | null, run: (txn: SqlTxn | null) => Promise<T>): Promise<T> {
    return await this.store.atomically(async () => await run(txn))
  }

  checkJoinRead (): void {}

  explainRead (): string[] { return [TEMP_READ_LINE] }
  explainInsert (): string[] { return [TEMP_COMMIT_LINE] }
  explainModify (): string[] { return [TEMP_COMMIT_LINE] }
}
