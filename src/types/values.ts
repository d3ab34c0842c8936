// Runtime SQL values. Each type has one JavaScript representation, chosen so a value says what it
// is without its SqlType except for the integer widths and the text kinds:
//
//   NULL → null            BOOLEAN → boolean         SMALLINT/INTEGER/BIGINT → bigint (exact)
//   DECIMAL → Decimal      REAL/DOUBLE → number      CHAR/VARCHAR/TEXT → string
//   BYTEA → Uint8Array     UUID → SqlUuid            DATE → SqlDate    TIMESTAMP → SqlTimestamp
//
// Text compares by Unicode code point (the order of its UTF-8 bytes, as keys store it: a "C"
// collation). CHAR(n) values are stored blank-padded, so comparing two CHAR(n) values padded to
// the same n equals PostgreSQL's trailing-blank-insensitive compare except for characters below ' '.
import { ScratchBirdError } from '../core/errors'
import { compareUuid, formatUuid } from '../core/uuid'
import type { UuidValue } from '../storage/keys'
import { compareDecimal, Decimal, decimalFromBigint, decimalToNumber, formatDecimal } from './decimal'
import { formatDate, formatTimestamp, SqlDate, SqlTimestamp, timestampToIso } from './datetime'
import { INT_RANGES, isIntegerKind, isTextKind, type SqlType } from './sql-types'

export { Decimal } from './decimal'
export { SqlDate, SqlTimestamp } from './datetime'

export class SqlUuid implements UuidValue {
  constructor (readonly uuid: Uint8Array) {}
  toString (): string { return formatUuid(this.uuid) }
}

export type SqlValue = null | boolean | bigint | number | string | Uint8Array | Decimal | SqlUuid | SqlDate | SqlTimestamp

export type ValueClass = 'null' | 'boolean' | 'integer' | 'decimal' | 'float' | 'text' | 'bytea' | 'uuid' | 'date' | 'timestamp'

export function valueClass (v: SqlValue): ValueClass {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'boolean': return 'boolean'
    case 'bigint': return 'integer'
    case 'number': return 'float'
    case 'string': return 'text'
  }
  if (v instanceof Decimal) return 'decimal'
  if (v instanceof SqlUuid) return 'uuid'
  if (v instanceof Uint8Array) return 'bytea'
  if (v instanceof SqlDate) return 'date'
  if (v instanceof SqlTimestamp) return 'timestamp'
  throw mismatch(`not a SQL value: ${typeof v}`)
}

export function mismatch (message: string): ScratchBirdError {
  return new ScratchBirdError('SB_DATATYPE_MISMATCH', message)
}

/** Does `v` have the representation of type `t` (NULL fits every type)? Width checked for ints. */
export function valueFitsType (v: SqlValue, t: SqlType): boolean {
  if (v === null) return true
  const k = t.kind
  if (isIntegerKind(k)) return typeof v === 'bigint' && v >= INT_RANGES[k].min && v <= INT_RANGES[k].max
  switch (k) {
    case 'boolean': return typeof v === 'boolean'
    case 'decimal': return v instanceof Decimal
    case 'real': case 'double': return typeof v === 'number'
    case 'bytea': return v instanceof Uint8Array
    case 'uuid': return v instanceof SqlUuid
    case 'date': return v instanceof SqlDate
    case 'timestamp': return v instanceof SqlTimestamp
    case 'null': return false
  }
  return isTextKind(k) && typeof v === 'string'
}

// ---------------------------------------------------------------------------------------------
// Three-valued logic (null = UNKNOWN)

export type Bool3 = boolean | null

export function and3 (a: Bool3, b: Bool3): Bool3 {
  if (a === false || b === false) return false
  if (a === null || b === null) return null
  return true
}

export function or3 (a: Bool3, b: Bool3): Bool3 {
  if (a === true || b === true) return true
  if (a === null || b === null) return null
  return false
}

