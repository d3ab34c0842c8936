import { describe, expect, it } from 'vitest'
import { forcedWitnesses, goneVoters, removedAcross } from '../../../src/cluster/membership/forced-removal'
import { membershipOpLayout } from '../../../src/cluster/membership/drain'
import type { ReplEntry, ReplicationConfig } from '../../../src/cluster/replication/types'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import { data, durable, ELECTION_MS, Group, HEARTBEAT_MS, ids, LEASE_MS } from './replication/group'

// REMOVE NODE of a node gone for good (issue 20): the forced voter removal — the pure rule
// (cluster/membership/forced-removal.ts) and what the replication machine does with it.

describe('removedAcross (the removed set recorded around a layout change)', () => {
  it('a node the next layout drops is recorded before the layout, and stays', () => {
    expect(removedAcross(ids(), ids(1, 2, 3), ids(1, 2))).toEqual({ before: [3], after: [3] })
    expect(removedAcross(ids(3), ids(1, 2), ids(1, 2, 4))).toEqual({ before: [3], after: [3] })
    expect(removedAcross(ids(3), ids(1, 2, 4), ids(1, 2))).toEqual({ before: [3, 4], after: [3, 4] })
  })

  it('a removed node admitted again is forgotten only after the layout admitting it is recorded', () => {
    expect(removedAcross(ids(3, 4), ids(1, 2), ids(1, 2, 3))).toEqual({ before: [3, 4], after: [4] })
  })
})

describe('goneVoters', () => {
  const facts = (voters: number[], members: number[], alive: number[] = [1], removed: number[] = [2, 4]): Parameters<typeof goneVoters>[0] =>
    ({ self: asNodeId(1), voters: ids(...voters), members: ids(...members), removed: ids(...removed), alive: (id: NodeId) => alive.includes(id) })

  it('a voter this node saw removed from the layout, and gossip shows down, is left out', () => {
    expect(goneVoters(facts([1, 2], [1, 3]))).toEqual([2])
    expect(goneVoters(facts([1, 2, 4], [1, 2, 3], [1, 2]))).toEqual([4])
  })

  it('never while the node is alive, never while it is a member (down is not gone)', () => {
    expect(goneVoters(facts([1, 2], [1, 3], [1, 2]))).toEqual([])
    expect(goneVoters(facts([1, 2], [1, 2, 3], [1]))).toEqual([])
  })

  it('never a voter merely unknown here (admitted at an epoch this node has not learned): only one it saw removed', () => {
    expect(goneVoters(facts([1, 2, 5], [1, 2, 3], [1, 2], [4]))).toEqual([])
  })

  it('a member the layout marks removing (REMOVE NODE with leaderless tables) counts as gone while down: a group {1, 2} elects without it', () => {
    const removing = (alive: number[]): Parameters<typeof goneVoters>[0] => ({ ...facts([1, 2], [1, 2, 3], alive, []), removing: ids(2) })
    expect(goneVoters(removing([1]))).toEqual([2])
    expect(goneVoters({ ...removing([1]), voters: ids(1, 2, 3) })).toEqual([2])
    // Alive again: waited for, as any voter; a member merely leaving (a drain) is never gone.
    expect(goneVoters(removing([1, 2]))).toEqual([])
    expect(goneVoters({ ...removing([1]), removing: [] })).toEqual([])
    // The removing node itself, or every voter removing: nothing forced.
    expect(goneVoters({ ...removing([1]), self: asNodeId(2) })).toEqual([])
    expect(goneVoters({ ...removing([3]), self: asNodeId(3), removing: ids(1, 2) })).toEqual([])
  })

  it('never this node, never every voter', () => {
    expect(goneVoters(facts([1, 2], [3]))).toEqual([2])
    expect(goneVoters({ self: asNodeId(3), voters: ids(1, 2), members: ids(3), removed: ids(1, 2), alive: () => false })).toEqual([])
  })

  it('REMOVE NODE of a live node stays refused (SB_NODE_ALIVE): the layout never removes it', () => {
    const layout = { cluster: 'c', shards: 4, epoch: 3, members: ids(1, 2, 3) }
    expect(() => membershipOpLayout({ kind: 'remove', node: asNodeId(2) }, { layout, maxFactor: 2, blocker: null, alive: () => true }))
      .toThrow(expect.objectContaining({ code: 'SB_NODE_ALIVE' }))
  })
})

