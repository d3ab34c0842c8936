import { beforeAll, describe, expect, it } from 'vitest'
import { holdingMembers, layoutMemberState, parseLayout, placedMembers, type ClusterLayout } from '../../../src/cluster/layout'
import { leftLayout, lostShards, membershipOpLayout, shardsStillMoving, singleCopyShardsStillMoving, type MembershipFacts, type MembershipOp } from '../../../src/cluster/membership/drain'
import { admitLayout, compareLayouts, decider } from '../../../src/cluster/membership/epochs'
import { groupReplicas, membershipBlocker } from '../../../src/cluster/membership/moves'
import { preferenceList } from '../../../src/cluster/placement'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import type { ScratchBirdError } from '../../../src/core/errors'

// Issue 20 item 2: DRAIN NODE / its CANCEL / REMOVE NODE as pure rules — the layouts they write,
// their refusals, when a drain ends, and placement over the members a drain leaves.

beforeAll(async () => { await initHashing() })

const ids = (...xs: number[]): NodeId[] => xs.map(asNodeId)
const n = asNodeId
const FOUR: ClusterLayout = { cluster: 'prod', shards: 8, epoch: 3, members: ids(1, 2, 3, 4) }
const facts = (over: Partial<MembershipFacts> = {}): MembershipFacts => ({ layout: FOUR, maxFactor: 2, blocker: null, alive: () => true, ...over })
const op = (kind: MembershipOp['kind'], node: number): MembershipOp => ({ kind, node: n(node) })

function refusal (f: () => unknown): { code: string, message: string } {
  try { f() } catch (e) { return { code: (e as ScratchBirdError).code, message: (e as Error).message } }
  throw new Error('expected a refusal')
}

