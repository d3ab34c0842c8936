import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { parseLayout, placementKey, type ClusterLayout } from '../../../src/cluster/layout'
import { admitLayout, joinedLayout } from '../../../src/cluster/membership/epochs'
import { leftLayout, membershipOpLayout } from '../../../src/cluster/membership/drain'
import { preferenceList } from '../../../src/cluster/placement'
import { splitCancelLayout, splitDoneLayout, splitIntentLayout } from '../../../src/cluster/split-run'

// The PLACEMENT RULE of a shard split (cluster/shard-split.ts): the layout that completes a split
// keys placement on the count before the first split (placementShards), so child s + n has exactly
// its parent's preference list — the nodes that derived it — and no replica moves; every layout
// built from it afterwards (a second split, a join, a drain, a cancel, cluster.json) keeps it.

const ids = [1, 2, 3, 4, 5].map(asNodeId) as NodeId[]
const BASE: ClusterLayout = { cluster: 'c', shards: 16, epoch: 3, members: ids.slice(0, 3) }

/** The preference lists `l` gives, as node/cluster.ts place() computes them. */
const prefsOf = (l: ClusterLayout): NodeId[][] => Array.from({ length: l.shards }, (_, s) => preferenceList(placementKey(l, asShardId(s)), placedOf(l), placedOf(l).length))
const placedOf = (l: ClusterLayout): NodeId[] => l.members.filter(id => !(l.leaving ?? []).includes(id) && !(l.left ?? []).includes(id))

beforeAll(async () => { await initHashing() })

describe('the placement of a split\'s children', () => {
  it('16 → 32: every child s + 16 is placed exactly as its parent s (same preference list), the parents as before', () => {
    const before = prefsOf(BASE)
    const done = splitDoneLayout(splitIntentLayout(BASE))
    expect(done.shards).toBe(32)
    expect(done.placementShards).toBe(16)
    const after = prefsOf(done)
    for (let s = 0; s < 16; s++) {
      expect(after[s], `parent ${s}`).toEqual(before[s])
      expect(after[s + 16], `child ${s + 16}`).toEqual(before[s])
    }
    // Without the rule, rendezvous over 32 would put some child elsewhere (what the rule prevents).
    const unkeyed = prefsOf({ ...done, placementShards: undefined })
    expect(Array.from({ length: 16 }, (_, s) => unkeyed[s + 16]![0] === before[s]![0]).some(same => !same)).toBe(true)
  })

  it('a second split keeps the count before the first (32 → 64: shard s + 48 placed as s)', () => {
    const first = splitDoneLayout(splitIntentLayout(BASE))
    const second = splitDoneLayout(splitIntentLayout(first))
    expect(second).toMatchObject({ shards: 64, placementShards: 16 })
    const p = prefsOf(second)
    const base = prefsOf(BASE)
    for (let s = 0; s < 64; s++) expect(p[s]).toEqual(base[s % 16])
  })

  it('kept by every layout built from it: join, joined, drain, left, cancel of a later split, cluster.json and gossip form', () => {
    const done = splitDoneLayout(splitIntentLayout(BASE))
    const admitted = admitLayout(done, ids[3]!, true)
    expect(admitted.placementShards).toBe(16)
    expect(joinedLayout(admitted).placementShards).toBe(16)
    const drained = membershipOpLayout({ kind: 'drain', node: ids[0]! }, { layout: joinedLayout(admitted), maxFactor: 1, blocker: null, alive: () => true })
    expect(drained.placementShards).toBe(16)
    expect(leftLayout(drained, ids[0]!).placementShards).toBe(16)
    expect(splitCancelLayout(splitIntentLayout(done)).placementShards).toBe(16)
    expect(parseLayout(JSON.parse(JSON.stringify(done)))).toEqual(done)
  })

  it('a node joining after the split places alike: each child with its parent, on the new membership too', () => {
    const done = splitDoneLayout(splitIntentLayout(BASE))
    const joined = joinedLayout(admitLayout(done, ids[3]!))
    const p = prefsOf(joined)
    for (let s = 0; s < 16; s++) expect(p[s + 16], `child ${s + 16} with 4 members`).toEqual(p[s])
    // And the joining node computes the same lists from the layout it adopts (gossip carries placementShards).
    expect(prefsOf(parseLayout(JSON.parse(JSON.stringify(joined)))!)).toEqual(p)
  })
})
