import { describe, expect, it } from 'vitest'
import { ReplicationMachine } from '../../../../src/cluster/replication/machine'
import { shardReplicasHere } from '../../../../src/cluster/membership/moves'
import { MAX_PENDING_PROPOSALS, type AppendEntries, type Ready, type ReplicationConfig, type SyncReplicas, type VoteRequest } from '../../../../src/cluster/replication/types'
import { ManualClock } from '../../../../src/core/clock'
import { asNodeId } from '../../../../src/core/ids'
import { SeededRng } from '../../../../src/core/rng'
import { data, durable, ELECTION_MS, Group, HEARTBEAT_MS, ids, LEASE_MS } from './group'

// One test per rule of the Mode 1 replication machine (src/cluster/replication/machine.ts,
// issue 14); the seeded simulation (tests/sim/replication.sim.test.ts) runs them all together.

const base: Omit<ReplicationConfig, 'self'> = {
  preference: ids(1, 2, 3),
  syncReplicas: 'majority',
  electionTimeoutMs: ELECTION_MS,
  heartbeatMs: HEARTBEAT_MS,
  leaseMs: LEASE_MS,
  maxRetainedBytes: 1_000_000
}

function group (n: number, config: Partial<Omit<ReplicationConfig, 'self'>> = {}, entries = durable(ids(...Array.from({ length: n }, (_, i) => i + 1)))): Group {
  const voters = Array.from({ length: n }, (_, i) => i + 1)
  const g = new Group({ ...base, preference: ids(...voters), ...config })
  for (const v of voters) g.add(asNodeId(v), { ...entries, hard: { ...entries.hard } })
  return g
}

function vote (from: number, generation: number, lastLsn: number, lastGeneration: number, preVote = false): VoteRequest {
  return { type: 'vote', generation, from: asNodeId(from), lastLsn: BigInt(lastLsn), lastGeneration, preVote }
}

function voteAnswer (r: Ready): boolean | undefined {
  const m = r.messages.find(o => o.msg.type === 'vote-reply')?.msg
  return m?.type === 'vote-reply' ? m.granted : undefined
}

