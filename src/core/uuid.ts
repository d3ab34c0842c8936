// 16-byte UUID helpers shared by every UUID flavour (DESIGN §3): canonical text form, byte-order
// comparison (the LWW order for UUIDv8-HLC), version/variant checks, and the UUIDv7 generator
// behind gen_uuidv7(). UUIDv8-HLC itself lives in hlc.ts.
import type { Clock } from './clock'
import type { Rng } from './rng'
import { ScratchBirdError } from './errors'

export const UUID_BYTES = 16
/** Canonical text length: 32 hex digits + 4 dashes. */
export const UUID_TEXT_LENGTH = 36

// Lookup tables so parse/format do no per-character string work.
const HEX_DIGIT_CODES = Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0))
/** Where byte i's two hex digits start in the canonical text. */
const TEXT_POS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
// Reused scratch for formatUuid: one fromCharCode call over 36 codes is ~3x faster than
// concatenating 20 substrings (a rope V8 must flatten later). Dashes stay in place.
const textCodes: number[] = new Array<number>(UUID_TEXT_LENGTH).fill(45)
const HEX_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i
for (let i = 0; i < 6; i++) { HEX_VALUE[65 + i] = 10 + i; HEX_VALUE[97 + i] = 10 + i }

function hexValue (code: number): number {
  return code < 128 ? HEX_VALUE[code]! : -1
}

function invalidText (text: unknown, why: string): ScratchBirdError {
  // Cap what we echo back: the text may be an arbitrary client string.
  const shown = typeof text === 'string' ? (text.length > 64 ? text.slice(0, 64) + '…' : text) : typeof text
  return new ScratchBirdError('SB_UUID_INVALID',
    `invalid UUID ${JSON.stringify(shown)}: ${why}; expected 8-4-4-4-12 hex digits such as 01890a5d-ac96-8b3c-8000-000000000000`,
    { text: shown })
}

/** Parse canonical 8-4-4-4-12 text (either case). Anything else → SB_UUID_INVALID. */
export function parseUuid (text: string): Uint8Array {
  if (typeof text !== 'string') throw invalidText(text, 'not a string')
  if (text.length !== UUID_TEXT_LENGTH) throw invalidText(text, `length ${text.length}, not ${UUID_TEXT_LENGTH}`)
  const out = new Uint8Array(UUID_BYTES)
  let j = 0
  for (let i = 0; i < UUID_TEXT_LENGTH;) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (text.charCodeAt(i) !== 45 /* - */) throw invalidText(text, `expected '-' at position ${i}`)
      i++
      continue
    }
    const hi = hexValue(text.charCodeAt(i))
    const lo = hexValue(text.charCodeAt(i + 1))
    if ((hi | lo) < 0) throw invalidText(text, `non-hex character at position ${hi < 0 ? i : i + 1}`)
    out[j++] = (hi << 4) | lo
    i += 2
  }
  return out
}

/** Lowercase canonical text. */
export function formatUuid (u: Uint8Array): string {
  assertUuidBytes(u)
  for (let i = 0; i < UUID_BYTES; i++) {
    const b = u[i]!
    const p = TEXT_POS[i]!
    textCodes[p] = HEX_DIGIT_CODES[b >>> 4]!
    textCodes[p + 1] = HEX_DIGIT_CODES[b & 15]!
  }
  return String.fromCharCode.apply(null, textCodes)
}

