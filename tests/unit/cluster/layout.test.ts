import { describe, expect, it } from 'vitest'
import {
  configuredLayout, FIRST_LAYOUT_EPOCH, keepSplitHistory, LAYOUT_MAX_MEMBERS, layoutChangesRefused, parseLayout, startLayoutCheck,
  staleShardsWarning, withStates, type ClusterLayout
} from '../../../src/cluster/layout'
import { asNodeId } from '../../../src/core/ids'

// Issue 13 item 2: the cluster layout (name, shard count, membership epoch, members) is recorded
// at the first start and every later start must agree with it; issue 20: after a membership change
// the recorded layout rules and cluster.nodes only seeds gossip (peers: membership-epochs.test.ts).

const L = (over: Partial<ClusterLayout> = {}): ClusterLayout => ({ cluster: 'prod', shards: 16, epoch: 1, members: [asNodeId(1), asNodeId(2), asNodeId(3)], ...over })
const WHERE = 'data directory /d'

function refusal (f: () => unknown): { code: string, message: string, details: Record<string, unknown> } {
  try { f() } catch (e) { return e as { code: string, message: string, details: Record<string, unknown> } }
  throw new Error('expected a refusal')
}

describe('configuredLayout', () => {
  it('sorts and deduplicates the members (this node may be listed in cluster.nodes too) at the first epoch', () => {
    expect(configuredLayout('prod', 8, [asNodeId(3), asNodeId(1), asNodeId(2), asNodeId(1)])).toEqual({ cluster: 'prod', shards: 8, epoch: FIRST_LAYOUT_EPOCH, members: [1, 2, 3] })
  })

  it('refuses more members than a layout can carry with SB_CONFIG_INVALID', () => {
    const ids = Array.from({ length: LAYOUT_MAX_MEMBERS + 1 }, (_, i) => asNodeId(i + 1))
    expect(refusal(() => configuredLayout('prod', 8, ids)).code).toBe('SB_CONFIG_INVALID')
  })
})

describe('parseLayout', () => {
  it('accepts a layout and copies only the known fields', () => {
    expect(parseLayout({ ...L(), extra: 1 })).toEqual(L())
  })

  it.each([
    ['not an object', 'x'], ['no cluster', { ...L(), cluster: '' }], ['shards 0', { ...L(), shards: 0 }],
    ['fractional shards', { ...L(), shards: 1.5 }], ['epoch 0', { ...L(), epoch: 0 }], ['no members', { ...L(), members: [] }],
    ['unsorted members', { ...L(), members: [2, 1] }], ['duplicate members', { ...L(), members: [1, 1] }],
    ['node id 0', { ...L(), members: [0, 1] }], ['members not a list', { ...L(), members: '1,2' }]
  ])('refuses %s', (_why, v) => {
    expect(parseLayout(v)).toBeNull()
  })
})

describe('startLayoutCheck', () => {
  it('records the configured layout at the first start and runs with the recorded one after', () => {
    expect(startLayoutCheck(null, L(), WHERE)).toEqual({ layout: L(), record: true })
    expect(startLayoutCheck(L({ epoch: 4 }), L(), WHERE)).toEqual({ layout: L({ epoch: 4 }), record: false })
  })

  it('refuses another storage.shards with SB_LAYOUT_MISMATCH naming both values', () => {
    const e = refusal(() => startLayoutCheck(L({ shards: 16 }), L({ shards: 8 }), WHERE))
    expect(e.code).toBe('SB_LAYOUT_MISMATCH')
    expect(e.message).toMatch(/data directory \/d holds 16 shards, but storage.shards is 8/)
    expect(e.details).toMatchObject({ field: 'storage.shards', recorded: 16, configured: 8 })
  })

  it('refuses a cluster.nodes listing a node the cluster does not know, saying how to admit it', () => {
    const e = refusal(() => startLayoutCheck(L(), L({ members: [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)] }), WHERE))
    expect(e.code).toBe('SB_LAYOUT_MISMATCH')
    expect(e.message).toMatch(/records the cluster members \{1, 2, 3\} \(membership epoch 1\), but cluster.nodes lists \{1, 2, 3, 4\}: \{4\} is not a member/)
    expect(e.message).toMatch(/to add node 4, start it with a cluster.nodes that lists itself and the running members: the cluster admits it through gossip/)
    expect(e.details).toMatchObject({ field: 'cluster.nodes', recorded: [1, 2, 3], configured: [1, 2, 3, 4], unknown: [4] })
    // Also after a membership change.
    expect(refusal(() => startLayoutCheck(L({ epoch: 3 }), L({ members: [asNodeId(1), asNodeId(5)] }), WHERE)).details).toMatchObject({ unknown: [5] })
  })

  it('refuses fewer members at the first epoch, and accepts them (seeds) once the membership changed', () => {
    const two = L({ members: [asNodeId(1), asNodeId(2)] })
    expect(refusal(() => startLayoutCheck(L(), two, WHERE)).message).toMatch(/a member is not removed by editing cluster.nodes; restore cluster.nodes to \{1, 2, 3\}/)
    const grown = L({ epoch: 2, members: [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)] })
    expect(startLayoutCheck(grown, L(), WHERE)).toEqual({ layout: grown, record: false })
    expect(startLayoutCheck(grown, two, WHERE)).toEqual({ layout: grown, record: false })
  })

  it('refuses another cluster name', () => {
    expect(refusal(() => startLayoutCheck(L(), L({ cluster: 'test' }), WHERE))).toMatchObject({ code: 'SB_LAYOUT_MISMATCH', details: { field: 'cluster.name' } })
  })
})

