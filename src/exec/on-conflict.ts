// INSERT … ON CONFLICT (issue 19 item 5): in the statement's transaction, each proposed row's
// primary key is read first (a point read on its shard); a new key is inserted, an existing one is
// left alone (DO NOTHING) or updated from [existing row, proposed row] (DO UPDATE, when its WHERE
// holds). A key proposed twice in one statement: the second is skipped (DO NOTHING) or refused
// (DO UPDATE, SB_CARDINALITY_VIOLATION) as in PostgreSQL. The row count and RETURNING cover the
// rows inserted or updated. A concurrent insert of the same key between the read and the write
// still fails the statement with SB_UNIQUE_VIOLATION (MGA) — nothing is lost or doubled.
import { ScratchBirdError } from '../core/errors'
import { timestampFromMillis } from '../types/datetime'
import { encodeRow } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import { encodeTuple, keyString } from '../storage/keys'
import { rowFilterProgram } from '../plan/row-filter'
import { pkTuple, shardOfRow } from '../plan/table-types'
import { rowsWithKey } from './index-lookup'
import { atStatementReadPoint } from './read-point'
import { enforceForeignKeys, hasForeignKeys, type ForeignKeyPorts, type RowChange } from './foreign-keys'
import { addIndexWrites, writeWithIndexes } from './index-writes'
import type { InsertPlan } from './insert'
import { insertRows } from './insert'
import { localVm } from './local-vm'
import { returningRows } from './returning'
import { addWrite, type ShardWrites } from './shard-writes'
import type { TableAccess } from './access/table-access'
import type { SqlTxn } from './txn'
import { assignRow, insertWrite, versionId } from './write-rows'

/** Rows inserted or updated; `returned` gets their RETURNING values, computed before the write. */
export async function insertOnConflict (env0: ForeignKeyPorts, access0: TableAccess, p: InsertPlan, params: readonly SqlValue[], txn: SqlTxn | null, returned: SqlValue[][]): Promise<number> {
  const oc = p.onConflict!
  const t = p.shape
  const proposed = insertRows(env0, p, params)
  // The existing rows are read and the updates written at one read point in read committed
  // (read-point.ts): an update committed in between is refused (SB_UPDATE_CONFLICT), never
  // overwritten with the row read before it — the upsert counter `SET n = t.n + 1` loses nothing.
  return await access0.statement(txn, async txn => await atStatementReadPoint(env0, access0, txn, async (env, access) => {
    const now = timestampFromMillis(env.clock.now())
    const whole = rowFilterProgram(t, t.info.name, null, params)
    const assign = oc.assign === null ? null : localVm(env, oc.assign, params, now)
    const where = oc.where === null ? null : localVm(env, oc.where, params, now)
    const seen = new Set<string>()
    const writes: ShardWrites = new Map()
    const written: SqlValue[][] = []
    const changes: RowChange[] = []
    const globalKey = p.indexes.some(i => i.index.constraint === 'primary_key')
    for (const row of proposed) {
      const pk = pkTuple(t, row)
      const key = keyString(encodeTuple(pk))
      if (seen.has(key)) {
        if (oc.action === 'nothing') continue
        throw new ScratchBirdError('SB_CARDINALITY_VIOLATION', 'ON CONFLICT DO UPDATE command cannot affect row a second time (a key is proposed twice in one statement)', { table: t.info.name })
      }
      seen.add(key)
      const { shard, write } = insertWrite(env, t, row)
      // A key kept by a global index may be held by a row on another shard (another partition):
      // it is looked up through the index; otherwise the key's row can only be on this shard.
      const [existing] = globalKey
        ? await rowsWithKey(env, t, t.pk, t.pk.map(i => row[i] ?? null), txn, now)
        : await access.read({ shape: t, shards: [shard], options: { gte: pk, lte: pk, exact: true }, program: whole, params, now, pushdown: true }, txn)
      if (existing === undefined) {
        addWrite(writes, shard, write)
        addIndexWrites(env, p.indexes, writes, null, row)
        changes.push({ old: null, next: row })
        written.push(row)
        continue
      }
      if (assign === null) continue
      const input = [...existing, ...row]
      if (where !== null && where.run(input)?.[0] !== true) continue
      const out = assign.run(input)!
      const next = existing.slice()
      oc.targets.forEach((col, k) => { next[col] = out[k]! })
      const updated = assignRow(t, next)
      addWrite(writes, shardOfRow(t, existing, env.shards), { op: 'update', tableId: t.info.id, pk, row: encodeRow(t.types, updated), versionId: versionId(env, t) })
      addIndexWrites(env, p.indexes, writes, existing, updated)
      changes.push({ old: existing, next: updated })
      written.push(updated)
    }
    returned.push(...returningRows(env, p.returning, written, params))
    if (hasForeignKeys(env.catalog(), t.info)) await enforceForeignKeys(env, t, changes, writes, txn, now)
    await writeWithIndexes(t.info, p.indexes, access, writes, txn)
    return written.length
  }))
}
