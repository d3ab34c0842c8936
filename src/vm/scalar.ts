// Scalar operations of the VM: arithmetic by result type, LIKE, and the SQL functions. NULL in →
// NULL out is handled by the caller (the VM) before these run, except where noted.
import { ScratchBirdError } from '../core/errors'
import { checkIntRange } from '../types/cast'
import {
  Decimal, decimalAbs, decimalAdd, decimalDiv, decimalFromBigint, decimalFromNumber, decimalMod, decimalMul,
  decimalNeg, decimalRound, decimalSub, decimalToNumber, fitDecimal
} from '../types/decimal'
import { checkDays, SqlDate } from '../types/datetime'
import { isIntegerKind, type SqlType } from '../types/sql-types'
import { mismatch, type SqlValue, valueClass } from '../types/values'

export const ARITH = { add: 0, sub: 1, mul: 2, div: 3, mod: 4 } as const
export type ArithOp = typeof ARITH[keyof typeof ARITH]

const SYMBOL = ['+', '-', '*', '/', '%']

function divisionByZero (): ScratchBirdError {
  return new ScratchBirdError('SB_DIVISION_BY_ZERO', 'division by zero')
}

function asInteger (v: NonNullable<SqlValue>, op: ArithOp): bigint {
  if (typeof v === 'bigint') return v
  throw mismatch(`operator ${SYMBOL[op]} expects integers, got ${valueClass(v)}`)
}

function asDecimal (v: NonNullable<SqlValue>, op: ArithOp): Decimal {
  if (v instanceof Decimal) return v
  if (typeof v === 'bigint') return decimalFromBigint(v)
  if (typeof v === 'number') return decimalFromNumber(v)
  throw mismatch(`operator ${SYMBOL[op]} expects numbers, got ${valueClass(v)}`)
}

function asFloat (v: NonNullable<SqlValue>, op: ArithOp): number {
  if (typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  if (v instanceof Decimal) return decimalToNumber(v)
  throw mismatch(`operator ${SYMBOL[op]} expects numbers, got ${valueClass(v)}`)
}

/** date ± integer days → DATE; date − date → INTEGER days (PostgreSQL's date arithmetic). */
function dateArith (op: ArithOp, a: NonNullable<SqlValue>, b: NonNullable<SqlValue>, t: SqlType): SqlValue {
  if (t.kind === 'date') {
    if (a instanceof SqlDate && typeof b === 'bigint' && (op === ARITH.add || op === ARITH.sub)) {
      return new SqlDate(checkDays(a.days + Number(op === ARITH.add ? b : -b)))
    }
    if (typeof a === 'bigint' && b instanceof SqlDate && op === ARITH.add) return new SqlDate(checkDays(b.days + Number(a)))
    throw mismatch(`operator ${SYMBOL[op]} is not defined for ${valueClass(a)} and ${valueClass(b)} giving a date`)
  }
  if (op !== ARITH.sub || !(a instanceof SqlDate) || !(b instanceof SqlDate)) throw mismatch(`operator ${SYMBOL[op]} is not defined for dates`)
  return checkIntRange(BigInt(a.days - b.days), t)
}

/** a op b computed and checked as type t (verified numeric, or DATE for ADD/SUB). */
export function arith (op: ArithOp, a: NonNullable<SqlValue>, b: NonNullable<SqlValue>, t: SqlType): SqlValue {
  const k = t.kind
  if (k === 'date' || a instanceof SqlDate) return dateArith(op, a, b, t)
  if (isIntegerKind(k)) {
    const x = asInteger(a, op)
    const y = asInteger(b, op)
    let r: bigint
    switch (op) {
      case ARITH.add: r = x + y; break
      case ARITH.sub: r = x - y; break
      case ARITH.mul: r = x * y; break
      case ARITH.div: if (y === 0n) throw divisionByZero(); r = x / y; break // truncates toward 0, as SQL
      default: if (y === 0n) throw divisionByZero(); r = x % y
    }
    return checkIntRange(r, t)
  }
  if (k === 'decimal') {
    const x = asDecimal(a, op)
    const y = asDecimal(b, op)
    let r: Decimal
    switch (op) {
      case ARITH.add: r = decimalAdd(x, y); break
      case ARITH.sub: r = decimalSub(x, y); break
      case ARITH.mul: r = decimalMul(x, y); break
      case ARITH.div: r = decimalDiv(x, y); break
      default: r = decimalMod(x, y)
    }
    return t.precision === undefined ? r : fitDecimal(r, t.precision, t.scale ?? 0)
  }
  const x = asFloat(a, op)
  const y = asFloat(b, op)
  let r: number
  switch (op) {
    case ARITH.add: r = x + y; break
    case ARITH.sub: r = x - y; break
    case ARITH.mul: r = x * y; break
    case ARITH.div: if (y === 0) throw divisionByZero(); r = x / y; break
    default: if (y === 0) throw divisionByZero(); r = x % y
  }
  if (k === 'real') r = Math.fround(r)
  // Finite operands, infinite result: overflow (PostgreSQL: "value out of range: overflow").
  if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y) && !Number.isNaN(r)) {
    throw new ScratchBirdError('SB_NUMERIC_OUT_OF_RANGE', 'value out of range: overflow')
  }
  return r
}

