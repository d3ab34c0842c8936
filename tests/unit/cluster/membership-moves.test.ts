import { describe, expect, it } from 'vitest'
import { groupAction, keptOnContact, leavingPrimaryHandsOver, membershipBlocker, movingReplicas, shardMoving, shardReplicasHere, singleCopyHandsOver, singleCopyReplicas, singleCopyTables } from '../../../src/cluster/membership/moves'
import type { ReplicationOptions } from '../../../src/catalog/replication-options'
import { asNodeId, type NodeId } from '../../../src/core/ids'

// Issue 20 item 2: add before remove. A Mode 1 shard whose placement changes keeps its old voters
// in its replica list until every new replica is a voter, so its voters never drop below N.

const ids = (...xs: number[]): NodeId[] => xs.map(asNodeId)

describe('movingReplicas', () => {
  it('no group here, or nothing moving: the target', () => {
    expect(movingReplicas(ids(1, 2, 4), [])).toEqual([1, 2, 4])
    expect(movingReplicas(ids(1, 2, 3), ids(1, 2, 3))).toEqual([1, 2, 3])
  })

  it('while a new replica is not a voter yet, the old voters stay listed (old ∪ new)', () => {
    expect(movingReplicas(ids(1, 2, 4), ids(1, 2, 3))).toEqual([1, 2, 4, 3])
    expect(movingReplicas(ids(4, 5), ids(1, 2))).toEqual([4, 5, 1, 2])
    // One of two new replicas promoted: still both old ones.
    expect(movingReplicas(ids(4, 5), ids(1, 2, 4))).toEqual([4, 5, 1, 2])
  })

  it('once every new replica is a voter, the target alone: the primary removes the old voters', () => {
    expect(movingReplicas(ids(1, 2, 4), ids(1, 2, 3, 4))).toEqual([1, 2, 4])
  })

  it('a walk through a move never lists fewer than N voters', () => {
    // The voters the group would hold at each step, given the list: promotions need the list to
    // name the node, removals happen only for voters the list no longer names.
    const target = ids(1, 4, 5)
    let voters = ids(1, 2, 3)
    for (const promoted of [4, 5]) {
      const list = movingReplicas(target, voters)
      expect(voters.filter(v => !list.includes(v))).toEqual([]) // nothing removable while the target is not all voters
      expect(list).toContain(promoted)
      voters = [...voters, asNodeId(promoted)]
    }
    const list = movingReplicas(target, voters)
    expect(list).toEqual([1, 4, 5])
    for (const old of voters.filter(v => !list.includes(v))) {
      voters = voters.filter(v => v !== old)
      expect(voters.length).toBeGreaterThanOrEqual(target.length)
    }
    expect(shardMoving(target, voters)).toBe(false)
  })
})

describe('shardMoving', () => {
  it('moving while a target node is not a voter or an old voter is not removed', () => {
    expect(shardMoving(ids(1, 2, 4), ids(1, 2, 3))).toBe(true)
    expect(shardMoving(ids(1, 2, 4), ids(1, 2, 3, 4))).toBe(true)
    expect(shardMoving(ids(1, 2, 4), ids(1, 2, 4))).toBe(false)
    expect(shardMoving(ids(1, 2, 4), [])).toBe(false)
  })
})

describe('membershipBlocker', () => {
  const r = (mode: ReplicationOptions['replication_mode'], n: number): ReplicationOptions => ({ replication_mode: mode, replication_factor: n, write_quorum: 1, read_quorum: 1 } as ReplicationOptions)
  it('primary_replica tables with N ≥ 2 (or none) move, and so do single-copy ones alone (the default factor 1)', () => {
    expect(membershipBlocker([])).toBeNull()
    expect(membershipBlocker([{ name: 't', replication: r('primary_replica', 2) }])).toBeNull()
    expect(membershipBlocker([{ name: 'a', replication: r('primary_replica', 1) }, { name: 'q', replication: r('leaderless_quorum', 3) }])).toBeNull()
  })
  it('single-copy primary_replica tables next to one with N ≥ 2 block it, named with the way out; leaderless ones move (their fill), REMOVE NODE too', () => {
    const tables = [{ name: 'a', replication: r('primary_replica', 1) }, { name: 'q', replication: r('leaderless_quorum', 3) }, { name: 'c', replication: r('primary_replica', 1) }, { name: 'b', replication: r('primary_replica', 2) }]
    const why = membershipBlocker(tables)
    expect(why).toMatch(/table\(s\) a, c keep a single copy .*\(ALTER TABLE … SET replication_factor = 2\)/)
    expect(why).not.toMatch(/leaderless/)
    expect(membershipBlocker([{ name: 'q', replication: r('leaderless_quorum', 3) }, { name: 'l1', replication: r('leaderless_quorum', 1) }])).toBeNull()
    expect(membershipBlocker(tables, { singleCopy: false })).toBeNull()
  })
  it('the single-copy tables: N = 1, any mode (a REMOVE NODE of their owner needs FORCE)', () => {
    const tables = [{ name: 'a', replication: r('primary_replica', 1) }, { name: 'b', replication: r('primary_replica', 2) }, { name: 'q', replication: r('leaderless_quorum', 1) }]
    expect(singleCopyTables(tables).map(t => t.name)).toEqual(['a', 'q'])
  })
})

