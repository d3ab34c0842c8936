// ALTER TABLE … SET replication_factor raising N of a leaderless_quorum table (issue 14 item 4):
// the catalog records the new replicas as bootstrapping (catalog/replica-bootstrap.ts) and they
// count toward W and R only once filled (node/leaderless-bootstrap.ts). A table without rows has
// nothing to fill, and making its writes wait for a bootstrap would refuse W = N writes right after
// the change (the seed's migration raises N, then sets W, then writes). So the change runs under
// the write fence of exec/ddl-needs-empty.ts: when no replica of any shard holds a row of the
// table, the bootstrap is ended (SET REPLICAS READY) before the fence lifts — no write can land
// between the probe and the end, so the new replicas hold every row (none). With rows too the
// fence holds until every node runs the new catalog (and no statement planned with the old one
// still writes: catalog-pins.ts), so every write a replica accepts from then on is also sent to
// the new replicas, and every write sent to the old replicas only landed before — in the snapshot
// the bootstrap streams (node/leaderless-bootstrap.ts). The fence lasts the DDL: writes of the
// table get SB_TABLE_ALTERING (retry) meanwhile, reads continue.
import { formatUuid } from '../core/uuid'
import { ddlContext } from '../plan/column-default'
import type { AlterTableStatement, DdlStatement } from '../sql/ast'
import type { ExecEnv } from './env'
import type { StatementResult } from './result'

/** Does `s` start a bootstrap (raise N of a leaderless table) as this node's catalog would make it? */
function startsBootstrap (env: ExecEnv, s: AlterTableStatement): boolean {
  if (s.action.kind !== 'set_options') return false
  const catalog = env.catalog()
  const before = catalog.table(s.table)
  if (before === undefined || before.replication.replication_mode !== 'leaderless_quorum') return false
  // A statement the catalog refuses is left to the DDL itself to report.
  let after
  try { after = catalog.alterTable(s, ddlContext(env.liveNodes(), env.tableDefaults)).table } catch { return false }
  return after?.bootstrap !== undefined && after.replication.replication_factor > before.replication.replication_factor
}

/**
 * Runs `run` (the ALTER TABLE itself); a raised N of a leaderless table is settled as above, `ddl`
 * running the SET REPLICAS READY that ends the bootstrap of an empty table.
 */
export async function alterLeaderlessFactor (env: ExecEnv, s: AlterTableStatement, run: () => Promise<StatementResult>,
  ddl: (s: DdlStatement) => Promise<StatementResult>): Promise<StatementResult> {
  if (!startsBootstrap(env, s)) return await run()
  const info = env.catalog().table(s.table)!
  const token = formatUuid(env.uuidV7.generate())
  const hasRows = await env.fences.fence(info, token)
  let result: StatementResult
  try {
    result = await run()
    // No row anywhere: the new replicas are complete as they are.
    if (!hasRows && env.catalog().table(s.table)?.bootstrap !== undefined) {
      await ddl({ kind: 'alter_table', pos: s.pos, table: s.table, action: { kind: 'replicas_ready', pos: s.pos, shard: null } })
    }
  } catch (e) {
    await env.fences.release(info, token, { kind: 'unknown' })
    throw e
  }
  await env.fences.release(info, token, { kind: 'after', version: env.catalog().version })
  return result
}
