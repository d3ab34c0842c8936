// Value codecs of the PostgreSQL protocol: our SQL values to PostgreSQL's text and binary
// formats (DataRow), and Bind parameters (text or binary, by OID) back to SQL values.
// Text forms are PostgreSQL's own output (DateStyle ISO, bytea hex, 't'/'f') so drivers' parsers
// read them unchanged; binary forms are PostgreSQL's send/recv formats.
import { ScratchBirdError } from '../../core/errors'
import { formatUuid } from '../../core/uuid'
import { formatDate, formatTimestamp, SqlDate, SqlTimestamp } from '../../types/datetime'
import { Decimal, formatDecimal } from '../../types/decimal'
import type { SqlType } from '../../types/sql-types'
import { byteaToText, floatToText, SqlUuid, type SqlValue } from '../../types/values'
import { OID } from './types'

/** 2000-01-01, PostgreSQL's epoch for binary dates and timestamps, in days and µs since 1970-01-01. */
const PG_EPOCH_DAYS = 10_957
const PG_EPOCH_MICROS = 946_684_800_000_000n

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Strict UTF-8 (PostgreSQL refuses invalid byte sequences; a replacement character would change data). */
export function decodeUtf8 (bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new ScratchBirdError('SB_MALFORMED_REQUEST', 'invalid byte sequence for encoding "UTF8"')
  }
}

function badParam (oid: number, why: string): ScratchBirdError {
  return new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', `invalid parameter value for type oid ${oid}: ${why}`)
}

/** PostgreSQL's text output of `v` (a column of type `t`); null for NULL. */
export function textOf (v: SqlValue, t: SqlType): string | null {
  if (v === null) return null
  switch (typeof v) {
    case 'string': return v
    case 'bigint': return v.toString()
    case 'number': return floatToText(v, t.kind === 'real')
    case 'boolean': return v ? 't' : 'f'
  }
  if (v instanceof Decimal) return formatDecimal(v)
  if (v instanceof SqlUuid) return formatUuid(v.uuid)
  if (v instanceof Uint8Array) return byteaToText(v)
  if (v instanceof SqlDate) return formatDate(v)
  if (v instanceof SqlTimestamp) return formatTimestamp(v)
  throw new Error('ScratchBird assertion: not a SQL value')
}

/** PostgreSQL's binary (send) format of `v` as a column of type `t`. */
export function binaryOf (v: NonNullable<SqlValue>, t: SqlType): Buffer {
  switch (t.kind) {
    case 'boolean': return Buffer.from([v === true ? 1 : 0])
    case 'smallint': { const b = Buffer.allocUnsafe(2); b.writeInt16BE(Number(v)); return b }
    case 'integer': { const b = Buffer.allocUnsafe(4); b.writeInt32BE(Number(v)); return b }
    case 'bigint': { const b = Buffer.allocUnsafe(8); b.writeBigInt64BE(v as bigint); return b }
    case 'real': { const b = Buffer.allocUnsafe(4); b.writeFloatBE(v as number); return b }
    case 'double': { const b = Buffer.allocUnsafe(8); b.writeDoubleBE(v as number); return b }
    case 'decimal': return numericBinary(v as Decimal)
    case 'bytea': return Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength)
    case 'uuid': return Buffer.from((v as SqlUuid).uuid)
    case 'date': { const b = Buffer.allocUnsafe(4); b.writeInt32BE((v as SqlDate).days - PG_EPOCH_DAYS); return b }
    case 'timestamp': { const b = Buffer.allocUnsafe(8); b.writeBigInt64BE((v as SqlTimestamp).micros - PG_EPOCH_MICROS); return b }
    default: return Buffer.from(textOf(v, t)!, 'utf8')
  }
}

/** NUMERIC send format: ndigits, weight, sign, dscale, then base-10000 digits (most significant first). */
export function numericBinary (d: Decimal): Buffer {
  const neg = d.unscaled < 0n
  const digits = (neg ? -d.unscaled : d.unscaled).toString()
  const intLen = Math.max(0, digits.length - d.scale)
  let intPart = digits.slice(0, intLen)
  let frac = digits.slice(intLen).padStart(d.scale, '0')
  intPart = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0')
  frac = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0')
  const groups: number[] = []
  for (let i = 0; i < intPart.length; i += 4) groups.push(Number(intPart.slice(i, i + 4)))
  for (let i = 0; i < frac.length; i += 4) groups.push(Number(frac.slice(i, i + 4)))
  let weight = intPart.length / 4 - 1
  let start = 0
  while (start < groups.length && groups[start] === 0) { start++; weight-- }
  let end = groups.length
  while (end > start && groups[end - 1] === 0) end--
  const n = end - start
  const b = Buffer.allocUnsafe(8 + 2 * n)
  b.writeInt16BE(n, 0)
  b.writeInt16BE(n === 0 ? 0 : weight, 2)
  b.writeUInt16BE(neg && n > 0 ? 0x4000 : 0, 4)
  b.writeInt16BE(d.scale, 6)
  for (let i = 0; i < n; i++) b.writeInt16BE(groups[start + i]!, 8 + 2 * i)
  return b
}

