// UPDATE and DELETE: read the matching rows inside the statement's transaction (the WHERE program
// runs on the shards), compute new versions on the coordinator (SET may call UUID generators),
// and write them back in the same transaction — so a row changed concurrently is an
// SB_UPDATE_CONFLICT, never a lost update. How the rows are read and written, and in which
// transaction, is the table's access method's (access/).
import { ScratchBirdError } from '../core/errors'
import type { DeleteStatement, UpdateStatement } from '../sql/ast'
import { timestampFromMillis, type SqlTimestamp } from '../types/datetime'
import { encodeRow } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import { compileExpr, posDetails } from '../plan/compile-expr'
import type { ExecEnv, Generators, ShardPort, TimerPort } from './env'
import { pinKeys } from '../plan/pins'
import { ProgramBuilder } from '../plan/program-builder'
import { localVm } from './local-vm'
import { SYSTEM_TABLES } from '../plan/system-tables'
import { rowFilterProgram } from '../plan/row-filter'
import { planReturning } from '../plan/returning'
import { returningRows } from './returning'
import { pkTuple, scopeOf, tableShape } from '../plan/table-types'
import { withDomains } from '../plan/domain-rules'
import { withEnumWhere } from '../plan/enum-order'
import type { SqlTxn } from './txn'
import type { TableAccess } from './access/table-access'
import { addWrite, type ShardWrites } from './shard-writes'
import { assignRow, versionId } from './write-rows'
import { encodeTuple, type Tuple } from '../storage/keys'
import type { ShardId } from '../core/ids'
import { indexShapes } from '../plan/index-shapes'
import { addIndexWrites, writeWithIndexes } from './index-writes'
import { resolveRouting } from './index-lookup'
import { enforceForeignKeys, hasForeignKeys, type ForeignKeyPorts, type RowChange } from './foreign-keys'
import { refuseMovingWrite } from '../catalog/table-move'
import type { ModifyPlan } from './modify-plan'
import { pointModify } from './point-modify'
import { atStatementReadPoint } from './read-point'
import { withLimboRetry } from './statement-snapshot'

export type { ModifyPlan } from './modify-plan'

export function planModify (env: ExecEnv, s: UpdateStatement | DeleteStatement, params: readonly SqlValue[]): ModifyPlan {
  if (SYSTEM_TABLES[s.table] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${s.table} is a system table; it changes through DDL only`, posDetails(s.pos))
  const shape = withDomains(tableShape(env.catalog().mustTable(s.table)), env.catalog())
  refuseMovingWrite(shape.info, `the ${s.kind.toUpperCase()}`)
  // ENUM comparisons by declaration order (plan/enum-order.ts); routing pins on = , which that leaves as it is.
  const filter = rowFilterProgram(shape, s.table, withEnumWhere(env.catalog(), s.table, s.where), params, 'UUID generator functions in an UPDATE/DELETE WHERE clause are not supported')
  const routing = pinKeys(env, shape, s.where, params)
  const returning = planReturning(shape, s.table, s.returning, params)
  const indexes = indexShapes(env.catalog(), shape.info)
  if (s.kind === 'delete') return { kind: 'delete', shape, routing, filter, assign: null, targets: [], assignVolatile: false, returning, indexes }
  const targets = s.assignments.map(a => {
    const i = shape.info.columns.findIndex(c => c.name === a.column)
    if (i < 0) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${a.column}" of relation "${s.table}" does not exist`, posDetails(a.pos))
    // A row lives on the shard of its partition key: changing it would have to move the row.
    if (shape.partition.includes(i)) throw new ScratchBirdError('SB_PARTITION_KEY_UPDATE', `Cannot update partition key column '${a.column}'`, { column: a.column, ...posDetails(a.pos) })
    return i
  })
  if (new Set(targets).size !== targets.length) throw new ScratchBirdError('SB_DUPLICATE_COLUMN', 'a column is assigned more than once', posDetails(s.pos))
  const b = new ProgramBuilder(params, shape.programColumns)
  const regs = s.assignments.map(a => compileExpr(a.value, { columns: scopeOf(shape, s.table), clause: 'UPDATE … SET' }, b))
  const first = b.regs(regs.length)
  regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
  b.emit('EMIT', first, regs.length)
  const assign = b.build(regs.map((r, i) => ({ name: s.assignments[i]!.column, type: r.type.kind === 'null' ? shape.types[targets[i]!]! : r.type })))
  return { kind: 'update', shape, routing, filter, assign, targets, assignVolatile: b.volatile, returning, indexes }
}

/**
 * Runs the statement through the table's access `access` (in `txn`, or in the statement
 * transaction the access needs): rows updated, or deleted. `returned` gets the RETURNING values
 * of the new rows (UPDATE) or the removed ones (DELETE), computed before anything is written.
 */
