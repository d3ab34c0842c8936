// Expression compiler: resolves an AST expression against a scope (the input columns) and emits
// SBLR that leaves its value in a register, with the static type the planner needs (arithmetic
// result types, output column types, key casts).
//
// Untyped values: string literals and $n parameters have no type of their own in SQL (PostgreSQL's
// "unknown"); compared with or combined with a typed operand they are CAST to that operand's type,
// so `uuid_col = '0190…'` and `WHERE sensor_id = $1` compare UUIDs, not text.
import { ScratchBirdError } from '../core/errors'
import type { Expr, FuncCall, Pos } from '../sql/ast'
import { parseDecimal } from '../types/decimal'
import { castValue } from '../types/cast'
import { INT_RANGES, isIntegerKind, isNumericKind, isTextKind, numericResultType, T, type SqlType } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import type { ProgramBuilder } from './program-builder'
import { sqlTypeOf, type ScopeColumn } from './table-types'

export interface TypedReg {
  readonly reg: number
  readonly type: SqlType
  /** A string literal or parameter whose type comes from what it meets. */
  readonly untyped: boolean
}

export type { ScopeColumn } from './table-types'

export interface Scope {
  readonly columns: readonly ScopeColumn[]
  /**
   * Checked before normal compilation: returns a register for expressions the caller computes
   * itself (GROUP BY keys and aggregates in the coordinator's final program).
   */
  readonly substitute?: (e: Expr, b: ProgramBuilder) => TypedReg | undefined
  /** Where aggregates are not allowed (WHERE, VALUES …): the clause name for the message. */
  readonly clause?: string
}

export const AGGREGATE_NAMES: ReadonlySet<string> = new Set(['count', 'sum', 'avg', 'min', 'max'])

export function posDetails (pos: Pos): Record<string, unknown> {
  return { position: { line: pos.line, column: pos.column } }
}

function err (code: 'SB_UNDEFINED_COLUMN' | 'SB_AMBIGUOUS_COLUMN' | 'SB_UNDEFINED_FUNCTION' | 'SB_UNDEFINED_PARAMETER' | 'SB_DATATYPE_MISMATCH' | 'SB_GROUPING_ERROR' | 'SB_FEATURE_NOT_SUPPORTED',
  message: string, pos: Pos): ScratchBirdError {
  return new ScratchBirdError(code, message, posDetails(pos))
}

/** Type of a JSON request parameter as converted by paramValue(). */
function valueType (v: SqlValue): SqlType {
  if (v === null) return T.null
  if (typeof v === 'bigint') return T.bigint
  if (typeof v === 'number') return T.double
  if (typeof v === 'boolean') return T.boolean
  return T.text
}

function family (t: SqlType): string {
  if (isNumericKind(t.kind)) return 'numeric'
  if (isTextKind(t.kind)) return 'text'
  if (t.kind === 'date' || t.kind === 'timestamp') return 'datetime'
  return t.kind
}