/** NUMERIC recv format back to its text form (parameters are cast where they are used). */
export function numericFromBinary (b: Uint8Array): string {
  if (b.length < 8) throw badParam(OID.numeric, 'too short')
  const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  const n = view.readInt16BE(0)
  const weight = view.readInt16BE(2)
  const sign = view.readUInt16BE(4)
  const dscale = view.readInt16BE(6)
  if (n < 0 || b.length !== 8 + 2 * n || dscale < 0) throw badParam(OID.numeric, 'bad length or scale')
  if (sign === 0xc000) return 'NaN'
  if (sign !== 0 && sign !== 0x4000) throw badParam(OID.numeric, 'bad sign')
  let intPart = ''
  let frac = ''
  for (let i = 0; i < n; i++) {
    const g = view.readInt16BE(8 + 2 * i)
    if (g < 0 || g > 9999) throw badParam(OID.numeric, 'digit out of range')
    const s = String(g).padStart(4, '0')
    if (weight - i >= 0) intPart += s
    else frac += s
  }
  // Groups between the last digit and the decimal point, or between the point and the first digit.
  if (weight >= n) intPart += '0000'.repeat(weight - n + 1)
  if (weight < -1) frac = '0000'.repeat(-weight - 1) + frac
  intPart = intPart.replace(/^0+/, '') || '0'
  frac = frac.padEnd(dscale, '0').slice(0, dscale)
  return `${sign === 0x4000 ? '-' : ''}${intPart}${frac === '' ? '' : '.' + frac}`
}

const INTEGER_TEXT = /^\s*[+-]?\d{1,19}\s*$/

/**
 * One Bind parameter to a SQL value. Integers, floats and booleans of a declared type become
 * typed values; everything else stays text, which the statement casts to the type it meets
 * (parameters are untyped in our SQL, as PostgreSQL's unknown literals).
 */
export function paramValue (bytes: Uint8Array | null, binary: boolean, oid: number): SqlValue {
  if (bytes === null) return null
  if (!binary) {
    const text = decodeUtf8(bytes)
    switch (oid) {
      case OID.int2: case OID.int4: case OID.int8: case OID.oid:
        if (!INTEGER_TEXT.test(text)) throw badParam(oid, `${JSON.stringify(text.slice(0, 64))} is not an integer`)
        return BigInt(text.trim())
      case OID.float4: case OID.float8: {
        const x = Number(text.trim().replace(/^([+-]?)inf(inity)?$/i, '$1Infinity'))
        if (Number.isNaN(x) && text.trim().toLowerCase() !== 'nan') throw badParam(oid, `${JSON.stringify(text.slice(0, 64))} is not a number`)
        return x
      }
      case OID.bool: {
        const t = text.trim().toLowerCase()
        if (['t', 'true', 'y', 'yes', 'on', '1'].includes(t)) return true
        if (['f', 'false', 'n', 'no', 'off', '0'].includes(t)) return false
        throw badParam(oid, `${JSON.stringify(text.slice(0, 64))} is not a boolean`)
      }
      default: return text
    }
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const need = (n: number): void => { if (bytes.length !== n) throw badParam(oid, `binary value of ${bytes.length} bytes, expected ${n}`) }
  switch (oid) {
    case OID.bool: need(1); return bytes[0] !== 0
    case OID.int2: need(2); return BigInt(view.readInt16BE(0))
    case OID.int4: need(4); return BigInt(view.readInt32BE(0))
    case OID.oid: need(4); return BigInt(view.readUInt32BE(0))
    case OID.int8: need(8); return view.readBigInt64BE(0)
    case OID.float4: need(4); return view.readFloatBE(0)
    case OID.float8: need(8); return view.readDoubleBE(0)
    case OID.numeric: return numericFromBinary(bytes)
    case OID.bytea: return byteaToText(bytes)
    case OID.uuid: need(16); return formatUuid(bytes)
    case OID.date: need(4); return formatDate(new SqlDate(view.readInt32BE(0) + PG_EPOCH_DAYS))
    case OID.timestamp: need(8); return formatTimestamp(new SqlTimestamp(view.readBigInt64BE(0) + PG_EPOCH_MICROS))
    case OID.text: case OID.varchar: case OID.bpchar: case OID.unknown:
      return decodeUtf8(bytes)
    // Untyped binary: what drivers send for a byte buffer (node-postgres sends a Buffer this way).
    case 0: return byteaToText(bytes)
    default:
      throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `binary parameters of type oid ${oid} are not supported; send it in text format`)
  }
}