describe('elections', () => {
  it('a group of one elects itself and acknowledges on its own durable append', () => {
    const g = group(1)
    g.advance(2 * ELECTION_MS)
    expect(g.m(1).role).toBe('primary')
    expect(g.m(1).generation).toBe(1)
    const r = g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    expect(r.proposed).toBe(2n) // LSN 1 is the primary's noop
    expect(r.entries.map(e => e.lsn)).toEqual([2n])
    expect(r.acks).toEqual([2n])
    expect(r.committed.map(e => e.lsn)).toEqual([2n])
  })

  it('pre-vote, then a real vote persisted before the request is sent; the winner appends a noop', () => {
    const g = group(3)
    g.clocks.get(asNodeId(1))!.advance(2 * ELECTION_MS)
    for (const id of [2, 3]) g.clocks.get(asNodeId(id))!.advance(ELECTION_MS)
    const pre = g.step(1, { type: 'tick' })
    expect(pre.hardState).toBeNull() // a pre-vote changes no generation
    expect(pre.messages).toEqual([{ to: 2, msg: vote(1, 1, 0, 0, true) }, { to: 3, msg: vote(1, 1, 0, 0, true) }])
    g.flush()
    expect(g.m(1).role).toBe('primary')
    const campaign = g.readys.find(r => r.node === 1 && r.ready.events.some(e => e.type === 'campaign' && !e.preVote))!.ready
    expect(campaign.hardState).toEqual({ generation: 1, votedFor: 1 })
    expect(g.m(2).role).toBe('replica')
    expect(g.m(2).primary).toBe(1)
    expect(g.m(2).entryAt(1n)).toMatchObject({ kind: 'noop', generation: 1 })
    expect(g.m(1).commitLsn).toBe(1n)
    // Replicas learn the commit LSN from the next append.
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    expect(g.m(3).commitLsn).toBe(1n)
  })

  it('a voter refuses a candidate whose log is behind its own, and votes once per generation', () => {
    const g = new Group(base)
    const m = g.add(asNodeId(2), durable(ids(1, 2, 3), [data(1, 1), data(2, 2)], 2))
    g.clocks.get(asNodeId(2))!.advance(ELECTION_MS)
    expect(voteAnswer(g.step(2, { type: 'message', msg: vote(1, 3, 5, 1) }))).toBe(false) // older last generation, longer log
    expect(voteAnswer(g.step(2, { type: 'message', msg: vote(1, 3, 1, 2) }))).toBe(false) // same generation, shorter
    expect(m.generation).toBe(3) // a real request for a newer generation moves ours on
    const r = g.step(2, { type: 'message', msg: vote(3, 3, 2, 2) })
    expect(voteAnswer(r)).toBe(true)
    expect(r.hardState).toEqual({ generation: 3, votedFor: 3 })
    expect(voteAnswer(g.step(2, { type: 'message', msg: vote(1, 3, 9, 9) }))).toBe(false) // already voted in 3
    expect(voteAnswer(g.step(2, { type: 'message', msg: vote(3, 3, 2, 2) }))).toBe(true) // the same candidate again: idempotent
  })

  it('two voters pre-voting at once: the higher id yields to the lower, so they do not split the real vote (issue 20, membership sim seeds 175, 278)', () => {
    // A group that elected before (its log holds generation 1): either voter may campaign.
    const g = group(2, {}, durable(ids(1, 2), [data(1, 1)], 1))
    // Both timers run out in the same tick: each sends its pre-vote before hearing the other's.
    g.advance(2 * ELECTION_MS)
    expect(g.m(1).role).toBe('candidate')
    expect(g.m(2).role).toBe('candidate')
    g.flush()
    expect(g.m(1).role).toBe('primary')
    expect(g.m(2).role).toBe('replica')
    expect(g.m(1).generation).toBe(2) // won at the first real vote: no split round
    expect(g.all(2, 'events').flat()).toContainEqual(expect.objectContaining({ type: 'became-replica', reason: 'yields to node 1, pre-voting at the same time' }))
    expect(g.all(2, 'events').flat()).not.toContainEqual(expect.objectContaining({ type: 'campaign', preVote: false }))
  })

  it('the lower id does not yield, nor does the higher one to a candidate whose log is behind', () => {
    const g = group(2, {}, durable(ids(1, 2), [data(1, 1)], 1))
    g.advance(2 * ELECTION_MS)
    const r = g.step(1, { type: 'message', msg: vote(2, 2, 1, 1, true) })
    expect(voteAnswer(r)).toBe(true)
    expect(g.m(1).role).toBe('candidate')
    const h = group(2, {}, durable(ids(1, 2), [data(1, 1)], 1))
    h.advance(2 * ELECTION_MS)
    expect(voteAnswer(h.step(2, { type: 'message', msg: vote(1, 2, 0, 0, true) }))).toBe(false)
    expect(h.m(2).role).toBe('candidate')
  })

  it('pre-vote: a node rejoining from a partition does not depose a healthy primary', () => {
    const g = group(3)
    g.elect(1)
    const start = g.m(1).generation
    // Node 3 was cut off: its timer fired; its pre-votes are refused by nodes hearing from the primary.
    g.clocks.get(asNodeId(3))!.advance(2 * ELECTION_MS)
    g.step(3, { type: 'tick' })
    expect(g.m(3).generation).toBe(start)
    g.flush([2, 3])
    expect(g.m(2).generation).toBe(start)
    expect(g.m(3).generation).toBe(start)
    expect(g.m(1).role).toBe('primary')
    g.advance(HEARTBEAT_MS)
    g.flush()
    expect(g.m(3).role).toBe('replica')
    expect(g.m(1).role).toBe('primary')
    expect(g.m(1).generation).toBe(start)
  })

  it('a restarted voter refuses votes for an election timeout (it may have granted a lease it forgot)', () => {
    const clock = new ManualClock()
    const m = new ReplicationMachine({ ...base, self: asNodeId(2) }, durable(ids(1, 2, 3)), clock, new SeededRng(1))
    const r = m.step({ type: 'message', msg: vote(3, 1, 0, 0, true) })
    expect(voteAnswer(r)).toBe(false)
    expect(r.events).toContainEqual(expect.objectContaining({ type: 'voted', granted: false, reason: expect.stringMatching(/heard from a primary/) }))
    clock.advance(ELECTION_MS)
    expect(voteAnswer(m.step({ type: 'message', msg: vote(3, 1, 0, 0, true) }))).toBe(true)
  })
})