describe('layoutChangesRefused (SIGHUP)', () => {
  it('reports a changed storage.shards or membership as not applied, and nothing else', () => {
    expect(layoutChangesRefused(L(), L())).toEqual([])
    const [shards] = layoutChangesRefused(L(), L({ shards: 8 }))
    expect(shards).toMatch(/storage.shards 16 → 8 is not applied: .*a restart with storage.shards 8 would be refused \(SB_LAYOUT_MISMATCH\)/)
    expect(layoutChangesRefused(L(), L({ members: [asNodeId(1), asNodeId(2)] }))[0]).toMatch(/cluster.nodes \{1, 2, 3\} → \{1, 2\} is not applied/)
    expect(layoutChangesRefused(L({ epoch: 2 }), L({ members: [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)] }))[0]).toMatch(/cluster.nodes \{1, 2, 3\} → \{1, 2, 3, 4\} is not applied/)
    // After a membership change cluster.nodes seeds gossip: fewer members is no change of the layout.
    expect(layoutChangesRefused(L({ epoch: 2 }), L({ members: [asNodeId(1), asNodeId(2)] }))).toEqual([])
  })
})

// Issue 20 item 5: after a recorded split (splitFrom) cluster.json wins over a storage.shards the
// cluster was split from (cluster/shard-split.ts).
describe('split history (splitFrom)', () => {
  const split = L({ shards: 16, splitFrom: [4, 8], epoch: 3 })

  it('parses a history of halvings ending in shards, and refuses any other', () => {
    expect(parseLayout(JSON.parse(JSON.stringify(split)))).toEqual(split)
    expect(parseLayout({ ...L(), splitFrom: undefined })).toEqual(L())
    for (const bad of [[], [3], [8, 4], [4, 4], [16], 'x', [4.5, 9], [0, 0]]) expect(parseLayout({ ...L({ shards: 16 }), splitFrom: bad })).toBeNull()
  })

  it('a start whose storage.shards is a count the cluster was split from runs with the recorded count', () => {
    expect(startLayoutCheck(split, L({ shards: 8 }), WHERE)).toEqual({ layout: split, record: false })
    expect(startLayoutCheck(split, L({ shards: 4 }), WHERE)).toEqual({ layout: split, record: false })
    expect(staleShardsWarning(split, 8, WHERE)).toMatch(/storage.shards is 8, but data directory \/d records that the cluster was split to 16 shards .* running with 16/)
  })

  it('any other storage.shards is still refused, saying the count changes only by a split', () => {
    for (const shards of [2, 12, 32]) {
      const e = refusal(() => startLayoutCheck(split, L({ shards }), WHERE))
      expect(e.code).toBe('SB_LAYOUT_MISMATCH')
      expect(e.message).toMatch(/changes only by a split, ALTER CLUSTER SET shards = 32/)
    }
  })

  it('a reload with a pre-split storage.shards is not refused; another count is', () => {
    expect(layoutChangesRefused(split, L({ shards: 8 }))).toEqual([])
    expect(layoutChangesRefused(split, L({ shards: 32 }))[0]).toMatch(/storage.shards 16 → 32 is not applied/)
  })

  it('survives membership changes: derived layouts keep it, and a layout adopted from gossip (no history) gets ours', () => {
    expect(withStates(split, [asNodeId(2)], []).splitFrom).toEqual([4, 8])
    const fromGossip = L({ shards: 16, epoch: 4 })
    expect(keepSplitHistory(split, fromGossip)).toEqual({ ...fromGossip, splitFrom: [4, 8] })
    // A split adopted from gossip: the counts it went through join the history.
    expect(keepSplitHistory(split, L({ shards: 32, epoch: 4 })).splitFrom).toEqual([4, 8, 16])
    expect(keepSplitHistory(split, L({ shards: 64, epoch: 5 })).splitFrom).toEqual([4, 8, 16, 32])
    expect(keepSplitHistory(L({ shards: 16 }), L({ shards: 32, epoch: 4 })).splitFrom).toEqual([16])
    expect(keepSplitHistory(L(), fromGossip)).toBe(fromGossip)
  })

  it('a layout that carries a history of its own is merged with ours: the end of a second split records both counts', () => {
    // The decider's layout ending 32 → 64 is a copy of the intent's, whose history is [16].
    const after32 = L({ shards: 32, epoch: 3, splitFrom: [16], placementShards: 16 })
    expect(keepSplitHistory(after32, L({ shards: 64, epoch: 5, splitFrom: [16], placementShards: 16 })).splitFrom).toEqual([16, 32])
    // Nothing is lost from either side, and a layout of the same count keeps the union.
    expect(keepSplitHistory(L({ shards: 64, splitFrom: [16, 32] }), L({ shards: 64, epoch: 6, splitFrom: [16] })).splitFrom).toEqual([16, 32])
  })
})
