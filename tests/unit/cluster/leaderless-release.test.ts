import { describe, expect, it } from 'vitest'
import type { ReplicationOptions } from '../../../src/catalog/replication-options'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { countedMembers, placedMembers, type ClusterLayout } from '../../../src/cluster/layout'
import { admitLayout, joinedLayout } from '../../../src/cluster/membership/epochs'
import { ReleaseClock, releasedRelations, type ReleaseView } from '../../../src/cluster/membership/leaderless-release'
import { preferenceList } from '../../../src/cluster/placement'

// Issue 20 item 1 (cluster/membership/leaderless-release.ts): after a join or drain ended, a node
// deletes the leaderless copies of the shards placement took from it — never during the move,
// never a shard it still holds under any table's factor, and only after the settle delay.

await initHashing()

const ids = (...xs: number[]): NodeId[] => xs.map(asNodeId)
const opts = (mode: ReplicationOptions['replication_mode'], n: number): ReplicationOptions =>
  ({ replication_mode: mode, replication_factor: n, write_quorum: Math.floor(n / 2) + 1, read_quorum: Math.floor(n / 2) + 1 }) as ReplicationOptions
const base: ClusterLayout = { cluster: 'c', shards: 16, epoch: 1, members: ids(1, 2, 3) }

function viewOf (l: ClusterLayout, tables: ReleaseView['tables']): ReleaseView {
  const placed = placedMembers(l)
  const counted = countedMembers(l)
  const prefs = Array.from({ length: l.shards }, (_, s) => preferenceList(asShardId(s), placed))
  return { moving: counted.length !== placed.length || counted.some(id => !placed.includes(id)), prefs, tables }
}

const LEADERLESS = [{ id: 7, replication: opts('leaderless_quorum', 3) }, { id: 8, replication: opts('leaderless_quorum', 2) }]

describe('releasedRelations', () => {
  it('after a 3 → 4 join ends: each old node releases exactly the shards it lost, every leaderless relation of them', () => {
    const joining = admitLayout(base, asNodeId(4), true)
    const joined = joinedLayout(joining)
    const v = viewOf(joined, LEADERLESS)
    let released = 0
    for (const self of ids(1, 2, 3, 4)) {
      for (let s = 0; s < base.shards; s++) {
        const holds = v.prefs[s]!.slice(0, 3).includes(self)
        const r = releasedRelations(v, self, s)
        expect(r).toEqual(holds ? [] : [7, 8])
        if (!holds) released++
      }
    }
    // 16 shards × (4 members − 3 replicas): every shard is released by exactly one node.
    expect(released).toBe(16)
  })

  it('releases nothing while the move is under way (the old replicas are the counted ones and the fill sources)', () => {
    const v = viewOf(admitLayout(base, asNodeId(4), true), LEADERLESS)
    expect(v.moving).toBe(true)
    for (const self of ids(1, 2, 3, 4)) for (let s = 0; s < base.shards; s++) expect(releasedRelations(v, self, s)).toEqual([])
    const draining = viewOf({ ...base, epoch: 2, members: ids(1, 2, 3, 4), leaving: ids(2) }, LEADERLESS)
    expect(draining.moving).toBe(true)
    for (let s = 0; s < base.shards; s++) expect(releasedRelations(draining, asNodeId(2), s)).toEqual([])
  })

  it('never releases a shard the node holds under any factor of any table (a Mode 1 table of larger N keeps it)', () => {
    const l: ClusterLayout = { ...base, epoch: 3, members: ids(1, 2, 3, 4, 5) }
    const withMode1 = [...LEADERLESS, { id: 9, replication: opts('primary_replica', 5) }]
    for (const self of ids(1, 2, 3, 4, 5)) for (let s = 0; s < l.shards; s++) expect(releasedRelations(viewOf(l, withMode1), self, s)).toEqual([])
    // Only the N = 2 table would not hold position 3: the N = 3 table keeps the whole shard.
    const v = viewOf(l, LEADERLESS)
    for (let s = 0; s < l.shards; s++) expect(releasedRelations(v, v.prefs[s]![2]!, s)).toEqual([])
    for (let s = 0; s < l.shards; s++) expect(releasedRelations(v, v.prefs[s]![3]!, s)).toEqual([7, 8])
  })

  it('a left (drained) node releases every leaderless relation; a catalog without leaderless tables releases nothing', () => {
    const l: ClusterLayout = { ...base, epoch: 4, members: ids(1, 2, 3, 4), left: ids(2) }
    for (let s = 0; s < l.shards; s++) expect(releasedRelations(viewOf(l, LEADERLESS), asNodeId(2), s)).toEqual([7, 8])
    for (let s = 0; s < l.shards; s++) expect(releasedRelations(viewOf(l, [{ id: 9, replication: opts('primary_replica', 3) }]), asNodeId(2), s)).toEqual([])
  })

  it('a shard the placement does not list (a split not adopted here) is not released', () => {
    const v = viewOf({ ...base, members: ids(1, 2, 3, 4) }, LEADERLESS)
    expect(releasedRelations(v, asNodeId(4), base.shards)).toEqual([])
  })
})

describe('ReleaseClock', () => {
  it('opens delayMs after the state was first seen ready, and starts again when it breaks or the state changes', () => {
    const c = new ReleaseClock()
    expect(c.open('2/5', false, 0, 100)).toBe(false)
    expect(c.open('2/5', true, 10, 100)).toBe(false)
    expect(c.open('2/5', true, 109, 100)).toBe(false)
    expect(c.open('2/5', true, 110, 100)).toBe(true)
    expect(c.open('2/5', false, 120, 100)).toBe(false)
    expect(c.open('2/5', true, 130, 100)).toBe(false)
    expect(c.open('2/5', true, 230, 100)).toBe(true)
    expect(c.open('3/5', true, 240, 100)).toBe(false)
    expect(c.open('3/5', true, 340, 100)).toBe(true)
  })
})