describe('the replica list a node gives its group, and what it does with it (ClusterShell, ReplicationShell)', () => {
  const n = (...xs: number[]): NodeId[] => xs.map(asNodeId)
  it('no list when the tables keep one copy; a left node leaves itself out even while its voters count it', () => {
    expect(shardReplicasHere(asNodeId(1), 1, n(1), n(1), n(1, 2), false, false)).toEqual([])
    expect(shardReplicasHere(asNodeId(1), 2, n(2, 3), n(1, 2), n(1, 2), false, false)).toEqual(n(2, 3, 1))
    expect(shardReplicasHere(asNodeId(1), 2, n(2, 3), n(1, 2), n(1, 2), false, true)).toEqual(n(2, 3))
  })
  it('start, update, retire, keep or nothing', () => {
    expect(groupAction(asNodeId(1), n(1, 2), false)).toBe('start')
    expect(groupAction(asNodeId(1), n(1, 2), true)).toBe('update')
    expect(groupAction(asNodeId(1), n(2, 3), true)).toBe('retire')
    expect(groupAction(asNodeId(1), [], true)).toBe('keep')
    expect(groupAction(asNodeId(1), n(2, 3), false)).toBe('none')
    expect(groupAction(asNodeId(1), [], false)).toBe('none')
  })
  it('a one-node list (a single-copy move) is wanted by that node — started or updated — and retires the others', () => {
    expect(groupAction(asNodeId(1), n(1), false)).toBe('start')
    expect(groupAction(asNodeId(1), n(1), true)).toBe('update')
    expect(groupAction(asNodeId(1), n(2), true)).toBe('retire')
    expect(groupAction(asNodeId(1), n(2), false)).toBe('none')
  })
  it('an empty list keeps a running group (N lowered to 1), but not one started only because a peer contacted this node', () => {
    expect(groupAction(asNodeId(1), [], true, false)).toBe('keep')
    expect(groupAction(asNodeId(1), [], true, true)).toBe('retire')
    expect(groupAction(asNodeId(1), n(1, 2), true, true)).toBe('update')
  })
})