describe('fencing and truncation', () => {
  it('an append of an older generation is refused with ours; the old primary steps down and its pending commits become unknown', () => {
    const g = group(3)
    g.elect(1)
    g.step(1, { type: 'propose', payload: new Uint8Array([7]) })
    // Nodes 2 and 3 elect 2 without node 1.
    g.queue = []
    g.elect(2, [2, 3])
    expect(g.m(2).role).toBe('primary')
    expect(g.m(2).generation).toBe(2)
    const stale: AppendEntries = { type: 'append', generation: 1, from: asNodeId(1), prevLsn: 1n, prevGeneration: 1, entries: [data(2, 1)], leaderCommit: 1n, stamp: 0 }
    const r = g.step(3, { type: 'message', msg: stale })
    expect(r.entries).toEqual([])
    expect(r.messages).toEqual([{ to: 1, msg: expect.objectContaining({ type: 'append-reply', ok: false, generation: 2 }) }])
    g.queue = r.messages.map(o => ({ ...o, from: asNodeId(3) }))
    const before = g.readys.length
    g.flush([1, 3])
    expect(g.m(1).role).toBe('replica')
    const failed = g.all(1, 'failed', before).flat()
    expect(failed).toEqual([{ lsn: 2n, error: expect.objectContaining({ code: 'SB_COMMIT_OUTCOME_UNKNOWN' }) }])
  })

  it('a returning old primary truncates its divergent suffix, never a committed entry', () => {
    const g = new Group(base)
    // Node 3 was primary of generation 1 and appended LSN 2..3 that nobody else got.
    const m = g.add(asNodeId(3), durable(ids(1, 2, 3), [data(1, 1), data(2, 1, 'x'), data(3, 1, 'y')], 1, 1n))
    const fromNew = (entries: AppendEntries['entries'], prevLsn: number, prevGeneration: number, leaderCommit: number): AppendEntries =>
      ({ type: 'append', generation: 2, from: asNodeId(1), prevLsn: BigInt(prevLsn), prevGeneration, entries, leaderCommit: BigInt(leaderCommit), stamp: 5 })
    // A probe at the new primary's end (3, generation 2) is refused with a hint where the logs may agree.
    const probe = g.step(3, { type: 'message', msg: fromNew([], 3, 2, 1) })
    expect(probe.messages[0]!.msg).toMatchObject({ type: 'append-reply', ok: false, hintLsn: 3n, hintGeneration: 1 })
    const r = g.step(3, { type: 'message', msg: fromNew([{ lsn: 2n, generation: 2, kind: 'noop' }, data(3, 2, 'z')], 1, 1, 3) })
    expect(r.truncateAfter).toBe(1n)
    expect(r.entries.map(e => `${e.lsn}:${e.generation}`)).toEqual(['2:2', '3:2'])
    expect(r.events).toContainEqual({ type: 'truncated', afterLsn: 1n, removed: 2 })
    expect(r.committed.map(e => e.lsn)).toEqual([2n, 3n])
    expect(m.lastLsn).toBe(3n)
    // Committed entries are never truncated: a (buggy) append conflicting at LSN 2 is refused whole.
    const bad = g.step(3, { type: 'message', msg: fromNew([data(2, 1)], 1, 1, 3) })
    expect(bad.truncateAfter).toBeNull()
    expect(bad.entries).toEqual([])
    expect(bad.events).toContainEqual(expect.objectContaining({ type: 'refused', reason: expect.stringMatching(/committed LSN 2/) }))
    expect(m.entryAt(2n)).toMatchObject({ generation: 2 })
  })
})

describe('commit rule', () => {
  it('entries of an earlier generation commit only with one of the primary\'s own (Raft §5.4.2, figure 8)', () => {
    const g = new Group(base)
    const old = Array.from({ length: 70 }, (_, i) => data(i + 1, 1))
    g.add(asNodeId(1), durable(ids(1, 2, 3), old, 1))
    g.add(asNodeId(2), durable(ids(1, 2, 3), [], 1))
    g.elect(1, [1, 2])
    expect(g.m(1).role).toBe('primary')
    // Node 2 got the first MAX_ENTRIES_PER_APPEND old entries: a majority holds them, yet they are
    // of generation 1 and stay uncommitted until the noop of generation 2 (LSN 71) is held too.
    expect(g.m(2).lastLsn).toBe(71n)
    const commits = g.readys.filter(r => r.node === 1).map(r => r.ready.committed.map(e => e.lsn)).filter(c => c.length > 0)
    expect(commits).toEqual([Array.from({ length: 71 }, (_, i) => BigInt(i + 1))])
  })
})

describe('heartbeats under load', () => {
  const appendsTo = (r: Ready, to: number): AppendEntries[] => r.messages.filter(o => o.to === to && o.msg.type === 'append').map(o => o.msg as AppendEntries)

  it('entries in flight to a replica are not resent by each heartbeat; only after its match stalls for resendAfter', () => {
    const g = group(3)
    g.elect(1)
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    const match = g.m(2).lastLsn
    g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    g.step(1, { type: 'propose', payload: new Uint8Array([2]) })
    g.queue = [] // in flight: the replies have not come back yet
    g.clocks.get(asNodeId(1))!.advance(HEARTBEAT_MS)
    const beat = appendsTo(g.step(1, { type: 'tick' }), 2)
    // The heartbeat carries the stamp and the commit LSN after the replica's match, no entries.
    expect(beat).toHaveLength(1)
    expect(beat[0]!.entries).toEqual([])
    expect(beat[0]!.prevLsn).toBe(match)
    // The match stays put past max(2 × heartbeat, election / 4): the heartbeat resends from it.
    g.clocks.get(asNodeId(1))!.advance(Math.max(HEARTBEAT_MS, ELECTION_MS / 4))
    const resent = appendsTo(g.step(1, { type: 'tick' }), 2)
    expect(resent.flatMap(a => a.entries.map(e => e.lsn))).toEqual([match + 1n, match + 2n])
    expect(resent[0]!.prevLsn).toBe(match)
    // Delivered, the replica holds both and the primary acknowledges them.
    const before = g.readys.length
    g.flush()
    expect(g.m(2).lastLsn).toBe(match + 2n)
    expect(g.all(1, 'acks', before).flat()).toEqual([match + 1n, match + 2n])
  })
})

