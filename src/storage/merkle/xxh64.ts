// xxhash64 (seed 0) in plain JavaScript on 32-bit halves, for the Merkle forest's write path
// (issue 15: a leaf per leaderless write). The WASM xxhash64 (core/hash.ts) costs a call into
// WASM, a copy of the input, a digest array and a bigint per hash; here a hash allocates nothing
// and leaves its result in two numbers, which is what the packed tree (tree.ts) stores. Same
// function, same values (tests/unit/storage/merkle/xxh64.test.ts checks it against core/hash.ts),
// so leaves hashed either way land in the same bucket and compare equal between replicas.

// Primes as (high, low) 32-bit halves.
const P1H = 0x9e3779b1; const P1L = 0x85ebca87
const P2H = 0xc2b2ae3d; const P2L = 0x27d4eb4f
const P3H = 0x165667b1; const P3L = 0x9e3779f9
const P4H = 0x85ebca77; const P4L = 0xc2b2ae63
const P5H = 0x27d4eb2f; const P5L = 0x165667c5
const TWO32 = 0x1_0000_0000

// The result registers of the helpers below (no allocation per operation). They and every 32-bit
// half passed around hold signed 32-bit integers (`| 0`), which V8 stores untagged: an unsigned
// half above 2^31 (`>>> 0`) is a heap number, allocated at each store to a module variable —
// that boxing was half of a hash's time. Unsigned values appear only inside an expression, where
// a carry or a product needs them.
let rh = 0
let rl = 0

