// CAST between SQL types, with PostgreSQL's errors: overflow → 22003, unreadable text → 22P02,
// too-long strings → 22001 (an explicit CAST to VARCHAR(n)/CHAR(n) truncates instead, as in SQL),
// impossible casts → 42804.
import { ScratchBirdError } from '../core/errors'
import { parseUuid } from '../core/uuid'
import {
  Decimal, decimalFromBigint, decimalFromNumber, decimalToNumber, divRound, fitDecimal, parseDecimal, pow10
} from './decimal'
import { dateToTimestamp, parseDate, parseTimestamp, SqlDate, SqlTimestamp, timestampToDate } from './datetime'
import { INT_RANGES, isIntegerKind, type SqlType, typeName } from './sql-types'
import { mismatch, SqlUuid, type SqlValue, valueClass, valueToText } from './values'

function outOfRange (t: SqlType): ScratchBirdError {
  return new ScratchBirdError('SB_NUMERIC_OUT_OF_RANGE', `${typeName(t).toLowerCase()} out of range`)
}

function badText (t: SqlType, text: string): ScratchBirdError {
  const shown = text.length > 64 ? text.slice(0, 64) + '…' : text
  return new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', `invalid input syntax for type ${typeName(t).toLowerCase()}: ${JSON.stringify(shown)}`)
}

export function checkIntRange (v: bigint, t: SqlType): bigint {
  const r = INT_RANGES[t.kind as 'smallint' | 'integer' | 'bigint']
  if (v < r.min || v > r.max) throw outOfRange(t)
  return v
}

/** Round half to even, as PostgreSQL's rint() does for float → integer. */
function rint (x: number): number {
  const r = Math.round(x)
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r
}

const INT_TEXT = /^\s*[+-]?\d+\s*$/
const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const SPECIAL_FLOATS: Record<string, number> = {
  nan: NaN, infinity: Infinity, '+infinity': Infinity, '-infinity': -Infinity, inf: Infinity, '+inf': Infinity, '-inf': -Infinity
}

function toInteger (v: NonNullable<SqlValue>, t: SqlType): bigint {
  if (typeof v === 'bigint') return checkIntRange(v, t)
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) > 1e19) throw outOfRange(t)
    return checkIntRange(BigInt(rint(v)), t)
  }
  if (v instanceof Decimal) return checkIntRange(v.scale === 0 ? v.unscaled : divRound(v.unscaled, pow10(v.scale)), t)
  if (typeof v === 'string') {
    if (!INT_TEXT.test(v)) throw badText(t, v)
    return checkIntRange(BigInt(v.trim()), t)
  }
  if (typeof v === 'boolean' && t.kind === 'integer') return v ? 1n : 0n
  throw cannotCast(v, t)
}

function toFloat (v: NonNullable<SqlValue>, t: SqlType): number {
  let x: number
  let infiniteIn = false // NaN/Infinity asked for explicitly: not an overflow
  if (typeof v === 'number') { x = v; infiniteIn = !Number.isFinite(v) } else if (typeof v === 'bigint') x = Number(v)
  else if (v instanceof Decimal) x = decimalToNumber(v)
  else if (typeof v === 'string') {
    const s = v.trim()
    const special = SPECIAL_FLOATS[s.toLowerCase()]
    if (special !== undefined) { x = special; infiniteIn = true } else if (FLOAT_TEXT.test(s)) x = Number(s)
    else throw badText(t, v)
  } else throw cannotCast(v, t)
  if (t.kind === 'real') x = Math.fround(x)
  if (!infiniteIn && !Number.isFinite(x)) throw outOfRange(t)
  return x
}

function toDecimal (v: NonNullable<SqlValue>, t: SqlType): Decimal {
  let d: Decimal
  if (v instanceof Decimal) d = v
  else if (typeof v === 'bigint') d = decimalFromBigint(v)
  else if (typeof v === 'number') d = decimalFromNumber(v)
  else if (typeof v === 'string') d = parseDecimal(v)
  else throw cannotCast(v, t)
  return t.precision === undefined ? d : fitDecimal(d, t.precision, t.scale ?? 0)
}

