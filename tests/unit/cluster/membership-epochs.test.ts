import { describe, expect, it } from 'vitest'
import { GossipMachine, type GossipConfig } from '../../../src/cluster/gossip/machine'
import type { GossipMessage, GossipOutput, GossipPing, MemberRecord } from '../../../src/cluster/gossip/types'
import type { ClusterLayout } from '../../../src/cluster/layout'
import { admitLayout, compareLayouts, decider } from '../../../src/cluster/membership/epochs'
import { SeededRng } from '../../../src/core/rng'
import { asNodeId, type NodeId } from '../../../src/core/ids'

// Issue 20 item 1: layout epochs that change at run time. The pure rules (compareLayouts: what a
// node makes of a peer's layout), and the gossip machine carrying them out: a joiner asks, the
// decider alone reports the request, every node adopts a later epoch that keeps it a member only
// once the shell hands it back (after persisting it), another cluster name or shard count is still
// refused.

const ids = (...xs: number[]): NodeId[] => xs.map(asNodeId)
const L = (epoch: number, members: NodeId[], over: Partial<ClusterLayout> = {}): ClusterLayout => ({ cluster: 'prod', shards: 16, epoch, members, ...over })
const OLD = L(1, ids(1, 2, 3))
/** Node 4's own data directory at its first start: its cluster.nodes lists the members and itself. */
const JOINER = L(1, ids(1, 2, 3, 4))
const ADMITTED = L(2, ids(1, 2, 3, 4))
const n = asNodeId

