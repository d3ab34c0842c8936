// Row images: the bytes a record version stores for one row (DESIGN §4). Layout, format 1:
//
//   u8 format (1) | u8 flags (bit 0: 4-byte offsets, else 2-byte) | u16 column count n |
//   null bitmap, ceil(n/8) bytes (bit i set = column i is NULL) |
//   n end offsets (column i's payload is data[end(i-1), end(i)); NULL columns are empty) |
//   data: per-type payloads, fixed-size big-endian or raw bytes (see writePayload)
//
// The offset table lets a scan decode just the columns a program reads. Column i is the table's
// column at position i, dropped ones included (catalog/alter-columns.ts keeps their slots), so
// rows never need rewriting when columns come and go: a row written before an ALTER TABLE ADD
// COLUMN has fewer columns than the table, and the missing ones read as the value the column had
// for existing rows when it was added (`missing`, NULL when none); a row written under a newer
// catalog than the reader's has more columns than it knows, and the extra ones are ignored (the
// reader's node has not caught up with the ADD COLUMN yet).
// Anything malformed → SB_STORAGE_CORRUPT; structural checks run once per image, payload checks
// per column read.
import { ScratchBirdError } from '../core/errors'
import { ByteSink, ByteSource, bigintToBytes, bytesToBigint } from '../core/bytes'
import { Decimal, MAX_DECIMAL_SCALE } from './decimal'
import { checkDays, checkMicros, SqlDate, SqlTimestamp } from './datetime'
import { type SqlType, typeName } from './sql-types'
import { SqlUuid, type SqlValue, valueFitsType, valueClass } from './values'
import { LIMITS } from '../core/limits'

export const ROW_FORMAT_V1 = 1
/** PostgreSQL's column limit; keeps the header small and bounded. */
export const MAX_ROW_COLUMNS = LIMITS.columns
const FLAG_WIDE = 1

const FIXED_SIZE: Partial<Record<SqlType['kind'], number>> = {
  boolean: 1, smallint: 2, integer: 4, bigint: 8, real: 4, double: 8, uuid: 16, date: 4, timestamp: 8
}

const utf8Encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function corrupt (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `corrupt row image: ${why}`)
}

function writePayload (w: ByteSink, t: SqlType, v: NonNullable<SqlValue>): void {
  switch (t.kind) {
    case 'boolean': w.u8(v === true ? 1 : 0); return
    case 'smallint': w.ensure(2); new DataView(w.buf.buffer).setInt16(w.len, Number(v)); w.len += 2; return
    case 'integer': w.i32(Number(v)); return
    case 'bigint': w.i64(v as bigint); return
    case 'real': w.f32(v as number); return
    case 'double': w.f64(v as number); return
    case 'decimal': w.u16((v as Decimal).scale); w.bytes(bigintToBytes((v as Decimal).unscaled)); return
    case 'char': case 'varchar': case 'text': w.bytes(utf8Encoder.encode(v as string)); return
    case 'bytea': w.bytes(v as Uint8Array); return
    case 'uuid': w.bytes((v as SqlUuid).uuid); return
    case 'date': w.i32((v as SqlDate).days); return
    case 'timestamp': w.i64((v as SqlTimestamp).micros); return
  }
  throw new ScratchBirdError('SB_DATATYPE_MISMATCH', `a column cannot have type ${typeName(t)}`)
}

/** Encode a row; every value must already have its column's representation (cast first). */
export function encodeRow (types: readonly SqlType[], values: readonly SqlValue[]): Uint8Array {
  const n = types.length
  if (values.length !== n || n > MAX_ROW_COLUMNS) {
    throw new ScratchBirdError('SB_DATATYPE_MISMATCH', `row has ${values.length} values for ${n} columns`)
  }
  const data = new ByteSink(64)
  const ends = new Array<number>(n)
  const bitmap = new Uint8Array((n + 7) >> 3)
  for (let i = 0; i < n; i++) {
    const v = values[i]!
    const t = types[i]!
    if (v === null) bitmap[i >> 3]! |= 1 << (i & 7)
    else {
      if (!valueFitsType(v, t)) {
        throw new ScratchBirdError('SB_DATATYPE_MISMATCH', `column ${i + 1} is ${typeName(t)} but the value is ${valueClass(v)}`, { column: i })
      }
      if (t.kind === 'uuid' && (v as SqlUuid).uuid.length !== 16) throw new ScratchBirdError('SB_UUID_INVALID', 'a UUID is 16 bytes')
      writePayload(data, t, v)
    }
    ends[i] = data.len
  }
  const wide = data.len > 0xffff
  const head = 4 + bitmap.length + n * (wide ? 4 : 2)
  const out = new Uint8Array(head + data.len)
  const dv = new DataView(out.buffer)
  out[0] = ROW_FORMAT_V1
  out[1] = wide ? FLAG_WIDE : 0
  dv.setUint16(2, n)
  out.set(bitmap, 4)
  let p = 4 + bitmap.length
  for (let i = 0; i < n; i++) {
    if (wide) { dv.setUint32(p, ends[i]!); p += 4 } else { dv.setUint16(p, ends[i]!); p += 2 }
  }
  out.set(data.buf.subarray(0, data.len), head)
  return out
}

