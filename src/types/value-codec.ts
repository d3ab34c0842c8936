// Self-describing encoding of one SQL value (a tag byte, then the payload), for places where no
// column type travels with the value: SBLR constant pools and partial aggregate states shipped
// between shards and the coordinator. Row images use the typed, denser row codec instead.
import { Decimal, MAX_DECIMAL_SCALE } from './decimal'
import { checkDays, checkMicros, SqlDate, SqlTimestamp } from './datetime'
import { bigintToBytes, type ByteSink, type ByteSource, bytesToBigint, type Fail } from '../core/bytes'
import { SqlUuid, type SqlValue } from './values'
import { LIMITS } from '../core/limits'

const TAG = { null: 0, false: 1, true: 2, integer: 3, float: 4, text: 5, bytea: 6, decimal: 7, uuid: 8, date: 9, timestamp: 10 } as const

/** Bounds a decoded value so garbage cannot ask for a huge allocation. */
export const MAX_ENCODED_VALUE_BYTES = LIMITS.encodedValueBytes

const utf8Encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function writeValue (w: ByteSink, v: SqlValue): void {
  if (v === null) { w.u8(TAG.null); return }
  switch (typeof v) {
    case 'boolean': w.u8(v ? TAG.true : TAG.false); return
    case 'bigint': { const b = bigintToBytes(v); w.u8(TAG.integer); w.varint(b.length); w.bytes(b); return }
    case 'number': w.u8(TAG.float); w.f64(v); return
    case 'string': { const b = utf8Encoder.encode(v); w.u8(TAG.text); w.varint(b.length); w.bytes(b); return }
  }
  if (v instanceof Decimal) {
    const b = bigintToBytes(v.unscaled)
    w.u8(TAG.decimal); w.varint(v.scale); w.varint(b.length); w.bytes(b)
    return
  }
  if (v instanceof SqlUuid) { w.u8(TAG.uuid); w.bytes(v.uuid); return }
  if (v instanceof Uint8Array) { w.u8(TAG.bytea); w.varint(v.length); w.bytes(v); return }
  if (v instanceof SqlDate) { w.u8(TAG.date); w.i32(v.days); return }
  if (v instanceof SqlTimestamp) { w.u8(TAG.timestamp); w.i64(v.micros); return }
  throw new TypeError('writeValue: not a SQL value')
}

function length (r: ByteSource, fail: Fail): number {
  const n = r.varint()
  if (n > MAX_ENCODED_VALUE_BYTES || r.pos + n > r.end) throw fail(`value length ${n} runs past the end`)
  return n
}

// 1000 decimal digits need 416 bytes; integers (aggregate sums) stay far below this too.
const MAX_BIGINT_BYTES = 512

function bigLength (r: ByteSource, fail: Fail): number {
  const n = length(r, fail)
  if (n > MAX_BIGINT_BYTES) throw fail(`number of ${n} bytes is too large`)
  return n
}

/** Read one value; every malformation goes through `fail`. */
export function readValue (r: ByteSource, fail: Fail): SqlValue {
  const tag = r.u8()
  switch (tag) {
    case TAG.null: return null
    case TAG.false: return false
    case TAG.true: return true
    case TAG.integer: return bytesToBigint(r.bytes(bigLength(r, fail)), fail)
    case TAG.float: return r.f64()
    case TAG.text:
      try {
        return utf8.decode(r.bytes(length(r, fail)))
      } catch (e) {
        if (e instanceof TypeError) throw fail('text is not valid UTF-8')
        throw e
      }
    case TAG.bytea: return r.bytes(length(r, fail))
    case TAG.decimal: {
      const scale = r.varint()
      if (scale > MAX_DECIMAL_SCALE) throw fail(`decimal scale ${scale} too large`)
      return new Decimal(bytesToBigint(r.bytes(bigLength(r, fail)), fail), scale)
    }
    case TAG.uuid: return new SqlUuid(r.bytes(16))
    case TAG.date: {
      const d = r.i32()
      try { return new SqlDate(checkDays(d)) } catch { throw fail('date out of range') }
    }
    case TAG.timestamp: {
      const t = r.i64()
      try { return new SqlTimestamp(checkMicros(t)) } catch { throw fail('timestamp out of range') }
    }
  }
  throw fail(`unknown value tag ${tag}`)
}
