import { describe, expect, it } from 'vitest'
import { REPLICATION_DEFAULTS } from '../../../src/catalog/replication-options'
import type { MemberState } from '../../../src/cluster/gossip/types'
import { knownAlive, liveMemberCount, primaryReplicaCount, routable, scanNode, shardAssignmentLine, shardMapRow, shardOwner, shardReplicaCount } from '../../../src/cluster/routing'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'

const states = (entries: Array<[number, MemberState]>): Map<NodeId, MemberState> => new Map(entries.map(([id, s]) => [asNodeId(id), s]))
const leaderless = (n: number): typeof REPLICATION_DEFAULTS => ({ ...REPLICATION_DEFAULTS, replication_mode: 'leaderless_quorum', uuid_type: 'v8_hlc', replication_factor: n, write_quorum: 1, read_quorum: 1 })

describe('routing', () => {
  const view = states([[2, 'normal'], [3, 'down'], [4, 'suspect'], [5, 'left'], [6, 'joining']])

  it('routes to members not known down (unknown ones included); membership counts only known alive ones', () => {
    const r = routable(view, asNodeId(1))
    const k = knownAlive(view, asNodeId(1))
    expect([1, 2, 3, 4, 5, 6, 7].map(n => r(asNodeId(n)))).toEqual([true, true, false, true, false, true, true])
    expect([1, 2, 3, 4, 5, 6, 7].map(n => k(asNodeId(n)))).toEqual([true, true, false, true, false, true, false])
    expect(liveMemberCount([asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5), asNodeId(6), asNodeId(7)], k)).toBe(4)
    expect(liveMemberCount([asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5), asNodeId(6), asNodeId(7)], r)).toBe(5)
  })

  it('serves a shard from its placed owner only, null when that owner is down', () => {
    const r = routable(view, asNodeId(1))
    expect(shardOwner([asNodeId(2), asNodeId(3), asNodeId(1)], r)).toBe(2)
    expect(shardOwner([asNodeId(3), asNodeId(2), asNodeId(1)], r)).toBeNull() // not the next one: its data lives on node 3
    expect(shardOwner([asNodeId(7), asNodeId(1)], r)).toBe(7)
  })

  it('serves a Mode 1 replicated shard from the primary this node knows, else the first routable replica (which redirects)', () => {
    const r = routable(view, asNodeId(1))
    const pref = [asNodeId(3), asNodeId(2), asNodeId(1)]
    expect(shardOwner(pref, r, 3, asNodeId(1))).toBe(1)
    expect(shardOwner(pref, r, 3, 0)).toBe(2) // node 3, the head, is down
    expect(shardOwner(pref, r, 3, asNodeId(3))).toBe(2) // a known primary that is down is not asked
    expect(shardOwner(pref, r, 1, asNodeId(1))).toBeNull() // one copy: its owner only
  })

  it('scans a leaderless_quorum shard on this node when it holds a replica, else on the first routable replica', () => {
    const r = routable(view, asNodeId(1))
    expect(scanNode(leaderless(3), [asNodeId(3), asNodeId(2), asNodeId(1)], asNodeId(1), r)).toBe(1)
    expect(scanNode(leaderless(2), [asNodeId(3), asNodeId(2), asNodeId(1)], asNodeId(1), r)).toBe(2)
    expect(scanNode(leaderless(2), [asNodeId(3), asNodeId(5), asNodeId(2)], asNodeId(1), r)).toBeNull()
    expect(scanNode(REPLICATION_DEFAULTS, [asNodeId(3), asNodeId(2), asNodeId(1)], asNodeId(1), r)).toBeUndefined()
  })

  it('passes over replicas that do not serve the shard (stale), this node\'s own included (issue 15)', () => {
    const r = routable(view, asNodeId(1))
    const skip = (...ids: number[]) => (id: NodeId) => ids.includes(id)
    expect(scanNode(leaderless(3), [asNodeId(4), asNodeId(2), asNodeId(1)], asNodeId(1), r, skip(1))).toBe(4)
    expect(scanNode(leaderless(3), [asNodeId(4), asNodeId(2), asNodeId(1)], asNodeId(1), r, skip(1, 4))).toBe(2)
    expect(scanNode(leaderless(3), [asNodeId(4), asNodeId(2), asNodeId(1)], asNodeId(1), r, skip(1, 4, 2))).toBeNull()
    expect(scanNode(REPLICATION_DEFAULTS, [asNodeId(1)], asNodeId(1), r, skip(1))).toBeUndefined()
  })

  it('lists every replica of a shard in the shard map, and which of them are live', () => {
    const r = routable(view, asNodeId(1))
    expect(shardMapRow(asShardId(4), [asNodeId(2), asNodeId(3)], 1, r)).toEqual({ shard: 4, preference: [2, 3], replicas: [2], live: [2] })
    expect(shardMapRow(asShardId(5), [asNodeId(3), asNodeId(2)], 1, r)).toEqual({ shard: 5, preference: [3, 2], replicas: [3], live: [] })
    // Issue 13 item 10: a shard with three replicas lists all three, not the first.
    expect(shardMapRow(asShardId(6), [asNodeId(3), asNodeId(2), asNodeId(1), asNodeId(4)], 3, r)).toEqual({ shard: 6, preference: [3, 2, 1, 4], replicas: [3, 2, 1], live: [2, 1] })
  })

  it('counts the replicas of a shard as the largest N the tables keep (primary_replica too, issue 14)', () => {
    expect(shardReplicaCount([], 3)).toBe(1)
    expect(shardReplicaCount([{ replication: REPLICATION_DEFAULTS }], 3)).toBe(1)
    expect(shardReplicaCount([{ replication: { ...REPLICATION_DEFAULTS, replication_factor: 3 } }], 3)).toBe(3)
    // Mode 1 groups: the largest primary_replica factor only, capped at the members.
    expect(primaryReplicaCount([{ replication: REPLICATION_DEFAULTS }, { replication: leaderless(3) }], 3)).toBe(1)
    expect(primaryReplicaCount([{ replication: { ...REPLICATION_DEFAULTS, replication_factor: 2 } }, { replication: { ...REPLICATION_DEFAULTS, replication_factor: 5 } }], 3)).toBe(3)
    expect(shardReplicaCount([{ replication: REPLICATION_DEFAULTS }, { replication: leaderless(3) }, { replication: leaderless(2) }], 5)).toBe(3)
    expect(shardReplicaCount([{ replication: leaderless(5) }], 3)).toBe(3)
  })

  it('prints the assignment log line as the seeds do, with every replica', () => {
    expect(shardAssignmentLine(asShardId(1), [asNodeId(1), asNodeId(2), asNodeId(3)])).toBe('Shard 001 assigned to {Node 1, Node 2, Node 3}')
    expect(shardAssignmentLine(asShardId(12), [asNodeId(2)])).toBe('Shard 012 assigned to {Node 2}')
  })
})
