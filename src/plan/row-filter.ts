// The program that filters one table's rows where they live: it emits every column of each row
// the predicate keeps (UPDATE/DELETE read their targets with it; a join reads each side with it).
import { ScratchBirdError } from '../core/errors'
import type { Program, ProgramColumn } from '../sblr/program'
import type { Expr } from '../sql/ast'
import type { SqlValue } from '../types/values'
import { compileExpr, posDetails, type ScopeColumn } from './compile-expr'
import { ProgramBuilder } from './program-builder'
import { scopeOf, type TableShape } from './table-types'

/**
 * `pred` over the table as `alias` (null: every row). `noGenerators`: the message refusing UUID
 * generator functions in it (they run on the coordinator, not in the shards).
 */
export function rowFilterProgram (shape: TableShape, alias: string, pred: Expr | null, params: readonly SqlValue[], noGenerators?: string): Program {
  return filterProgram(shape.programColumns, scopeOf(shape, alias), pred, params, noGenerators)
}

/** The same over any rows: `columns` as `scope` names them (a derived table's rows on the coordinator). */
export function filterProgram (columns: readonly ProgramColumn[], scope: readonly ScopeColumn[], pred: Expr | null, params: readonly SqlValue[], noGenerators?: string): Program {
  const b = new ProgramBuilder(params, columns)
  const skip = b.label()
  if (pred !== null) {
    const c = compileExpr(pred, { columns: scope, clause: 'WHERE' }, b)
    b.emit('JUMP_IF_NOT_TRUE', c.reg, skip)
    if (noGenerators !== undefined && b.volatile) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', noGenerators, posDetails(pred.pos))
  }
  const first = b.regs(columns.length)
  columns.forEach((_, i) => b.emit('LOAD_COLUMN', first + i, i))
  b.emit('EMIT', first, columns.length)
  b.place(skip)
  b.emit('SKIP')
  return b.build(columns)
}