export function negate (a: NonNullable<SqlValue>, t: SqlType): SqlValue {
  if (isIntegerKind(t.kind)) return checkIntRange(-asInteger(a, ARITH.sub), t)
  if (t.kind === 'decimal') return decimalNeg(asDecimal(a, ARITH.sub))
  const r = -asFloat(a, ARITH.sub)
  return t.kind === 'real' ? Math.fround(r) : r
}

export function abs (a: NonNullable<SqlValue>): SqlValue {
  if (typeof a === 'bigint') return checkIntRange(a < 0n ? -a : a, { kind: 'bigint' })
  if (typeof a === 'number') return Math.abs(a)
  if (a instanceof Decimal) return decimalAbs(a)
  throw mismatch(`abs() expects a number, got ${valueClass(a)}`)
}

/** round(x, n): exact numbers round half away from zero; doubles with n = 0 half to even (rint). */
export function round (a: NonNullable<SqlValue>, digits: NonNullable<SqlValue>): SqlValue {
  if (typeof digits !== 'bigint' || digits < -10_000n || digits > 10_000n) throw mismatch('round() digits must be an integer')
  const n = Number(digits)
  if (typeof a === 'number') {
    if (!Number.isFinite(a)) return a
    if (n === 0) {
      const r = Math.round(a)
      return (r - a === 0.5 && r % 2 !== 0) ? r - 1 : r
    }
    return decimalToNumber(decimalRound(decimalFromNumber(a), n))
  }
  if (typeof a === 'bigint') return decimalRound(decimalFromBigint(a), n)
  if (a instanceof Decimal) return decimalRound(a, n)
  throw mismatch(`round() expects a number, got ${valueClass(a)}`)
}

function codePoints (s: string): number[] {
  const out: number[] = []
  for (const ch of s) out.push(ch.codePointAt(0)!)
  return out
}

const PERCENT = -1
const UNDERSCORE = -2
const likeCache = new Map<string, number[]>()
const LIKE_CACHE_MAX = 256

/** Pattern as code points, with % and _ as negative markers; backslash escapes the next char. */
function compileLike (pattern: string): number[] {
  let tokens = likeCache.get(pattern)
  if (tokens !== undefined) return tokens
  tokens = []
  const cps = codePoints(pattern)
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!
    if (c === 0x5c /* \ */) {
      if (i + 1 >= cps.length) throw new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', 'LIKE pattern must not end with escape character')
      tokens.push(cps[++i]!)
    } else if (c === 0x25 /* % */) {
      if (tokens[tokens.length - 1] !== PERCENT) tokens.push(PERCENT)
    } else tokens.push(c === 0x5f /* _ */ ? UNDERSCORE : c)
  }
  if (likeCache.size >= LIKE_CACHE_MAX) likeCache.clear()
  likeCache.set(pattern, tokens)
  return tokens
}

/**
 * SQL LIKE. Greedy matching that remembers only the last %, so the cost is O(text × pattern) in
 * the worst case — no backtracking blow-up on hostile patterns (unlike a RegExp).
 */
export function like (text: string, pattern: string): boolean {
  const p = compileLike(pattern)
  const s = codePoints(text)
  let si = 0
  let pi = 0
  let starP = -1
  let starS = 0
  while (si < s.length) {
    const t = p[pi]
    if (pi < p.length && t !== PERCENT && (t === UNDERSCORE || t === s[si])) { si++; pi++ } else if (pi < p.length && t === PERCENT) {
      starP = pi++
      starS = si
    } else if (starP >= 0) {
      pi = starP + 1
      si = ++starS
    } else return false
  }
  while (pi < p.length && p[pi] === PERCENT) pi++
  return pi === p.length
}

export function textLength (v: NonNullable<SqlValue>): bigint {
  if (typeof v === 'string') {
    let n = v.length
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i)
      if (c >= 0xd800 && c <= 0xdbff) { n--; i++ }
    }
    return BigInt(n)
  }
  if (v instanceof Uint8Array) return BigInt(v.length)
  throw mismatch(`length() expects text or bytea, got ${valueClass(v)}`)
}