describe('replication.sync_replicas', () => {
  function acksAfterReplies (voters: number, sync: SyncReplicas, replies: number): bigint[] {
    const g = group(voters, { syncReplicas: sync })
    g.elect(1)
    const r = g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    const acks = [...r.acks]
    const lsn = r.proposed!
    // Only `replies` replicas answer.
    const answering = Array.from({ length: replies }, (_, i) => i + 2)
    const before = g.readys.length
    g.flush([1, ...answering])
    acks.push(...g.all(1, 'acks', before).flat())
    return acks.filter(a => a === lsn)
  }

  it('0: acknowledged on the primary\'s own durable append (in the same Ready, after its entries)', () => {
    expect(acksAfterReplies(3, 0, 0)).toEqual([2n])
  })

  it('1: after one replica holds it', () => {
    expect(acksAfterReplies(3, 1, 0)).toEqual([])
    expect(acksAfterReplies(3, 1, 1)).toEqual([2n])
  })

  it('majority: 1 of 2 replicas in a group of 3, 2 of 4 in a group of 5', () => {
    expect(acksAfterReplies(3, 'majority', 0)).toEqual([])
    expect(acksAfterReplies(3, 'majority', 1)).toEqual([2n])
    expect(acksAfterReplies(5, 'majority', 1)).toEqual([])
    expect(acksAfterReplies(5, 'majority', 2)).toEqual([2n])
  })

  it('a number above a majority waits for that many replicas though the entry committed earlier', () => {
    expect(acksAfterReplies(5, 4, 3)).toEqual([])
    expect(acksAfterReplies(5, 4, 4)).toEqual([2n])
    // Capped at the replicas there are.
    expect(acksAfterReplies(3, 7, 2)).toEqual([2n])
  })

  it('the primary refuses commits beyond MAX_PENDING_PROPOSALS unacknowledged ones (backpressure)', () => {
    const g = group(3)
    g.elect(1)
    g.queue = []
    const m = g.m(1)
    for (let i = 0; i < MAX_PENDING_PROPOSALS; i++) expect(m.step({ type: 'propose', payload: new Uint8Array([1]) }).proposed).not.toBeNull()
    const r = m.step({ type: 'propose', payload: new Uint8Array([1]) })
    expect(r.proposed).toBeNull()
    expect(r.entries).toEqual([])
    expect(r.failed).toEqual([{ lsn: null, error: expect.objectContaining({ code: 'SB_REPLICATION_BACKLOG_FULL' }) }])
  })

  it('a replica refuses commits with SB_NOT_PRIMARY naming the primary', () => {
    const g = group(3)
    g.elect(1)
    const r = g.step(2, { type: 'propose', payload: new Uint8Array([1]) })
    expect(r.proposed).toBeNull()
    expect(r.failed).toEqual([{ lsn: null, error: expect.objectContaining({ code: 'SB_NOT_PRIMARY', details: expect.objectContaining({ primary: 1 }) }) }])
  })
})

