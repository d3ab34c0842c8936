// INSERT … ON CONFLICT (issue 19 item 5). The conflict is on the primary key — the one unique
// constraint tables have so far — so the target, when written, must name exactly its columns.
// DO UPDATE's SET and WHERE run on the coordinator over [existing row…, proposed row…]: the table's
// columns by their names (or the table's name), the proposed ones as `excluded.col`.
import { ScratchBirdError } from '../core/errors'
import type { Program } from '../sblr/program'
import type { Expr, OnConflict } from '../sql/ast'
import { T } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { compileExpr, posDetails, type Scope } from './compile-expr'
import { ProgramBuilder } from './program-builder'
import { scopeOf, type TableShape } from './table-types'

export interface OnConflictPlan {
  readonly action: 'nothing' | 'update'
  /** DO UPDATE: the new values of `targets` (table column indexes). */
  readonly assign: Program | null
  readonly targets: readonly number[]
  /** DO UPDATE … WHERE: emits one boolean; the row is left alone unless it is TRUE. */
  readonly where: Program | null
}

export function planOnConflict (shape: TableShape, table: string, o: OnConflict | null, params: readonly SqlValue[]): OnConflictPlan | null {
  if (o === null) return null
  const pkNames = shape.pk.map(i => shape.info.columns[i]!.name)
  if (o.columns !== null && (o.columns.length !== pkNames.length || !pkNames.every(n => o.columns!.includes(n)))) {
    throw new ScratchBirdError('SB_INVALID_CONFLICT_TARGET', `there is no unique constraint matching the ON CONFLICT specification (${o.columns.join(', ')}): the primary key of "${table}" is (${pkNames.join(', ')})`, posDetails(o.pos))
  }
  if (o.action === 'nothing') return { action: 'nothing', assign: null, targets: [], where: null }
  const inputs = [...shape.programColumns, ...shape.programColumns.map(c => ({ name: `excluded.${c.name}`, type: c.type }))]
  const scope: Scope = { columns: [...scopeOf(shape, table), ...scopeOf(shape, 'excluded')], clause: 'ON CONFLICT DO UPDATE' }
  const targets = o.assignments.map(a => {
    const i = shape.info.columns.findIndex(c => c.name === a.column)
    if (i < 0) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${a.column}" of relation "${table}" does not exist`, posDetails(a.pos))
    // The row stays where and under the key it is: DO UPDATE changes neither.
    if (shape.partition.includes(i)) throw new ScratchBirdError('SB_PARTITION_KEY_UPDATE', `Cannot update partition key column '${a.column}'`, { column: a.column, ...posDetails(a.pos) })
    if (shape.pk.includes(i)) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `ON CONFLICT DO UPDATE cannot change primary key column "${a.column}"`, posDetails(a.pos))
    return i
  })
  if (new Set(targets).size !== targets.length) throw new ScratchBirdError('SB_DUPLICATE_COLUMN', 'a column is assigned more than once', posDetails(o.pos))
  const b = new ProgramBuilder(params, inputs)
  const regs = o.assignments.map(a => compileExpr(a.value, scope, b))
  const first = b.regs(regs.length)
  regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
  b.emit('EMIT', first, regs.length)
  const assign = b.build(regs.map((r, i) => ({ name: o.assignments[i]!.column, type: r.type.kind === 'null' ? shape.types[targets[i]!]! : r.type })))
  return { action: 'update', assign, targets, where: o.where === null ? null : condition(o.where, scope, params, inputs) }
}

function condition (e: Expr, scope: Scope, params: readonly SqlValue[], inputs: ConstructorParameters<typeof ProgramBuilder>[1]): Program {
  const b = new ProgramBuilder(params, inputs)
  const c = compileExpr(e, { ...scope, clause: 'ON CONFLICT … WHERE' }, b)
  b.emit('EMIT', c.reg, 1)
  return b.build([{ name: 'where', type: T.boolean }])
}
