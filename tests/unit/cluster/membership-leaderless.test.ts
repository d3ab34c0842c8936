import { describe, expect, it } from 'vitest'
import type { ReplicationOptions } from '../../../src/catalog/replication-options'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { gossipMessageCodec } from '../../../src/cluster/gossip/codec'
import type { GossipPing } from '../../../src/cluster/gossip/types'
import { countedMembers, parseLayout, placedMembers, type ClusterLayout } from '../../../src/cluster/layout'
import { leftLayout, membershipOpLayout, type MembershipFacts } from '../../../src/cluster/membership/drain'
import { admitLayout, compareLayouts, joinedLayout } from '../../../src/cluster/membership/epochs'
import {
  currentMarks, fillJobs, fillTargets, layoutConfirmed, leaderlessGroups, leaderlessMovingText, leaderlessShardsStillMoving, movingFills, quorumReplicas,
  type FillMark, type MoveView
} from '../../../src/cluster/membership/leaderless-moves'
import { preferenceList } from '../../../src/cluster/placement'

// Issue 20 items 1–2 for leaderless_quorum tables (cluster/membership/leaderless-moves.ts): the
// placement before the move counts, writes go to old ∪ new, the new replicas are filled from
// n − W + 1 old ones, and the move ends once every fill is marked.

const ids = (...xs: number[]): NodeId[] => xs.map(asNodeId)
const opts = (mode: ReplicationOptions['replication_mode'], n: number, w: number): ReplicationOptions =>
  ({ replication_mode: mode, replication_factor: n, write_quorum: w, read_quorum: w }) as ReplicationOptions
const base: ClusterLayout = { cluster: 'c', shards: 8, epoch: 1, members: ids(1, 2, 3) }

// The describe blocks below place shards while they are collected.
await initHashing()

/** The move view of layout `l` for `groups`: preference lists over its counted and placed members. */
function viewOf (l: ClusterLayout, groups = leaderlessGroups([{ id: 7, replication: opts('leaderless_quorum', 3, 2) }])): MoveView {
  const lists = (members: NodeId[]): NodeId[][] => Array.from({ length: l.shards }, (_, s) => preferenceList(asShardId(s), members))
  return { groups, countedPrefs: lists(countedMembers(l)), placedPrefs: lists(placedMembers(l)) }
}