/** A validated row image whose columns decode on demand. */
export class RowImage {
  readonly storedColumns: number
  private readonly bitmapAt = 4
  private readonly starts: Uint32Array
  private readonly ends: Uint32Array

  /** `missing[i]`: what column i reads in a row stored without it (absent: NULL). */
  constructor (readonly types: readonly SqlType[], readonly bytes: Uint8Array, private readonly missing?: readonly SqlValue[]) {
    const b = bytes
    if (!(b instanceof Uint8Array) || b.length < 4) throw corrupt('shorter than its header')
    if (b[0] !== ROW_FORMAT_V1) throw corrupt(`unknown format ${b[0]}`)
    if ((b[1]! & ~FLAG_WIDE) !== 0) throw corrupt(`unknown flags ${b[1]}`)
    const wide = b[1] === FLAG_WIDE
    const n = (b[2]! << 8) | b[3]!
    const bitmapLen = (n + 7) >> 3
    const dataAt = 4 + bitmapLen + n * (wide ? 4 : 2)
    if (dataAt > b.length) throw corrupt('header runs past the end')
    if (n % 8 !== 0 && (b[4 + bitmapLen - 1]! >> (n % 8)) !== 0) throw corrupt('null bitmap has bits past the last column')
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    // Columns beyond the reader's types are checked for order and bounds only.
    this.storedColumns = Math.min(n, types.length)
    this.starts = new Uint32Array(this.storedColumns)
    this.ends = new Uint32Array(this.storedColumns)
    let prev = 0
    for (let i = 0; i < n; i++) {
      const o = 4 + bitmapLen + i * (wide ? 4 : 2)
      const end = wide ? dv.getUint32(o) : dv.getUint16(o)
      if (end < prev || dataAt + end > b.length) throw corrupt(`column ${i} offset ${end} out of order or past the end`)
      const len = end - prev
      const isNull = (b[4 + (i >> 3)]! & (1 << (i & 7))) !== 0
      const fixed = i < types.length ? FIXED_SIZE[types[i]!.kind] : undefined
      if (isNull ? len !== 0 : (fixed !== undefined && len !== fixed)) throw corrupt(`column ${i} has ${len} payload bytes`)
      if (i < this.storedColumns) {
        this.starts[i] = dataAt + prev
        this.ends[i] = dataAt + end
      }
      prev = end
    }
    if (dataAt + prev !== b.length) throw corrupt(`${b.length - dataAt - prev} trailing bytes`)
  }

  isNull (i: number): boolean {
    if (i >= this.storedColumns) return (this.missing?.[i] ?? null) === null
    return (this.bytes[this.bitmapAt + (i >> 3)]! & (1 << (i & 7))) !== 0
  }

  /** Column i (0-based) as a SQL value. */
  get (i: number): SqlValue {
    if (i >= this.storedColumns) return this.missing?.[i] ?? null
    if (this.isNull(i)) return null
    return readPayload(this.types[i]!, this.bytes, this.starts[i]!, this.ends[i]!)
  }

  /** Every column, in order. */
  values (): SqlValue[] {
    const out = new Array<SqlValue>(this.types.length)
    for (let i = 0; i < out.length; i++) out[i] = this.get(i)
    return out
  }
}

function readPayload (t: SqlType, b: Uint8Array, start: number, end: number): SqlValue {
  const r = new ByteSource(b, corrupt, start, end)
  switch (t.kind) {
    case 'boolean': {
      const x = r.u8()
      if (x > 1) throw corrupt(`boolean byte ${x}`)
      return x === 1
    }
    case 'smallint': return BigInt(new DataView(b.buffer, b.byteOffset + start, 2).getInt16(0))
    case 'integer': return BigInt(r.i32())
    case 'bigint': return r.i64()
    case 'real': return r.f32()
    case 'double': return r.f64()
    case 'decimal': {
      const scale = r.u16()
      if (scale > MAX_DECIMAL_SCALE) throw corrupt(`decimal scale ${scale}`)
      return new Decimal(bytesToBigint(r.bytes(end - r.pos), corrupt), scale)
    }
    case 'char': case 'varchar': case 'text':
      try {
        return utf8.decode(b.subarray(start, end))
      } catch {
        throw corrupt('text is not valid UTF-8')
      }
    case 'bytea': return b.slice(start, end)
    case 'uuid': return new SqlUuid(b.slice(start, end))
    case 'date': {
      const d = r.i32()
      try { return new SqlDate(checkDays(d)) } catch { throw corrupt(`date ${d} out of range`) }
    }
    case 'timestamp': {
      const m = r.i64()
      try { return new SqlTimestamp(checkMicros(m)) } catch { throw corrupt(`timestamp ${m} out of range`) }
    }
  }
  throw corrupt(`column type ${typeName(t)} cannot be stored`)
}

export function decodeRow (types: readonly SqlType[], bytes: Uint8Array, missing?: readonly SqlValue[]): SqlValue[] {
  return new RowImage(types, bytes, missing).values()
}

export function decodeColumn (types: readonly SqlType[], bytes: Uint8Array, column: number): SqlValue {
  return new RowImage(types, bytes).get(column)
}