const base: Omit<ReplicationConfig, 'self'> = {
  preference: ids(1, 2),
  syncReplicas: 'majority',
  electionTimeoutMs: ELECTION_MS,
  heartbeatMs: HEARTBEAT_MS,
  leaseMs: LEASE_MS,
  maxRetainedBytes: 1_000_000
}

/** A fresh group of `voters`; the first of the preference list (`first`) is the one that may start it. */
function group (voters: number[], first = voters[0]!): Group {
  const g = new Group({ ...base, preference: ids(first, ...voters.filter(v => v !== first)) })
  for (const v of voters) g.add(asNodeId(v), durable(ids(...voters)))
  return g
}

/** Proposes `n` commits on `primary` and delivers among `among`; returns the LSNs acknowledged. */
function commit (g: Group, primary: number, n: number, among?: number[]): bigint[] {
  const from = g.readys.length
  for (let i = 0; i < n; i++) g.step(primary, { type: 'propose', payload: new Uint8Array([i]) })
  g.flush(among)
  return g.all(primary, 'acks', from).flat()
}

/** Lets `id` run alone for `ms` (its clock only), ticking each heartbeat; its messages go nowhere. */
function runAlone (g: Group, id: number, ms: number): void {
  for (let t = 0; t < ms; t += HEARTBEAT_MS) {
    g.clocks.get(asNodeId(id))!.advance(HEARTBEAT_MS)
    g.step(id, { type: 'tick' })
    g.queue = g.queue.filter(o => o.to === id)
  }
}

/**
 * Membership simulation seed 953: nodes 1 and 5 list voters {1, 2, 3, 5}; the group went on with
 * {2, 3, 5} (config entry at LSN 4 they never received) and acknowledged LSN 5–6 on {2, 3}.
 */
function staleVotersGroup (): Group {
  const g = new Group({ ...base, preference: ids(5, 3, 1) })
  const config = (lsn: number, voters: number[]): ReplEntry => ({ lsn: BigInt(lsn), generation: 1, kind: 'config', voters: ids(...voters) })
  const upTo3 = [data(1, 1), data(2, 1), config(3, [1, 2, 3, 5])]
  g.add(asNodeId(1), durable(ids(1, 2, 3, 5), upTo3, 1))
  g.add(asNodeId(5), durable(ids(1, 2, 3, 5), upTo3, 1))
  g.add(asNodeId(3), durable(ids(1, 2, 3, 5), [...upTo3, config(4, [2, 3, 5]), data(5, 1), data(6, 1)], 1, 6n))
  return g
}

describe('forced removal: witnesses', () => {
  it('every live member of the layout but this node', () => {
    const alive = (id: NodeId): boolean => id !== 4
    expect(forcedWitnesses({ self: asNodeId(2), members: ids(1, 2, 3, 4, 5), alive })).toEqual([1, 3, 5])
    expect(forcedWitnesses({ self: asNodeId(2), members: ids(2), alive })).toEqual([])
  })
})

