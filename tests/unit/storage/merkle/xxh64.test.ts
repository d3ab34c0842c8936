import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing, xxhash64 } from '../../../../src/core/hash'
import { xxh64, xxh64BigInt, xxh64High, xxh64Low } from '../../../../src/storage/merkle/xxh64'

beforeAll(async () => { await initHashing() })

describe('xxh64 (plain JavaScript xxhash64)', () => {
  it('equals the WASM xxhash64 for every length across the 32-byte stripe and 8/4/1-byte tails', () => {
    for (let len = 0; len <= 130; len++) {
      const b = Uint8Array.from({ length: len }, (_, i) => (i * 131 + len * 7) & 0xff)
      expect(xxh64BigInt(b)).toBe(xxhash64(b))
    }
  })

  it('equals the WASM xxhash64 on arbitrary bytes, and hashes a sub-range as its own copy', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (b, x, y) => {
      expect(xxh64BigInt(b)).toBe(xxhash64(b))
      const from = b.length === 0 ? 0 : x % b.length
      const to = from + (b.length === from ? 0 : y % (b.length - from + 1))
      xxh64(b, from, to)
      expect((BigInt(xxh64High >>> 0) << 32n) | BigInt(xxh64Low >>> 0)).toBe(xxhash64(b.slice(from, to)))
    }), { numRuns: 500 })
  })

  it('known value: xxhash64("") = 0xef46db3751d8e999', () => {
    expect(xxh64BigInt(new Uint8Array(0))).toBe(0xef46db3751d8e999n)
  })
})
