// ALTER TABLE … SET changes that need a table without rows, or move a populated table's rows
// (issue 13 items 3 and 4; which ones is the decision table in catalog/change-checks.ts): a raised
// replication_factor no longer needs one (its new replicas are filled before they count:
// node/leaderless-bootstrap.ts); new partition key columns and a new replication_mode move a
// populated table's rows instead (exec/table-move.ts, re-versioning them for a new mode:
// exec/table-move-source.ts; its START runs at step 3 below, under the fence). Whether the table
// holds a row must stay true until the catalog has changed — an empty table just changes, a
// populated one is moved. So the change runs under a write fence (storage/table-fence.ts,
// node/table-fences.ts):
//   1. fence the table on every replica of every shard — from then on each refuses the table's
//      writes (SB_TABLE_ALTERING), and the probe that answers the fence runs behind every write
//      queued before it; a replica that is down or does not answer fails the change
//      (SB_QUORUM_NOT_ACHIEVED) rather than letting it pass unproven;
//   2. any replica holding a row (committed, or of a prepared transaction) → release the fences,
//      refuse the change (SB_FEATURE_NOT_SUPPORTED), nothing changed — or, for a change that moves
//      rows, start the move;
//   3. run the DDL; tell every replica's node how it ended: installed at catalog version V (each
//      node keeps its fence until its own catalog reaches V — until then it would place rows by
//      the old layout), or failed with an outcome we cannot know (each node keeps it until its
//      catalog has caught up with what gossip shows). A writer whose catalog predates V is
//      refused by the replicas meanwhile (Catalog.layoutFloor, SB_CATALOG_STALE).
// A transaction that wrote the table before the fence cannot commit while it holds
// (SB_TABLE_ALTERING at COMMIT): the DDL wins, as a lock would make it wait in PostgreSQL.
// ADD COLUMN and DROP COLUMN (catalog/alter-columns.ts) keep the rows as they are but change how
// new ones are written: they run under the same fence (steps 1 and 3, rows or not), so no write
// planned by the old columns lands after them — an UPDATE by the old columns would store a row
// without an added column's value, which would then read as its default.
import { ScratchBirdError } from '../core/errors'
import type { TableInfo } from '../catalog/catalog'
import { changeChecks } from '../catalog/change-checks'
import type { AlterTableStatement, DdlStatement } from '../sql/ast'
import { posDetails } from '../plan/compile-expr'
import { ddlContext } from '../plan/column-default'
import { formatUuid } from '../core/uuid'
import type { ExecEnv } from './env'
import { commandResult, type StatementResult } from './result'
import { runMove, startMove } from './table-move'

/**
 * Why the change `s` needs `s.table` to be empty, and whether it moves a populated table's rows
 * instead; null when neither (or the DDL will refuse it anyway).
 */
function emptyTableReasons (env: ExecEnv, s: AlterTableStatement): { info: TableInfo, reasons: string[], moves: boolean } | null {
  if (s.action.kind !== 'set_options') return null
  const catalog = env.catalog()
  const info = catalog.table(s.table)
  if (info === undefined) return null
  // The change as this node's catalog would make it. A statement the catalog refuses (unknown
  // table, bad value, N above the live nodes) is left to the DDL itself to report.
  let next: TableInfo | null
  try { next = catalog.alterTable(s, ddlContext(env.liveNodes(), env.tableDefaults)).table } catch { return null }
  if (next === null) return null
  const checks = changeChecks(info.replication, next.replication, info.primaryKey)
  const reasons = checks.needsEmptyTable
  return reasons.length === 0 && !checks.movesRows ? null : { info, reasons, moves: checks.movesRows }
}

/** The table an ADD/DROP COLUMN changes; null when it changes nothing (IF [NOT] EXISTS) or the DDL will refuse it anyway. */
function columnChangeTable (env: ExecEnv, s: AlterTableStatement): TableInfo | null {
  if (s.action.kind !== 'add_column' && s.action.kind !== 'drop_column') return null
  const catalog = env.catalog()
  const info = catalog.table(s.table)
  if (info === undefined) return null
  try {
    return catalog.alterTable(s, ddlContext(env.liveNodes(), env.tableDefaults)).table === null ? null : info
  } catch { return null }
}

/**
 * Runs `run` (the ALTER TABLE itself) under a write fence when the change needs an empty table,
 * moves rows or changes the columns; `ddl` runs the steps of a move (a populated table whose new
 * partition key moves its rows: exec/table-move.ts).
 */
export async function alterUnderFence (env: ExecEnv, s: AlterTableStatement, run: () => Promise<StatementResult>,
  ddl: (s: DdlStatement) => Promise<StatementResult>): Promise<StatementResult> {
  const columns = columnChangeTable(env, s)
  if (columns !== null) {
    const token = formatUuid(env.uuidV7.generate())
    await env.fences.fence(columns, token)
    return await runFenced(env, columns, token, run)
  }
  const need = emptyTableReasons(env, s)
  if (need === null) return await run()
  const { info, reasons, moves } = need
  const token = formatUuid(env.uuidV7.generate())
  if (await env.fences.fence(info, token)) {
    if (reasons.length > 0 || !moves) {
      await env.fences.release(info, token, { kind: 'now' })
      throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `table ${s.table} has rows: ${reasons.join('; ')}`,
        { ...posDetails(s.pos), table: s.table })
    }
    // Rows, and a change that moves them: the move's START under the fence (from its catalog
    // version on the table's writes are refused by the catalog itself), then the move to its end.
    const started = await runFenced(env, info, token, async () => await startMove(env, s, ddl))
    await runMove(env, s.table, s.pos, ddl)
    return commandResult('ALTER TABLE', 0, started.warnings)
  }
  return await runFenced(env, info, token, run)
}

/** Step 3: the DDL, then every replica's node told how it ended. */
async function runFenced (env: ExecEnv, info: TableInfo, token: string, run: () => Promise<StatementResult>): Promise<StatementResult> {
  let result: StatementResult
  try {
    result = await run()
  } catch (e) {
    await env.fences.release(info, token, { kind: 'unknown' })
    throw e
  }
  await env.fences.release(info, token, { kind: 'after', version: env.catalog().version })
  return result
}
