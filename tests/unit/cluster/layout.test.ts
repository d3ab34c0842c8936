import { describe, expect, it } from 'vitest'
import {
  configuredLayout, FIRST_LAYOUT_EPOCH, LAYOUT_MAX_MEMBERS, layoutChangesRefused, layoutConflict, parseLayout, startLayoutCheck,
  type ClusterLayout
} from '../../../src/cluster/layout'
import { asNodeId } from '../../../src/core/ids'

// Issue 13 item 2: the cluster layout (name, shard count, membership epoch, members) is recorded
// at the first start and every later start and every peer must agree with it.

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

  it('refuses another membership, naming both and the operation a membership change needs', () => {
    const e = refusal(() => startLayoutCheck(L(), L({ members: [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)] }), WHERE))
    expect(e.code).toBe('SB_LAYOUT_MISMATCH')
    expect(e.message).toMatch(/records the cluster members \{1, 2, 3\} \(membership epoch 1\), but cluster.nodes lists \{1, 2, 3, 4\}/)
    expect(e.message).toMatch(/ADD NODE \/ DRAIN NODE/)
    expect(e.details).toMatchObject({ field: 'cluster.nodes', recorded: [1, 2, 3], configured: [1, 2, 3, 4] })
  })

  it('refuses another cluster name', () => {
    expect(refusal(() => startLayoutCheck(L(), L({ cluster: 'test' }), WHERE))).toMatchObject({ code: 'SB_LAYOUT_MISMATCH', details: { field: 'cluster.name' } })
  })
})

describe('layoutConflict (gossip)', () => {
  it('agrees with an equal layout', () => {
    expect(layoutConflict(L(), L())).toBeNull()
  })

  it('names both values of the first field that differs', () => {
    expect(layoutConflict(L(), L({ shards: 8 }))).toBe('storage.shards 16 here, 8 there')
    expect(layoutConflict(L(), L({ cluster: 'other', shards: 8 }))).toBe('cluster name "prod" here, "other" there')
    expect(layoutConflict(L(), L({ epoch: 2 }))).toBe('membership epoch 1 with members {1, 2, 3} here, epoch 2 with members {1, 2, 3} there')
    expect(layoutConflict(L(), L({ members: [asNodeId(1), asNodeId(2)] }))).toMatch(/members \{1, 2, 3\} here, epoch 1 with members \{1, 2\} there/)
  })
})

describe('layoutChangesRefused (SIGHUP)', () => {
  it('reports a changed storage.shards or membership as not applied, and nothing else', () => {
    expect(layoutChangesRefused(L(), L())).toEqual([])
    const [shards] = layoutChangesRefused(L(), L({ shards: 8 }))
    expect(shards).toMatch(/storage.shards 16 → 8 is not applied: .*a restart with storage.shards 8 would be refused \(SB_LAYOUT_MISMATCH\)/)
    expect(layoutChangesRefused(L(), L({ members: [asNodeId(1), asNodeId(2)] }))[0]).toMatch(/cluster.nodes \{1, 2, 3\} → \{1, 2\} is not applied/)
  })
})
