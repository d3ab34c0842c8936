// Order-preserving tuple encoding for keys (DESIGN §4), in the manner of FoundationDB's tuple
// layer: every element is a type tag followed by big-endian or escaped bytes, so comparing two
// encoded tuples as unsigned bytes (LevelDB's default comparator) orders them exactly as the
// values compare. Range scans over encoded primary keys therefore follow SQL ordering.
//
// Element types and their order (a SQL column holds one type, so the order *between* types only
// matters for NULL, which sorts before everything):
//
//   tag        type      value order
//   0x00       NULL      first
//   0x01       bytes     unsigned lexicographic
//   0x02       text      by UTF-8 bytes, which is Unicode code point order (NOT JavaScript's
//                        UTF-16 `<`, which differs above U+FFFF)
//   0x0c–0x1c  integer   numeric, signed 64-bit, JS `bigint`
//   0x21       double    IEEE 754 total order: -NaN is canonicalised to NaN; -Inf < … < -0 < +0 <
//                        … < +Inf < NaN; JS `number` (always a double, even when integral)
//   0x26/0x27  boolean   false < true
//   0x30       UUID      16 bytes, unsigned (= time order for v7 / v8-HLC), `{ uuid: bytes }`
//
// Bytes and text escape 0x00 as 0x00 0xff and end with 0x00, so a string sorts before any longer
// string it prefixes. Integers use the shortest big-endian magnitude with the length in the tag
// (negatives one's-complemented), so small keys stay small. Decoding accepts only the canonical
// encoding and reports anything else as SB_STORAGE_CORRUPT, so decode∘encode and encode∘decode
// are both identities.

import { ByteSink } from '../core/bytes'
import { ScratchBirdError } from '../core/errors'
import type { Xid } from '../core/ids'

export interface UuidValue { readonly uuid: Uint8Array }
export type TupleValue = null | boolean | bigint | number | string | Uint8Array | UuidValue
export type Tuple = readonly TupleValue[]

export const TAG_NULL = 0x00
export const TAG_BYTES = 0x01
export const TAG_TEXT = 0x02
export const TAG_INT_ZERO = 0x14
export const TAG_DOUBLE = 0x21
export const TAG_FALSE = 0x26
export const TAG_TRUE = 0x27
export const TAG_UUID = 0x30
/** Greater than every tag: `prefix + [KEY_END]` bounds every tuple that extends `prefix`. */
export const KEY_END = 0xff

const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

// ---------------------------------------------------------------------------------------------
// Encoding

// One scratch writer is reused by every encode (no async inside; each encode resets len).
const scratch = new ByteSink(256)
const f64 = new DataView(new ArrayBuffer(8))

function badValue (message: string, value: unknown): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', message, { value: String(value) })
}

function writeEscaped (w: ByteSink, bytes: Uint8Array): void {
  w.ensure(bytes.length * 2 + 1)
  const buf = w.buf
  let n = w.len
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    buf[n++] = b
    if (b === 0) buf[n++] = 0xff
  }
  buf[n++] = 0
  w.len = n
}

/** UTF-8 with 0x00 escaped, written directly (no intermediate TextEncoder copy). */
function writeText (w: ByteSink, s: string): void {
  w.ensure(s.length * 3 + 2)
  const buf = w.buf
  let n = w.len
  buf[n++] = TAG_TEXT
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      buf[n++] = c
      if (c === 0) buf[n++] = 0xff
    } else if (c < 0x800) {
      buf[n++] = 0xc0 | (c >> 6)
      buf[n++] = 0x80 | (c & 0x3f)
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const lo = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c > 0xdbff || lo < 0xdc00 || lo > 0xdfff) {
        w.len = 0
        throw badValue('text contains a lone UTF-16 surrogate and cannot be stored as UTF-8', JSON.stringify(s))
      }
      c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00)
      i++
      buf[n++] = 0xf0 | (c >> 18)
      buf[n++] = 0x80 | ((c >> 12) & 0x3f)
      buf[n++] = 0x80 | ((c >> 6) & 0x3f)
      buf[n++] = 0x80 | (c & 0x3f)
    } else {
      buf[n++] = 0xe0 | (c >> 12)
      buf[n++] = 0x80 | ((c >> 6) & 0x3f)
      buf[n++] = 0x80 | (c & 0x3f)
    }
  }
  buf[n++] = 0
  w.len = n
}