export function not3 (a: Bool3): Bool3 { return a === null ? null : !a }

// ---------------------------------------------------------------------------------------------
// Comparison

/** Code point order of two JS strings (JS `<` compares UTF-16 units, which differs above U+FFFF). */
export function compareText (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (0xd800–0xdfff) encode code points above every BMP unit: lift them above 0xffff.
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x10000 : x
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x10000 : y
    return x < y ? -1 : 1
  }
  return a.length - b.length < 0 ? -1 : a.length > b.length ? 1 : 0
}

export function compareBytesSql (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0
}

/** Doubles as PostgreSQL orders them: NaN equals NaN and sorts above every other value. */
function compareFloat (a: number, b: number): number {
  if (a < b) return -1
  if (a > b) return 1
  if (a === b) return 0
  return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1
}

function compareBigintFloat (a: bigint, b: number): number {
  if (Number.isNaN(b) || b === Infinity) return -1
  if (b === -Infinity) return 1
  const fb = Math.floor(b)
  const ib = BigInt(fb)
  if (a < ib) return -1
  if (a > ib) return 1
  return b > fb ? -1 : 0
}

function toDecimalOrFloat (v: bigint | Decimal): Decimal {
  return typeof v === 'bigint' ? decimalFromBigint(v) : v
}

/**
 * Total order of two non-NULL values of comparable types: -1, 0 or 1. Numeric classes compare
 * across each other (exact between integers and decimals; as doubles against floats, as in
 * PostgreSQL). Incomparable classes → SB_DATATYPE_MISMATCH.
 */
export function compareValues (a: NonNullable<SqlValue>, b: NonNullable<SqlValue>): number {
  const ta = typeof a
  const tb = typeof b
  if (ta === tb) {
    if (ta === 'bigint') return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0
    if (ta === 'string') return compareText(a as string, b as string)
    if (ta === 'number') return compareFloat(a as number, b as number)
    if (ta === 'boolean') return a === b ? 0 : a === false ? -1 : 1
  }
  const ca = valueClass(a)
  const cb = valueClass(b)
  if (ca === cb) {
    switch (ca) {
      case 'decimal': return compareDecimal(a as Decimal, b as Decimal)
      case 'uuid': return compareUuid((a as SqlUuid).uuid, (b as SqlUuid).uuid)
      case 'bytea': return compareBytesSql(a as Uint8Array, b as Uint8Array)
      case 'date': return Math.sign((a as SqlDate).days - (b as SqlDate).days)
      case 'timestamp': {
        const x = (a as SqlTimestamp).micros; const y = (b as SqlTimestamp).micros
        return x < y ? -1 : x > y ? 1 : 0
      }
    }
  }
  if ((ca === 'integer' || ca === 'decimal') && (cb === 'integer' || cb === 'decimal')) {
    return compareDecimal(toDecimalOrFloat(a as bigint | Decimal), toDecimalOrFloat(b as bigint | Decimal))
  }
  if (ca === 'float' && (cb === 'integer' || cb === 'decimal')) return -compareValues(b, a)
  if (cb === 'float') {
    if (ca === 'integer') return compareBigintFloat(a as bigint, b as number)
    if (ca === 'decimal') return compareFloat(decimalToNumber(a as Decimal), b as number)
  }
  if (ca === 'date' && cb === 'timestamp') return compareValues(new SqlTimestamp(BigInt((a as SqlDate).days) * 86_400_000_000n), b)
  if (ca === 'timestamp' && cb === 'date') return -compareValues(b, a)
  throw mismatch(`cannot compare ${ca} with ${cb}`)
}

/** SQL comparison: NULL when either side is NULL. */
export function compare3 (a: SqlValue, b: SqlValue): number | null {
  if (a === null || b === null) return null
  return compareValues(a, b)
}