describe('forced removal in the replication machine', () => {
  it('N = 2: the survivor of a voter gone for good elects itself, keeps every acknowledged entry, removes it by config entry, then promotes its replacement', () => {
    const g = group([1, 2], 2)
    g.elect(2)
    expect(g.m(2).role).toBe('primary')
    const acked = commit(g, 2, 5)
    expect(acked).toHaveLength(5)
    // Node 2 is gone for good. Without the forced change node 1 never gets a primary.
    g.machines.delete(asNodeId(2))
    runAlone(g, 1, 10 * ELECTION_MS)
    expect(g.m(1).role).not.toBe('primary')
    // The layout removed node 2 (placement now names node 3): node 1 leaves node 2 out of its
    // majorities (logged), and is elected.
    g.step(1, { type: 'preference', nodes: ids(1, 3) })
    const r = g.step(1, { type: 'gone', nodes: ids(2) })
    expect(r.events).toContainEqual({ type: 'forced-removal', nodes: [2], voters: [1] })
    runAlone(g, 1, 3 * ELECTION_MS)
    expect(g.m(1).role).toBe('primary')
    expect(g.all(1, 'truncateAfter').filter(t => t !== null)).toEqual([])
    for (const lsn of acked) expect(g.m(1).entryAt(lsn)).toMatchObject({ kind: 'data' })
    // Its own commits are acknowledged on its own now.
    expect(commit(g, 1, 1, [1])).toHaveLength(1)
    // The primary removes node 2 by an ordinary config entry (committed by the survivors' majority).
    const removal = g.readys.flatMap(x => x.node === 1 ? x.ready.events : []).find(e => e.type === 'membership')
    expect(removal).toMatchObject({ type: 'membership', change: 'remove', node: 2 })
    expect(g.m(1).voters).toEqual([1])
    // Node 3, the replacement, learns the log and is promoted: two voters again.
    g.add(asNodeId(3), durable([]))
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    expect(g.m(1).voters).toEqual([1, 3])
    expect(g.m(3).voters).toEqual([1, 3])
    for (const lsn of acked) expect(g.m(3).entryAt(lsn)).toMatchObject({ kind: 'data' })
  })

  it('N = 3: the survivor holding more of the log wins; the one behind cannot, so no entry a survivor holds is lost', () => {
    const g = group([1, 2, 3], 3)
    g.elect(3)
    commit(g, 3, 2)
    // Entries that reach node 1 only (acknowledged: 1 and 3 are a majority), node 2 behind.
    const acked = commit(g, 3, 3, [1, 3])
    expect(acked).toHaveLength(3)
    expect(g.m(2).lastLsn).toBeLessThan(g.m(1).lastLsn)
    g.machines.delete(asNodeId(3))
    g.queue = []
    for (const id of [1, 2]) {
      g.step(id, { type: 'gone', nodes: ids(3) })
      g.step(id, { type: 'preference', nodes: ids(1, 2, 4) })
    }
    // Node 2 campaigns first: refused (its log is behind node 1's), so it never leads.
    g.elect(2, [1, 2])
    expect(g.m(2).role).not.toBe('primary')
    g.elect(1, [1, 2])
    expect(g.m(1).role).toBe('primary')
    for (const lsn of acked) {
      expect(g.m(1).entryAt(lsn)).toMatchObject({ kind: 'data' })
      expect(g.m(2).entryAt(lsn)).toMatchObject({ kind: 'data' })
    }
  })

  it('a node removed from the group by config entries it never received cannot use a forced removal: a live witness with the newer log refuses it; that witness is elected', () => {
    // Node 2's log stopped at LSN 3 with voters {1, 2}; the group went on without it — node 4
    // added, node 2 removed (config entries at LSN 4 and 5) — and acknowledged LSN 6–8 on {1, 4}.
    // Then node 1 is removed from the cluster for good (seen in the membership simulation, seed 695).
    const g = new Group({ ...base, preference: ids(1, 2, 4) })
    const upTo3 = [data(1, 1), data(2, 1), data(3, 1)]
    const config = (lsn: number, voters: number[]): ReplEntry => ({ lsn: BigInt(lsn), generation: 1, kind: 'config', voters: ids(...voters) })
    g.add(asNodeId(2), durable(ids(1, 2), upTo3, 1))
    g.add(asNodeId(4), durable(ids(1, 2), [...upTo3, config(4, [1, 2, 4]), config(5, [1, 4]), data(6, 1), data(7, 1), data(8, 1)], 1, 8n))
    expect(g.m(2).voters).toEqual([1, 2])
    expect(g.m(4).voters).toEqual([1, 4])
    // Node 2 forces node 1 out: a majority of one on its own — but node 4, alive, is a witness.
    g.step(2, { type: 'gone', nodes: ids(1), witnesses: ids(4) })
    g.step(4, { type: 'gone', nodes: ids(1), witnesses: ids(2) })
    g.elect(2, [2, 4])
    expect(g.m(2).role).not.toBe('primary')
    expect(g.readys.flatMap(r => r.node === 4 ? r.ready.events : [])).toContainEqual(expect.objectContaining({ type: 'voted', candidate: 2, granted: false }))
    // Node 4 holds the newer configuration and log: node 2 grants its pre-vote; it leads, every entry kept.
    g.elect(4, [2, 4])
    expect(g.m(4).role).toBe('primary')
    expect(g.m(4).commitLsn).toBeGreaterThanOrEqual(8n)
    expect(g.all(4, 'truncateAfter').filter(t => t !== null)).toEqual([])
    expect(g.m(2).primary).toBe(4)
  })

  it('a forced campaign ends on any live voter\'s refusal too: two voters with a stale configuration cannot outvote the one holding the newer log', () => {
    // Membership simulation seed 953: nodes 1 and 5 list voters {1, 2, 3, 5}; the group went on
    // with {2, 3, 5} (config entry at LSN 4 they never received) and acknowledged LSN 5–6 on {2, 3}.
    // Node 2 is removed for good. Left out, nodes 1 and 5 are two of {1, 3, 5}: a majority without
    // node 3, whose log holds what was acknowledged.
    const g = staleVotersGroup()
    expect(g.m(3).voters).toEqual([2, 3, 5])
    g.step(5, { type: 'gone', nodes: ids(2), witnesses: ids(1, 3) })
    g.step(1, { type: 'gone', nodes: ids(2), witnesses: ids(3, 5) })
    g.step(3, { type: 'gone', nodes: ids(2), witnesses: ids(1, 5) })
    g.elect(5, [1, 3, 5])
    expect(g.m(5).role).not.toBe('primary')
    expect(g.readys.flatMap(r => r.node === 3 ? r.ready.events : [])).toContainEqual(expect.objectContaining({ type: 'voted', candidate: 5, granted: false }))
    // Node 3 holds the newer configuration: it is elected with node 5's vote, every entry kept.
    g.elect(3, [1, 3, 5])
    expect(g.m(3).role).toBe('primary')
    expect(g.m(3).commitLsn).toBeGreaterThanOrEqual(6n)
    expect(g.all(3, 'truncateAfter').filter(t => t !== null)).toEqual([])
  })

  it('a forced campaign needs every voter left, reachable or not: two voters with a stale configuration cannot elect while the one holding the newer log is cut off', () => {
    // Membership simulation seed 953 of the schedule with statements during partitions (session
    // 14): as above, but node 3 is cut off from nodes 1 and 5 when node 2 is removed, so their
    // gossip shows it down and it is no live witness. Nodes 1 and 5 are two of {1, 3, 5}: without
    // node 3's grant they would elect a primary lacking LSN 4–6 (acknowledged on {2, 3}).
    const g = staleVotersGroup()
    g.step(5, { type: 'gone', nodes: ids(2), witnesses: ids(1) })
    g.step(1, { type: 'gone', nodes: ids(2), witnesses: ids(5) })
    g.step(3, { type: 'gone', nodes: ids(2), witnesses: [] })
    g.elect(5, [1, 5])
    g.elect(1, [1, 5])
    expect(g.m(5).role).not.toBe('primary')
    expect(g.m(1).role).not.toBe('primary')
    // The pre-vote asked node 3 too (a voter left), though no live witness.
    expect(g.readys.flatMap(r => r.node === 5 ? r.ready.messages : []).some(o => o.to === 3 && o.msg.type === 'vote')).toBe(true)
    // Healed: node 3 refuses them and is elected itself, every entry kept.
    g.step(5, { type: 'gone', nodes: ids(2), witnesses: ids(1, 3) })
    g.step(1, { type: 'gone', nodes: ids(2), witnesses: ids(3, 5) })
    g.step(3, { type: 'gone', nodes: ids(2), witnesses: ids(1, 5) })
    g.queue = []
    g.elect(3, [1, 3, 5])
    expect(g.m(3).role).toBe('primary')
    expect(g.m(3).commitLsn).toBeGreaterThanOrEqual(6n)
    expect(g.all(3, 'truncateAfter').filter(t => t !== null)).toEqual([])
  })

  it('without a voter forced out, witnesses change nothing: a pre-vote asks the voters only', () => {
    const g = group([1, 2])
    g.step(1, { type: 'gone', nodes: [], witnesses: ids(3) })
    g.clocks.get(asNodeId(1))!.advance(2 * ELECTION_MS)
    const r = g.step(1, { type: 'tick' })
    expect(r.messages.map(o => o.to)).toEqual([2])
  })

  it('a gone node is not heard: its vote requests and appends are ignored', () => {
    const g = group([1, 2, 3])
    g.step(1, { type: 'gone', nodes: ids(3) })
    g.clocks.get(asNodeId(1))!.advance(2 * ELECTION_MS)
    const r = g.step(1, { type: 'message', msg: { type: 'vote', generation: 5, from: asNodeId(3), lastLsn: 100n, lastGeneration: 4, preVote: false } })
    expect(r.messages).toEqual([])
    expect(g.m(1).generation).toBe(0)
    const a = g.step(1, { type: 'message', msg: { type: 'append', generation: 5, from: asNodeId(3), prevLsn: 0n, prevGeneration: 0, entries: [], leaderCommit: 0n, stamp: 0 } })
    expect(a.messages).toEqual([])
    expect(g.m(1).primary).toBe(0)
  })

  it('never itself', () => {
    const g = group([1, 2])
    expect(g.step(1, { type: 'gone', nodes: ids(1) }).events).toEqual([])
    runAlone(g, 1, 4 * ELECTION_MS)
    expect(g.m(1).role).not.toBe('primary')
  })
})