export function compileExpr (e: Expr, scope: Scope, b: ProgramBuilder): TypedReg {
  const sub = scope.substitute?.(e, b)
  if (sub !== undefined) return sub
  switch (e.kind) {
    case 'integer': {
      const t = e.value >= INT_RANGES.integer.min && e.value <= INT_RANGES.integer.max
        ? T.integer
        : e.value >= INT_RANGES.bigint.min && e.value <= INT_RANGES.bigint.max ? T.bigint : T.numeric
      return load(b, t === T.numeric ? parseDecimal(e.value.toString()) : e.value, t, false)
    }
    case 'decimal': return load(b, parseDecimal(e.text), T.numeric, false)
    case 'string': return load(b, e.value, T.text, true)
    case 'boolean': return load(b, e.value, T.boolean, false)
    case 'null': { const r = b.reg(); b.emit('LOAD_NULL', r); return { reg: r, type: T.null, untyped: true } }
    case 'typed_literal': {
      const t = e.type === 'date' ? T.date : T.timestamp
      return load(b, castValue(e.value, t), t, false)
    }
    case 'param': {
      if (e.index > b.params.length) throw err('SB_UNDEFINED_PARAMETER', `there is no parameter $${e.index} (the request supplied ${b.params.length})`, e.pos)
      const r = b.reg()
      b.emit('LOAD_PARAM', r, e.index - 1)
      return { reg: r, type: valueType(b.params[e.index - 1]!), untyped: true }
    }
    case 'column': return column(e.table, e.name, e.pos, scope, b)
    case 'default': throw err('SB_FEATURE_NOT_SUPPORTED', 'DEFAULT is only allowed as an INSERT value', e.pos)
    case 'unary': {
      const a = compileExpr(e.operand, scope, b)
      if (e.op === '+') return a
      const r = b.reg()
      if (e.op === 'not') { b.emit('NOT', r, a.reg); return { reg: r, type: T.boolean, untyped: false } }
      const t = a.untyped && !isNumericKind(a.type.kind) ? T.numeric : a.type
      const x = coerce(a, t, b)
      if (!isNumericKind(t.kind)) throw err('SB_DATATYPE_MISMATCH', `operator - needs a number, got ${t.kind}`, e.pos)
      b.emit('NEG', r, x.reg, b.type(t))
      return { reg: r, type: t, untyped: false }
    }
    case 'binary': return binary(e, scope, b)
    case 'is_null': {
      const a = compileExpr(e.operand, scope, b)
      const r = b.reg()
      b.emit(e.not ? 'IS_NOT_NULL' : 'IS_NULL', r, a.reg)
      return { reg: r, type: T.boolean, untyped: false }
    }
    case 'in': {
      let a = compileExpr(e.operand, scope, b)
      const items = e.list.map(x => compileExpr(x, scope, b))
      const target = a.untyped ? items.find(i => !i.untyped)?.type : a.type
      if (target !== undefined) a = coerce(a, target, b)
      const first = b.regs(items.length)
      items.forEach((it, i) => b.emit('MOVE', first + i, coerce(it, a.type, b).reg))
      const r = b.reg()
      b.emit('IN', r, a.reg, first, items.length)
      if (e.not) b.emit('NOT', r, r)
      return { reg: r, type: T.boolean, untyped: false }
    }
    case 'between': {
      let a = compileExpr(e.operand, scope, b)
      const lo = compileExpr(e.low, scope, b)
      const hi = compileExpr(e.high, scope, b)
      if (a.untyped && !lo.untyped) a = coerce(a, lo.type, b)
      const r = b.reg()
      b.emit('BETWEEN', r, a.reg, coerce(lo, a.type, b).reg, coerce(hi, a.type, b).reg)
      if (e.not) b.emit('NOT', r, r)
      return { reg: r, type: T.boolean, untyped: false }
    }
    case 'like': {
      const a = compileExpr(e.operand, scope, b)
      const p = compileExpr(e.pattern, scope, b)
      const r = b.reg()
      b.emit('LIKE', r, a.reg, p.reg)
      if (e.not) b.emit('NOT', r, r)
      return { reg: r, type: T.boolean, untyped: false }
    }
    case 'call': return call(e, scope, b)
    case 'cast': {
      // A statement's own CASTs to domains are folded before planning (domain-cast.ts); any left are elsewhere (a view, a DEFAULT or CHECK).
      if (e.type.domain !== undefined) throw err('SB_FEATURE_NOT_SUPPORTED', `CAST to domain "${e.type.domain}" is supported in a statement's own text only (not in a view, DEFAULT or CHECK)`, e.pos)
      const a = compileExpr(e.operand, scope, b)
      const t = sqlTypeOf({ name: e.type.name, length: e.type.length, precision: e.type.precision, scale: e.type.scale })
      const r = b.reg()
      b.emit('CAST', r, a.reg, b.type(t))
      return { reg: r, type: t, untyped: false }
    }
    case 'case': return caseExpr(e, scope, b)
    // Planned by subquery-plan.ts through scope.substitute where a query allows them.
    case 'subquery': case 'exists': case 'in_subquery':
      throw err('SB_FEATURE_NOT_SUPPORTED', `a subquery is not allowed in ${scope.clause ?? 'this context'}`, e.pos)
  }
}

/** The direct subexpressions of `e`. */
export function exprChildren (e: Expr): Expr[] {
  switch (e.kind) {
    case 'unary': return [e.operand]
    case 'binary': return [e.left, e.right]
    case 'is_null': return [e.operand]
    case 'in': return [e.operand, ...e.list]
    case 'in_subquery': return [e.operand]
    case 'between': return [e.operand, e.low, e.high]
    case 'like': return [e.operand, e.pattern]
    case 'call': return [...e.args]
    case 'cast': return [e.operand]
    case 'case': return [...(e.operand ? [e.operand] : []), ...e.whens.flatMap(w => [w.when, w.then]), ...(e.else ? [e.else] : [])]
    default: return []
  }
}

function load (b: ProgramBuilder, v: SqlValue, type: SqlType, untyped: boolean): TypedReg {
  const r = b.reg()
  b.emit('LOAD_CONST', r, b.constant(v))
  return { reg: r, type, untyped }
}

