import { describe, expect, it } from 'vitest'
import { asShardId } from '../../../src/core/ids'
import { LimboAges } from '../../../src/node/limbo-ages'
import type { Xid } from '../../../src/storage/types'

// A primary's limbo recovery takes only prepared transactions this node has seen in limbo for a
// while (src/node/limbo-ages.ts): a young one's coordinator is still deciding it.
const x = (n: number): Xid => BigInt(n) as Xid

describe('LimboAges', () => {
  it('keeps a transaction from recovery until it was seen in limbo for the minimum age', () => {
    let now = 1_000
    const ages = new LimboAges(() => now, 5_000)
    const s = asShardId(3)
    expect(ages.old(s, [x(1), x(2)])).toEqual([])
    expect(ages.young(s)).toBe(2)
    now += 4_999
    expect(ages.old(s, [x(1), x(2), x(3)])).toEqual([])
    now += 1
    // 1 and 2 seen 5 s ago; 3 only 1 ms ago.
    expect(ages.old(s, [x(1), x(2), x(3)])).toEqual([x(1), x(2)])
    expect(ages.young(s)).toBe(1)
  })

  it('forgets a transaction that left limbo (a later one with that xid starts young) and keeps shards apart', () => {
    let now = 0
    const ages = new LimboAges(() => now, 100)
    ages.old(asShardId(1), [x(7)])
    now = 50
    expect(ages.old(asShardId(1), [])).toEqual([])
    now = 200
    expect(ages.old(asShardId(1), [x(7)])).toEqual([])
    expect(ages.old(asShardId(2), [x(7)])).toEqual([])
    now = 300
    expect(ages.old(asShardId(1), [x(7)])).toEqual([x(7)])
    expect(ages.young(asShardId(1))).toBe(0)
    expect(ages.young(asShardId(2))).toBe(1)
  })
})
