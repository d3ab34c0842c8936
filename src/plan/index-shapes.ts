// A table's indexes as the executors use them (catalog/indexes.ts says what an index relation
// holds): each index relation's shape, and for each of its columns the table column it copies.
// Per catalog version, so a CREATE / DROP INDEX (which leaves the table's own TableInfo alone) is
// seen by the next statement.
import type { Catalog, TableInfo } from '../catalog/catalog'
import type { IndexInfo } from '../catalog/indexes'
import { tableShape, type TableShape } from './table-types'

export interface IndexShape {
  readonly info: TableInfo
  readonly index: IndexInfo
  readonly shape: TableShape
  /** Per index column, the index of the table column it copies. */
  readonly from: readonly number[]
  /** Index columns of the key, in key order. */
  readonly key: readonly number[]
}

const cache = new WeakMap<Catalog, Map<number, readonly IndexShape[]>>()

/** The index relations of `table` under `catalog` (building ones included: writers maintain them). */
export function indexShapes (catalog: Catalog, table: TableInfo): readonly IndexShape[] {
  let perTable = cache.get(catalog)
  if (perTable === undefined) cache.set(catalog, perTable = new Map())
  let out = perTable.get(table.id)
  if (out === undefined) {
    out = catalog.indexesOf(table.id).map(info => {
      const shape = tableShape(info)
      const from = info.columns.map(c => table.columns.findIndex(x => x.name === c.name))
      const key = info.index!.columns.map(n => info.columns.findIndex(c => c.name === n))
      return { info, index: info.index!, shape, from, key }
    })
    perTable.set(table.id, out)
  }
  return out
}