export interface SortSpec {
  readonly desc?: boolean
  /** Default as PostgreSQL: NULLS LAST for ascending, NULLS FIRST for descending. */
  readonly nullsFirst?: boolean
}

/** ORDER BY comparison of one key. */
export function sortCompare (a: SqlValue, b: SqlValue, spec: SortSpec = {}): number {
  const desc = spec.desc === true
  if (a === null || b === null) {
    if (a === b) return 0
    const nullsFirst = spec.nullsFirst ?? desc
    return (a === null) === nullsFirst ? -1 : 1
  }
  const c = compareValues(a, b)
  return desc ? -c : c
}

/** GROUP BY / DISTINCT equality: NULLs are equal to each other here. */
export function sameGroup (a: SqlValue, b: SqlValue): boolean {
  if (a === null || b === null) return a === b
  return compareValues(a, b) === 0
}

// ---------------------------------------------------------------------------------------------
// Rendering

const HEX = '0123456789abcdef'

export function byteaToText (b: Uint8Array): string {
  let s = '\\x'
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >>> 4]! + HEX[b[i]! & 15]!
  return s
}

/**
 * PostgreSQL float text: shortest round-trip digits, 'NaN', 'Infinity', '-Infinity'. For REAL
 * (`real` true) the shortest digits that read back as the same float32 (0.1, not 0.100000001…).
 */
export function floatToText (x: number, real = false): string {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'Infinity'
  if (x === -Infinity) return '-Infinity'
  if (Object.is(x, -0)) return '-0'
  if (real) {
    for (let p = 1; p < 9; p++) {
      const s = x.toPrecision(p)
      if (Math.fround(Number(s)) === x) return String(Number(s))
    }
  }
  return String(x)
}

/** The value as CAST(v AS TEXT) renders it; NULL stays null. */
export function valueToText (v: SqlValue): string | null {
  if (v === null) return null
  switch (typeof v) {
    case 'string': return v
    case 'bigint': return v.toString()
    case 'number': return floatToText(v)
    case 'boolean': return v ? 'true' : 'false'
  }
  if (v instanceof Decimal) return formatDecimal(v)
  if (v instanceof SqlUuid) return formatUuid(v.uuid)
  if (v instanceof Uint8Array) return byteaToText(v)
  if (v instanceof SqlDate) return formatDate(v)
  if (v instanceof SqlTimestamp) return formatTimestamp(v)
  throw mismatch('not a SQL value')
}

export type JsonValue = null | boolean | number | string

/**
 * JSON for the HTTP API: SMALLINT/INTEGER as numbers; BIGINT and DECIMAL as strings (JSON numbers
 * would lose precision); floats as numbers, or 'NaN'/'Infinity' strings; UUID canonical;
 * DATE 'YYYY-MM-DD'; TIMESTAMP ISO 8601 UTC; BYTEA '\x…' hex. Without a type, integers are strings.
 */
export function valueToJson (v: SqlValue, type?: SqlType): JsonValue {
  if (v === null) return null
  if (typeof v === 'bigint') {
    const k = type?.kind
    return k === 'smallint' || k === 'integer' ? Number(v) : v.toString()
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return floatToText(v)
    return type?.kind === 'real' ? Number(floatToText(v, true)) : v
  }
  if (typeof v === 'boolean') return v
  if (v instanceof SqlTimestamp) return timestampToIso(v)
  return valueToText(v)
}

/** Short literal form for EXPLAIN and error messages. */
export function valueToLiteral (v: SqlValue): string {
  if (v === null) return 'NULL'
  if (typeof v === 'string') return `'${(v.length > 40 ? v.slice(0, 40) + '…' : v).replace(/'/g, "''")}'`.replace(/\n/g, '\\n')
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  const t = valueToText(v)!
  if (typeof v === 'number' || v instanceof Decimal) return t
  return `${t.length > 40 ? t.slice(0, 40) + '…' : t}::${valueClass(v).toUpperCase()}`
}