describe('lease and check-quorum', () => {
  it('reads are served while a majority acknowledged within the lease; a cut-off primary stops, then steps down', () => {
    const g = group(3)
    g.elect(1)
    const granted = g.step(1, { type: 'read' }).read
    expect(granted).toMatchObject({ granted: true, readLsn: 1n })
    // Cut off: no replies reach it any more.
    // Ticking all along (no stall of its own), every message it sends lost.
    const tickFor = (ms: number): void => {
      for (let t = 0; t < ms; t += HEARTBEAT_MS / 2) {
        g.clocks.get(asNodeId(1))!.advance(HEARTBEAT_MS / 2)
        g.step(1, { type: 'tick' })
        g.queue = []
      }
    }
    g.queue = []
    tickFor(LEASE_MS)
    const refused = g.step(1, { type: 'read' }).read
    expect(refused).toMatchObject({ granted: false, error: expect.objectContaining({ code: 'SB_NOT_PRIMARY' }) })
    expect(g.m(1).role).toBe('primary')
    // It steps down once the election timeout passed.
    tickFor(ELECTION_MS - LEASE_MS)
    expect(g.m(1).role).toBe('replica')
    expect(g.all(1, 'events').flat()).toContainEqual(expect.objectContaining({ type: 'became-replica', reason: expect.stringMatching(/check-quorum/) }))
  })

  it('a primary whose own process stalled does not step down for the silence it caused; the lease still lapses', () => {
    const g = group(3)
    g.elect(1)
    g.step(1, { type: 'tick' })
    g.flush()
    expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: true })
    // Stalled three election timeouts (SIGSTOP, a long GC): no tick ran, nothing was read.
    g.clocks.get(asNodeId(1))!.advance(3 * ELECTION_MS)
    g.step(1, { type: 'tick' })
    expect(g.m(1).role).toBe('primary')
    // Reads wait for a majority to answer a heartbeat sent after the stall.
    expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: false })
    g.flush()
    g.clocks.get(asNodeId(1))!.advance(HEARTBEAT_MS)
    g.step(1, { type: 'tick' })
    g.flush()
    expect(g.m(1).role).toBe('primary')
    expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: true })
  })

  it('after a stall a cut-off primary still steps down, one election timeout later', () => {
    const g = group(3)
    g.elect(1)
    g.queue = []
    g.clocks.get(asNodeId(1))!.advance(3 * ELECTION_MS)
    g.step(1, { type: 'tick' })
    expect(g.m(1).role).toBe('primary')
    let waited = 0
    while (g.m(1).role === 'primary' && waited < 3 * ELECTION_MS) {
      g.clocks.get(asNodeId(1))!.advance(HEARTBEAT_MS / 2)
      waited += HEARTBEAT_MS / 2
      g.step(1, { type: 'tick' })
      g.queue = []
    }
    expect(g.m(1).role).toBe('replica')
    expect(waited).toBeGreaterThanOrEqual(ELECTION_MS)
    expect(waited).toBeLessThanOrEqual(ELECTION_MS + HEARTBEAT_MS)
    // Stalls one after another: a second grace only two election timeouts after the first.
    const h = group(3)
    h.elect(1)
    h.queue = []
    for (let i = 0; i < 8 && h.m(1).role === 'primary'; i++) {
      h.clocks.get(asNodeId(1))!.advance(ELECTION_MS / 2)
      h.step(1, { type: 'tick' })
      h.queue = []
    }
    expect(h.m(1).role).toBe('replica')
  })

  it('a replica whose own process stalled does not campaign on waking; the primary\'s heartbeat, read next, keeps it', () => {
    const g = group(3)
    g.elect(1)
    g.step(2, { type: 'tick' })
    g.clocks.get(asNodeId(2))!.advance(3 * ELECTION_MS)
    const r = g.step(2, { type: 'tick' })
    expect(r.events.filter(e => e.type === 'campaign')).toEqual([])
    expect(r.messages).toEqual([])
  })

  it('the lease must stay below the election timeout with the drift margin', () => {
    expect(() => new ReplicationMachine({ ...base, self: asNodeId(1), leaseMs: ELECTION_MS }, durable(ids(1)), new ManualClock(), new SeededRng(1))).toThrow(/leaseMs/)
  })
})