/** Unsigned byte order: -1, 0 or 1. For UUIDv7/v8 this is time order; for v8-HLC it is LWW order. */
export function compareUuid (a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  // No length check: this runs per conflict on the replication path; callers hold 16-byte values.
  for (let i = 0; i < UUID_BYTES; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/** The version nibble (bits 48–51). */
export function uuidVersion (u: Uint8Array): number {
  assertUuidBytes(u)
  return u[6]! >>> 4
}

/** True when bits 64–65 are 0b10 (the RFC 9562 variant). */
export function isRfc9562Variant (u: Uint8Array): boolean {
  assertUuidBytes(u)
  return (u[8]! & 0xc0) === 0x80
}

/** Bytes from outside (SQL values, peers) must be exactly 16 long. */
export function assertUuidBytes (u: Uint8Array): void {
  if (!(u instanceof Uint8Array) || u.length !== UUID_BYTES) {
    throw new ScratchBirdError('SB_UUID_INVALID', `a UUID is ${UUID_BYTES} bytes, got ${u instanceof Uint8Array ? u.length : typeof u}`)
  }
}

/**
 * Random bytes drawn from an Rng in large blocks, so an id costs a few array reads instead of an
 * Rng call. Block-wise draws keep SeededRng runs reproducible.
 */
export class RandomPool {
  readonly bytes: Uint8Array
  private pos: number

  constructor (private readonly rng: Rng, size = 8192) {
    // Larger than CryptoRng's own pool, so its fill() goes straight to randomFillSync (one copy).
    this.bytes = new Uint8Array(size)
    this.pos = size
  }

  /** Reserve `n` bytes; returns their offset in `bytes`. */
  take (n: number): number {
    let p = this.pos
    if (p + n > this.bytes.length) { this.rng.fill(this.bytes); p = 0 }
    this.pos = p + n
    return p
  }
}

const V7_MAX_COUNTER = 0xfff

/**
 * UUIDv7 (RFC 9562 §5.7) with the "fixed bit-length dedicated counter" method (§6.2 method 1):
 * rand_a is a 12-bit counter seeded with 11 random bits each new millisecond (the zero top bit is
 * the rollover guard). Monotonic per generator: if the wall clock stalls or steps back we stay
 * on the last timestamp, and on counter overflow we step the timestamp by 1 ms instead of waiting.
 */
export class UuidV7Generator {
  private ts = -1
  private counter = 0
  private readonly pool: RandomPool

  constructor (private readonly clock: Clock, rng: Rng) {
    this.pool = new RandomPool(rng)
  }

  generate (): Uint8Array {
    const out = new Uint8Array(UUID_BYTES)
    this.generateInto(out, 0)
    return out
  }

  /** Write one id into out[offset..offset+15] (no allocation; for batches). */
  generateInto (out: Uint8Array, offset = 0): void {
    const r = this.pool.bytes
    const p = this.pool.take(10)
    const wall = Math.floor(this.clock.now())
    let ts = this.ts
    let c = this.counter + 1
    if (wall > ts) {
      ts = wall
      c = ((r[p]! << 8) | r[p + 1]!) & 0x7ff
    } else if (c > V7_MAX_COUNTER) {
      ts++
      c = ((r[p]! << 8) | r[p + 1]!) & 0x7ff
    }
    this.ts = ts
    this.counter = c
    writeUint48(out, offset, ts)
    out[offset + 6] = 0x70 | (c >>> 8)
    out[offset + 7] = c
    out[offset + 8] = 0x80 | (r[p + 2]! & 0x3f)
    for (let i = 9; i < 16; i++) out[offset + i] = r[p + i - 6]!
  }
}

/** Big-endian 48-bit unsigned integer (a UUIDv7/v8 millisecond timestamp) at out[o..o+5]. */
export function writeUint48 (out: Uint8Array, o: number, v: number): void {
  const hi = (v / 4294967296) >>> 0
  const lo = v >>> 0
  out[o] = hi >>> 8
  out[o + 1] = hi
  out[o + 2] = lo >>> 24
  out[o + 3] = lo >>> 16
  out[o + 4] = lo >>> 8
  out[o + 5] = lo
}

/** A random (version 4) UUID from `rng`: session ids and other opaque handles. */
export function randomUuidV4 (rng: Rng): string {
  const u = new Uint8Array(UUID_BYTES)
  rng.fill(u)
  u[6] = (u[6]! & 0x0f) | 0x40
  u[8] = (u[8]! & 0x3f) | 0x80
  return formatUuid(u)
}
