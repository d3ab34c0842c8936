import { describe, expect, it } from 'vitest'
import { FENCE_TTL_MS, FenceRegistry, MAX_NODE_FENCES } from '../../../src/cluster/table-fences'
import { asShardId } from '../../../src/core/ids'

// When a node lifts a DDL's write fence (the decision table in src/cluster/table-fences.ts).

const S = [asShardId(0), asShardId(3)]

describe('FenceRegistry', () => {
  it('a refused or failed-before-change DDL lifts at once', () => {
    const r = new FenceRegistry()
    r.add('t1', 9, S, 0)
    expect(r.release('t1', { kind: 'now' }, 5)).toMatchObject({ token: 't1', tableId: 9, shards: S })
    expect(r.size).toBe(0)
  })

  it('an installed change lifts only once this node\'s catalog has its version', () => {
    const r = new FenceRegistry()
    r.add('t1', 9, S, 0)
    expect(r.release('t1', { kind: 'after', version: 7 }, 6)).toBeUndefined()
    expect(r.due(10, 6, 7)).toEqual([])
    // However long it takes: no TTL for a change known to exist.
    expect(r.due(10 * FENCE_TTL_MS, 6, 7)).toEqual([])
    expect(r.due(10 * FENCE_TTL_MS, 7, 7).map(f => f.token)).toEqual(['t1'])
  })

  it('an outcome it cannot know lifts once the catalog has caught up with what gossip shows', () => {
    const r = new FenceRegistry()
    r.add('t1', 9, S, 0)
    expect(r.release('t1', { kind: 'unknown' }, 6)).toBeUndefined()
    expect(r.due(1, 6, 7)).toEqual([])
    expect(r.due(1, 7, 7).map(f => f.token)).toEqual(['t1'])
  })

  it('a release that never came: after the TTL, by the same catch-up rule', () => {
    const r = new FenceRegistry()
    r.add('t1', 9, S, 1_000)
    expect(r.due(1_000 + FENCE_TTL_MS - 1, 5, 5)).toEqual([])
    expect(r.due(1_000 + FENCE_TTL_MS, 5, 6)).toEqual([])
    expect(r.due(1_000 + FENCE_TTL_MS, 6, 6).map(f => f.token)).toEqual(['t1'])
  })

  it('merges shards fenced under one token and bounds the fences held', () => {
    const r = new FenceRegistry()
    r.add('t1', 9, [asShardId(0)], 0)
    r.add('t1', 9, [asShardId(0), asShardId(2)], 0)
    expect(r.held()[0]!.shards).toEqual([0, 2])
    for (let i = 1; i < MAX_NODE_FENCES; i++) expect(r.add(`x${i}`, 1, S, 0)).toBe(true)
    expect(r.add('one-too-many', 1, S, 0)).toBe(false)
    expect(r.release('unknown-token', { kind: 'now' }, 0)).toBeUndefined()
  })
})
