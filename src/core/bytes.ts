// Small byte writer/reader shared by the tuple key encoding, the row codec, the value codec and SBLR
// serialisation. The reader checks every bound and reports problems through the caller's error
// factory, so each format throws its own code (SB_STORAGE_CORRUPT, SB_SBLR_INVALID), never a RangeError.

export type Fail = (why: string) => Error

export class ByteSink {
  buf: Uint8Array
  len = 0
  private view: DataView

  constructor (capacity = 64) {
    this.buf = new Uint8Array(capacity)
    this.view = new DataView(this.buf.buffer)
  }

  ensure (extra: number): void {
    if (this.len + extra <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.len + extra) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8 (v: number): void { this.ensure(1); this.buf[this.len++] = v }
  u16 (v: number): void { this.ensure(2); this.view.setUint16(this.len, v); this.len += 2 }
  u32 (v: number): void { this.ensure(4); this.view.setUint32(this.len, v); this.len += 4 }
  i32 (v: number): void { this.ensure(4); this.view.setInt32(this.len, v); this.len += 4 }
  i64 (v: bigint): void { this.ensure(8); this.view.setBigInt64(this.len, v); this.len += 8 }
  f32 (v: number): void { this.ensure(4); this.view.setFloat32(this.len, v); this.len += 4 }
  f64 (v: number): void { this.ensure(8); this.view.setFloat64(this.len, v); this.len += 8 }
  bytes (b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length }

  /** Unsigned LEB128 (values < 2^53). */
  varint (v: number): void {
    this.ensure(8)
    while (v >= 0x80) { this.buf[this.len++] = (v % 0x80) | 0x80; v = Math.floor(v / 0x80) }
    this.buf[this.len++] = v
  }

  take (): Uint8Array { return this.buf.slice(0, this.len) }

  /** Empties it for reuse (the buffer stays: codec.ts encodeWith). */
  reset (): void { this.len = 0 }
}

export class ByteSource {
  pos: number
  private readonly view: DataView

  constructor (readonly buf: Uint8Array, private readonly fail: Fail, start = 0, readonly end = buf.length) {
    this.pos = start
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  need (n: number): number {
    const p = this.pos
    if (n < 0 || p + n > this.end) throw this.fail(`truncated at byte ${p} (need ${n} more)`)
    this.pos = p + n
    return p
  }

  u8 (): number { return this.buf[this.need(1)]! }
  u16 (): number { return this.view.getUint16(this.need(2)) }
  u32 (): number { return this.view.getUint32(this.need(4)) }
  i32 (): number { return this.view.getInt32(this.need(4)) }
  i64 (): bigint { return this.view.getBigInt64(this.need(8)) }
  f32 (): number { return this.view.getFloat32(this.need(4)) }
  f64 (): number { return this.view.getFloat64(this.need(8)) }
  bytes (n: number): Uint8Array { const p = this.need(n); return this.buf.slice(p, p + n) }

  varint (): number {
    let v = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8()
      v += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw this.fail('non-canonical varint')
        return v
      }
      mul *= 0x80
    }
    throw this.fail('varint too long')
  }

  get done (): boolean { return this.pos === this.end }
}

/** Shortest two's-complement big-endian bytes of a signed bigint (0 → one zero byte). */
export function bigintToBytes (v: bigint): Uint8Array {
  let hex = (v < 0n ? -v : v).toString(16)
  if (hex.length % 2 !== 0) hex = '0' + hex
  let n = hex.length / 2
  const mag = new Uint8Array(n)
  for (let i = 0; i < n; i++) mag[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  if (v >= 0n) {
    if ((mag[0]! & 0x80) === 0) return mag
    const out = new Uint8Array(n + 1)
    out.set(mag, 1)
    return out
  }
  // Negative: two's complement of the magnitude, widened by a byte when the sign bit is missing.
  const need = v >= -(1n << BigInt(n * 8 - 1)) ? n : n + 1
  n = need
  let x = (1n << BigInt(n * 8)) + v
  const out = new Uint8Array(n)
  for (let i = n - 1; i >= 0; i--) { out[i] = Number(x & 0xffn); x >>= 8n }
  return out
}

/** Inverse of bigintToBytes; rejects empty and non-shortest encodings. */
export function bytesToBigint (b: Uint8Array, fail: Fail): bigint {
  if (b.length === 0) throw fail('empty integer')
  if (b.length > 1 && ((b[0] === 0 && (b[1]! & 0x80) === 0) || (b[0] === 0xff && (b[1]! & 0x80) !== 0))) throw fail('non-canonical integer')
  let hex = ''
  for (let i = 0; i < b.length; i++) hex += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16)
  const u = BigInt('0x' + hex)
  return (b[0]! & 0x80) !== 0 ? u - (1n << BigInt(b.length * 8)) : u
}
