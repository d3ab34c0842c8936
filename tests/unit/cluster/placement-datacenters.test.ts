import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { placement, preferenceList } from '../../../src/cluster/placement'
import { asNodeId, asShardId, MAX_SHARDS, NODE_ID_MAX, NODE_ID_MIN, shardIds } from '../../../src/core/ids'

// Issue 13 item 7: replicas of a shard spread over datacenters first (NetworkTopologyStrategy).

beforeAll(async () => { await initHashing() })

/** Membership: unique node ids, each in one of up to 4 datacenters. */
const membership = fc.uniqueArray(fc.record({ id: fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), dc: fc.constantFrom('dc-a', 'dc-b', 'dc-c', 'dc-d') }), { minLength: 1, maxLength: 12, selector: m => m.id })

function dcCounts (list: readonly number[], dcOf: (id: number) => string): Map<string, number> {
  const c = new Map<string, number>()
  for (const id of list) c.set(dcOf(id), (c.get(dcOf(id)) ?? 0) + 1)
  return c
}

describe('datacenter-aware placement', () => {
  it('one datacenter: exactly the plain rendezvous lists (existing clusters keep their placement)', () => {
    // Pinned as in placement.test.ts: the lists single-datacenter clusters were placed by.
    expect(preferenceList(asShardId(0), [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5)], 5, () => 'dc1')).toEqual([1, 4, 2, 3, 5])
    expect(preferenceList(asShardId(1), [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5)], 5, () => 'us-east-1a')).toEqual([4, 5, 3, 2, 1])
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), { maxLength: 12 }), fc.nat({ max: MAX_SHARDS - 1 }).map(s => asShardId(s)), fc.nat({ max: 12 }), (ids, shard, n) => {
      expect(preferenceList(shard, ids, n, () => 'dc1')).toEqual(preferenceList(shard, ids, n))
    }))
  })

  it('the seed\'s three nodes in three datacenters: N=2 puts the two replicas in two datacenters, N=3 in all three', () => {
    const dc = (id: number): string => `us-east-1${'abc'[id - 1]!}`
    for (const shard of shardIds(64)) {
      expect(new Set(preferenceList(shard, [asNodeId(1), asNodeId(2), asNodeId(3)], 2, dc).map(dc)).size).toBe(2)
      expect(new Set(preferenceList(shard, [asNodeId(1), asNodeId(2), asNodeId(3)], 3, dc).map(dc)).size).toBe(3)
    }
  })

  it('every prefix is balanced: a datacenter holds more than another plus one only when the other has no node left', () => {
    fc.assert(fc.property(membership, fc.nat({ max: MAX_SHARDS - 1 }).map(s => asShardId(s)), (members, shard) => {
      const dcOf = (id: number): string => members.find(m => m.id === id)!.dc
      const sizes = dcCounts(members.map(m => m.id), dcOf)
      const list = preferenceList(shard, members.map(m => m.id), members.length, dcOf)
      expect([...list].sort((a, b) => a - b)).toEqual(members.map(m => m.id).sort((a, b) => a - b))
      for (let n = 1; n <= list.length; n++) {
        const counts = dcCounts(list.slice(0, n), dcOf)
        for (const [a, size] of sizes) {
          for (const [b, sizeB] of sizes) {
            const ca = counts.get(a) ?? 0
            const cb = counts.get(b) ?? 0
            if (ca > cb + 1) expect(cb, `prefix ${n}: ${a} has ${ca}, ${b} has ${cb} of ${sizeB}`).toBe(sizeB)
          }
          expect(counts.get(a) ?? 0).toBeLessThanOrEqual(size)
        }
        // With D datacenters that each have enough nodes: ⌊n/D⌋ or ⌈n/D⌉ each.
        const d = sizes.size
        if ([...sizes.values()].every(s => s >= Math.ceil(n / d))) {
          for (const dc of sizes.keys()) expect([Math.floor(n / d), Math.ceil(n / d)]).toContain(counts.get(dc) ?? 0)
        }
      }
    }))
  })

  it('is deterministic, independent of membership order, prefix-stable, and keeps the best-scoring node first', () => {
    fc.assert(fc.property(membership, fc.nat({ max: MAX_SHARDS - 1 }).map(s => asShardId(s)), fc.nat({ max: 12 }), (members, shard, n) => {
      const dcOf = (id: number): string => members.find(m => m.id === id)!.dc
      const ids = members.map(m => m.id)
      const list = preferenceList(shard, ids, n, dcOf)
      expect(preferenceList(shard, [...ids].reverse(), n, dcOf)).toEqual(list)
      expect(list).toEqual(preferenceList(shard, ids, ids.length, dcOf).slice(0, Math.min(n, ids.length)))
      if (n > 0) expect(list[0]).toBe(preferenceList(shard, ids, 1)[0])
    }))
  })

  it('spreads replicas of many shards evenly over the nodes of each datacenter', () => {
    // 2 datacenters of 3 nodes, N = 2: one replica per datacenter, so each node holds ~64/3.
    const dcOf = (id: number): string => id <= 3 ? 'east' : 'west'
    const lists = placement(64, [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5), asNodeId(6)], 2, dcOf)
    const perNode = new Map<number, number>()
    for (const l of lists) {
      expect(l.map(dcOf).sort()).toEqual(['east', 'west'])
      for (const id of l) perNode.set(id, (perNode.get(id) ?? 0) + 1)
    }
    for (const id of [1, 2, 3, 4, 5, 6]) expect(perNode.get(id) ?? 0).toBeGreaterThanOrEqual(Math.floor(64 / 3 * 0.5))
  })
})