/** (ah:al) × (bh:bl) mod 2^64 into rh:rl. */
function mul (ah: number, al: number, bh: number, bl: number): void {
  // the high half of al × bl from 16-bit halves, in integer arithmetic (every sum < 2^53)
  const a0 = al & 0xffff; const a1 = al >>> 16
  const b0 = bl & 0xffff; const b1 = bl >>> 16
  const m1 = a1 * b0
  const m2 = a0 * b1
  const t = ((a0 * b0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)
  rl = Math.imul(al, bl) | 0
  rh = (a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + (t >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0
}

/** (ah:al) + (bh:bl) mod 2^64 into rh:rl. */
function add (ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0)
  rl = lo | 0
  rh = (ah + bh + (lo >= TWO32 ? 1 : 0)) | 0
}

/** Rotate (h:l) left by n (0 < n < 32) into rh:rl. */
function rotl (h: number, l: number, n: number): void {
  rh = ((h << n) | (l >>> (32 - n))) | 0
  rl = ((l << n) | (h >>> (32 - n))) | 0
}

/** round(acc, input) = rotl(acc + input × P2, 31) × P1, into rh:rl (the hot loop: written out). */
function round (acch: number, accl: number, ih: number, il: number): void {
  // t = input × P2 (P2's low half as 16-bit halves: 0xeb4f, 0x27d4)
  let a0 = il & 0xffff; let a1 = il >>> 16
  let m1 = a1 * 0xeb4f
  let m2 = a0 * 0x27d4
  let t = ((a0 * 0xeb4f) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)
  const tl = Math.imul(il, P2L) >>> 0
  const th = a1 * 0x27d4 + (m1 >>> 16) + (m2 >>> 16) + (t >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)
  // s = acc + t
  const sl = (accl >>> 0) + tl
  const sh = (acch + th + (sl >= TWO32 ? 1 : 0)) | 0
  const sl32 = sl | 0
  // r = rotl(s, 31)
  const xh = (sh << 31) | (sl32 >>> 1)
  const xl = (sl32 << 31) | (sh >>> 1)
  // r × P1 (P1's low half as 16-bit halves: 0xca87, 0x85eb)
  a0 = xl & 0xffff; a1 = xl >>> 16
  m1 = a1 * 0xca87
  m2 = a0 * 0x85eb
  t = ((a0 * 0xca87) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)
  rl = Math.imul(xl, P1L) | 0
  rh = (a1 * 0x85eb + (m1 >>> 16) + (m2 >>> 16) + (t >>> 16) + Math.imul(xh, P1L) + Math.imul(xl, P1H)) | 0
}

/** mergeRound(h, v) = (h ^ round(0, v)) × P1 + P4, into rh:rl. */
function mergeRound (hh: number, hl: number, vh: number, vl: number): void {
  round(0, 0, vh, vl)
  mul(hh ^ rh, hl ^ rl, P1H, P1L)
  add(rh, rl, P4H, P4L)
}

function u32le (b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)
}

/** High and low halves of the last xxhash64 computed here, as signed 32-bit integers (`>>> 0` for the unsigned half; read right after calling xxh64). */
export let xxh64High = 0
export let xxh64Low = 0

/** xxhash64 (seed 0) of bytes[from, to); the result is in xxh64High / xxh64Low. */
export function xxh64 (b: Uint8Array, from = 0, to = b.length): void {
  const len = to - from
  let p = from
  let hh: number
  let hl: number
  if (len >= 32) {
    // v1 = P1 + P2, v2 = P2, v3 = 0, v4 = −P1
    add(P1H, P1L, P2H, P2L)
    let v1h = rh; let v1l = rl
    let v2h = P2H; let v2l = P2L
    let v3h = 0; let v3l = 0
    let v4h = ~P1H; let v4l = -P1L | 0 // −P1 = ~P1 + 1; P1's low half is not 0, so no carry
    const limit = to - 32
    while (p <= limit) {
      round(v1h, v1l, u32le(b, p + 4), u32le(b, p)); v1h = rh; v1l = rl
      round(v2h, v2l, u32le(b, p + 12), u32le(b, p + 8)); v2h = rh; v2l = rl
      round(v3h, v3l, u32le(b, p + 20), u32le(b, p + 16)); v3h = rh; v3l = rl
      round(v4h, v4l, u32le(b, p + 28), u32le(b, p + 24)); v4h = rh; v4l = rl
      p += 32
    }
    rotl(v1h, v1l, 1); hh = rh; hl = rl
    rotl(v2h, v2l, 7); add(hh, hl, rh, rl); hh = rh; hl = rl
    rotl(v3h, v3l, 12); add(hh, hl, rh, rl); hh = rh; hl = rl
    rotl(v4h, v4l, 18); add(hh, hl, rh, rl); hh = rh; hl = rl
    mergeRound(hh, hl, v1h, v1l)
    mergeRound(rh, rl, v2h, v2l)
    mergeRound(rh, rl, v3h, v3l)
    mergeRound(rh, rl, v4h, v4l)
    hh = rh; hl = rl
  } else {
    hh = P5H; hl = P5L
  }
  add(hh, hl, 0, len); hh = rh; hl = rl
  while (p + 8 <= to) {
    round(0, 0, u32le(b, p + 4), u32le(b, p))
    hh ^= rh; hl ^= rl
    rotl(hh, hl, 27)
    mul(rh, rl, P1H, P1L)
    add(rh, rl, P4H, P4L); hh = rh; hl = rl
    p += 8
  }
  if (p + 4 <= to) {
    mul(0, u32le(b, p), P1H, P1L)
    hh ^= rh; hl ^= rl
    rotl(hh, hl, 23)
    mul(rh, rl, P2H, P2L)
    add(rh, rl, P3H, P3L); hh = rh; hl = rl
    p += 4
  }
  while (p < to) {
    mul(0, b[p]!, P5H, P5L)
    hh ^= rh; hl ^= rl
    rotl(hh, hl, 11)
    mul(rh, rl, P1H, P1L); hh = rh; hl = rl
    p++
  }
  // avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
  hl ^= hh >>> 1
  mul(hh, hl, P2H, P2L); hh = rh; hl = rl
  hl = hl ^ (hh << 3) ^ (hl >>> 29)
  hh ^= hh >>> 29
  mul(hh, hl, P3H, P3L); hh = rh; hl = rl
  xxh64High = hh
  xxh64Low = hl ^ hh
}

/** xxhash64 (seed 0) as a bigint, for callers off the hot path and for tests. */
export function xxh64BigInt (b: Uint8Array): bigint {
  xxh64(b)
  return (BigInt(xxh64High >>> 0) << 32n) | BigInt(xxh64Low >>> 0)
}