describe('compareLayouts', () => {
  it('same layout: same; another cluster name or shard count: conflict naming both values', () => {
    expect(compareLayouts(OLD, OLD, n(1), n(2))).toEqual({ kind: 'same' })
    expect(compareLayouts(OLD, { ...OLD, shards: 8 }, n(1), n(2))).toEqual({ kind: 'conflict', reason: 'storage.shards 16 here, 8 there' })
    expect(compareLayouts(OLD, { ...OLD, cluster: 'x' }, n(1), n(2))).toEqual({ kind: 'conflict', reason: 'cluster name "prod" here, "x" there' })
    // A later epoch of another cluster is still another cluster.
    expect(compareLayouts(OLD, { ...ADMITTED, shards: 8 }, n(1), n(2)).kind).toBe('conflict')
  })

  it('a split is one cluster: the doubled count at a later epoch is newer here and older there; anything else conflicts', () => {
    const SPLIT = L(2, ids(1, 2, 3), { shards: 32 })
    expect(compareLayouts(OLD, SPLIT, n(1), n(2))).toEqual({ kind: 'newer' })
    expect(compareLayouts(SPLIT, OLD, n(2), n(1))).toEqual({ kind: 'older' })
    // A node down across two splits (4 × the count, two epochs later) follows both.
    expect(compareLayouts(OLD, L(3, ids(1, 2, 3), { shards: 64 }), n(1), n(2))).toEqual({ kind: 'newer' })
    // Two doublings need two epochs; not a doubling; fewer shards at the later epoch.
    // A joiner configured with another count than the cluster's is not taken for a split, either way.
    expect(compareLayouts(L(1, ids(1, 2, 3, 4), { shards: 8 }), OLD, n(4), n(1)).kind).toBe('conflict')
    expect(compareLayouts(SPLIT, L(1, ids(1, 2, 3, 4), { shards: 16 }), n(1), n(4)).kind).toBe('conflict')
    for (const other of [L(2, ids(1, 2, 3), { shards: 64 }), L(2, ids(1, 2, 3), { shards: 48 }), L(2, ids(1, 2, 3), { shards: 8 }), L(1, ids(1, 2, 3), { shards: 32 })]) {
      expect(compareLayouts(OLD, other, n(1), n(2)).kind).toBe('conflict')
      expect(compareLayouts(other, OLD, n(2), n(1)).kind).toBe('conflict')
    }
  })

  it('a member sees a fresh node listing the members and itself as a join request; the joiner sees itself awaiting', () => {
    expect(compareLayouts(OLD, JOINER, n(1), n(4))).toEqual({ kind: 'join' })
    expect(compareLayouts(JOINER, OLD, n(4), n(1))).toEqual({ kind: 'awaiting' })
    // Seeds only: a joiner listing some of the members is admitted as well.
    expect(compareLayouts(OLD, L(1, ids(1, 4)), n(2), n(4))).toEqual({ kind: 'join' })
    expect(compareLayouts(L(1, ids(1, 4)), OLD, n(4), n(1))).toEqual({ kind: 'awaiting' })
  })

  it('a later epoch that keeps this node is adopted, from a member or from the admitted node; an older one is accepted', () => {
    expect(compareLayouts(OLD, ADMITTED, n(2), n(1))).toEqual({ kind: 'newer' })
    expect(compareLayouts(OLD, ADMITTED, n(2), n(4))).toEqual({ kind: 'newer' })
    expect(compareLayouts(JOINER, ADMITTED, n(4), n(1))).toEqual({ kind: 'newer' })
    expect(compareLayouts(ADMITTED, OLD, n(1), n(2))).toEqual({ kind: 'older' })
    expect(compareLayouts(ADMITTED, JOINER, n(1), n(4))).toEqual({ kind: 'older' })
    // The admitted node hearing a member that has not adopted the admission yet.
    expect(compareLayouts(ADMITTED, OLD, n(4), n(3))).toEqual({ kind: 'older' })
  })

  it('a joiner listing a node the cluster does not know is refused on both sides, saying how to admit it', () => {
    const five = L(1, ids(1, 2, 3, 4, 5))
    const there = compareLayouts(OLD, five, n(1), n(4))
    expect(there.kind).toBe('conflict')
    expect(there.kind === 'conflict' && there.reason).toMatch(/node 4 asks to join but its cluster.nodes lists \{5\}, unknown to this cluster; to add node 5, start it with a cluster.nodes that lists itself/)
    const here = compareLayouts(five, OLD, n(4), n(1))
    expect(here.kind === 'conflict' && here.reason).toMatch(/this node's cluster.nodes lists \{5\}, unknown to the cluster, so it is not admitted; to add node 5/)
  })

  it('same epoch with other members, or a removed node coming back with its data, is a conflict', () => {
    expect(compareLayouts(ADMITTED, L(2, ids(1, 2, 3, 5)), n(1), n(2)).kind).toBe('conflict')
    // Node 3 was removed at epoch 3; its data directory still records epoch 2.
    const removed = L(3, ids(1, 2, 4))
    const back = compareLayouts(removed, ADMITTED, n(1), n(3))
    expect(back.kind === 'conflict' && back.reason).toMatch(/node 3 is not a member of this cluster .* start it with an empty data directory/)
    const self = compareLayouts(ADMITTED, removed, n(3), n(1))
    expect(self.kind === 'conflict' && self.reason).toMatch(/this node is no longer a member/)
  })
})

describe('admitLayout and decider', () => {
  it('admits at epoch + 1 with the node among the sorted members', () => {
    expect(admitLayout(OLD, n(4))).toEqual(ADMITTED)
    expect(admitLayout(L(5, ids(2, 7)), n(3))).toEqual(L(6, ids(2, 3, 7)))
  })

  it('the decider is the lowest live member', () => {
    expect(decider(OLD, () => true)).toBe(1)
    expect(decider(OLD, id => id !== 1)).toBe(2)
    expect(decider(OLD, () => false)).toBeNull()
  })
})

// ---- the gossip machine ----------------------------------------------------------------------

const CFG: GossipConfig = { intervalMs: 1000, fanout: 3, heartbeatTimeoutMs: 10_000 }
const addr = (id: number): string => `node${id}:7400`

function machine (nodeId: number, layout: ClusterLayout, seeds = [1, 2, 3]): GossipMachine {
  return new GossipMachine({ nodeId: n(nodeId), address: addr(nodeId), datacenter: 'dc1', bootId: `boot${nodeId}`, layout },
    seeds.map(id => ({ nodeId: n(id), address: addr(id) })), CFG, new SeededRng(nodeId))
}

function rec (nodeId: number, over: Partial<MemberRecord> = {}): MemberRecord {
  return { nodeId: n(nodeId), address: addr(nodeId), datacenter: 'dc1', incarnation: 0, heartbeat: 1, state: 'normal', bootId: `boot${nodeId}`, claimedOver: '', catalogVersion: 0, oldestActiveHlc: '', shardReplicas: 0, ...over }
}

function ping (from: number, layout: ClusterLayout, members: MemberRecord[] = [rec(from)]): GossipPing {
  return { type: 'ping', from: n(from), hlc: '', members, sentAt: 5, layout }
}

const events = (outs: GossipOutput[]): GossipOutput[] => outs.filter(o => o.type !== 'send')
const sends = (outs: GossipOutput[]): GossipMessage[] => outs.flatMap(o => o.type === 'send' ? [o.msg] : [])
const known = (m: GossipMachine): number[] => m.members(0).map(v => v.nodeId)

describe('gossip machine and membership epochs', () => {
  it('the decider (lowest live member) reports a join request and merges the joiner; another member only merges it', () => {
    const m1 = machine(1, OLD)
    const out = m1.receive(addr(4), ping(4, JOINER), 10)
    expect(events(out)).toContainEqual({ type: 'join-request', nodeId: 4, address: addr(4), datacenter: 'dc1' })
    expect(known(m1)).toContain(4)
    const m2 = machine(2, OLD)
    m2.receive(addr(1), ping(1, OLD), 0)
    expect(events(m2.receive(addr(4), ping(4, JOINER), 10)).filter(e => e.type === 'join-request')).toEqual([])
    // Node 1 down in node 2's view: node 2 decides.
    const m2b = machine(2, OLD)
    m2b.receive(addr(1), ping(1, OLD, [rec(1, { state: 'down' })]), 0)
    expect(events(m2b.receive(addr(4), ping(4, JOINER), 10))).toContainEqual(expect.objectContaining({ type: 'join-request', nodeId: 4 }))
  })

  it('a removed node is never admitted again with its data: its old process (late gossip) or a data directory holding the catalog is refused; an empty one joins as a new node', () => {
    const REMOVED = L(3, ids(1, 2, 3))
    const m1 = machine(1, ADMITTED)
    m1.receive(addr(4), ping(4, ADMITTED), 0)
    m1.setLayout(REMOVED)
    m1.setRemoved([asNodeId(4)]) // the shell's durable record of removed members (node/cluster.ts)
    const late = events(m1.receive(addr(4), ping(4, JOINER, [rec(4, { heartbeat: 9 })]), 10))
    expect(late).toEqual([expect.objectContaining({ type: 'layout-refused', nodeId: 4, reason: expect.stringMatching(/from the process that ran it before it was removed .*empty its data directory/) })])
    expect(known(m1)).not.toContain(4)
    // Restarted with its old data directory: a new boot id, but it holds the cluster's catalog.
    const restarted = events(m1.receive(addr(4), ping(4, JOINER, [rec(4, { bootId: 'boot4b', catalogVersion: 3 })]), 20))
    expect(restarted).toEqual([expect.objectContaining({ type: 'layout-refused', nodeId: 4, reason: expect.stringMatching(/holds catalog version 3 of this cluster: it was a member/) })])
    // Restarted with an empty data directory: a new node.
    expect(events(m1.receive(addr(4), ping(4, JOINER, [rec(4, { bootId: 'boot4c' })]), 30))).toContainEqual(expect.objectContaining({ type: 'join-request', nodeId: 4 }))
    // A node never recorded as removed is judged by nothing of this: a new node may hold the catalog
    // already (fetched while its admission was on the way) and must still be admitted.
    const m1b = machine(1, REMOVED)
    expect(events(m1b.receive(addr(4), ping(4, JOINER, [rec(4, { bootId: 'boot4d', catalogVersion: 3 })]), 10))).toContainEqual(expect.objectContaining({ type: 'join-request', nodeId: 4 }))
    // The removed node itself, told the cluster runs without it, says why it is not admitted.
    const m4 = machine(4, JOINER)
    m4.setLocal({ catalogVersion: 3 })
    expect(events(m4.receive(addr(1), ping(1, REMOVED), 10))).toEqual([expect.objectContaining({ type: 'layout-refused', nodeId: 1, reason: expect.stringMatching(/this node \(4\) holds catalog version 3 .* epoch 3 no longer lists it: it was removed/) })])
    const fresh = machine(4, JOINER)
    expect(events(fresh.receive(addr(1), ping(1, REMOVED), 10))).toEqual([{ type: 'awaiting-admission', nodeId: 1, address: addr(1), epoch: 3 }])
  })

  it('the joiner refuses the cluster until admitted (nothing merged, still joining), reports that it waits, and adopts the admitting epoch', () => {
    const m4 = machine(4, JOINER)
    const out = m4.receive(addr(1), ping(1, OLD, [rec(1), rec(2)]), 10)
    expect(events(out)).toEqual([{ type: 'awaiting-admission', nodeId: 1, address: addr(1), epoch: 1 }])
    expect(known(m4)).toEqual([4])
    expect(m4.state).toBe('joining')
    // The answer carries the joiner's layout, so the member sees the request.
    expect(sends(out)[0]).toMatchObject({ type: 'ack', layout: JOINER })
    const adopt = m4.receive(addr(1), ping(1, ADMITTED, [rec(1, { heartbeat: 2 }), rec(2)]), 20)
    expect(events(adopt)).toContainEqual({ type: 'layout-newer', nodeId: 1, layout: ADMITTED })
    expect(known(m4)).toEqual([4, 1, 2])
    // Not announced until the shell persisted it and handed it back.
    expect(m4.currentLayout).toEqual(JOINER)
    m4.setLayout(ADMITTED)
    expect(sends(m4.tick(30)).every(msg => msg.layout?.epoch === 2)).toBe(true)
  })

  it('a member adopts a later epoch from a peer; the admitted node is a member after setLayout', () => {
    const m2 = machine(2, OLD)
    expect(events(m2.receive(addr(1), ping(1, ADMITTED, [rec(1), rec(4)]), 10))).toContainEqual({ type: 'layout-newer', nodeId: 1, layout: ADMITTED })
    m2.setLayout(ADMITTED)
    // The joiner's next message (still epoch 1, listing itself) is an older epoch of ours: merged, no request.
    expect(events(m2.receive(addr(4), ping(4, JOINER, [rec(4, { heartbeat: 5 })]), 20)).filter(e => e.type === 'join-request' || e.type === 'layout-refused')).toEqual([])
  })

  it('setLayout accepts only a later epoch of the same cluster', () => {
    const m = machine(1, OLD)
    expect(() => m.setLayout(OLD)).toThrow(/later epoch of the same cluster/)
    expect(() => m.setLayout({ ...ADMITTED, shards: 8 })).toThrow(/later epoch of the same cluster/)
    m.setLayout({ ...ADMITTED, shards: 32 }) // a split's switch
    expect(m.currentLayout?.shards).toBe(32)
  })
})