describe('learners, snapshots and log retention', () => {
  it('a new replica learns the log, is promoted to voter once caught up, and counts from then on', () => {
    const g = group(3, { preference: ids(1, 2, 3, 4) })
    g.add(asNodeId(4), durable([]))
    expect(g.m(4).role).toBe('learner')
    g.elect(1)
    g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    g.flush()
    expect(g.m(4).lastLsn).toBe(2n)
    expect(g.m(1).voters).toEqual([1, 2, 3])
    const r = g.step(1, { type: 'tick' })
    expect(r.events).toContainEqual({ type: 'membership', change: 'promote', node: 4, lsn: 3n })
    g.flush()
    expect(g.m(4).role).toBe('replica')
    expect(g.m(2).voters).toEqual([1, 2, 3, 4])
    // Four voters: a majority is three.
    g.queue = []
    const p = g.step(1, { type: 'propose', payload: new Uint8Array([2]) })
    const before = g.readys.length
    g.flush([1, 4])
    expect(g.all(1, 'acks', before).flat()).toEqual([])
    g.queue = p.messages.map(o => ({ ...o, from: asNodeId(1) }))
    g.flush()
    expect(g.m(1).commitLsn).toBe(p.proposed)
  })

  it('committedVoters lags the log\'s voters until the config entry commits (a leaving primary keeps its copy until then)', () => {
    const g = group(3, { preference: ids(1, 2, 3, 4) })
    g.add(asNodeId(4), durable([]))
    g.elect(1)
    g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    g.flush()
    const r = g.step(1, { type: 'tick' })
    expect(r.events).toContainEqual({ type: 'membership', change: 'promote', node: 4, lsn: 3n })
    expect(g.m(1).voters).toEqual([1, 2, 3, 4])
    expect(g.m(1).committedVoters).toEqual([1, 2, 3])
    // Node 1 leaving with target {2, 3, 4}: its log's voters hold the whole target already, but
    // over the committed voters it still holds a copy the others need.
    expect(shardReplicasHere(asNodeId(1), 3, ids(2, 3, 4), ids(1, 2, 3), g.m(1).voters, false, false, g.m(1).committedVoters)).toEqual(ids(2, 3, 4, 1))
    g.flush()
    expect(g.m(1).commitLsn).toBeGreaterThanOrEqual(3n)
    expect(g.m(1).committedVoters).toEqual([1, 2, 3, 4])
    expect(shardReplicasHere(asNodeId(1), 3, ids(2, 3, 4), ids(1, 2, 3), g.m(1).voters, false, false, g.m(1).committedVoters)).toEqual(ids(2, 3, 4))
  })

  it('a voter that leaves the preference list is removed, one change at a time; the primary never removes itself', () => {
    const g = group(3)
    g.elect(1)
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    g.step(1, { type: 'preference', nodes: ids(2) })
    const r = g.step(1, { type: 'tick' })
    expect(r.events).toContainEqual({ type: 'membership', change: 'remove', node: 3, lsn: 2n })
    expect(g.m(1).voters).toEqual([1, 2])
    // The next change waits until this one commits.
    expect(g.step(1, { type: 'tick' }).events.filter(e => e.type === 'membership')).toEqual([])
    g.flush([1, 2])
    expect(g.m(1).commitLsn).toBe(2n)
    expect(g.step(1, { type: 'tick' }).events.filter(e => e.type === 'membership')).toEqual([])
    expect(g.m(1).voters).toEqual([1, 2])
  })

  it('a removed voter still gets its removal and learns it committed, then the primary lets it go (bench rebalance: one stayed a candidate for good)', () => {
    const g = group(3)
    g.elect(1)
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    g.step(1, { type: 'preference', nodes: ids(1, 2) })
    expect(g.step(1, { type: 'tick' }).events).toContainEqual({ type: 'membership', change: 'remove', node: 3, lsn: 2n })
    // Node 3's copy of the removal is delayed: the removal commits with node 2 alone.
    g.flush([1, 2])
    expect(g.m(1).commitLsn).toBe(2n)
    expect(g.m(3).voters).toEqual([1, 2, 3])
    // The heartbeats still reach node 3: it holds the removal, knows it committed, no longer counts itself.
    for (let i = 0; i < 6; i++) { g.advance(HEARTBEAT_MS, [1]); g.flush() }
    expect(g.m(3).voters).toEqual([1, 2])
    expect(g.m(3).committedVoters).toEqual([1, 2])
    expect(shardReplicasHere(asNodeId(3), 2, ids(1, 2), ids(1, 2), g.m(3).voters, false, false, g.m(3).committedVoters)).toEqual(ids(1, 2))
    // Then the primary stops sending to it.
    expect(g.m(1).progress().map(p => p.node)).toEqual([2])
  })

  it('a removed voter that never answers is let go after a bounded time', () => {
    const g = group(3)
    g.elect(1)
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    g.step(1, { type: 'preference', nodes: ids(1, 2) })
    g.step(1, { type: 'tick' })
    g.flush([1, 2])
    expect(g.m(1).progress().map(p => p.node)).toEqual([2, 3])
    for (let t = 0; t <= 10 * ELECTION_MS; t += HEARTBEAT_MS) { g.advance(HEARTBEAT_MS, [1, 2]); g.flush([1, 2]) }
    expect(g.m(1).progress().map(p => p.node)).toEqual([2])
  })

  it('a replica behind the retained log start gets a snapshot, then the log; retention follows the slowest replica', () => {
    const g = group(3, { maxRetainedBytes: 200 })
    g.elect(1)
    g.flush()
    // Node 3 falls behind; the primary commits with node 2 and compacts beyond the size bound.
    for (let i = 0; i < 10; i++) {
      const r = g.step(1, { type: 'propose', payload: new Uint8Array(40) })
      expect(r.replicasNeedFrom).toBe(2n) // node 3 still needs everything after the noop
      g.flush([1, 2])
    }
    const last = g.m(1).lastLsn
    expect(g.m(1).commitLsn).toBe(last)
    expect(g.m(1).logBase).toBeGreaterThan(1n)
    const before = g.readys.length
    g.advance(HEARTBEAT_MS, [1])
    const snaps = g.all(1, 'snapshots', before).flat()
    expect(snaps).toEqual([{ to: 3, base: { lsn: last, generation: 1, voters: [1, 2, 3] }, generation: 1 }])
    // A stream that failed (the shell says so) is offered again at the next heartbeat.
    g.step(1, { type: 'snapshot-failed', to: asNodeId(3) })
    const again = g.readys.length
    g.advance(HEARTBEAT_MS, [1])
    expect(g.all(1, 'snapshots', again).flat()).toEqual(snaps)
    // The storage side streams the engine; the header is stepped once the chunks are staged.
    const r = g.step(3, { type: 'message', msg: { type: 'snapshot', generation: 1, from: asNodeId(1), base: snaps[0]!.base } })
    expect(r.installSnapshot).toEqual(snaps[0]!.base)
    expect(g.m(3).appliedLsn).toBe(last)
    g.queue = r.messages.map(o => ({ ...o, from: asNodeId(3) }))
    g.flush()
    const p = g.step(1, { type: 'propose', payload: new Uint8Array([9]) })
    g.flush()
    expect(g.m(3).lastLsn).toBe(p.proposed)
    expect(g.all(1, 'replicasNeedFrom').at(-1)).toBe(p.proposed! + 1n)
  })

  it('re-bootstrap (anti-entropy): only when a majority of voters without the replica holds every commit; its old log never counts again', () => {
    const g = group(3)
    g.elect(1)
    g.flush()
    g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    g.flush()
    expect(g.m(1).rebootstrapRefusal(asNodeId(1))).toMatch(/not a replica of this group/)
    expect(g.m(2).rebootstrapRefusal(asNodeId(3))).toMatch(/not the primary/)
    // Node 2 cut off: a commit made with node 3 alone must not let node 3's copy be wiped.
    const c = g.step(1, { type: 'propose', payload: new Uint8Array([2]) })
    g.flush([1, 3])
    expect(g.m(1).commitLsn).toBe(c.proposed)
    expect(g.m(1).rebootstrapRefusal(asNodeId(3))).toMatch(/only 1 of the 3 voters besides node 3 hold LSN/)
    expect(g.m(1).rebootstrapRefusal(asNodeId(2))).toBeNull()
    const before = g.readys.length
    g.step(1, { type: 'rebootstrap', to: asNodeId(3) })
    expect(g.readys.length).toBe(before + 1)
    expect(g.all(1, 'snapshots', before).flat()).toEqual([]) // refused: nothing asked of the shell
    // Node 2 back and caught up (its lost appends resent once its match stalled): now node 3 may be re-bootstrapped.
    for (let i = 0; i < 3; i++) { g.advance(HEARTBEAT_MS, [1]); g.flush() }
    expect(g.m(1).rebootstrapRefusal(asNodeId(3))).toBeNull()
    const at = g.readys.length
    g.step(1, { type: 'rebootstrap', to: asNodeId(3) })
    expect(g.all(1, 'snapshots', at).flat().map(x => x.to)).toEqual([3])
    expect(g.m(1).rebootstrapRefusal(asNodeId(3))).toMatch(/being bootstrapped already/)
    // Its answers about the log it is about to wipe (heartbeats) count for nothing: its match
    // stays 0 and, with node 2 cut off, nothing new commits.
    const last = g.m(1).lastLsn
    const p = g.step(1, { type: 'propose', payload: new Uint8Array([3]) })
    g.advance(HEARTBEAT_MS, [1])
    g.flush([1, 3])
    expect(g.m(1).commitLsn).toBe(last)
    expect(g.m(1).progress().find(x => x.node === 3)!.match).toBe(0n)
    expect(g.m(1).rebootstrapRefusal(asNodeId(3))).toMatch(/being bootstrapped already/)
    // A failed stream is started again at the next heartbeat, never replaced by appends.
    g.step(1, { type: 'snapshot-failed', to: asNodeId(3) })
    const again = g.readys.length
    g.advance(HEARTBEAT_MS, [1])
    expect(g.all(1, 'snapshots', again).flat().map(x => x.to)).toEqual([3])
    g.flush([1, 3])
    expect(g.m(1).commitLsn).toBe(last)
    expect(g.m(1).progress().find(x => x.node === 3)!.match).toBe(0n)
    // The stream ends (the shell says so), then the install's acknowledgement counts; the entries after follow and commit.
    g.step(1, { type: 'snapshot-streamed', to: asNodeId(3) })
    const r = g.step(3, { type: 'message', msg: { type: 'snapshot', generation: 1, from: asNodeId(1), base: { lsn: last, generation: 1, voters: ids(1, 2, 3) } } })
    g.queue = r.messages.map(o => ({ ...o, from: asNodeId(3) }))
    g.flush([1, 3])
    g.advance(HEARTBEAT_MS, [1])
    g.flush([1, 3])
    expect(g.m(1).commitLsn).toBe(p.proposed)
    expect(g.m(1).rebootstrapRefusal(asNodeId(3))).toMatch(/only 1 of the 3 voters besides node 3/)
  })

  it('re-bootstrap is never allowed in a group of two (the survivor alone is no majority)', () => {
    const g = group(2)
    g.elect(1)
    g.flush()
    expect(g.m(1).rebootstrapRefusal(asNodeId(2))).toMatch(/only 1 of the 2 voters besides node 2 hold LSN \d+; a majority \(2\) must/)
  })
})

