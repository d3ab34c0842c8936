// Constant expressions and top-level conjuncts of a WHERE clause, as routing (pins.ts) and index
// choice (index-probes.ts) read them: a leaf module, so neither imports the other.
import { Vm } from '../vm/vm'
import type { Expr } from '../sql/ast'
import { castValue } from '../types/cast'
import type { SqlType } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { compileExpr } from './compile-expr'
import type { PlanEnv } from './plan-env'
import { ProgramBuilder } from './program-builder'

export function isConst (e: Expr): boolean {
  switch (e.kind) {
    case 'integer': case 'decimal': case 'string': case 'boolean': case 'typed_literal': case 'param': return true
    case 'cast': return isConst(e.operand)
    case 'unary': return e.op !== 'not' && isConst(e.operand)
    default: return false
  }
}

/** Value of an expression without columns, computed on the coordinator (optionally cast to `type`). */
export function evalConst (env: PlanEnv, e: Expr, params: readonly SqlValue[], type?: SqlType): SqlValue {
  // A bare parameter is its value (what LOAD_PARAM; EMIT would give): routing a cached plan by
  // `key = $1` on every execution then compiles and runs no one-off program.
  if (e.kind === 'param' && e.index <= params.length) {
    const v = params[e.index - 1]!
    return type === undefined ? v : castValue(v, type)
  }
  const b = new ProgramBuilder(params, [])
  const r = compileExpr(e, { columns: [], clause: 'this clause' }, b)
  b.emit('EMIT', r.reg, 1)
  const out = new Vm(b.build([{ name: 'v', type: r.type.kind === 'null' ? { kind: 'text' } : r.type }]), { params, hlc: env.hlc, uuidV7: env.uuidV7, clock: env.clock }).run()
  const v = out![0]!
  return type === undefined ? v : castValue(v, type)
}

/** The operands of the top-level ANDs of `e`. */
export function conjuncts (e: Expr | null, out: Expr[] = []): Expr[] {
  if (e === null) return out
  if (e.kind === 'binary' && e.op === 'and') { conjuncts(e.left, out); conjuncts(e.right, out) } else out.push(e)
  return out
}