describe('DRAIN NODE: leaving, then left', () => {
  it('writes epoch + 1 with the node leaving; placement drops it, its copies stay holders until left', () => {
    const leaving = membershipOpLayout(op('drain', 4), facts())
    expect(leaving).toEqual({ ...FOUR, epoch: 4, leaving: [4] })
    expect(layoutMemberState(leaving, n(4))).toBe('leaving')
    expect(placedMembers(leaving)).toEqual([1, 2, 3])
    expect(holdingMembers(leaving)).toEqual([1, 2, 3, 4])
    const left = leftLayout(leaving, n(4))
    expect(left).toEqual({ ...FOUR, epoch: 5, left: [4] })
    expect(placedMembers(left)).toEqual([1, 2, 3])
    expect(holdingMembers(left)).toEqual([1, 2, 3])
    // Still a member (it adopts the epoch that says it left), but no longer the decider.
    expect(left.members).toContain(4)
    expect(decider({ ...left, left: ids(1) }, () => true)).toBe(2)
  })

  it('a leaving node decides nothing while another member is alive: it may be stopped once left, and a layout only it adopted would be lost with it', () => {
    // Membership simulation (N = 1, session 14): node 2 drained, the decider of its own end (epoch
    // 3, chosen with node 3's acceptance but adopted by node 2 alone); stopped for good once left,
    // it took epochs 2 and 3 with it: nodes 1 and 3 stayed at epoch 1 for good, refusing every
    // later decree (their acceptor records name epoch 3).
    const leaving = { ...FOUR, epoch: 4, leaving: ids(1) }
    expect(decider(leaving, () => true)).toBe(2)
    expect(decider(leaving, id => id !== 2)).toBe(3)
    // Alone alive, it still decides (nothing else could, and no other node could learn it anyway).
    expect(decider(leaving, id => id === 1)).toBe(1)
  })

  it('the drained node\'s shards go to the node next in each preference list, nothing else moves', () => {
    const leaving = membershipOpLayout(op('drain', 4), facts())
    for (let s = 0; s < 8; s++) {
      const before = preferenceList(asShardId(s), FOUR.members, 2)
      const after = preferenceList(asShardId(s), placedMembers(leaving), 2)
      expect(after).not.toContain(4)
      if (!before.includes(n(4))) expect(after).toEqual(before)
      else expect(after.filter(id => before.includes(id)).length).toBe(1)
    }
  })

  it('CANCEL puts a leaving node back to normal (epoch + 1); a finished drain cannot be cancelled', () => {
    const leaving = membershipOpLayout(op('drain', 4), facts())
    expect(membershipOpLayout(op('cancel', 4), facts({ layout: leaving }))).toEqual({ ...FOUR, epoch: 5 })
    expect(refusal(() => membershipOpLayout(op('cancel', 3), facts({ layout: leaving })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/node 3 is not being drained/) })
    const left = leftLayout(leaving, n(4))
    expect(refusal(() => membershipOpLayout(op('cancel', 4), facts({ layout: left })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/has finished \(left\); to use it again, REMOVE NODE 4/) })
    // Single-copy shards: those already moved cannot be placed back by a cancel.
    expect(refusal(() => membershipOpLayout(op('cancel', 4), facts({ layout: leaving, singleCopy: true })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/single copy .* let the drain finish/) })
  })

  it('refuses a second drain, one below N nodes, the last node, a down node, a non-member, twice the same node', () => {
    const leaving = membershipOpLayout(op('drain', 4), facts())
    expect(refusal(() => membershipOpLayout(op('drain', 3), facts({ layout: leaving })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/node 4 is being drained; one drain at a time .*DRAIN NODE 4 CANCEL/) })
    expect(refusal(() => membershipOpLayout(op('drain', 4), facts({ layout: leaving })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/already being drained/) })
    expect(refusal(() => membershipOpLayout(op('drain', 4), facts({ maxFactor: 4 })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/3 node\(s\) \{1, 2, 3\} would stay, fewer than the largest replication_factor \(4\)/) })
    // N = 3 of 4 nodes: one may go, not a second (after the first left).
    const left = leftLayout(membershipOpLayout(op('drain', 4), facts({ maxFactor: 3 })), n(4))
    expect(refusal(() => membershipOpLayout(op('drain', 1), facts({ layout: left, maxFactor: 3 }))).code).toBe('SB_DRAIN_REFUSED')
    expect(refusal(() => membershipOpLayout(op('drain', 4), facts({ layout: left })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/already drained \(left\)/) })
    const one: ClusterLayout = { cluster: 'prod', shards: 8, epoch: 1, members: ids(1) }
    expect(refusal(() => membershipOpLayout(op('drain', 1), facts({ layout: one, maxFactor: 0 })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/the last node/) })
    expect(refusal(() => membershipOpLayout(op('drain', 4), facts({ alive: id => id !== 4 })))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/node 4 is down.*REMOVE NODE 4/) })
    expect(refusal(() => membershipOpLayout(op('drain', 9), facts()))).toMatchObject({ code: 'SB_DRAIN_REFUSED', message: expect.stringMatching(/node 9 is not a member/) })
    expect(refusal(() => membershipOpLayout(op('drain', 4), facts({ blocker: 'leaderless_quorum table(s) lr cannot …' })))).toMatchObject({ code: 'SB_MEMBERSHIP_REFUSED', message: expect.stringMatching(/DRAIN NODE 4 refused: leaderless_quorum table\(s\) lr/) })
  })

  it('ends when every shard\'s primary runs with its whole target and without the leaving node', () => {
    const targets = [ids(1, 2), ids(2, 3), [], ids(3, 1)]
    // Shard 0 done; shard 1 still has node 4; shard 3: its replacement not a voter yet; shard 2 has no group.
    const reports = new Map([[0, [ids(1, 2)]], [1, [ids(2, 3, 4)]], [3, [ids(3, 4)]]])
    expect(shardsStillMoving(n(4), targets, reports)).toEqual([1, 3])
    // A stale leader's older view does not hide the newer one's; a shard nobody leads is not done.
    expect(shardsStillMoving(n(4), targets, new Map([[0, [ids(1, 4), ids(1, 2)]], [1, [ids(2, 3)]], [3, [ids(1, 3)]]]))).toEqual([])
    expect(shardsStillMoving(n(4), targets, new Map([[0, [ids(1, 2)]], [1, [ids(2, 3)]]]))).toEqual([3])
  })
})