function codePointLength (s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) { n--; i++ }
  }
  return n
}

function codePointSlice (s: string, n: number): string {
  let i = 0
  for (let k = 0; k < n && i < s.length; k++) {
    const c = s.charCodeAt(i)
    i += c >= 0xd800 && c <= 0xdbff ? 2 : 1
  }
  return s.slice(0, i)
}

function toText (v: NonNullable<SqlValue>, t: SqlType, explicit: boolean): string {
  let s = valueToText(v)!
  const n = t.length
  if (n === undefined) return s
  const len = codePointLength(s)
  if (len > n) {
    const head = codePointSlice(s, n)
    // Assignment may drop trailing blanks only (SQL standard); an explicit CAST truncates anything.
    if (!explicit && s.slice(head.length).trim() !== '') {
      throw new ScratchBirdError('SB_STRING_DATA_RIGHT_TRUNCATION', `value too long for type ${typeName(t).toLowerCase()}`)
    }
    s = head
  } else if (t.kind === 'char' && len < n) {
    s += ' '.repeat(n - len)
  }
  return s
}

function toBoolean (v: NonNullable<SqlValue>, t: SqlType): boolean {
  if (typeof v === 'boolean') return v
  if (typeof v === 'bigint') return v !== 0n
  if (typeof v === 'string') {
    switch (v.trim().toLowerCase()) {
      case 't': case 'true': case 'y': case 'yes': case 'on': case '1': return true
      case 'f': case 'false': case 'n': case 'no': case 'off': case '0': return false
    }
    throw badText(t, v)
  }
  throw cannotCast(v, t)
}

function toBytea (v: NonNullable<SqlValue>, t: SqlType): Uint8Array {
  if (v instanceof Uint8Array) return v
  if (typeof v === 'string') {
    if (!v.startsWith('\\x')) return new TextEncoder().encode(v)
    const hex = v.slice(2)
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw badText(t, v)
    return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16))
  }
  throw cannotCast(v, t)
}

function cannotCast (v: NonNullable<SqlValue>, t: SqlType): ScratchBirdError {
  return mismatch(`cannot cast ${valueClass(v)} to ${typeName(t)}`)
}

/**
 * CAST(v AS t). `explicit` = a CAST written by the user (truncates strings); false = assignment
 * to a column (INSERT/UPDATE), which rejects strings that do not fit.
 */
export function castValue (v: SqlValue, t: SqlType, explicit = true): SqlValue {
  if (v === null) return null
  const k = t.kind
  if (isIntegerKind(k)) return toInteger(v, t)
  switch (k) {
    case 'boolean': return toBoolean(v, t)
    case 'decimal': return toDecimal(v, t)
    case 'real': case 'double': return toFloat(v, t)
    case 'char': case 'varchar': case 'text': return toText(v, t, explicit)
    case 'bytea': return toBytea(v, t)
    case 'uuid':
      if (v instanceof SqlUuid) return v
      if (typeof v === 'string') return new SqlUuid(parseUuid(v.trim()))
      throw cannotCast(v, t)
    case 'date':
      if (v instanceof SqlDate) return v
      if (v instanceof SqlTimestamp) return timestampToDate(v)
      if (typeof v === 'string') return parseDate(v)
      throw cannotCast(v, t)
    case 'timestamp':
      if (v instanceof SqlTimestamp) return v
      if (v instanceof SqlDate) return dateToTimestamp(v)
      if (typeof v === 'string') return parseTimestamp(v)
      throw cannotCast(v, t)
  }
  throw cannotCast(v, t)
}

/** Assignment cast: what INSERT/UPDATE apply to a value for a column of type t. */
export function assignValue (v: SqlValue, t: SqlType): SqlValue { return castValue(v, t, false) }