function column (table: string | null, name: string, pos: Pos, scope: Scope, b: ProgramBuilder): TypedReg {
  const matches: number[] = []
  scope.columns.forEach((c, i) => { if (c.name === name && (table === null || c.table === table)) matches.push(i) })
  const shown = table === null ? name : `${table}.${name}`
  if (matches.length === 0) throw err('SB_UNDEFINED_COLUMN', `column "${shown}" does not exist`, pos)
  if (matches.length > 1) throw err('SB_AMBIGUOUS_COLUMN', `column reference "${shown}" is ambiguous`, pos)
  const i = matches[0]!
  const r = b.reg()
  b.emit('LOAD_COLUMN', r, i)
  return { reg: r, type: scope.columns[i]!.type, untyped: false }
}

/** CAST an untyped operand (or NULL) to `to`; typed operands of another family are left alone. */
export function coerce (a: TypedReg, to: SqlType, b: ProgramBuilder): TypedReg {
  if (!a.untyped || to.kind === 'null' || a.type.kind === to.kind) return a
  if (a.type.kind !== 'null' && family(a.type) === family(to) && !isIntegerKind(to.kind)) return a
  const r = b.reg()
  // char(n) of a literal would pad; compare as text instead
  b.emit('CAST', r, a.reg, b.type(to.kind === 'char' ? T.text : to))
  return { reg: r, type: to, untyped: false }
}

const COMPARE: Record<string, string> = { '=': 'EQ', '<>': 'NE', '<': 'LT', '<=': 'LE', '>': 'GT', '>=': 'GE' }
const ARITH: Record<string, string> = { '+': 'ADD', '-': 'SUB', '*': 'MUL', '/': 'DIV', '%': 'MOD' }

function binary (e: Extract<Expr, { kind: 'binary' }>, scope: Scope, b: ProgramBuilder): TypedReg {
  let l = compileExpr(e.left, scope, b)
  let r = compileExpr(e.right, scope, b)
  if (l.untyped && !r.untyped) l = coerce(l, r.type, b)
  else if (r.untyped && !l.untyped) r = coerce(r, l.type, b)
  const out = b.reg()
  if (e.op === 'and' || e.op === 'or') {
    b.emit(e.op === 'and' ? 'AND' : 'OR', out, l.reg, r.reg)
    return { reg: out, type: T.boolean, untyped: false }
  }
  if (e.op === '||') {
    b.emit('CONCAT', out, l.reg, r.reg)
    return { reg: out, type: T.text, untyped: false }
  }
  const cmp = COMPARE[e.op]
  if (cmp !== undefined) {
    b.emit(cmp, out, l.reg, r.reg)
    return { reg: out, type: T.boolean, untyped: false }
  }
  // Arithmetic: untyped on both sides means numbers written as text or parameters.
  if (l.untyped && !isNumericKind(l.type.kind)) l = coerce(l, T.numeric, b)
  if (r.untyped && !isNumericKind(r.type.kind)) r = coerce(r, T.numeric, b)
  let t: SqlType
  const lk = l.type.kind
  const rk = r.type.kind
  if (lk === 'null' || rk === 'null') t = lk === 'null' ? (rk === 'null' ? T.integer : r.type) : l.type
  else if (lk === 'date' && rk === 'date' && e.op === '-') t = T.integer
  else if ((lk === 'date' && isIntegerKind(rk)) || (isIntegerKind(lk) && rk === 'date' && e.op === '+')) t = T.date
  else {
    try { t = numericResultType(l.type, r.type) } catch (x) {
      throw err('SB_DATATYPE_MISMATCH', `operator ${e.op} is not defined for ${lk} and ${rk}`, e.pos)
    }
    // DECIMAL(p,s) operands compute as unconstrained NUMERIC; the column cast bounds the result.
    if (t.kind === 'decimal') t = T.numeric
  }
  if (!isNumericKind(t.kind) && t.kind !== 'date') t = T.numeric
  b.emit(ARITH[e.op]!, out, l.reg, r.reg, b.type(t))
  return { reg: out, type: t, untyped: false }
}

interface FnSpec { op: string, args: number | [number, number], result: (args: TypedReg[]) => SqlType, argType?: SqlType, volatile?: true }

