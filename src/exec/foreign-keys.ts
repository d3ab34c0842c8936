// Foreign keys enforced (issue 19 item 3), inside the statement's transaction:
//  - a new or changed referencing row (INSERT, UPDATE of its foreign-key columns) needs the
//    referenced row: it is read in the transaction (one shard when the key pins the referenced
//    table's partition key, else through its global index), else SB_FOREIGN_KEY_VIOLATION (23503).
//    The referenced row is then re-written unchanged in the same transaction: MGA has no read
//    locks, and this write is what makes a concurrent DELETE of that row (or a change of its key)
//    conflict (SB_UPDATE_CONFLICT, first writer wins) instead of leaving an orphan behind — the
//    price is that two transactions adding children to one parent at once conflict too (retry).
//  - a deleted referenced row, or one whose referenced key changes, must have no referencing rows
//    (NO ACTION / RESTRICT: SB_FOREIGN_KEY_VIOLATION); ON DELETE CASCADE deletes them, and what
//    references them in turn, in the same transaction.
// NULL in any foreign-key column: no check (MATCH SIMPLE, as PostgreSQL's default).
import type { Catalog, ForeignKeyInfo, TableInfo } from '../catalog/catalog'
import { refuseMovingWrite } from '../catalog/table-move'
import { ScratchBirdError } from '../core/errors'
import { encodeTuple, keyString } from '../storage/keys'
import type { SqlTimestamp } from '../types/datetime'
import { encodeRow } from '../types/row-codec'
import { sortCompare, type SqlValue } from '../types/values'
import { indexShapes } from '../plan/index-shapes'
import type { PlanEnv } from '../plan/plan-env'
import { pkTuple, shardOfRow, tableShape, type TableShape } from '../plan/table-types'
import { type AccessPorts } from './access/choose'
import { rowsWithKey } from './index-lookup'
import type { TimerPort } from './env'
import { withLimboRetry } from './statement-snapshot'
import { addIndexWrites } from './index-writes'
import { addWrite, type ShardWrites } from './shard-writes'
import type { SqlTxn } from './txn'
import { versionId } from './write-rows'

export type ForeignKeyPorts = AccessPorts & Pick<PlanEnv, 'catalog'> & TimerPort

/** One row changed by a statement: inserted (old null), deleted (next null) or updated. */
export interface RowChange { readonly old: readonly SqlValue[] | null, readonly next: readonly SqlValue[] | null }

/** How deep ON DELETE CASCADE may follow references (a cycle of cascades stops here). */
export const MAX_CASCADE_DEPTH = 16

/** Does table `t` take part in any foreign key (as referencing or referenced table)? */
export function hasForeignKeys (catalog: Catalog, t: TableInfo): boolean {
  return t.foreignKeys.length > 0 || catalog.referencing(t.name).length > 0
}

/**
 * Checks the statement's `changes` to table `t` against every foreign key it takes part in;
 * adds the lock writes of referenced rows and the cascaded deletes to `writes`.
 */