describe('which members count, which are placed', () => {
  it('a joining member is placed (written to) but not counted; a leaving one is counted but not placed; left ones neither', () => {
    const l = admitLayout(base, asNodeId(4), true)
    expect(l).toEqual({ cluster: 'c', shards: 8, epoch: 2, members: [1, 2, 3, 4], joining: [4] })
    expect(placedMembers(l)).toEqual([1, 2, 3, 4])
    expect(countedMembers(l)).toEqual([1, 2, 3])
    const d: ClusterLayout = { ...base, members: ids(1, 2, 3, 4), leaving: ids(2), left: ids(3) }
    expect(placedMembers(d)).toEqual([1, 4])
    expect(countedMembers(d)).toEqual([1, 2, 4])
    // Without leaderless tables a join is as before: no joining state.
    expect(admitLayout(base, asNodeId(4))).toEqual({ cluster: 'c', shards: 8, epoch: 2, members: [1, 2, 3, 4] })
  })

  it('the join ends at epoch + 1 with the joining members normal; a drain or removal keeps (or drops) them', () => {
    const l = admitLayout(base, asNodeId(4), true)
    expect(joinedLayout(l)).toEqual({ cluster: 'c', shards: 8, epoch: 3, members: [1, 2, 3, 4] })
    const facts = (layout: ClusterLayout, alive = true): MembershipFacts => ({ layout, maxFactor: 3, blocker: null, alive: () => alive, leaderless: { tables: ['q'], lossy: [] } })
    // A drain waits for the join (one move at a time); a joining node gone for good is removed at
    // once (its copies never counted); another removal waits for the join too.
    expect(() => membershipOpLayout({ kind: 'drain', node: asNodeId(1) }, facts(l))).toThrow(expect.objectContaining({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/\{4\} are joining .* one move at a time/) }))
    expect(membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(l, false))).toEqual({ cluster: 'c', shards: 8, epoch: 3, members: [1, 2, 3] })
    const five: ClusterLayout = { ...l, members: ids(1, 2, 3, 4, 5) }
    expect(() => membershipOpLayout({ kind: 'remove', node: asNodeId(3) }, facts(five, false))).toThrow(expect.objectContaining({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/\{4\} are joining .* one move at a time/) }))
  })

  it('REMOVE NODE n with leaderless tables: n leaving while the survivors fill its replicas; refusals', () => {
    const four: ClusterLayout = { ...base, members: ids(1, 2, 3, 4) }
    const facts = (layout: ClusterLayout, lossy: string[] = [], alive = (id: NodeId) => id !== 4): MembershipFacts =>
      ({ layout, maxFactor: 3, blocker: null, alive, leaderless: { tables: ['q', ...lossy], lossy } })
    const removing = membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(four))
    // `removing`: gone for good, so its Mode 1 groups stop waiting for it (forced-removal.ts goneVoters).
    expect(removing).toEqual({ cluster: 'c', shards: 8, epoch: 2, members: [1, 2, 3, 4], leaving: [4], removing: [4] })
    // FORCE changes nothing when the survivors hold every acknowledged write.
    expect(membershipOpLayout({ kind: 'remove', node: asNodeId(4), force: true }, facts(four))).toEqual(removing)
    // The fill: node 4 down is never a source; the survivors' n − W + 1 = 2 marks per shard end it.
    const v = viewOf(removing)
    const alive = (id: NodeId): boolean => id !== 4
    const fills = movingFills(v)
    expect(fills.length).toBeGreaterThan(0)
    for (const j of fills) expect(j.targets).toEqual(ids(1, 2, 3).filter(id => !v.countedPrefs[j.shard]!.slice(0, 3).includes(id)))
    const marks = new Map<NodeId, FillMark[]>()
    for (const self of ids(1, 2, 3)) marks.set(self, fillJobs(v, self, alive, () => false).map(j => ({ shard: j.shard, factor: j.factor, targets: j.targets })))
    expect(fillJobs(v, asNodeId(4), () => true, () => false).filter(j => !v.countedPrefs[j.shard]!.slice(0, 3).includes(asNodeId(4)))).toEqual([])
    expect(leaderlessShardsStillMoving(v, marks)).toEqual([])
    // A survivor's marks missing: still moving.
    expect(leaderlessShardsStillMoving(v, new Map([...marks].filter(([id]) => id !== 1))).length).toBeGreaterThan(0)
    // write_quorum 1: an acknowledged write may be on node 4 alone.
    expect(() => membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(four, ['w1']))).toThrow(expect.objectContaining({ code: 'SB_REMOVE_LOSES_DATA', message: expect.stringMatching(/table\(s\) w1 acknowledge a write with write_quorum 1.*REMOVE NODE 4 FORCE/) }))
    expect(membershipOpLayout({ kind: 'remove', node: asNodeId(4), force: true }, facts(four, ['w1']))).toEqual({ cluster: 'c', shards: 8, epoch: 2, members: [1, 2, 3] })
    // One move at a time; a node already being removed goes on (its moves no longer need it).
    expect(() => membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(removing))).toThrow(expect.objectContaining({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/already being removed/) }))
    // A drain whose node died goes on as a removal: marked removing, nothing else changes.
    const draining: ClusterLayout = { ...four, epoch: 2, leaving: ids(4) }
    expect(membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(draining))).toEqual({ cluster: 'c', shards: 8, epoch: 3, members: [1, 2, 3, 4], leaving: [4], removing: [4] })
    const five: ClusterLayout = { ...base, members: ids(1, 2, 3, 4, 5), leaving: ids(2) }
    expect(() => membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(five))).toThrow(expect.objectContaining({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/node 2 is leaving/) }))
    // Alive: drain it instead; a left node is taken out of the layout.
    expect(() => membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts(four, [], () => true))).toThrow(expect.objectContaining({ code: 'SB_NODE_ALIVE' }))
    expect(membershipOpLayout({ kind: 'remove', node: asNodeId(4) }, facts({ ...four, epoch: 3, left: ids(4) }))).toEqual({ cluster: 'c', shards: 8, epoch: 4, members: [1, 2, 3] })
  })

  it('a removal under way stays in every later layout the decider writes, and ends with its node left', () => {
    const removing: ClusterLayout = { ...base, epoch: 2, members: ids(1, 2, 3, 4), leaving: ids(4), removing: ids(4), placementShards: 4 }
    // An admission during the removal (a join waits for a leaderless move, but not one of Mode 1 only).
    expect(admitLayout(removing, asNodeId(5))).toEqual({ ...removing, epoch: 3, members: [1, 2, 3, 4, 5] })
    expect(joinedLayout({ ...removing, members: ids(1, 2, 3, 4, 5), joining: ids(5) })).toEqual({ ...removing, epoch: 3, members: [1, 2, 3, 4, 5] })
    // Its end: left, no longer removing (it is in no group any more); the placement count stays.
    expect(leftLayout(removing, asNodeId(4))).toEqual({ cluster: 'c', shards: 8, epoch: 3, members: [1, 2, 3, 4], left: [4], placementShards: 4 })
    // A drain of another node is refused meanwhile (one move at a time); the decree value tells removing apart.
    const facts: MembershipFacts = { layout: removing, maxFactor: 3, blocker: null, alive: () => true, leaderless: { tables: ['q'], lossy: [] } }
    expect(() => membershipOpLayout({ kind: 'drain', node: asNodeId(1) }, facts)).toThrow(expect.objectContaining({ code: 'SB_DRAIN_REFUSED' }))
    expect(membershipOpLayout({ kind: 'cancel', node: asNodeId(4) }, facts)).toEqual({ cluster: 'c', shards: 8, epoch: 3, members: [1, 2, 3, 4], placementShards: 4 })
    expect(compareLayouts({ ...removing, removing: undefined }, removing, asNodeId(2), asNodeId(1)).kind).toBe('conflict')
  })

  it('the layout file and gossip carry joining: parsed (ascending members, disjoint from leaving/left), written at gossip v4 only when present', () => {
    expect(parseLayout({ ...base, members: [1, 2, 3, 4], joining: [4] })).toEqual({ ...base, members: [1, 2, 3, 4], joining: [4] })
    expect(parseLayout({ ...base, members: [1, 2, 3, 4], joining: [] })).toEqual({ ...base, members: [1, 2, 3, 4] })
    expect(parseLayout({ ...base, joining: [4] })).toBeNull()
    expect(parseLayout({ ...base, joining: [3, 2] })).toBeNull()
    expect(parseLayout({ ...base, joining: [3], leaving: [3] })).toBeNull()
    const ping: GossipPing = { type: 'ping', from: asNodeId(1), hlc: '', members: [], sentAt: 0, layout: admitLayout(base, asNodeId(4), true) }
    const b = gossipMessageCodec.encode(ping)
    expect(b[0]).toBe(4)
    expect(gossipMessageCodec.decode(b)).toEqual(ping)
    // The previous release still reads every message without joining members (v2 here: no leaving or left either).
    expect(gossipMessageCodec.encode({ ...ping, layout: base })[0]).toBe(2)
    // Joining differs: a later epoch is adopted, the same epoch is a conflict (two deciders).
    expect(compareLayouts(base, admitLayout(base, asNodeId(4), true), asNodeId(2), asNodeId(1)).kind).toBe('newer')
    expect(compareLayouts(admitLayout(base, asNodeId(4)), admitLayout(base, asNodeId(4), true), asNodeId(2), asNodeId(1)).kind).toBe('conflict')
  })
})

