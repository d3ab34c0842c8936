import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { partitionKeyBytes, shardOf } from '../../../src/core/partition'

beforeAll(async () => { await initHashing() })

describe('shard routing', () => {
  it('routes the design\'s check value: \'user_123\' → shard 7 of 16', () => {
    expect(shardOf([{ type: 'text', value: 'user_123' }], 16)).toBe(7)
  })

  it('encodes integers as 8-byte big-endian and composites length-prefixed', () => {
    expect([...partitionKeyBytes([{ type: 'int', value: -2n }])]).toEqual([255, 255, 255, 255, 255, 255, 255, 254])
    expect([...partitionKeyBytes([{ type: 'text', value: 'ab' }, { type: 'int', value: 1n }])])
      .toEqual([0, 0, 0, 2, 97, 98, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1])
  })

  it('keeps composite parts apart: (\'ab\',\'c\') and (\'a\',\'bc\') differ', () => {
    const a = partitionKeyBytes([{ type: 'text', value: 'ab' }, { type: 'text', value: 'c' }])
    const b = partitionKeyBytes([{ type: 'text', value: 'a' }, { type: 'text', value: 'bc' }])
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
  })

  it('always lands in range and is a pure function of the key', () => {
    fc.assert(fc.property(fc.string(), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), fc.integer({ min: 1, max: 4096 }), (s, i, shards) => {
      const key = [{ type: 'text' as const, value: s }, { type: 'int' as const, value: i }]
      const shard = shardOf(key, shards)
      expect(shard).toBeGreaterThanOrEqual(0)
      expect(shard).toBeLessThan(shards)
      expect(shardOf(key, shards)).toBe(shard)
    }))
  })

  it('rejects bad keys with coded errors', () => {
    expect(() => shardOf([], 16)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => shardOf([{ type: 'uuid', value: new Uint8Array(3) }], 16)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => shardOf([{ type: 'int', value: 1n << 64n }], 16)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })
})
