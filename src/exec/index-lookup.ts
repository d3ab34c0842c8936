// The first hop of a read through a global index (plan/pins.ts IndexRoute): the entries of the
// pinned key, read on their one shard (inside the statement's transaction, so with its
// visibility), name the shards of the rows — and their primary keys, so a single row is then one
// point read. The statement's own filter still runs over the rows, so an entry pointing at a row
// that no longer matches changes nothing.
import type { ScanOptions } from '../storage/engine'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import type { Routing } from '../plan/pins'
import { pkTuple, shardOfRow, type TableShape } from '../plan/table-types'
import { tableAccess, type AccessPorts } from './access/choose'
import { passthrough } from './local-vm'
import type { SqlTxn } from './txn'
import type { ShardId } from '../core/ids'

export async function resolveRouting (env: AccessPorts, t: TableShape, r: Routing, txn: SqlTxn | null, now: SqlTimestamp): Promise<{ shards: ShardId[], options: ScanOptions }> {
  const route = r.index
  if (route === undefined) return r
  const ix = route.ix
  const entries = await tableAccess(env, ix.info).read({
    shape: ix.shape, shards: [route.shard], options: route.options, program: passthrough(ix.shape.programColumns), params: [], now, pushdown: true
  }, txn)
  const shards = new Set<ShardId>()
  const rows: SqlValue[][] = []
  for (const e of entries) {
    const row: SqlValue[] = t.info.columns.map(() => null)
    ix.from.forEach((col, j) => { row[col] = e[j] ?? null })
    shards.add(shardOfRow(t, row, env.shards))
    rows.push(row)
  }
  let options = r.options
  if (options.exact !== true && rows.length === 1) {
    const pk = pkTuple(t, rows[0]!)
    options = { gte: pk, lte: pk, exact: true }
  }
  return { shards: [...shards].sort((a, b) => a - b), options }
}
