import { describe, expect, it } from 'vitest'
import { LiveShardCount } from '../../../src/cluster/shard-count'
import { MAX_SHARDS } from '../../../src/core/ids'

// The live shard count (cluster/shard-count.ts): it follows the layout's count only through a
// split's doubling at a later epoch; anything else is refused before it is recorded.

describe('LiveShardCount', () => {
  it('follows a doubling at a later epoch and tells its listeners once, in order', () => {
    const c = new LiveShardCount(4, 3)
    const seen: string[] = []
    c.onChange((n, prev, e) => seen.push(`a ${prev}->${n}@${e}`))
    const off = c.onChange((n) => seen.push(`b ${n}`))
    expect(c.follow(4, 4)).toBe(false) // a membership change: same count, later epoch
    expect([c.shards, c.epoch]).toEqual([4, 4])
    expect(c.follow(8, 5)).toBe(true)
    expect([c.shards, c.epoch]).toEqual([8, 5])
    expect(seen).toEqual(['a 4->8@5', 'b 8'])
    off()
    expect(c.follow(16, 6)).toBe(true)
    expect(seen).toEqual(['a 4->8@5', 'b 8', 'a 8->16@6'])
  })

  it('follows several splits at once for a node that was down across them (k doublings, k epochs later)', () => {
    const c = new LiveShardCount(4, 2)
    expect(c.follow(16, 4)).toBe(true)
    expect([c.shards, c.epoch]).toEqual([16, 4])
  })

  it('ignores older epochs (gossip out of order), whatever their count', () => {
    const c = new LiveShardCount(8, 5)
    expect(c.follow(4, 4)).toBe(false)
    expect(c.follow(16, 3)).toBe(false)
    expect([c.shards, c.epoch]).toEqual([8, 5])
  })

  it('refuses any other change with SB_LAYOUT_MISMATCH, changing nothing', () => {
    const c = new LiveShardCount(4, 2)
    let told = 0
    c.onChange(() => told++)
    for (const [shards, epoch] of [[6, 3], [2, 3], [16, 3], [8, 2]] as const) {
      expect(() => c.check(shards, epoch)).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH' }))
      expect(() => c.follow(shards, epoch)).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH' }))
    }
    expect([c.shards, c.epoch, told]).toEqual([4, 2, 0])
    expect(c.check(8, 3)).toBe(true)
    expect([c.shards, c.epoch]).toEqual([4, 2]) // check changes nothing
    const top = new LiveShardCount(MAX_SHARDS, 1)
    expect(() => top.follow(MAX_SHARDS * 2, 2)).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH' }))
    expect(() => new LiveShardCount(0, 1)).toThrow(expect.objectContaining({ code: 'SB_INTERNAL' }))
  })
})