function writeInt (w: ByteSink, v: bigint): void {
  if (v < INT64_MIN || v > INT64_MAX) {
    w.len = 0
    throw badValue('integer key element is outside the signed 64-bit range', v)
  }
  w.ensure(9)
  const buf = w.buf
  if (v === 0n) { buf[w.len++] = TAG_INT_ZERO; return }
  const neg = v < 0n
  const mag = neg ? -v : v
  let n = 1
  while (n < 8 && mag >> BigInt(n * 8) !== 0n) n++
  // Negative values store the one's complement of the magnitude so larger magnitudes sort first.
  let rest = neg ? ((1n << BigInt(n * 8)) - 1n) - mag : mag
  buf[w.len++] = neg ? TAG_INT_ZERO - n : TAG_INT_ZERO + n
  if (n <= 6) {
    let r = Number(rest)
    for (let i = n - 1; i >= 0; i--) { buf[w.len + i] = r % 256; r = Math.floor(r / 256) }
  } else {
    for (let i = n - 1; i >= 0; i--) { buf[w.len + i] = Number(rest & 0xffn); rest >>= 8n }
  }
  w.len += n
}

function writeDouble (w: ByteSink, v: number): void {
  w.ensure(9)
  let hi: number
  let lo: number
  if (Number.isNaN(v)) {
    hi = 0x7ff80000; lo = 0
  } else {
    f64.setFloat64(0, v)
    hi = f64.getUint32(0); lo = f64.getUint32(4)
  }
  // Positive: set the sign bit (sorts above all negatives); negative: invert every bit (larger
  // magnitudes sort first). This is the standard total-order transform.
  if (hi & 0x80000000) { hi = ~hi >>> 0; lo = ~lo >>> 0 } else { hi = (hi | 0x80000000) >>> 0 }
  const buf = w.buf
  let n = w.len
  buf[n++] = TAG_DOUBLE
  buf[n++] = hi >>> 24; buf[n++] = (hi >>> 16) & 0xff; buf[n++] = (hi >>> 8) & 0xff; buf[n++] = hi & 0xff
  buf[n++] = lo >>> 24; buf[n++] = (lo >>> 16) & 0xff; buf[n++] = (lo >>> 8) & 0xff; buf[n++] = lo & 0xff
  w.len = n
}

function writeUuid (w: ByteSink, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 16) {
    w.len = 0
    throw badValue('UUID key element must be 16 bytes', bytes)
  }
  w.ensure(17)
  w.buf[w.len++] = TAG_UUID
  w.buf.set(bytes, w.len)
  w.len += 16
}

function writeValue (w: ByteSink, v: TupleValue): void {
  if (v === null) { w.ensure(1); w.buf[w.len++] = TAG_NULL; return }
  switch (typeof v) {
    case 'string': writeText(w, v); return
    case 'bigint': writeInt(w, v); return
    case 'number': writeDouble(w, v); return
    case 'boolean': w.ensure(1); w.buf[w.len++] = v ? TAG_TRUE : TAG_FALSE; return
  }
  if (v instanceof Uint8Array) { w.ensure(1); w.buf[w.len++] = TAG_BYTES; writeEscaped(w, v); return }
  if (typeof v === 'object' && v.uuid instanceof Uint8Array) { writeUuid(w, v.uuid); return }
  w.len = 0
  throw badValue('unsupported key element type', v)
}

/** Encode a tuple; the result sorts (unsigned bytes) as the tuple does. */
export function encodeTuple (t: Tuple): Uint8Array {
  const w = scratch
  w.len = 0
  for (let i = 0; i < t.length; i++) writeValue(w, t[i]!)
  return w.take()
}

/** `prefix ++ encodeTuple(t) ++ suffix` in one allocation. */
export function encodeTupleWith (prefix: Uint8Array, t: Tuple, suffix?: Uint8Array): Uint8Array {
  const w = scratch
  w.len = 0
  w.ensure(prefix.length)
  w.buf.set(prefix, 0)
  w.len = prefix.length
  for (let i = 0; i < t.length; i++) writeValue(w, t[i]!)
  if (suffix !== undefined) {
    w.ensure(suffix.length)
    w.buf.set(suffix, w.len)
    w.len += suffix.length
  }
  return w.take()
}

