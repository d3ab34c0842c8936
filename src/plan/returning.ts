// RETURNING (issue 19 item 5): the list is a program over one row of the table — the row as
// written by INSERT or UPDATE, the row removed by DELETE — run on the coordinator, which has those
// rows in hand after computing the writes. Like PostgreSQL, the result has the list's columns and
// the command's tag (INSERT 0 n / UPDATE n / DELETE n) counts the rows returned.
import { ScratchBirdError } from '../core/errors'
import type { Program } from '../sblr/program'
import type { SelectItem } from '../sql/ast'
import type { SqlValue } from '../types/values'
import { T } from '../types/sql-types'
import { compileExpr, posDetails } from './compile-expr'
import { ProgramBuilder } from './program-builder'
import { expandItems } from './select-plan'
import { scopeOf, type TableShape } from './table-types'

/** The RETURNING program over rows of `shape` (named `table` in the list), or null without one. */
export function planReturning (shape: TableShape, table: string, items: readonly SelectItem[] | null, params: readonly SqlValue[]): Program | null {
  if (items === null) return null
  const scope = { columns: scopeOf(shape, table), clause: 'RETURNING' }
  const outputs = expandItems(items, scope.columns)
  const b = new ProgramBuilder(params, shape.programColumns)
  const regs = outputs.map(o => compileExpr(o.expr, scope, b))
  // Generators would give each returned row a value the written row does not have.
  if (b.volatile) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'UUID generator functions in RETURNING are not supported', posDetails(items[0]!.pos))
  const first = b.regs(regs.length)
  regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
  b.emit('EMIT', first, regs.length)
  return b.build(outputs.map((o, i) => ({ name: o.name, type: regs[i]!.type.kind === 'null' ? T.text : regs[i]!.type })))
}
