// Where EXPLAIN says a temporary table's rows are (exec/temp-tables.ts keeps them): in this
// session's memory on this node, not on shards. The planner routes a temporary table like any
// table (its rows are tagged with the shard their key hashes to, so scans, bounds and limits
// behave as a shard's would), but "all 16 shards (scatter)" or "shard 3 (partition key pinned)"
// would send a reader looking for rows no shard holds — so EXPLAIN names the place instead,
// keeping what the routing says about the key (a point lookup or a range).
import type { TableInfo } from '../catalog/catalog'
import type { ScanOptions } from '../storage/engine'

export const TEMP_ROWS_WHERE = 'this session\'s memory on this node (temporary table: on no shard)'

/** The routing text EXPLAIN prints for table `info`: `routing` itself unless the table is temporary. */
export function explainRouting (info: TableInfo, routing: string, options: ScanOptions): string {
  if (info.temporary !== true) return routing
  if (options.exact === true) return `${TEMP_ROWS_WHERE}, point lookup on the primary key`
  if (options.gte !== undefined || options.gt !== undefined || options.lte !== undefined || options.lt !== undefined) return `${TEMP_ROWS_WHERE}, a range of the primary key`
  return `${TEMP_ROWS_WHERE}, every row`
}