describe('single-copy moves (N = 1): when each shard moved (the decider ends the join or drain on none)', () => {
  it('a shard whose old and new owner differ moved once a node reports leading it with the new owner and without the old', () => {
    const before = ids(1, 2, 3, 2)
    const target = ids(1, 4, 3, 4)
    // Nothing reported: shards 1 and 3 still move (0 and 2 stay where they are).
    expect(singleCopyShardsStillMoving(before, target, new Map())).toEqual([1, 3])
    // The old owner leading with both (promoted, not handed over yet), or the new one before it removed the old: still moving.
    expect(singleCopyShardsStillMoving(before, target, new Map([[1, [ids(2, 4)]], [3, [ids(2)]]]))).toEqual([1, 3])
    // The new owner leads alone: moved; a stale report of the old owner beside it does not hide it.
    expect(singleCopyShardsStillMoving(before, target, new Map([[1, [ids(4)]], [3, [ids(2, 4), ids(4)]]]))).toEqual([])
  })
})

describe('REMOVE NODE', () => {
  it('a node down for good: epoch + 1 without it; a live one is refused (drain it instead)', () => {
    expect(membershipOpLayout(op('remove', 3), facts({ alive: id => id !== 3 }))).toEqual({ ...FOUR, epoch: 4, members: ids(1, 2, 4) })
    expect(refusal(() => membershipOpLayout(op('remove', 3), facts()))).toMatchObject({ code: 'SB_NODE_ALIVE', message: expect.stringMatching(/drain it instead \(DRAIN NODE 3\)/) })
    expect(refusal(() => membershipOpLayout(op('remove', 3), facts({ alive: id => id !== 3, maxFactor: 4 }))).code).toBe('SB_DRAIN_REFUSED')
  })

  it('a drained (left) node is removed even while it runs; a leaving one that went down ends its drain', () => {
    const left = leftLayout(membershipOpLayout(op('drain', 4), facts()), n(4))
    expect(membershipOpLayout(op('remove', 4), facts({ layout: left }))).toEqual({ ...FOUR, epoch: 6, members: ids(1, 2, 3) })
    const leaving = membershipOpLayout(op('drain', 4), facts())
    expect(membershipOpLayout(op('remove', 4), facts({ layout: leaving, alive: id => id !== 4 }))).toEqual({ ...FOUR, epoch: 5, members: ids(1, 2, 3) })
  })

  it('single-copy tables do not block a removal: the shards whose only copy was there are named lost', () => {
    const tables = [{ name: 'one', replication: { replication_mode: 'primary_replica', replication_factor: 1, write_quorum: 1, read_quorum: 1 } },
      { name: 'two', replication: { replication_mode: 'primary_replica', replication_factor: 2, write_quorum: 1, read_quorum: 1 } }] as unknown as Parameters<typeof membershipBlocker>[0]
    expect(membershipBlocker(tables)).toMatch(/keep a single copy/)
    expect(membershipBlocker(tables, { singleCopy: false })).toBeNull()
    const prefs = [ids(3, 1), ids(1, 3), ids(3, 2), ids(2, 4)]
    expect(lostShards(prefs, n(3), 1)).toEqual([0, 2])
    expect(lostShards(prefs, n(3), 0)).toEqual([])
  })

  it('a removal that would lose the only copy of some shards is refused (SB_REMOVE_LOSES_DATA, naming them) unless FORCE', () => {
    const down = { alive: (id: NodeId) => id !== 3, lost: { tables: ['one'], shards: [0, 2] } }
    expect(refusal(() => membershipOpLayout(op('remove', 3), facts(down)))).toMatchObject({
      code: 'SB_REMOVE_LOSES_DATA',
      message: expect.stringMatching(/shard\(s\) 0, 2 of table\(s\) one .*only copy on node 3.*REMOVE NODE 3 FORCE/)
    })
    expect(membershipOpLayout({ ...op('remove', 3), force: true }, facts(down))).toEqual({ ...FOUR, epoch: 4, members: ids(1, 2, 4) })
    // Nothing lost (no single-copy shard there, or a drained node): no FORCE needed.
    expect(membershipOpLayout(op('remove', 3), facts({ ...down, lost: { tables: ['one'], shards: [] } }))).toEqual({ ...FOUR, epoch: 4, members: ids(1, 2, 4) })
    const left = leftLayout(membershipOpLayout(op('drain', 4), facts()), n(4))
    expect(membershipOpLayout(op('remove', 4), facts({ layout: left, lost: { tables: ['one'], shards: [1] } }))).toMatchObject({ members: ids(1, 2, 3) })
  })
})