// ---------------------------------------------------------------------------------------------
// Decoding (input may come from disk or a peer: every path validates)

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function corrupt (what: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `corrupt ${what}`, details)
}

/** Position after the 0x00 terminator of an escaped run starting at `pos`; -1 when unterminated. */
function escapedEnd (b: Uint8Array, pos: number, end: number): { stop: number, escapes: number } {
  let escapes = 0
  for (let i = pos; i < end; i++) {
    if (b[i] !== 0) continue
    if (i + 1 < end && b[i + 1] === 0xff) { escapes++; i++; continue }
    return { stop: i, escapes }
  }
  return { stop: -1, escapes }
}

function unescape (b: Uint8Array, pos: number, stop: number, escapes: number): Uint8Array {
  if (escapes === 0) return b.slice(pos, stop)
  const out = new Uint8Array(stop - pos - escapes)
  let n = 0
  for (let i = pos; i < stop; i++) {
    out[n++] = b[i]!
    if (b[i] === 0) i++
  }
  return out
}

interface Cursor { pos: number }

function readValue (b: Uint8Array, c: Cursor, end: number): TupleValue {
  const tag = b[c.pos++]!
  if (tag === TAG_NULL) return null
  if (tag === TAG_BYTES || tag === TAG_TEXT) {
    const { stop, escapes } = escapedEnd(b, c.pos, end)
    if (stop < 0) throw corrupt('key: unterminated string element', { offset: c.pos })
    const raw = unescape(b, c.pos, stop, escapes)
    c.pos = stop + 1
    if (tag === TAG_BYTES) return raw
    try {
      return utf8.decode(raw)
    } catch {
      throw corrupt('key: text element is not valid UTF-8')
    }
  }
  if (tag >= TAG_INT_ZERO - 8 && tag <= TAG_INT_ZERO + 8) {
    if (tag === TAG_INT_ZERO) return 0n
    const neg = tag < TAG_INT_ZERO
    const n = neg ? TAG_INT_ZERO - tag : tag - TAG_INT_ZERO
    if (c.pos + n > end) throw corrupt('key: truncated integer element')
    const first = b[c.pos]!
    // Canonical: shortest form only (no leading 0x00 for positives, 0xff for negatives).
    if (neg ? first === 0xff : first === 0) throw corrupt('key: non-canonical integer element')
    let raw = 0n
    for (let i = 0; i < n; i++) raw = (raw << 8n) | BigInt(b[c.pos + i]!)
    c.pos += n
    const v = neg ? -(((1n << BigInt(n * 8)) - 1n) - raw) : raw
    if (v < INT64_MIN || v > INT64_MAX) throw corrupt('key: integer element outside 64 bits')
    return v
  }
  if (tag === TAG_DOUBLE) {
    if (c.pos + 8 > end) throw corrupt('key: truncated double element')
    let hi = ((b[c.pos]! << 24) | (b[c.pos + 1]! << 16) | (b[c.pos + 2]! << 8) | b[c.pos + 3]!) >>> 0
    let lo = ((b[c.pos + 4]! << 24) | (b[c.pos + 5]! << 16) | (b[c.pos + 6]! << 8) | b[c.pos + 7]!) >>> 0
    c.pos += 8
    if (hi & 0x80000000) { hi = (hi & 0x7fffffff) >>> 0 } else { hi = ~hi >>> 0; lo = ~lo >>> 0 }
    f64.setUint32(0, hi); f64.setUint32(4, lo)
    const v = f64.getFloat64(0)
    if (Number.isNaN(v) && (hi !== 0x7ff80000 || lo !== 0)) throw corrupt('key: non-canonical NaN')
    return v
  }
  if (tag === TAG_FALSE) return false
  if (tag === TAG_TRUE) return true
  if (tag === TAG_UUID) {
    if (c.pos + 16 > end) throw corrupt('key: truncated UUID element')
    const uuid = b.slice(c.pos, c.pos + 16)
    c.pos += 16
    return { uuid }
  }
  throw corrupt('key: unknown element tag', { tag })
}