describe('singleCopyReplicas: the group of a shard whose one copy moves from `before` (1) to `target` (4)', () => {
  const n = (...xs: number[]): NodeId[] => xs.map(asNodeId)
  const [o, t, x] = [asNodeId(1), asNodeId(4), asNodeId(2)]
  it('not moving (same owner): no group — the single-copy path', () => {
    expect(singleCopyReplicas(o, o, o, 0, [], false)).toEqual([])
    expect(singleCopyReplicas(t, o, o, o, n(1), false)).toEqual([])
  })
  it('the old owner starts alone (it commits while the target is bootstrapped), then lists the target after itself', () => {
    expect(singleCopyReplicas(o, o, t, 0, [], false)).toEqual(n(1))
    expect(groupAction(o, singleCopyReplicas(o, o, t, 0, [], false), false)).toBe('start')
    expect(singleCopyReplicas(o, o, t, o, n(1), false)).toEqual(n(1, 4))
    expect(singleCopyReplicas(o, o, t, o, n(1, 4), false)).toEqual(n(1, 4))
  })
  it('the target and any other node: old owner first (only it campaigns), so the target starts a group to receive its bootstrap', () => {
    expect(singleCopyReplicas(t, o, t, 0, [], false)).toEqual(n(1, 4))
    expect(groupAction(t, singleCopyReplicas(t, o, t, 0, [], false), false)).toBe('start')
    expect(singleCopyReplicas(t, o, t, o, n(1, 4), false)).toEqual(n(1, 4))
    expect(groupAction(x, singleCopyReplicas(x, o, t, 0, [], false), false)).toBe('none')
  })
  it('once the target leads, or removed the old owner: the target alone — it updates its group (removing the old voter), the old owner retires', () => {
    expect(singleCopyReplicas(t, o, t, t, n(1, 4), false)).toEqual(n(4))
    expect(groupAction(t, singleCopyReplicas(t, o, t, t, n(1, 4), false), true)).toBe('update')
    expect(groupAction(o, singleCopyReplicas(o, o, t, t, n(1, 4), false), true)).toBe('retire')
    // A restart of the target after it removed the old voter: its recorded voters start it again, alone.
    expect(groupAction(t, singleCopyReplicas(t, o, t, 0, n(4), false), false)).toBe('start')
    // The old owner after it let its copy go: no group again.
    expect(groupAction(o, singleCopyReplicas(o, o, t, 0, n(1, 4), true), false)).toBe('none')
  })
  it('the old owner down when the move starts: the lists wait for it — the target never leads a group it could not fill', () => {
    // Nobody knows a primary, no voters recorded: the target's list still puts the old owner first.
    expect(singleCopyReplicas(t, o, t, 0, [], false)[0]).toBe(o)
  })
  it('the old owner hands over only as primary, and only once the target is a voter in sync', () => {
    expect(singleCopyHandsOver(o, o, t, true, true)).toBe(true)
    expect(singleCopyHandsOver(o, o, t, true, false)).toBe(false)
    expect(singleCopyHandsOver(o, o, t, false, true)).toBe(false)
    expect(singleCopyHandsOver(t, o, t, true, true)).toBe(false)
    expect(singleCopyHandsOver(o, o, o, true, true)).toBe(false)
  })
})

describe('leavingPrimaryHandsOver: a primary no longer of the replicas hands over before it retires (bench rebalance)', () => {
  const self = asNodeId(2)
  it('after a join made node 4 a voter, the old primary 2 (target {4, 3}) hands over instead of leaving the shard to an election', () => {
    // Its list no longer holds it once the promotion committed: groupAction retires it.
    const replicas = shardReplicasHere(self, 2, ids(4, 3), ids(3, 2), ids(2, 3, 4), false, false)
    expect(groupAction(self, replicas, true)).toBe('retire')
    expect(leavingPrimaryHandsOver(self, true, ids(2, 3, 4), replicas)).toBe(true)
  })
  it('a replica retires at once; a primary with no voter of the new list to take over retires as before', () => {
    expect(leavingPrimaryHandsOver(self, false, ids(2, 3, 4), ids(4, 3))).toBe(false)
    expect(leavingPrimaryHandsOver(self, true, ids(2, 3), ids(4, 5))).toBe(false)
    expect(leavingPrimaryHandsOver(self, true, ids(2), [])).toBe(false)
  })
})

describe('keptOnContact: a group started because a peer contacted this node (issue 20, membership sim seed 302)', () => {
  const self = asNodeId(1)
  it('the node stays in its list while contacted within the window, so the next sync does not retire it', () => {
    // Its log still lists {1, 2, 3} with the target {2, 3} all voters: the list alone retires it,
    // while the candidate whose log holds {1, 3} needs its vote.
    const replicas = shardReplicasHere(self, 2, ids(2, 3), ids(2, 3), ids(1, 2, 3), false, false)
    expect(groupAction(self, replicas, true)).toBe('retire')
    const kept = keptOnContact(self, replicas, 100, 600)
    expect(kept).toEqual([2, 3, 1])
    expect(groupAction(self, kept, true)).toBe('update')
    expect(groupAction(self, keptOnContact(self, replicas, 0, 1), false)).toBe('start')
  })
  it('once the contact is older than the window, or none, or no group is wanted, the list decides alone', () => {
    expect(keptOnContact(self, ids(2, 3), 601, 600)).toEqual([2, 3])
    expect(keptOnContact(self, ids(2, 3), null, 600)).toEqual([2, 3])
    expect(keptOnContact(self, [], 0, 600)).toEqual([])
    expect(keptOnContact(self, ids(1, 2), 0, 600)).toEqual([1, 2])
  })
})