describe('quorum replicas while a shard moves', () => {
  it('old first (they count), then the new ones; the targets are new − old; nothing moves: the placement', () => {
    expect(quorumReplicas(ids(1, 2, 3), ids(1, 4, 2, 3), 3)).toEqual([1, 2, 3, 4])
    expect(fillTargets(ids(1, 2, 3), ids(1, 4, 2, 3), 3)).toEqual([4])
    expect(quorumReplicas(ids(1, 2, 3), ids(1, 2, 3), 3)).toEqual([1, 2, 3])
    expect(fillTargets(ids(1, 2, 3), ids(1, 2, 3), 3)).toEqual([])
    // A smaller factor uses its own prefixes: 4 is no replica of N = 1 here, so nothing moves for it.
    expect(fillTargets(ids(1, 2, 3), ids(1, 4, 2, 3), 1)).toEqual([])
    // A drain: the leaving node 2 stays counted; its replacement 3 is filled.
    expect(quorumReplicas(ids(2, 1, 3), ids(1, 3), 2)).toEqual([2, 1, 3])
  })

  it('every acknowledged write is in some source: n − W + 1 sources overlap any W replicas', () => {
    const groups = leaderlessGroups([
      { id: 1, replication: opts('leaderless_quorum', 3, 2) },
      { id: 2, replication: opts('leaderless_quorum', 3, 1) },
      { id: 3, replication: opts('primary_replica', 3, 1) },
      { id: 4, replication: opts('leaderless_quorum', 1, 1) }
    ])
    expect(groups).toEqual([{ factor: 1, need: 1, tableIds: [4] }, { factor: 3, need: 3, tableIds: [1, 2] }])
    // Exhaustively for n = 3: any W-subset of the old replicas meets any (n − W + 1)-subset.
    for (const w of [1, 2, 3]) {
      const need = leaderlessGroups([{ id: 1, replication: opts('leaderless_quorum', 3, w) }])[0]!.need
      const subsets = (k: number): number[][] => Array.from({ length: 7 }, (_, m) => [0, 1, 2].filter(i => ((m + 1) >> i) & 1)).filter(s => s.length === k)
      for (const acked of subsets(w)) for (const sources of subsets(need)) expect(acked.some(x => sources.includes(x)), `W=${w}`).toBe(true)
    }
  })
})