/** Decode a whole encoded tuple from `b[start, end)`. */
export function decodeTuple (b: Uint8Array, start = 0, end = b.length): TupleValue[] {
  const c: Cursor = { pos: start }
  const out: TupleValue[] = []
  while (c.pos < end) out.push(readValue(b, c, end))
  return out
}

/**
 * Check that `b[start, end)` is exactly what decodeTuple accepts (canonical, nothing trailing)
 * without building the values: null, boolean and integers of up to 7 bytes — primary keys in the
 * common case — allocate nothing; other elements go through the decoder. Throws
 * SB_STORAGE_CORRUPT like decodeTuple. Lets the write path take pk bytes encoded elsewhere (the
 * ring codec) instead of decoding and re-encoding them.
 */
export function checkTuple (b: Uint8Array, start = 0, end = b.length): void {
  let pos = start
  while (pos < end) {
    const tag = b[pos]!
    if (tag === TAG_NULL || tag === TAG_FALSE || tag === TAG_TRUE || tag === TAG_INT_ZERO) { pos++; continue }
    if (tag > TAG_INT_ZERO - 8 && tag < TAG_INT_ZERO + 8) {
      const neg = tag < TAG_INT_ZERO
      const n = neg ? TAG_INT_ZERO - tag : tag - TAG_INT_ZERO
      if (pos + 1 + n > end) throw corrupt('key: truncated integer element')
      if (neg ? b[pos + 1] === 0xff : b[pos + 1] === 0) throw corrupt('key: non-canonical integer element')
      pos += 1 + n // under 8 bytes: always inside the signed 64-bit range
      continue
    }
    const c: Cursor = { pos }
    readValue(b, c, end)
    pos = c.pos
  }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers

/** Unsigned lexicographic comparison: LevelDB's default (bytewise) comparator. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  n = 0
  for (const p of parts) { out.set(p, n); n += p.length }
  return out
}

// u64 <-> big-endian bytes through one shared 8-byte buffer: no BigInt arithmetic (each BigInt
// operation allocates), measured ~5x faster than shifting and masking.
const u64Scratch = new BigUint64Array(1)
const u64Bytes = new Uint8Array(u64Scratch.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

export function writeU64 (buf: Uint8Array, pos: number, v: bigint): void {
  u64Scratch[0] = v
  if (LITTLE_ENDIAN) {
    for (let i = 0; i < 8; i++) buf[pos + i] = u64Bytes[7 - i]!
  } else {
    buf.set(u64Bytes, pos)
  }
}

export function readU64 (buf: Uint8Array, pos: number): bigint {
  if (LITTLE_ENDIAN) {
    for (let i = 0; i < 8; i++) u64Bytes[7 - i] = buf[pos + i]!
  } else {
    for (let i = 0; i < 8; i++) u64Bytes[i] = buf[pos + i]!
  }
  return u64Scratch[0]!
}

/**
 * Carves many short-lived byte arrays out of large chunks. V8 gives every typed array over 64
 * bytes its own off-heap backing store, which is what dominated allocation on the group-commit
 * path; views into a shared chunk are cheap. A chunk is never reused — it is freed when the last
 * view into it is gone — so only use it for values that die young (batch values, copies held
 * until a write lands).
 */
export class Arena {
  private buf = new Uint8Array(0)
  private pos = 0

  constructor (private readonly chunkBytes = 256 * 1024) {}

  alloc (n: number): Uint8Array {
    if (n <= 64 || n > this.chunkBytes >> 3) return new Uint8Array(n)
    if (this.pos + n > this.buf.length) {
      this.buf = new Uint8Array(this.chunkBytes)
      this.pos = 0
    }
    const v = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  copy (src: Uint8Array): Uint8Array {
    const v = this.alloc(src.length)
    v.set(src)
    return v
  }
}

/** Key-map string for a key (one char per byte): cheap, and equal strings ⇔ equal keys. */
export function keyString (key: Uint8Array): string {
  // fromCharCode.apply is ~2x faster than a Buffer round trip for short keys; long keys would
  // exceed the argument limit.
  if (key.length <= 1024) return String.fromCharCode.apply(null, key as unknown as number[])
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

// ---------------------------------------------------------------------------------------------
// Key spaces of one shard replica (DESIGN §4). Each space starts with an ASCII letter and '/'.
//
//   r/<table_id><pk…>                 primary record version (table id as a tuple integer)
//   b/<table_id><pk…><uuid version>   back version (same bytes as the r/ key, 'b' first, plus the
//                                     version id as a tuple UUID element)
//   t/<xid u64 BE>                    TIP entry
//   g/<last xid u64 BE>               TIP group: the committed autocommit statements of one write
//                                     pass (tip.ts); groups never overlap in xid range
//   c/<lsn u64 BE>                    commit log entry
//   s/<name>                          shard metadata; s/o/<xid u64 BE> indexes TIP entries that are
//                                     not final (active, limbo) so recovery never scans the TIP;
//                                     s/f/<table_id><token> a DDL's write fence (table-fence.ts),
//                                     kept across a restart until its node releases it
//   p/<name>                          replication state of this replica (repl-state.ts): p/state the
//                                     Mode 1 hard state (generation, vote, commit LSN, role), p/boot
//                                     a snapshot bootstrap in progress, p/snapseq snapshot ids handed
//                                     out. Node-local: never part of a snapshot sent to a replica
//   h<target u16><createdAt u64><seq> hints this node keeps as a quorum coordinator for rows of the
//                                     shard (src/storage/hint-store.ts owns the layout: 'h' with no
//                                     '/', as in the separate hint store it came from; no other
//                                     space starts with 'h')
//   m/…                               the Merkle forest of the shard's leaderless writes (DESIGN §6
//                                     "Anti-entropy"; src/storage/merkle/forest.ts owns the values):
//     m/a/<window u64 BE><seq u64 BE> leaves of an active (unsealed) window written by one batch
//                                     (one record per window and write pass, as the commit log groups
//                                     a pass's commits): merkle/forest.ts encodes them
//     m/t/<window u64 BE>             a sealed window's tree (merkle/codec.ts)
//     m/s/<window u64 BE>             a sealed window's summary: root u64 BE ‖ leaf count u64 BE —
//                                     what says a tree should exist, so a missing one is rebuilt
//     m/k/<table id u32 BE>           a table that has leaves: a rebuild reads only these tables' rows
//     m/f                             forest marker: format, window length, sealed-below boundary
//                                     Written in the same batches as the rows they describe.
//
// A table's primary keys all have the same arity, so no pk's encoding is a proper prefix of
// another's and `b/<table><pk>` + UUID tag bounds exactly the back versions of one row.

const CH_R = 0x72
const CH_B = 0x62
const CH_SLASH = 0x2f

export const ROW_SPACE: Readonly<{ gte: Uint8Array, lt: Uint8Array }> = { gte: Uint8Array.of(CH_R, CH_SLASH), lt: Uint8Array.of(CH_R, CH_SLASH + 1) }
export const BACK_SPACE: Readonly<{ gte: Uint8Array, lt: Uint8Array }> = { gte: Uint8Array.of(CH_B, CH_SLASH), lt: Uint8Array.of(CH_B, CH_SLASH + 1) }
export const TIP_PREFIX = Uint8Array.of(0x74, CH_SLASH)
export const COMMIT_PREFIX = Uint8Array.of(0x63, CH_SLASH)
export const TIP_GROUP_PREFIX = Uint8Array.of(0x67, CH_SLASH)
export const META_PREFIX = Uint8Array.of(0x73, CH_SLASH)
export const OPEN_TXN_PREFIX = Uint8Array.of(0x73, CH_SLASH, 0x6f, CH_SLASH)
export const REPL_PREFIX = Uint8Array.of(0x70, CH_SLASH)
export const FENCE_PREFIX = Uint8Array.of(0x73, CH_SLASH, 0x66, CH_SLASH)
const CH_M = 0x6d
/** Every key of the Merkle forest (m/…). */
export const MERKLE_SPACE: Readonly<{ gte: Uint8Array, lt: Uint8Array }> = { gte: Uint8Array.of(CH_M, CH_SLASH), lt: Uint8Array.of(CH_M, CH_SLASH + 1) }
export const MERKLE_LEAF_PREFIX = Uint8Array.of(CH_M, CH_SLASH, 0x61, CH_SLASH)
export const MERKLE_TREE_PREFIX = Uint8Array.of(CH_M, CH_SLASH, 0x74, CH_SLASH)
export const MERKLE_SUMMARY_PREFIX = Uint8Array.of(CH_M, CH_SLASH, 0x73, CH_SLASH)
export const MERKLE_TABLE_PREFIX = Uint8Array.of(CH_M, CH_SLASH, 0x6b, CH_SLASH)
export const MERKLE_MARKER_KEY = Uint8Array.of(CH_M, CH_SLASH, 0x66)

const MAX_TABLE_ID = 0xffffffff
const tablePrefixes = new Map<number, Uint8Array>()

export function checkTableId (tableId: number): void {
  if (!Number.isInteger(tableId) || tableId < 0 || tableId > MAX_TABLE_ID) {
    throw badValue('table id must be an integer in [0, 2^32)', tableId)
  }
}

/** `r/<table_id>`: every primary version of the table starts with it. Cached (tables are few). */
export function rowPrefix (tableId: number): Uint8Array {
  let p = tablePrefixes.get(tableId)
  if (p === undefined) {
    checkTableId(tableId)
    p = encodeTupleWith(ROW_SPACE.gte, [BigInt(tableId)])
    if (tablePrefixes.size < 65_536) tablePrefixes.set(tableId, p)
  }
  return p
}

export function rowKey (tableId: number, pk: Tuple): Uint8Array {
  return encodeTupleWith(rowPrefix(tableId), pk)
}

/** Table id of a row key (`r/…`), for commit-log and sweep bookkeeping. */
export function decodeRowKey (key: Uint8Array): { tableId: number, pkOffset: number } {
  if (key.length < 3 || key[0] !== CH_R || key[1] !== CH_SLASH) throw corrupt('row key: bad prefix')
  const c: Cursor = { pos: 2 }
  const t = readValue(key, c, key.length)
  if (typeof t !== 'bigint' || t < 0n || t > BigInt(MAX_TABLE_ID)) throw corrupt('row key: bad table id')
  return { tableId: Number(t), pkOffset: c.pos }
}

/** Back-version key of the row whose primary key is `rowKeyBytes`. */
export function backKey (rowKeyBytes: Uint8Array, versionId: Uint8Array): Uint8Array {
  const out = new Uint8Array(rowKeyBytes.length + 17)
  out.set(rowKeyBytes, 0)
  out[0] = CH_B
  out[rowKeyBytes.length] = TAG_UUID
  out.set(versionId, rowKeyBytes.length + 1)
  return out
}

/** Key range holding every back version of one row. */
export function backRangeOfRow (rowKeyBytes: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  const gte = new Uint8Array(rowKeyBytes.length + 1)
  gte.set(rowKeyBytes, 0)
  gte[0] = CH_B
  gte[rowKeyBytes.length] = TAG_UUID
  const lt = gte.slice()
  lt[rowKeyBytes.length] = TAG_UUID + 1
  return { gte, lt }
}

function u64Key (prefix: Uint8Array, v: bigint): Uint8Array {
  const out = new Uint8Array(prefix.length + 8)
  out.set(prefix, 0)
  writeU64(out, prefix.length, v)
  return out
}

export function tipKey (xid: Xid): Uint8Array { return u64Key(TIP_PREFIX, xid) }
export function commitKey (lsn: bigint): Uint8Array { return u64Key(COMMIT_PREFIX, lsn) }
export function tipGroupKey (lastXid: Xid): Uint8Array { return u64Key(TIP_GROUP_PREFIX, lastXid) }
export function openTxnKey (xid: Xid): Uint8Array { return u64Key(OPEN_TXN_PREFIX, xid) }

/** m/a/<window><seq>: a record of an active window's leaves. */
export function merkleLeafKey (window: number, seq: number): Uint8Array {
  const out = new Uint8Array(MERKLE_LEAF_PREFIX.length + 16)
  out.set(MERKLE_LEAF_PREFIX, 0)
  writeU64(out, MERKLE_LEAF_PREFIX.length, BigInt(window))
  writeU64(out, MERKLE_LEAF_PREFIX.length + 8, BigInt(seq))
  return out
}

export function merkleTreeKey (window: number): Uint8Array { return u64Key(MERKLE_TREE_PREFIX, BigInt(window)) }
export function merkleSummaryKey (window: number): Uint8Array { return u64Key(MERKLE_SUMMARY_PREFIX, BigInt(window)) }

export function merkleTableKey (tableId: number): Uint8Array {
  checkTableId(tableId)
  const out = new Uint8Array(MERKLE_TABLE_PREFIX.length + 4)
  out.set(MERKLE_TABLE_PREFIX, 0)
  new DataView(out.buffer).setUint32(MERKLE_TABLE_PREFIX.length, tableId)
  return out
}

/** The range of keys starting with `prefix`. */
export function prefixRange (prefix: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  const lt = prefix.slice()
  lt[lt.length - 1]!++
  return { gte: prefix, lt }
}

export function metaKey (name: string): Uint8Array {
  const out = new Uint8Array(META_PREFIX.length + name.length)
  out.set(META_PREFIX, 0)
  for (let i = 0; i < name.length; i++) out[META_PREFIX.length + i] = name.charCodeAt(i) & 0x7f
  return out
}

/** s/f/<table_id><token>: a write fence (table-fence.ts), as a tuple so it decodes back. */
export function fenceKey (tableId: number, token: string): Uint8Array {
  checkTableId(tableId)
  return encodeTupleWith(FENCE_PREFIX, [BigInt(tableId), token])
}

/** The table and token of a fence key; SB_STORAGE_CORRUPT when it is not one. */
export function decodeFenceKey (key: Uint8Array): { tableId: number, token: string } {
  const [t, token, ...rest] = decodeTuple(key, FENCE_PREFIX.length)
  if (typeof t !== 'bigint' || t < 0n || t > BigInt(MAX_TABLE_ID) || typeof token !== 'string' || rest.length > 0) throw corrupt('fence key: not a (table id, token) tuple')
  return { tableId: Number(t), token }
}

/** p/<name>: a replication-state key (see the key spaces above). */
export function replKey (name: string): Uint8Array {
  const out = new Uint8Array(REPL_PREFIX.length + name.length)
  out.set(REPL_PREFIX, 0)
  for (let i = 0; i < name.length; i++) out[REPL_PREFIX.length + i] = name.charCodeAt(i) & 0x7f
  return out
}

/** The u64 that follows a fixed prefix (t/, c/, s/o/ keys). */
export function u64OfKey (key: Uint8Array, prefix: Uint8Array): bigint {
  if (key.length !== prefix.length + 8) throw corrupt('u64 key: bad length', { length: key.length })
  return readU64(key, prefix.length)
}

/** Bounds on primary keys. A bound tuple shorter than the primary key stands for every key that
 *  starts with it: `gte: [5n]` includes (5, x), `lt: [5n]` excludes it, `lte: [5n]` includes it. */
export interface PkBounds {
  gt?: Tuple | undefined
  gte?: Tuple | undefined
  lt?: Tuple | undefined
  lte?: Tuple | undefined
}

/** The r/ key range `[gte, lt)` of a table restricted by pk bounds. */
export function rowScanRange (tableId: number, b: PkBounds): { gte: Uint8Array, lt: Uint8Array } {
  const p = rowPrefix(tableId)
  const end = Uint8Array.of(KEY_END)
  let lo = p
  if (b.gte !== undefined) lo = maxBytes(lo, encodeTupleWith(p, b.gte))
  // Nothing extends a tuple with 0xff (no tag is that large), so ≥ x+ff is the same as > x and
  // everything starting with x.
  if (b.gt !== undefined) lo = maxBytes(lo, encodeTupleWith(p, b.gt, end))
  let hi = encodeTupleWith(p, [], end)
  if (b.lt !== undefined) hi = minBytes(hi, encodeTupleWith(p, b.lt))
  if (b.lte !== undefined) hi = minBytes(hi, encodeTupleWith(p, b.lte, end))
  return { gte: lo, lt: hi }
}

function maxBytes (a: Uint8Array, b: Uint8Array): Uint8Array { return compareBytes(a, b) >= 0 ? a : b }
function minBytes (a: Uint8Array, b: Uint8Array): Uint8Array { return compareBytes(a, b) <= 0 ? a : b }
