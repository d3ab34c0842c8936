// INSERT … VALUES (…), (…): each VALUES row is one SBLR program run on the coordinator (it may
// call gen_uuidv8_hlc(), which needs the node's HLC); the rows are routed by partition key and
// written with one request per shard touched.
import { ScratchBirdError } from '../../core/errors'
import type { InsertStatement } from '../ast'
import { T } from '../types'
import { timestampFromMillis } from '../datetime'
import type { SqlValue } from '../values'
import { compileExpr, posDetails } from './compile-expr'
import type { ExecEnv } from './env'
import { ProgramBuilder } from './program-builder'
import { localVm } from './select-exec'
import { SYSTEM_TABLES } from './system-tables'
import { tableShape, type TableShape } from './table-types'
import { addWrite, assignRow, insertWrite, type ShardWrites } from './write-rows'
import type { Program } from '../../sblr/program'

export interface InsertPlan { shape: TableShape, programs: Program[], targets: number[] }

export function planInsert (env: ExecEnv, s: InsertStatement, params: readonly SqlValue[]): InsertPlan {
  if (SYSTEM_TABLES[s.table] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${s.table} is a system table; it changes through DDL only`, posDetails(s.pos))
  if (s.returning !== null) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'INSERT … RETURNING is not supported yet', posDetails(s.pos))
  const shape = tableShape(env.catalog().mustTable(s.table))
  const names = s.columns ?? shape.info.columns.map(c => c.name)
  const targets = names.map(n => {
    const i = shape.info.columns.findIndex(c => c.name === n)
    if (i < 0) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${n}" of relation "${s.table}" does not exist`, posDetails(s.pos))
    return i
  })
  if (new Set(targets).size !== targets.length) throw new ScratchBirdError('SB_DUPLICATE_COLUMN', 'a column is named more than once in the INSERT column list', posDetails(s.pos))
  const programs = s.rows.map(row => {
    if (row.length !== targets.length) {
      throw new ScratchBirdError('SB_SYNTAX_ERROR', `INSERT has ${row.length} expressions for ${targets.length} target columns`, posDetails(row[0]?.pos ?? s.pos))
    }
    const b = new ProgramBuilder(params, [])
    const regs = row.map((e, k) => {
      // DEFAULT: the catalog keeps no column defaults yet, so DEFAULT is NULL.
      if (e.kind === 'default') { const r = b.reg(); b.emit('LOAD_NULL', r); return { reg: r, type: shape.types[targets[k]!]! } }
      return compileExpr(e, { columns: [], clause: 'VALUES' }, b)
    })
    const first = b.regs(regs.length)
    regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
    b.emit('EMIT', first, regs.length)
    return b.build(regs.map((r, i) => ({ name: names[i]!, type: r.type.kind === 'null' ? T.text : r.type })))
  })
  return { shape, programs, targets }
}

/** Evaluates the VALUES rows and builds the writes per shard. */
export function insertWrites (env: ExecEnv, p: InsertPlan, params: readonly SqlValue[]): ShardWrites {
  const now = timestampFromMillis(env.clock.now())
  const writes: ShardWrites = new Map()
  for (const program of p.programs) {
    const out = localVm(env, program, params, now).run()!
    const values: SqlValue[] = p.shape.types.map(() => null)
    p.targets.forEach((col, k) => { values[col] = out[k]! })
    const { shard, write } = insertWrite(env, p.shape, assignRow(p.shape, values))
    addWrite(writes, shard, write)
  }
  return writes
}
