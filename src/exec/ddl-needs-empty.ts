// ALTER TABLE … SET changes that need a table without rows (issue 13 items 3 and 4; which ones is
// the decision table in catalog/change-checks.ts): a new replication_mode (the rows would keep
// versions the new mode cannot read), new partition key columns (the rows would stay on the
// shards the old key chose) and a raised replication_factor (a new, empty replica would count
// toward read quorums). Until a step moving, re-versioning or filling rows exists, such a change
// is refused on a table that holds rows — before the DDL reaches the catalog, so nothing changes.
// "Holds rows" is asked of the whole cluster through the normal read path (SELECT … LIMIT 1 over
// every shard), not of this node's shards; a leaderless table is asked of every replica of every
// shard (one may hold a row the others missed, W < N), and a replica that is down makes the change
// fail (SB_QUORUM_NOT_ACHIEVED) rather than pass unproven. Limit, said plainly: the check is not
// under the DDL's lock (a row inserted between the check and the catalog change is still possible).
import { ScratchBirdError } from '../core/errors'
import { shardIds } from '../core/ids'
import { REPLICATION_MODE_RULES } from '../core/replication-modes'
import type { TableInfo } from '../catalog/catalog'
import { changeChecks } from '../catalog/change-checks'
import type { AlterTableStatement } from '../sql/ast'
import { ident } from '../sql/format'
import { parse } from '../sql/parser'
import { posDetails } from '../plan/compile-expr'
import { ddlContext } from '../plan/column-default'
import type { ExecEnv } from './env'
import { executeSelect } from './select-exec'
import { planSelect } from '../plan/select-plan'

/**
 * Whether the table holds a row anywhere. A table whose scans may read any one replica (the mode
 * table's scanAnyReplica: leaderless) asks every replica of every shard, since one replica may
 * hold a row the others missed; any other table is asked through the normal read path.
 */
async function holdsRows (env: ExecEnv, info: TableInfo, name: string): Promise<boolean> {
  if (REPLICATION_MODE_RULES[info.replication.replication_mode].scanAnyReplica && env.quorum !== undefined) {
    for (const shard of shardIds(env.shards)) if (await env.quorum.holdsRows(info, shard)) return true
    return false
  }
  const probe = parse(`SELECT 1 FROM ${ident(name)} LIMIT 1`)[0]
  if (probe?.kind !== 'select') throw new Error('ScratchBird assertion: probe is not a SELECT')
  return (await executeSelect(env, planSelect(env, probe, []), [], null)).length > 0
}

export async function refuseOnPopulatedTable (env: ExecEnv, s: AlterTableStatement): Promise<void> {
  if (s.action.kind !== 'set_options') return
  const catalog = env.catalog()
  const info = catalog.table(s.table)
  if (info === undefined) return
  // The change as this node's catalog would make it. A statement the catalog refuses (unknown
  // table, bad value, N above the live nodes) is left to the DDL itself to report.
  let next: TableInfo | null
  try { next = catalog.alterTable(s, ddlContext(env.liveNodes(), env.tableDefaults)).table } catch { return }
  if (next === null) return
  const reasons = changeChecks(info.replication, next.replication, info.primaryKey).needsEmptyTable
  if (reasons.length === 0) return
  if (!await holdsRows(env, info, s.table)) return
  throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `table ${s.table} has rows: ${reasons.join('; ')}`,
    { ...posDetails(s.pos), table: s.table })
}