describe('leadership transfer (a graceful stop, issue 20 item 4)', () => {
  it('the primary stops taking commits and reads, brings the most caught-up voter level, and it wins at once despite stickiness', () => {
    const g = group(3)
    g.elect(1)
    g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    g.flush([1, 2]) // node 3 misses the entry: node 2 is the most caught up
    const start = g.step(1, { type: 'transfer' })
    expect(start.events).toContainEqual({ type: 'transfer', phase: 'started', to: 2, generation: 1 })
    // From now on nothing new is accepted here, and no read is served.
    const p = g.step(1, { type: 'propose', payload: new Uint8Array([2]) })
    expect(p.proposed).toBeNull()
    expect(p.failed).toEqual([{ lsn: null, error: expect.objectContaining({ code: 'SB_NOT_PRIMARY' }) }])
    expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: false, error: expect.objectContaining({ code: 'SB_NOT_PRIMARY' }) })
    // TimeoutNow goes out with the next heartbeat (node 2's log holds all of ours), and node 2
    // campaigns without pre-vote; node 3 heard from the primary just now, yet grants the transfer's vote.
    g.advance(HEARTBEAT_MS)
    expect(g.queue).toContainEqual(expect.objectContaining({ to: 2, msg: { type: 'timeout-now', generation: 1, from: 1 } }))
    g.flush()
    expect(g.m(2).role).toBe('primary')
    expect(g.m(2).generation).toBe(2)
    expect(g.m(1).role).toBe('replica')
    expect(g.m(1).primary).toBe(2)
    expect(g.all(2, 'events').flat()).not.toContainEqual(expect.objectContaining({ type: 'campaign', preVote: true }))
    // The committed entry is on the new primary's log, and it commits new writes.
    const dataAt2 = g.all(2, 'committed').flat().find(e => e.lsn === 2n)
    expect(dataAt2?.kind).toBe('data')
    const r = g.step(2, { type: 'propose', payload: new Uint8Array([3]) })
    g.flush()
    expect(g.all(2, 'acks').flat()).toContain(r.proposed)
  })

  it('without the transfer flag a voter in its lease still refuses, and a transfer vote the primary did not ask for is refused by it', () => {
    const g = group(3)
    g.elect(1)
    // Node 3 heard from primary 1 just now: an ordinary vote for generation 2 is refused, a transfer's granted.
    expect(voteAnswer(g.step(3, { type: 'message', msg: vote(2, 2, 1, 1) }))).toBe(false)
    expect(voteAnswer(g.step(3, { type: 'message', msg: { ...vote(2, 2, 1, 1), transfer: true } }))).toBe(true)
    // The primary itself grants a transfer's vote only to the node it hands over to (it is not handing over).
    expect(voteAnswer(g.step(1, { type: 'message', msg: { ...vote(2, 2, 1, 1), transfer: true } }))).toBe(false)
    expect(g.m(1).role).toBe('primary')
  })

  it('a TimeoutNow from anyone but the primary of our generation changes nothing', () => {
    const g = group(3)
    g.elect(1)
    const stale = g.step(2, { type: 'message', msg: { type: 'timeout-now', generation: 0, from: asNodeId(1) } })
    const other = g.step(2, { type: 'message', msg: { type: 'timeout-now', generation: 1, from: asNodeId(3) } })
    for (const r of [stale, other]) {
      expect(r.hardState).toBeNull()
      expect(r.events).toContainEqual(expect.objectContaining({ type: 'refused' }))
    }
    expect(g.m(2).role).toBe('replica')
  })

  it('a transfer that finds no successor within the election timeout steps down (never resumes serving in its generation)', () => {
    const g = group(3)
    g.elect(1)
    g.step(1, { type: 'transfer' })
    g.queue = [] // the replicas never answer
    for (let t = 0; t < ELECTION_MS; t += HEARTBEAT_MS) {
      g.advance(HEARTBEAT_MS, [1])
      g.queue = []
      expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: false })
    }
    g.advance(HEARTBEAT_MS, [1])
    expect(g.m(1).role).toBe('replica')
    expect(g.all(1, 'events').flat()).toContainEqual(expect.objectContaining({ type: 'transfer', phase: 'abandoned', to: 2 }))
  })

  it('a primary leaving the preference list (a move) hands over to a voter that stays, even one less caught up (bench rebalance)', () => {
    const g = group(3)
    g.elect(1)
    g.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    g.flush([1, 2]) // node 2 is the most caught up, but leaves with node 1
    g.step(1, { type: 'preference', nodes: ids(3) })
    const start = g.step(1, { type: 'transfer' })
    expect(start.events).toContainEqual({ type: 'transfer', phase: 'started', to: 3, generation: 1 })
    // The same input with no voter of the list besides itself: the most caught-up voter as before.
    const h = group(3)
    h.elect(1)
    h.step(1, { type: 'propose', payload: new Uint8Array([1]) })
    h.flush([1, 2])
    h.step(1, { type: 'preference', nodes: ids(1) })
    expect(h.step(1, { type: 'transfer' }).events).toContainEqual({ type: 'transfer', phase: 'started', to: 2, generation: 1 })
  })

  it('a group of one, or a replica, ignores the input', () => {
    const one = group(1)
    one.advance(2 * ELECTION_MS)
    expect(one.step(1, { type: 'transfer' }).events).toEqual([])
    expect(one.m(1).role).toBe('primary')
    const g = group(3)
    g.elect(1)
    expect(g.step(2, { type: 'transfer' }).events).toEqual([])
  })
})
