import { randomFillSync } from 'node:crypto'

// The only source of randomness for core code (DESIGN §10). Production uses the CSPRNG; the
// simulator uses a seeded generator so a failing schedule replays from its seed.

export interface Rng {
  /** Fill `buf` with random bytes. */
  fill (buf: Uint8Array): void
  /** Uniform float in [0, 1). */
  next (): number
}

/** CSPRNG-backed, with a pool so per-id calls do not each cross into OpenSSL. */
export class CryptoRng implements Rng {
  private readonly pool = new Uint8Array(4096)
  private pos = this.pool.length

  fill (buf: Uint8Array): void {
    if (buf.length > this.pool.length) { randomFillSync(buf); return }
    if (this.pos + buf.length > this.pool.length) { randomFillSync(this.pool); this.pos = 0 }
    buf.set(this.pool.subarray(this.pos, this.pos + buf.length))
    this.pos += buf.length
  }

  next (): number {
    const b = new Uint8Array(4)
    this.fill(b)
    return ((b[0]! << 24 >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!) / 4294967296
  }
}

/** Deterministic xorshift128+-style generator (sfc32) for tests and the simulator. */
export class SeededRng implements Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    this.a = 0x9e3779b9; this.b = 0x243f6a88; this.c = 0xb7e15162; this.d = seed >>> 0
    for (let i = 0; i < 15; i++) this.u32()
  }

  u32 (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  next (): number { return this.u32() / 4294967296 }

  fill (buf: Uint8Array): void {
    for (let i = 0; i < buf.length; i += 4) {
      const v = this.u32()
      for (let j = 0; j < 4 && i + j < buf.length; j++) buf[i + j] = (v >>> (j * 8)) & 0xff
    }
  }
}

export const cryptoRng: Rng = new CryptoRng()
