import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing, xxhash64 } from '../../../src/core/hash'
import { firstLive, placement, placementScore, preferenceList } from '../../../src/cluster/placement'
import { asNodeId, asShardId, MAX_SHARDS, NODE_ID_MAX, NODE_ID_MIN, type NodeId, shardIds } from '../../../src/core/ids'

beforeAll(async () => { await initHashing() })

const nodes = (k: number): NodeId[] => Array.from({ length: k }, (_, i) => asNodeId(i + 1))
const without = (list: readonly NodeId[], id: NodeId): NodeId[] => list.filter(x => x !== id)

function counts (lists: readonly number[][]): Map<number, number> {
  const c = new Map<number, number>()
  for (const l of lists) for (const id of l) c.set(id, (c.get(id) ?? 0) + 1)
  return c
}

describe('rendezvous placement', () => {
  it('scores xxhash64 of shard id u32 BE ++ node id u16 BE', () => {
    expect(placementScore(0x01020304, 0x0506)).toBe(xxhash64(Uint8Array.of(1, 2, 3, 4, 5, 6)))
    // Pinned: every node of a cluster must compute the same lists, across releases.
    expect(placementScore(asShardId(0), asNodeId(1))).toBe(17695247507748448157n)
    expect(preferenceList(asShardId(0), [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5)])).toEqual([1, 4, 2, 3, 5])
    expect(preferenceList(asShardId(1), [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5)])).toEqual([4, 5, 3, 2, 1])
  })

  it('is deterministic and independent of the membership order', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), { minLength: 1, maxLength: 12 }), fc.nat({ max: MAX_SHARDS - 1 }).map(s => asShardId(s)), (ids, shard) => {
      const list = preferenceList(shard, ids)
      expect(preferenceList(shard, [...ids].reverse())).toEqual(list)
      expect(preferenceList(shard, ids)).toEqual(list)
    }))
  })

  it('lists are permutation prefixes: no duplicates, only members, length min(n, members)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), { maxLength: 12 }), fc.nat({ max: MAX_SHARDS - 1 }).map(s => asShardId(s)), fc.nat({ max: 15 }), (ids, shard, n) => {
      const list = preferenceList(shard, ids, n)
      expect(list).toHaveLength(Math.min(n, ids.length))
      expect(new Set(list).size).toBe(list.length)
      for (const id of list) expect(ids).toContain(id)
      // A shorter list is a prefix of a longer one: tables with smaller N share the first replicas.
      expect(preferenceList(shard, ids).slice(0, list.length)).toEqual(list)
    }))
  })

  it('refuses duplicate members and ids outside u32 / u16 (programmer errors)', () => {
    expect(() => preferenceList(asShardId(0), [asNodeId(1), asNodeId(1)])).toThrow(/distinct/)
    // @ts-expect-error a plain number is not a node id (the run-time check stays for untyped callers)
    expect(() => preferenceList(asShardId(0), [0x10000])).toThrow(/u16/)
    // @ts-expect-error a plain number is not a shard id (the run-time check stays for untyped callers)
    expect(() => preferenceList(-1, [1])).toThrow(/u32/)
    expect(() => preferenceList(asShardId(0), [asNodeId(1)], -1)).toThrow(/length/)
  })

  it('spreads 16 and 64 shards roughly evenly over 3–5 nodes', () => {
    for (const shards of [16, 64]) {
      for (const k of [3, 4, 5]) {
        // Replica sets (N = 3): every node holds about shards × 3 / k replicas.
        const replicas = counts(placement(shards, nodes(k), 3))
        const expected = shards * 3 / k
        for (const id of nodes(k)) {
          expect(replicas.get(id) ?? 0).toBeGreaterThanOrEqual(Math.floor(expected * 0.6))
          expect(replicas.get(id) ?? 0).toBeLessThanOrEqual(Math.ceil(expected * 1.4))
        }
        // Primaries (first of each list) are few per node, so the bounds are loose: with 16
        // shards over 5 nodes one node happens to lead no list at all (binomial spread, not a bug).
        const primaries = counts(placement(shards, nodes(k), 1))
        for (const id of nodes(k)) expect(primaries.get(id) ?? 0).toBeLessThanOrEqual(Math.ceil(shards / k * 2))
        if (shards === 64) for (const id of nodes(k)) expect(primaries.get(id) ?? 0).toBeGreaterThanOrEqual(Math.floor(shards / k * 0.5))
      }
    }
  })

  it('removing a node moves exactly the shards whose list contained it', () => {
    for (const k of [3, 4, 5]) {
      for (const n of [1, 2, 3]) {
        const ids = nodes(k)
        const before = placement(64, ids, n)
        for (const gone of ids) {
          const after = placement(64, without(ids, gone), n)
          for (const shard of shardIds(64)) {
            if (!before[shard]!.includes(gone)) {
              expect(after[shard]).toEqual(before[shard])
            } else {
              // The others keep their order; the next node of the longer list fills the gap.
              expect(after[shard]).toEqual(without(preferenceList(shard, ids, n + 1), gone))
            }
          }
        }
      }
    }
  })

  it('adding a node changes only the lists it enters', () => {
    const ids = nodes(4)
    const before = placement(64, ids, 3)
    const after = placement(64, [...ids, asNodeId(9)], 3)
    let changed = 0
    for (const shard of shardIds(64)) {
      if (after[shard]!.includes(asNodeId(9))) {
        changed++
        expect(without(after[shard]!, asNodeId(9))).toEqual(before[shard]!.slice(0, 2))
      } else {
        expect(after[shard]).toEqual(before[shard])
      }
    }
    // The newcomer takes about its share (64 × 3 / 5), not a reshuffle of everything.
    expect(changed).toBeGreaterThan(64 * 3 / 5 * 0.6)
    expect(changed).toBeLessThan(64 * 3 / 5 * 1.4)
  })

  it('firstLive picks the first live node of the list', () => {
    const list = [4, 2, 7].map(n => asNodeId(n))
    expect(firstLive(list, () => true)).toBe(4)
    expect(firstLive(list, id => id !== 4)).toBe(2)
    expect(firstLive(list, id => id === 7)).toBe(7)
    expect(firstLive(list, () => false)).toBeUndefined()
    expect(firstLive([], () => true)).toBeUndefined()
  })
})
