// ALTER TABLE … SET replication_mode on a table that holds rows — a change of the table's access
// method (mga.ts ↔ lww.ts), which is why it lives here. The two modes keep rows apart:
// primary_replica rows are MGA record versions on the shard owner (UUIDv7 ids, TIP-decided),
// leaderless_quorum rows are last-write-wins versions on N replicas (UUIDv8-HLC ids). Switching
// the catalog entry alone would leave the existing rows where and as the new mode cannot read them
// (a quorum read of such a row finds no HLC version on the other replicas). Until a conversion
// step re-versions and moves them, only an empty table may change mode — refused before the DDL
// reaches the catalog, so nothing changes. (Rows inserted between this check and the catalog
// change are still possible: the check is not under the DDL's lock.)
import { ScratchBirdError } from '../../core/errors'
import { parseReplicationOption } from '../../catalog/replication-options'
import type { AlterTableStatement } from '../../sql/ast'
import { ident } from '../../sql/format'
import { parse } from '../../sql/parser'
import { posDetails } from '../../plan/compile-expr'
import type { ExecEnv } from '../env'
import { executeSelect } from '../select-exec'
import { planSelect } from '../../plan/select-plan'

export async function refuseModeChangeWithRows (env: ExecEnv, s: AlterTableStatement): Promise<void> {
  if (s.action.kind !== 'set_options') return
  const opt = s.action.options.find(o => o.name.toLowerCase() === 'replication_mode')
  const info = env.catalog().table(s.table)
  // Unknown table or a bad value: the DDL itself reports it.
  if (opt === undefined || opt.value.kind !== 'string' || info === undefined) return
  let mode: string | undefined
  try { mode = parseReplicationOption(opt.name, opt.value.value).replication_mode } catch { return }
  const from = info.replication.replication_mode
  if (mode === undefined || mode === from) return
  const probe = parse(`SELECT 1 FROM ${ident(s.table)} LIMIT 1`)[0]
  if (probe?.kind !== 'select') throw new Error('ScratchBird assertion: probe is not a SELECT')
  const rows = await executeSelect(env, planSelect(env, probe, []), [], null)
  if (rows.length === 0) return
  throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
    `table ${s.table} has rows: changing replication_mode from '${from}' to '${mode}' needs an empty table ` +
    '(its rows would keep versions the new mode cannot read); create a new table with the mode and copy the rows into it',
    { ...posDetails(s.pos), table: s.table, from, to: mode })
}