describe('layouts with drain states', () => {
  it('parse: leaving/left ascending members, disjoint; absent is none; empty lists are omitted', () => {
    expect(parseLayout({ ...FOUR, leaving: [4] })).toEqual({ ...FOUR, leaving: [4] })
    expect(parseLayout({ ...FOUR, leaving: [], left: [] })).toEqual(FOUR)
    expect(parseLayout({ ...FOUR, leaving: [5] })).toBeNull()
    expect(parseLayout({ ...FOUR, left: [3, 2] })).toBeNull()
    expect(parseLayout({ ...FOUR, leaving: [2], left: [2] })).toBeNull()
    expect(parseLayout({ ...FOUR, left: 'x' })).toBeNull()
  })

  it('gossip: a later epoch with a node leaving is adopted; the same epoch with other states is a conflict', () => {
    const leaving = membershipOpLayout(op('drain', 4), facts())
    expect(compareLayouts(FOUR, leaving, n(4), n(1))).toEqual({ kind: 'newer' })
    expect(compareLayouts(leaving, FOUR, n(1), n(4))).toEqual({ kind: 'older' })
    expect(compareLayouts(leaving, { ...FOUR, epoch: 4 }, n(1), n(2)).kind).toBe('conflict')
    // The drained node adopts the epoch that says it left (it is still listed).
    expect(compareLayouts(leaving, leftLayout(leaving, n(4)), n(4), n(1))).toEqual({ kind: 'newer' })
    // A join during a drain keeps the drain.
    expect(admitLayout(leaving, n(5))).toEqual({ ...FOUR, epoch: 5, members: ids(1, 2, 3, 4, 5), leaving: [4] })
  })

  it('Mode 1 groups: a leaving node that restarts runs its group as before the drain until its log says otherwise', () => {
    const target = ids(1, 2)
    const held = ids(1, 4)
    // No group yet (restart) or one still loading: node 4 starts it with the voters of before the
    // drain (a group without a config entry takes its start list as its voters), node 1 too.
    expect(groupReplicas(n(4), target, held, [], false)).toEqual([1, 4])
    expect(groupReplicas(n(1), target, held, [], false)).toEqual([1, 4])
    // The new replica starts one with both, to receive its bootstrap.
    expect(groupReplicas(n(2), target, held, [], false)).toEqual([1, 2, 4])
    // Its log's voters rule once loaded: old voters stay until every new replica is one.
    expect(groupReplicas(n(4), target, held, ids(1, 4), false)).toEqual([1, 2, 4])
    expect(groupReplicas(n(4), target, held, ids(1, 2, 4), false)).toEqual([1, 2])
    // A copy it let go is gone.
    expect(groupReplicas(n(4), target, held, [], true)).toEqual([1, 2])
    // No drain: held is the target, nothing changes.
    expect(groupReplicas(n(1), target, target, [], false)).toEqual([1, 2])
    expect(groupReplicas(n(3), target, target, [], false)).toEqual([1, 2])
  })
})