export async function enforceForeignKeys (env: ForeignKeyPorts, t: TableShape, changes: readonly RowChange[], writes: ShardWrites, txn: SqlTxn | null, now: SqlTimestamp, depth = 0): Promise<void> {
  if (depth > MAX_CASCADE_DEPTH) {
    throw new ScratchBirdError('SB_FOREIGN_KEY_VIOLATION', `ON DELETE CASCADE follows references more than ${MAX_CASCADE_DEPTH} tables deep`, { table: t.info.name })
  }
  const catalog = env.catalog()
  const locked = new Set<string>()
  for (const fk of t.info.foreignKeys) {
    const parentInfo = fk.table === t.info.name ? t.info : catalog.foreignKeyTable(fk.table)
    if (parentInfo === undefined) continue
    const parent = parentInfo === t.info ? t : tableShape(parentInfo)
    const cols = columnIndexes(t, fk.columns)
    const refCols = columnIndexes(parent, fk.refColumns)
    for (const c of changes) {
      if (c.next === null) continue
      const key = cols.map(i => c.next![i] ?? null)
      if (key.some(v => v === null)) continue
      if (c.old !== null && sameKey(cols.map(i => c.old![i] ?? null), key)) continue
      // A row of this very statement may be the referenced one (a self-reference).
      if (parent === t && changes.some(o => o.next !== null && sameKey(refCols.map(i => o.next![i] ?? null), key))) continue
      // At a read point (read committed) a prepared transaction's row is waited for, as an UPDATE's read does.
      const found = await withLimboRetry(env, async () => await rowsWithKey(env, parent, refCols, key, txn, now))
      if (found.length === 0) {
        throw new ScratchBirdError('SB_FOREIGN_KEY_VIOLATION',
          `insert or update on table "${t.info.name}" violates foreign key constraint: key (${fk.columns.join(', ')})=(${key.map(String).join(', ')}) is not present in table "${parentInfo.name}"`,
          { table: t.info.name, references: parentInfo.name, columns: fk.columns })
      }
      if (parent === t) continue
      for (const row of found) {
        const pk = pkTuple(parent, row)
        const k = `${parent.info.id}/${keyString(encodeTuple(pk))}`
        if (locked.has(k)) continue
        locked.add(k)
        addWrite(writes, shardOfRow(parent, row, env.shards), { op: 'update', tableId: parent.info.id, pk, row: encodeRow(parent.types, row), versionId: versionId(env, parent) })
      }
    }
  }
  for (const childInfo of catalog.referencing(t.info.name)) {
    const child = childInfo === t.info ? t : tableShape(childInfo)
    for (const fk of childInfo.foreignKeys) {
      if (fk.table !== t.info.name) continue
      await referencedRows(env, t, child, fk, changes, writes, txn, now, depth)
    }
  }
}

/** The referenced side of one foreign key: deleted or re-keyed rows of `t` that `child` rows reference. */
async function referencedRows (env: ForeignKeyPorts, t: TableShape, child: TableShape, fk: ForeignKeyInfo, changes: readonly RowChange[],
  writes: ShardWrites, txn: SqlTxn | null, now: SqlTimestamp, depth: number): Promise<void> {
  const refCols = columnIndexes(t, fk.refColumns)
  const cols = columnIndexes(child, fk.columns)
  for (const c of changes) {
    if (c.old === null) continue
    const key = refCols.map(i => c.old![i] ?? null)
    if (key.some(v => v === null)) continue
    if (c.next !== null && sameKey(refCols.map(i => c.next![i] ?? null), key)) continue
    let children = await withLimboRetry(env, async () => await rowsWithKey(env, child, cols, key, txn, now))
    // A row referencing itself, deleted by this statement, does not hold itself back.
    if (child === t) {
      const gone = new Set(changes.flatMap(o => o.next === null && o.old !== null ? [keyString(encodeTuple(pkTuple(t, o.old)))] : []))
      children = children.filter(r => !gone.has(keyString(encodeTuple(pkTuple(t, r)))))
    }
    if (children.length === 0) continue
    if (c.next === null && fk.onDelete === 'cascade') {
      // A child whose rows are being copied to a new layout takes no deletes: one copied already
      // would come back after the switch (its planning refuses direct writes the same way).
      refuseMovingWrite(child.info, `the ON DELETE CASCADE from "${t.info.name}"`)
      const indexes = indexShapes(env.catalog(), child.info)
      for (const row of children) {
        addWrite(writes, shardOfRow(child, row, env.shards), { op: 'delete', tableId: child.info.id, pk: pkTuple(child, row), versionId: versionId(env, child) })
        addIndexWrites(env, indexes, writes, row, null)
      }
      await enforceForeignKeys(env, child, children.map(row => ({ old: row, next: null })), writes, txn, now, depth + 1)
      continue
    }
    throw new ScratchBirdError('SB_FOREIGN_KEY_VIOLATION',
      `${c.next === null ? 'delete' : 'update'} on table "${t.info.name}" violates foreign key constraint of table "${child.info.name}": key (${fk.refColumns.join(', ')})=(${key.map(String).join(', ')}) is still referenced`,
      { table: t.info.name, referencing: child.info.name, columns: fk.refColumns })
  }
}

function columnIndexes (t: TableShape, names: readonly string[]): number[] {
  return names.map(n => t.info.columns.findIndex(c => c.name === n))
}

export function sameKey (a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => sortCompare(v as SqlValue, b[i] as SqlValue) === 0)
}
