// SQL values ↔ key tuple elements (src/storage/keys.ts) for primary keys, so that the unsigned
// byte order of an encoded key equals the SQL order of the values (range scans follow ORDER BY).
//
//   integers → bigint    REAL/DOUBLE → number   BOOLEAN → boolean   text kinds → string
//   BYTEA → bytes        UUID → { uuid }        DATE → bigint days  TIMESTAMP → bigint µs
//   DECIMAL → bytes in the order-preserving form below
//
// DECIMAL key form. Numerically equal values (1.5, 1.50) get the same key, so the key of a
// DECIMAL(p,s) column decodes back to scale s. With the value as ±0.d1d2d3… × 10^E (d1 ≠ 0,
// trailing zeros dropped):
//   zero:     0x80
//   positive: 0xc0, (E + 0x8000) as u16 BE, then the digits in pairs, each pair as 1 + 10a + b
//             (1…100; an odd last digit is paired with 0). A shorter digit string that is a
//             prefix of a longer one is the smaller number, which byte order gives for free.
//   negative: 0x40, ~(E + 0x8000) as u16 BE, each pair as 254 - (10a + b) (154…254), then 0xff:
//             everything is inverted, and the 0xff end marker sorts above every pair byte so a
//             shorter magnitude (a larger negative number) sorts after its extensions.
import { ScratchBirdError } from '../core/errors'
import type { TupleValue } from '../storage/keys'
import { Decimal, MAX_DECIMAL_DIGITS, normalizeDecimal, rescale } from './decimal'
import { checkDays, checkMicros, SqlDate, SqlTimestamp } from './datetime'
import { isIntegerKind, type SqlType, typeName } from './sql-types'
import { SqlUuid, type SqlValue, valueClass, valueFitsType } from './values'

const DEC_ZERO = 0x80
const DEC_POS = 0xc0
const DEC_NEG = 0x40
const EXP_BIAS = 0x8000
// |E| is bounded by digits + scale (≤ 2000), far inside the u16 window.

function corrupt (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `corrupt key: ${why}`)
}

export function encodeDecimalKey (d: Decimal): Uint8Array {
  const n = normalizeDecimal(d)
  if (n.unscaled === 0n) return Uint8Array.of(DEC_ZERO)
  const neg = n.unscaled < 0n
  const all = (neg ? -n.unscaled : n.unscaled).toString()
  const e = all.length - n.scale + EXP_BIAS
  const digits = all.replace(/0+$/, '') // integers keep trailing zeros in `unscaled`; E says where they end
  const pairs = (digits.length + 1) >> 1
  const out = new Uint8Array(3 + pairs + (neg ? 1 : 0))
  out[0] = neg ? DEC_NEG : DEC_POS
  const ee = neg ? ~e & 0xffff : e
  out[1] = ee >> 8
  out[2] = ee & 0xff
  for (let i = 0; i < pairs; i++) {
    const a = digits.charCodeAt(2 * i) - 48
    const b = 2 * i + 1 < digits.length ? digits.charCodeAt(2 * i + 1) - 48 : 0
    out[3 + i] = neg ? 254 - (10 * a + b) : 1 + 10 * a + b
  }
  if (neg) out[out.length - 1] = 0xff
  return out
}

export function decodeDecimalKey (b: Uint8Array): Decimal {
  if (b.length === 1 && b[0] === DEC_ZERO) return new Decimal(0n, 0)
  const neg = b[0] === DEC_NEG
  if ((!neg && b[0] !== DEC_POS) || b.length < (neg ? 5 : 4)) throw corrupt('bad decimal element')
  const raw = (b[1]! << 8) | b[2]!
  const e = (neg ? ~raw & 0xffff : raw) - EXP_BIAS
  const last = neg ? b.length - 1 : b.length
  if (neg && b[last] !== 0xff) throw corrupt('negative decimal without end marker')
  let digits = ''
  for (let i = 3; i < last; i++) {
    const p = neg ? 254 - b[i]! : b[i]! - 1
    if (p < 0 || p > 99) throw corrupt('bad decimal digit pair')
    digits += (p < 10 ? '0' : '') + p
  }
  // Canonical: first digit non-zero, no trailing zero digit (except the pad of an odd count).
  if (digits[0] === '0') throw corrupt('decimal with a leading zero')
  if (digits.endsWith('0')) digits = digits.slice(0, -1)
  if (digits.endsWith('0') || digits.length > MAX_DECIMAL_DIGITS * 2) throw corrupt('non-canonical decimal')
  const scale = digits.length - e
  const u = BigInt(digits)
  if (scale < 0) {
    if (-scale > MAX_DECIMAL_DIGITS) throw corrupt('decimal exponent out of range')
    return new Decimal((neg ? -u : u) * 10n ** BigInt(-scale), 0)
  }
  return new Decimal(neg ? -u : u, scale)
}

/** The key element of a (non-cast) value of a primary-key column. */
export function valueToKey (v: SqlValue, t: SqlType): TupleValue {
  if (v === null) return null
  if (!valueFitsType(v, t)) {
    throw new ScratchBirdError('SB_DATATYPE_MISMATCH', `key column is ${typeName(t)} but the value is ${valueClass(v)}`)
  }
  switch (t.kind) {
    case 'decimal': return encodeDecimalKey(v as Decimal)
    case 'uuid': return { uuid: (v as SqlUuid).uuid }
    case 'date': return BigInt((v as SqlDate).days)
    case 'timestamp': return (v as SqlTimestamp).micros
    // -0 = 0 in SQL: one key, not two rows.
    case 'real': case 'double': return Object.is(v, -0) ? 0 : v as number
  }
  return v as TupleValue
}

/** Inverse of valueToKey for a column of type t; mismatched elements → SB_STORAGE_CORRUPT. */
export function keyToValue (k: TupleValue, t: SqlType): SqlValue {
  if (k === null) return null
  const bad = (): ScratchBirdError => corrupt(`element does not fit ${typeName(t)}`)
  if (isIntegerKind(t.kind)) {
    if (typeof k !== 'bigint' || !valueFitsType(k, t)) throw bad()
    return k
  }
  switch (t.kind) {
    case 'boolean': if (typeof k !== 'boolean') throw bad(); return k
    case 'real': case 'double': if (typeof k !== 'number') throw bad(); return k
    case 'char': case 'varchar': case 'text': if (typeof k !== 'string') throw bad(); return k
    case 'bytea': if (!(k instanceof Uint8Array)) throw bad(); return k
    case 'uuid':
      if (typeof k !== 'object' || k instanceof Uint8Array || !(k.uuid instanceof Uint8Array)) throw bad()
      return new SqlUuid(k.uuid)
    case 'date': {
      if (typeof k !== 'bigint' || k < -1_000_000n || k > 10_000_000n) throw bad()
      try { return new SqlDate(checkDays(Number(k))) } catch { throw bad() }
    }
    case 'timestamp': {
      if (typeof k !== 'bigint') throw bad()
      try { return new SqlTimestamp(checkMicros(k)) } catch { throw bad() }
    }
    case 'decimal': {
      if (!(k instanceof Uint8Array)) throw bad()
      const d = decodeDecimalKey(k)
      return t.scale === undefined || t.precision === undefined ? d : rescale(d, t.scale)
    }
  }
  throw bad()
}

/** Key tuple of a primary key. */
export function valuesToKey (values: readonly SqlValue[], types: readonly SqlType[]): TupleValue[] {
  return values.map((v, i) => valueToKey(v, types[i]!))
}
