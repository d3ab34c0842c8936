import { describe, expect, it } from 'vitest'
import { REPLICATION_DEFAULTS } from '../../../src/catalog/replication-options'
import type { MemberState } from '../../../src/cluster/gossip/types'
import { knownAlive, liveMemberCount, routable, scanNode, shardMapRow, shardOwner } from '../../../src/cluster/routing'

const states = (entries: Array<[number, MemberState]>): Map<number, MemberState> => new Map(entries)
const leaderless = (n: number): typeof REPLICATION_DEFAULTS => ({ ...REPLICATION_DEFAULTS, replication_mode: 'leaderless_quorum', uuid_type: 'v8_hlc', replication_factor: n, write_quorum: 1, read_quorum: 1 })

describe('routing', () => {
  const view = states([[2, 'normal'], [3, 'down'], [4, 'suspect'], [5, 'left'], [6, 'joining']])

  it('routes to members not known down (unknown ones included); membership counts only known alive ones', () => {
    const r = routable(view, 1)
    const k = knownAlive(view, 1)
    expect([1, 2, 3, 4, 5, 6, 7].map(r)).toEqual([true, true, false, true, false, true, true])
    expect([1, 2, 3, 4, 5, 6, 7].map(k)).toEqual([true, true, false, true, false, true, false])
    expect(liveMemberCount([1, 2, 3, 4, 5, 6, 7], k)).toBe(4)
    expect(liveMemberCount([1, 2, 3, 4, 5, 6, 7], r)).toBe(5)
  })

  it('serves a shard from its placed owner only, null when that owner is down', () => {
    const r = routable(view, 1)
    expect(shardOwner([2, 3, 1], r)).toBe(2)
    expect(shardOwner([3, 2, 1], r)).toBeNull() // not the next one: its data lives on node 3
    expect(shardOwner([7, 1], r)).toBe(7)
  })

  it('scans a leaderless_quorum shard on this node when it holds a replica, else on the first routable replica', () => {
    const r = routable(view, 1)
    expect(scanNode(leaderless(3), [3, 2, 1], 1, r)).toBe(1)
    expect(scanNode(leaderless(2), [3, 2, 1], 1, r)).toBe(2)
    expect(scanNode(leaderless(2), [3, 5, 2], 1, r)).toBeNull()
    expect(scanNode(REPLICATION_DEFAULTS, [3, 2, 1], 1, r)).toBeUndefined()
  })

  it('lists the serving part of a preference list as live in the shard map', () => {
    const r = routable(view, 1)
    expect(shardMapRow(4, [2, 3], r)).toEqual({ shard: 4, preference: [2, 3], live: [2] })
    expect(shardMapRow(5, [3, 2], r)).toEqual({ shard: 5, preference: [3, 2], live: [] })
  })
})
