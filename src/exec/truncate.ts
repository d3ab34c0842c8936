// TRUNCATE [TABLE] t [, …] [RESTART | CONTINUE IDENTITY] [CASCADE | RESTRICT] (issue 19).
//
// Implemented as the transactional deletion of every row (with its index entries, local and
// global) under the statement's transaction, not as PostgreSQL's swap of the table's storage for
// an empty one: a table here is spread over shards on several nodes, each shard's rows are record
// versions in the MGA engine, and replicas follow the commit log — dropping the rows outside a
// transaction would need a cluster-wide exclusive lock to stay undoable and consistent with
// concurrent readers. As deletions, TRUNCATE inside BEGIN … ROLLBACK is undone like any DELETE,
// readers keep their snapshots, replication and backups see ordinary tombstones, leaderless tables
// get tombstones as DELETE writes them, and a session's temporary table is cleared in its undo log.
// The cost is that of deleting the rows (the sweep reclaims them later). A row a concurrent
// transaction commits after this statement's snapshot is not seen, so it stays (PostgreSQL would
// have waited for that transaction instead).
//
// The work is bounded: each shard's rows are read and deleted in batches of TRUNCATE_BATCH_ROWS
// in primary-key order (one shard after another, a cursor past the last key), all of them under
// the one transaction — the session's, or an implicit one committed when every table is empty.
// IDENTITY: no column here draws from a sequence (UUID generators keep no counter), so RESTART
// IDENTITY has nothing to restart; it is accepted, as CONTINUE IDENTITY (the default) is.
import { refuseMovingWrite } from '../catalog/table-move'
import { truncateSet } from '../catalog/truncate-set'
import { ScratchBirdError } from '../core/errors'
import { shardIds, type ShardId } from '../core/ids'
import { posDetails } from '../plan/compile-expr'
import { indexShapes, type IndexShape } from '../plan/index-shapes'
import { SYSTEM_TABLES } from '../plan/system-tables'
import { pkTuple, tableShape, type TableShape } from '../plan/table-types'
import type { TruncateStatement } from '../sql/ast'
import type { ScanOptions } from '../storage/engine'
import type { TupleValue } from '../storage/keys'
import { timestampFromMillis } from '../types/datetime'
import type { SqlValue } from '../types/values'
import { tableAccess } from './access/choose'
import { LwwAccess } from './access/lww'
import type { TableAccess } from './access/table-access'
import type { ExecEnv } from './env'
import { addIndexWrites, writeWithIndexes } from './index-writes'
import { passthrough } from './local-vm'
import { commandResult, type StatementResult } from './result'
import { addWrite, type ShardWrites } from './shard-writes'
import { TempAccess } from './temp-access'
import type { SqlTxn } from './txn'
import { versionId } from './write-rows'

/** Rows read and deleted per round trip on one shard. */
export const TRUNCATE_BATCH_ROWS = 500

interface Target { readonly shape: TableShape, readonly indexes: readonly IndexShape[], readonly access: TableAccess }

/** The tables the statement empties, each checked before anything is written. */
function targets (env: ExecEnv, s: TruncateStatement): Target[] {
  const c = env.catalog()
  for (const name of s.tables) {
    if (SYSTEM_TABLES[name] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${name} is a system table; it changes through DDL only`, { table: name, ...posDetails(s.pos) })
  }
  return truncateSet(c, s.tables, s.cascade).map(name => {
    const t = c.table(name)
    if (t === undefined) {
      if (c.view(name) !== undefined) throw new ScratchBirdError('SB_WRONG_OBJECT_TYPE', `"${name}" is not a table (it is a view)`, { table: name, ...posDetails(s.pos) })
      throw new ScratchBirdError('SB_UNDEFINED_TABLE', `relation "${name}" does not exist`, { table: name, ...posDetails(s.pos) })
    }
    if (t.index !== undefined) throw new ScratchBirdError('SB_WRONG_OBJECT_TYPE', `"${name}" is not a table (it is an index)`, { table: name, ...posDetails(s.pos) })
    refuseMovingWrite(t, 'the TRUNCATE')
    return { shape: tableShape(t), indexes: indexShapes(c, t), access: tableAccess(env, t) }
  })
}

/** Empties the tables of `s` in `txn` (or in one implicit transaction). */
export async function executeTruncate (env: ExecEnv, s: TruncateStatement, txn: SqlTxn | null): Promise<StatementResult> {
  const list = targets(env, s)
  const leaderless = list.filter(t => t.access instanceof LwwAccess)
  const shard = list.filter(t => !(t.access instanceof LwwAccess) && !(t.access instanceof TempAccess))
  // One transaction writes leaderless tables or the others, not both (exec/txn.ts): so does one TRUNCATE.
  if (leaderless.length > 0 && shard.length > 0) {
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
      `TRUNCATE of leaderless_quorum table "${leaderless[0]!.shape.info.name}" together with table "${shard[0]!.shape.info.name}": a transaction writes leaderless tables or other tables, not both; truncate them in separate statements`,
      { table: leaderless[0]!.shape.info.name, other: shard[0]!.shape.info.name })
  }
  // The statement wrappers the tables' accesses need, nested once each: the session's temporary
  // rows undone together if the statement fails, then the shard transaction (implicit when none is open).
  const wrappers: TableAccess[] = []
  const temp = list.find(t => t.access instanceof TempAccess)
  if (temp !== undefined) wrappers.push(temp.access)
  const main = shard[0] ?? leaderless[0]
  if (main !== undefined) wrappers.push(main.access)
  const run = async (i: number, t: SqlTxn | null): Promise<void> => {
    if (i < wrappers.length) { await wrappers[i]!.statement(t, async inner => { await run(i + 1, inner) }); return }
    for (const target of list) await truncateTable(env, target, t)
  }
  await run(0, txn)
  return commandResult('TRUNCATE TABLE')
}

/** Deletes every row of one table visible to `txn`, shard by shard, TRUNCATE_BATCH_ROWS at a time. */
async function truncateTable (env: ExecEnv, target: Target, txn: SqlTxn | null): Promise<void> {
  const { shape, indexes, access } = target
  const program = passthrough(shape.programColumns)
  for (const shard of shardIds(env.shards)) {
    let after: TupleValue[] | null = null
    for (;;) {
      const now = timestampFromMillis(env.clock.now())
      const options: ScanOptions = after === null ? { limit: TRUNCATE_BATCH_ROWS } : { gt: after, limit: TRUNCATE_BATCH_ROWS }
      const rows = await access.read({ shape, shards: [shard], options, program, params: [], now, pushdown: true, limit: TRUNCATE_BATCH_ROWS }, txn)
      if (rows.length === 0) break
      await writeWithIndexes(shape.info, indexes, access, deletions(env, target, shard, rows), txn)
      after = pkTuple(shape, rows[rows.length - 1]!)
      if (rows.length < TRUNCATE_BATCH_ROWS) break
    }
  }
}

function deletions (env: ExecEnv, target: Target, shard: ShardId, rows: ReadonlyArray<readonly SqlValue[]>): ShardWrites {
  const writes: ShardWrites = new Map()
  const t = target.shape
  for (const row of rows) {
    addWrite(writes, shard, { op: 'delete', tableId: t.info.id, pk: pkTuple(t, row), versionId: versionId(env, t) })
    addIndexWrites(env, target.indexes, writes, row, null)
  }
  return writes
}
