// INSERT … VALUES (…), (…): each VALUES row is one SBLR program run on the coordinator (it may
// call gen_uuidv8_hlc(), which needs the node's HLC) that emits the whole row: the VALUES
// expressions, and each omitted or DEFAULT column's default (column-default.ts; NULL when it has
// none) — so defaults are evaluated per row, before the row is routed by partition key. The
// table's access method (access/) writes the rows per shard.
import { Catalog } from '../catalog/catalog'
import { ScratchBirdError } from '../core/errors'
import type { Expr, InsertStatement } from '../sql/ast'
import { T } from '../types/sql-types'
import { timestampFromMillis } from '../types/datetime'
import type { SqlValue } from '../types/values'
import { compileColumnDefault, parseColumnDefault } from '../plan/column-default'
import { planReturning } from '../plan/returning'
import { planOnConflict, type OnConflictPlan } from '../plan/on-conflict'
import { compileExpr, posDetails, type TypedReg } from '../plan/compile-expr'
import type { ExecEnv, Generators, ShardPort } from './env'
import { ProgramBuilder } from '../plan/program-builder'
import { localVm } from './local-vm'
import { SYSTEM_TABLES } from '../plan/system-tables'
import { tableShape } from '../plan/table-types'
import { withDomains, type DomainShape } from '../plan/domain-rules'
import { addWrite, type ShardWrites } from './shard-writes'
import { assignRow, insertWrite } from './write-rows'
import type { Program } from '../sblr/program'
import { indexShapes, type IndexShape } from '../plan/index-shapes'
import { addIndexWrites } from './index-writes'
import { refuseMovingWrite } from '../catalog/table-move'

export interface InsertPlan {
  shape: DomainShape
  programs: Program[]
  targets: number[]
  onConflict: OnConflictPlan | null
  returning: Program | null
  /** The table's indexes, whose entries are written with the rows. */
  indexes: readonly IndexShape[]
}

export function planInsert (env: ExecEnv, s: InsertStatement, params: readonly SqlValue[]): InsertPlan {
  if (SYSTEM_TABLES[s.table] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${s.table} is a system table; it changes through DDL only`, posDetails(s.pos))
  const shape = withDomains(tableShape(env.catalog().mustTable(s.table)), env.catalog())
  refuseMovingWrite(shape.info, 'the INSERT')
  const columns = shape.info.columns
  // Without a column list: the first N columns for rows of N values (PostgreSQL), the rest default;
  // a hidden row id is not among them.
  const visible = Catalog.visibleColumns(shape.info)
  const names = s.columns ?? visible.slice(0, s.rows[0]?.length ?? 0).map(c => c.name)
  if (s.columns === null && (s.rows[0]?.length ?? 0) > visible.length) {
    throw new ScratchBirdError('SB_SYNTAX_ERROR', `INSERT has more expressions (${s.rows[0]!.length}) than "${s.table}" has columns (${visible.length})`, posDetails(s.rows[0]![0]?.pos ?? s.pos))
  }
  const given = names.map(n => {
    const i = columns.findIndex(c => c.name === n)
    if (i < 0) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${n}" of relation "${s.table}" does not exist`, posDetails(s.pos))
    return i
  })
  if (new Set(given).size !== given.length) throw new ScratchBirdError('SB_DUPLICATE_COLUMN', 'a column is named more than once in the INSERT column list', posDetails(s.pos))
  // Where each table column's value comes from: its VALUES position, or -1 (omitted: default).
  const source = columns.map((_, i) => given.indexOf(i))
  const defaults = new Map<number, Expr | null>()
  const defaultOf = (i: number): Expr | null => {
    if (!defaults.has(i)) {
      const text = columns[i]!.default
      // A column's own DEFAULT, else its domain's.
      defaults.set(i, text === null ? shape.domains?.[i]?.default ?? null : parseColumnDefault(s.table, columns[i]!.name, text))
    }
    return defaults.get(i)!
  }
  const programs = s.rows.map(row => {
    if (row.length !== given.length) {
      throw new ScratchBirdError('SB_SYNTAX_ERROR', `INSERT has ${row.length} expressions for ${given.length} target columns`, posDetails(row[0]?.pos ?? s.pos))
    }
    const b = new ProgramBuilder(params, [])
    const regs = columns.map((_, i): TypedReg => {
      const e = source[i]! >= 0 ? row[source[i]!]! : null
      if (e !== null && e.kind !== 'default') return compileExpr(e, { columns: [], clause: 'VALUES' }, b)
      const d = defaultOf(i)
      if (d !== null) return compileColumnDefault(d, b)
      const r = b.reg()
      b.emit('LOAD_NULL', r)
      return { reg: r, type: shape.types[i]!, untyped: false }
    })
    const first = b.regs(regs.length)
    regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
    b.emit('EMIT', first, regs.length)
    return b.build(regs.map((r, i) => ({ name: columns[i]!.name, type: r.type.kind === 'null' ? T.text : r.type })))
  })
  return {
    shape,
    programs,
    targets: columns.map((_, i) => i),
    onConflict: planOnConflict(shape, s.table, s.onConflict, params),
    returning: planReturning(shape, s.table, s.returning, params),
    indexes: indexShapes(env.catalog(), shape.info)
  }
}

/** Evaluates the VALUES rows: each row as it will be written (column types, NOT NULL checked). */
export function insertRows (env: Generators, p: InsertPlan, params: readonly SqlValue[]): SqlValue[][] {
  const now = timestampFromMillis(env.clock.now())
  return p.programs.map(program => {
    const out = localVm(env, program, params, now).run()!
    const values: SqlValue[] = p.shape.types.map(() => null)
    p.targets.forEach((col, k) => { values[col] = out[k]! })
    return assignRow(p.shape, values)
  })
}

/** Evaluates the VALUES rows and builds the writes per shard; `rowsOut` gets each row as written. */
export function insertWrites (env: Pick<ShardPort, 'shards'> & Generators, p: InsertPlan, params: readonly SqlValue[], rowsOut?: SqlValue[][]): ShardWrites {
  const writes: ShardWrites = new Map()
  for (const row of insertRows(env, p, params)) {
    const { shard, write } = insertWrite(env, p.shape, row)
    addWrite(writes, shard, write)
    addIndexWrites(env, p.indexes, writes, null, row)
    rowsOut?.push(row)
  }
  return writes
}