const FUNCTIONS: Record<string, FnSpec> = {
  lower: { op: 'LOWER', args: 1, result: () => T.text, argType: T.text },
  upper: { op: 'UPPER', args: 1, result: () => T.text, argType: T.text },
  length: { op: 'LENGTH', args: 1, result: () => T.integer },
  abs: { op: 'ABS', args: 1, result: (a) => a[0]!.untyped ? T.numeric : a[0]!.type },
  round: { op: 'ROUND', args: [1, 2], result: (a) => a[0]!.untyped ? T.numeric : a[0]!.type },
  coalesce: { op: 'COALESCE', args: [1, 1024], result: (a) => a.find(x => !x.untyped)?.type ?? a.find(x => x.type.kind !== 'null')?.type ?? T.null },
  now: { op: 'NOW', args: 0, result: () => T.timestamp },
  gen_uuidv7: { op: 'GEN_UUID_V7', args: 0, result: () => T.uuid, volatile: true },
  gen_uuidv8_hlc: { op: 'GEN_UUID_V8_HLC', args: 0, result: () => T.uuid, volatile: true },
  uuidv8_timestamp: { op: 'UUID_V8_TIMESTAMP', args: 1, result: () => T.timestamp, argType: T.uuid },
  uuidv8_counter: { op: 'UUID_V8_COUNTER', args: 1, result: () => T.integer, argType: T.uuid },
  uuidv8_node_id: { op: 'UUID_V8_NODE_ID', args: 1, result: () => T.integer, argType: T.uuid },
  uuid_version: { op: 'UUID_VERSION', args: 1, result: () => T.integer, argType: T.uuid },
  uuid_compare: { op: 'UUID_COMPARE', args: 2, result: () => T.integer, argType: T.uuid }
}

function call (e: FuncCall, scope: Scope, b: ProgramBuilder): TypedReg {
  if (AGGREGATE_NAMES.has(e.name)) {
    throw err('SB_GROUPING_ERROR', `aggregate function ${e.name}() is not allowed in ${scope.clause ?? 'this context'}`, e.pos)
  }
  const spec = FUNCTIONS[e.name]
  if (spec === undefined || e.star || e.distinct) throw err('SB_UNDEFINED_FUNCTION', `function ${e.name}() does not exist`, e.pos)
  const [min, max] = typeof spec.args === 'number' ? [spec.args, spec.args] : spec.args
  if (e.args.length < min || e.args.length > max) {
    throw err('SB_UNDEFINED_FUNCTION', `function ${e.name}() takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${e.args.length}`, e.pos)
  }
  if (spec.volatile) b.volatile = true
  let args = e.args.map(a => compileExpr(a, scope, b))
  if (spec.argType !== undefined) args = args.map(a => coerce(a, spec.argType!, b))
  const type = spec.result(args)
  const r = b.reg()
  if (spec.op === 'COALESCE') {
    const first = b.regs(args.length)
    args.forEach((a, i) => b.emit('MOVE', first + i, coerce(a, type, b).reg))
    b.emit('COALESCE', r, first, args.length)
  } else if (spec.op === 'ROUND') {
    const x = coerce(args[0]!, T.numeric, b)
    const d = args[1] !== undefined ? coerce(args[1], T.integer, b) : load(b, 0n, T.integer, false)
    b.emit('ROUND', r, x.reg, d.reg)
  } else {
    b.emit(spec.op, r, ...args.map(a => a.reg))
  }
  return { reg: r, type, untyped: false }
}

function caseExpr (e: Extract<Expr, { kind: 'case' }>, scope: Scope, b: ProgramBuilder): TypedReg {
  const out = b.reg()
  const end = b.label()
  const operand = e.operand === null ? null : compileExpr(e.operand, scope, b)
  let type: SqlType = T.null
  const branches: TypedReg[] = []
  for (const w of e.whens) {
    const next = b.label()
    let cond = compileExpr(w.when, scope, b)
    if (operand !== null) {
      const c = b.reg()
      b.emit('EQ', c, operand.reg, coerce(cond, operand.type, b).reg)
      cond = { reg: c, type: T.boolean, untyped: false }
    }
    b.emit('JUMP_IF_NOT_TRUE', cond.reg, next)
    const v = compileExpr(w.then, scope, b)
    branches.push(v)
    if (type.kind === 'null' && !v.untyped) type = v.type
    b.emit('MOVE', out, v.reg)
    b.emit('JUMP', end)
    b.place(next)
  }
  if (e.else !== null) {
    const v = compileExpr(e.else, scope, b)
    branches.push(v)
    if (type.kind === 'null' && !v.untyped) type = v.type
    b.emit('MOVE', out, v.reg)
  } else {
    b.emit('LOAD_NULL', out)
  }
  b.place(end)
  if (type.kind === 'null') type = branches.find(x => x.type.kind !== 'null')?.type ?? T.null
  return { reg: out, type, untyped: false }
}