describe('fills and the end of the move', () => {
  const l = admitLayout(base, asNodeId(4), true)
  const v = viewOf(l)
  const moving = movingFills(v)

  it('a join fills, per shard that gives node 4 a replica, node 4 from the first n − W + 1 live old replicas', () => {
    expect(moving.length).toBeGreaterThan(0)
    for (const j of moving) {
      expect(j.targets).toEqual([4])
      expect(v.placedPrefs[j.shard]!.slice(0, 3)).toContain(4)
    }
    const all = (id: number): FillMark[] => fillJobs(v, asNodeId(id), () => true, () => false)
    for (const j of moving) {
      const sources = [1, 2, 3].filter(id => all(id).some(x => x.shard === j.shard))
      expect(sources).toEqual([...v.countedPrefs[j.shard]!.slice(0, 2)].sort((a, b) => a - b))
    }
    // The first source down: the third old replica takes its place; a target down: nobody fills (hints cover it).
    const j = moving[0]!
    const [first, , third] = v.countedPrefs[j.shard]!
    expect(fillJobs(v, third!, id => id !== first, () => false).some(x => x.shard === j.shard)).toBe(true)
    expect(fillJobs(v, third!, () => true, () => false).some(x => x.shard === j.shard)).toBe(false)
    expect(fillJobs(v, first!, id => id !== 4, () => false)).toEqual([])
    // A finished fill is not run again.
    expect(fillJobs(v, first!, () => true, m => m.shard === j.shard).some(x => x.shard === j.shard)).toBe(false)
  })

  it('a shard is still moving until n − W + 1 distinct old replicas reported its exact fill', () => {
    const shardsMoving = [...new Set(moving.map(j => j.shard))]
    expect(leaderlessShardsStillMoving(v, new Map())).toEqual(shardsMoving)
    const marks = (id: number): FillMark[] => fillJobs(v, asNodeId(id), () => true, () => false).map(({ shard, factor, targets }) => ({ shard, factor, targets }))
    const one = new Map([[asNodeId(1), marks(1)]])
    expect(leaderlessShardsStillMoving(v, one)).toEqual(shardsMoving)
    const all = new Map([1, 2, 3].map(id => [asNodeId(id), marks(id)]))
    expect(leaderlessShardsStillMoving(v, all)).toEqual([])
    // A report from the joining node itself, or of other targets, does not count.
    const j = moving[0]!
    const [a] = v.countedPrefs[j.shard]!
    const forged = new Map<NodeId, FillMark[]>([[a!, [j]], [asNodeId(4), [j]]])
    expect(leaderlessShardsStillMoving(v, forged)).toContain(j.shard)
    const otherTargets = new Map([1, 2, 3].map(id => [asNodeId(id), marks(id).map(m => ({ ...m, targets: ids(5) }))]))
    expect(leaderlessShardsStillMoving(v, otherTargets)).toEqual(shardsMoving)
    // Marks of another move are dropped; SHOW SHARD MAP says what is filled from where.
    expect(currentMarks(v, [...marks(1), { shard: 0, factor: 3, targets: ids(9) }])).toEqual(marks(1))
    expect(leaderlessMovingText(v, j.shard)).toMatch(/^leaderless \(N = 3\): filling \{4\} from \{\d, \d, \d\}$/)
  })

  it('nothing moves without leaderless tables or once the join ended', () => {
    expect(movingFills(viewOf(l, []))).toEqual([])
    expect(movingFills(viewOf(joinedLayout(l)))).toEqual([])
    expect(leaderlessShardsStillMoving(viewOf(joinedLayout(l)), new Map())).toEqual([])
  })
})

describe('layoutConfirmed (a node coordinates leaderless writes once it heard the layout from a peer)', () => {
  it('is false right after a start until some peer announced an epoch, and while a peer announced a newer one than this node holds', () => {
    expect(layoutConfirmed(3, [undefined, undefined], false)).toBe(false)
    expect(layoutConfirmed(3, [undefined, 3], false)).toBe(true)
    expect(layoutConfirmed(3, [2, undefined], false)).toBe(true)
    // Down when a join began: a peer announces epoch 4 before this node adopted it.
    expect(layoutConfirmed(3, [4, 3], false)).toBe(false)
    expect(layoutConfirmed(4, [4, 3], false)).toBe(true)
  })

  it('a node alone in its layout has nobody to hear', () => {
    expect(layoutConfirmed(1, [], true)).toBe(true)
  })
})