export async function executeModify (env: ForeignKeyPorts & TimerPort, access: TableAccess, p: ModifyPlan, params: readonly SqlValue[], txn: SqlTxn | null, returned?: SqlValue[][]): Promise<number> {
  // One row of one shard, and nothing the coordinator must do around it: one request (point-modify.ts).
  const point = await pointModify(env, access, p, params, txn)
  if (point !== null) return point
  // Read committed: the rows are read at one HLC and a row committed since is refused, never
  // overwritten (read-point.ts); a snapshot transaction's writes already refuse what it did not see.
  return await access.statement(txn, async txn => await atStatementReadPoint(env, access, txn, async (e, a) => await twoSteps(e, a, p, params, txn, returned)))
}

/** The rows read into the coordinator, then their new versions (or tombstones) written. */
async function twoSteps (env: ForeignKeyPorts & TimerPort, access: TableAccess, p: ModifyPlan, params: readonly SqlValue[], txn: SqlTxn | null, returned?: SqlValue[][]): Promise<number> {
  const rows: SqlValue[][] = []
  // Through a global index: its entries name the shards (and keys) to read, in this transaction.
  const route = await resolveRouting(env, p.shape, p.routing, txn, timestampFromMillis(env.clock.now()))
  const changes: RowChange[] = []
  // A read at a read point that met a prepared version runs again once it is decided.
  const writes = await modifyWrites(env, p, route.shards, params, (shard, now) => withLimboRetry(env, () =>
    access.read({ shape: p.shape, shards: [shard], options: route.options, program: p.filter, params, now, pushdown: true, ...keysOn(route.keys, shard) }, txn)), rows, changes)
  if (hasForeignKeys(env.catalog(), p.shape.info)) await enforceForeignKeys(env, p.shape, changes, writes, txn, timestampFromMillis(env.clock.now()))
  returned?.push(...returningRows(env, p.returning, rows, params))
  const n = await writeWithIndexes(p.shape.info, p.indexes, access, writes, txn)
  // An UPDATE that changes a primary key writes a tombstone and a new row: count the new rows.
  return p.kind === 'update' ? countRows(writes, p.shape.info.id) : n
}

/** The new versions (UPDATE) or tombstones (DELETE) of the rows `read` finds on each shard. */
async function modifyWrites (env: Generators & Pick<ShardPort, 'shards'>, p: ModifyPlan, shards: readonly ShardId[], params: readonly SqlValue[], read: (shard: ShardId, now: SqlTimestamp) => Promise<SqlValue[][]>, rowsOut?: SqlValue[][], changes?: RowChange[]): Promise<ShardWrites> {
  const now = timestampFromMillis(env.clock.now())
  const t = p.shape
  const writes: ShardWrites = new Map()
  await Promise.all(shards.map(async shard => {
    const rows = await read(shard, now)
    const vm = p.assign === null ? null : localVm(env, p.assign, params, now)
    for (const old of rows) {
      const pk = pkTuple(t, old)
      if (vm === null) {
        addWrite(writes, shard, { op: 'delete', tableId: t.info.id, pk, versionId: versionId(env, t) })
        addIndexWrites(env, p.indexes, writes, old, null)
        changes?.push({ old, next: null })
        rowsOut?.push(old)
        continue
      }
      const out = vm.run(old)!
      const next = old.slice()
      p.targets.forEach((col, k) => { next[col] = out[k]! })
      const row = assignRow(t, next)
      rowsOut?.push(row)
      const newPk = pkTuple(t, row)
      const image = encodeRow(t.types, row)
      if (bytesEqual(encodeTuple(pk), encodeTuple(newPk))) {
        addWrite(writes, shard, { op: 'update', tableId: t.info.id, pk, row: image, versionId: versionId(env, t) })
      } else {
        // A new primary key is a new row on the same shard (the partition key did not change).
        addWrite(writes, shard, { op: 'delete', tableId: t.info.id, pk, versionId: versionId(env, t) })
        addWrite(writes, shard, { op: 'insert', tableId: t.info.id, pk: newPk, row: image, versionId: versionId(env, t) })
      }
      addIndexWrites(env, p.indexes, writes, old, row)
      changes?.push({ old, next: row })
    }
  }))
  return writes
}

/** A key list's keys on `shard`, as a TableRead field (none: the read is `options`'). */
function keysOn (keys: ReadonlyMap<ShardId, readonly Tuple[]> | undefined, shard: ShardId): { keys?: readonly Tuple[] } {
  return keys === undefined ? {} : { keys: keys.get(shard) ?? [] }
}

function countRows (writes: ShardWrites, tableId: number): number {
  let n = 0
  for (const list of writes.values()) for (const w of list) if (w.op !== 'delete' && w.tableId === tableId) n++
  return n
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
