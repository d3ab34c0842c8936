import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { ClusterLayout } from '../../../src/cluster/layout'
import { splitDdlRefusal, type SplitCatalogFacts } from '../../../src/cluster/split-ddl-guard'
import { ddlSplit, heldByRecordOnly, SPLIT_DECREE_SEND_MS, SPLIT_LOCK_TTL_MS, SplitDdlLock, splitDdlQuorum, splitLockBlocker, type DdlSplitView, type ReportedHold, type SplitHold, type SplitLockOutcome, type SplitLockRequest, type SplitLockView } from '../../../src/cluster/split-ddl-lock'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import { answerDecree, DecreeProposer, type Ballot, type DecreeRecord, type ProposalOutcome } from '../../../src/cluster/membership/epoch-decree'
import { configuredLayout } from '../../../src/cluster/layout'
import { admitLayout } from '../../../src/cluster/membership/epochs'
import { ClusterSplit } from '../../../src/node/cluster-split'
import { DECREE_CALL_TIMEOUT_MS, type DecreeResult } from '../../../src/node/membership-decree'

// The split lock (cluster/split-ddl-lock.ts): the handshake between the membership decider and
// the catalog coordinator when they are different nodes, so that no DDL the split depends on is
// built in the round in which the intent is decided. The lock's rules, and a coordinator and a
// decider (node/cluster-split.ts) driven through one interleaving after another: the coordinator
// here is a SplitDdlLock with the DDL guard it feeds (what ClusterShell.checkProvidable does).

const [N1, N2, N3] = [1, 2, 3].map(asNodeId) as [NodeId, NodeId, NodeId]
const TAKE: SplitLockRequest = { take: true, epoch: 4, shards: 2, to: 4 }
const view = (over: Partial<SplitLockView> = {}): SplitLockView => ({ now: 1000, isCoordinator: true, ddlRunning: false, layoutEpoch: 4, catalogVersion: 9, ...over })
const facts = (mode1Copies: number): SplitCatalogFacts => ({ tables: [], mode1Copies })

describe('the split lock on the catalog coordinator', () => {
  it('is refused while a DDL runs there, when not coordinator, past the epoch, or held by another decider', () => {
    const lock = new SplitDdlLock()
    expect(lock.request(N2, TAKE, view({ ddlRunning: true }))).toMatchObject({ granted: false, catalogVersion: 9, refusal: expect.stringMatching(/DDL statement is being applied/) })
    expect(lock.request(N2, TAKE, view({ isCoordinator: false }))).toMatchObject({ granted: false, refusal: expect.stringMatching(/not the catalog coordinator/) })
    expect(lock.request(N2, TAKE, view({ layoutEpoch: 5 }))).toMatchObject({ granted: false, refusal: expect.stringMatching(/epoch 5 already/) })
    expect(lock.current(1000, 4)).toBeNull()
    expect(lock.request(N2, TAKE, view())).toEqual({ granted: true, catalogVersion: 9, refusal: '' })
    expect(lock.request(N3, TAKE, view())).toMatchObject({ granted: false, refusal: expect.stringMatching(/node 2 holds it/) })
    // The same decider asking again (a retry) keeps it.
    expect(lock.request(N2, TAKE, view())).toMatchObject({ granted: true })
  })

  it('holds until the layout passes the epoch, the decider releases it, or the TTL lapses', () => {
    const lock = new SplitDdlLock()
    lock.request(N2, TAKE, view())
    expect(lock.current(1000, 4)).toEqual({ shards: 2, to: 4 })
    // Another node's release, or one of another epoch, changes nothing.
    lock.request(N3, { ...TAKE, take: false }, view())
    lock.request(N2, { ...TAKE, take: false, epoch: 3 }, view())
    expect(lock.current(1000, 4)).toEqual({ shards: 2, to: 4 })
    expect(lock.current(1000, 5)).toBeNull()
    lock.request(N2, TAKE, view())
    lock.request(N2, { ...TAKE, take: false }, view())
    expect(lock.current(1000, 4)).toBeNull()
    lock.request(N2, TAKE, view())
    expect(lock.current(1000 + SPLIT_LOCK_TTL_MS - 1, 4)).not.toBeNull()
    expect(lock.current(1000 + SPLIT_LOCK_TTL_MS, 4)).toBeNull()
  })

  it('the decider refuses the start when the lock is refused or unreachable, or a catalog (its own, a live member\'s) is older than the coordinator\'s', () => {
    const granted = { granted: true, catalogVersion: 9, refusal: '' }
    const o = (over: Partial<SplitLockOutcome>): SplitLockOutcome => ({ reply: granted, coordinator: N1, ownCatalogVersion: 9, behind: [], ...over })
    expect(splitLockBlocker(o({}))).toBeNull()
    expect(splitLockBlocker(o({ behind: [{ node: N3, version: 9 }] }))).toBeNull()
    expect(splitLockBlocker(o({ reply: { error: 'timed out' } }))).toMatchObject({ what: 'catalog_change', detail: expect.stringMatching(/node 1\) could not be asked.*timed out/) })
    expect(splitLockBlocker(o({ reply: { granted: false, catalogVersion: 9, refusal: 'busy' } }))).toMatchObject({ what: 'catalog_change', detail: expect.stringMatching(/cannot hold DDL back.*busy/) })
    expect(splitLockBlocker(o({ ownCatalogVersion: 8 }))).toMatchObject({ what: 'catalog_change', detail: expect.stringMatching(/version 8\) is older than the coordinator's \(version 9/) })
    expect(splitLockBlocker(o({ behind: [{ node: N3, version: 8 }] }))).toMatchObject({ what: 'catalog_change', detail: expect.stringMatching(/node\(s\) 3 \(catalog version 8\)/) })
  })
})

/**
 * A coordinator (node 1) and a decider (node 2) that are different nodes. The coordinator's layout
 * records no split until it adopts the intent; its DDL guard is judged as checkProvidable judges
 * it: the layout's split, else the lock's.
 */
function pair (answer: (l: ClusterLayout) => DecreeResult = l => ({ kind: 'chosen', layout: l, own: true })) {
  const base: ClusterLayout = { cluster: 'c', shards: 2, epoch: 4, members: [N1, N2] }
  const coord = { layout: base, ddlRunning: false, catalogVersion: 9, lock: new SplitDdlLock(), now: 1000 }
  const ddl = (copiesAfter: number): string => {
    const split = coord.layout.split !== undefined ? { shards: coord.layout.shards, to: coord.layout.split.to } : coord.lock.current(coord.now, coord.layout.epoch)
    const refused = splitDdlRefusal(split, facts(2), facts(copiesAfter), 'ALTER TABLE t SET replication_factor')
    return refused === null ? 'applied' : refused.code
  }
  const state = { deciderLayout: base, duringDecree: null as string | null, asked: [] as ClusterLayout[], released: 0 }
  const serve = (req: SplitLockRequest) => coord.lock.request(N2, req, { now: coord.now, isCoordinator: true, ddlRunning: coord.ddlRunning, layoutEpoch: coord.layout.epoch, catalogVersion: coord.catalogVersion })
  const split = new ClusterSplit({
    layout: () => state.deciderLayout,
    isDecider: () => true,
    proposing: () => false,
    decide: async (next) => {
      state.asked.push(next)
      // The round in which the intent is decided: the coordinator has not adopted it yet, and a
      // client sends it a DDL that raises the copies Mode 1 keeps.
      state.duringDecree = ddl(3)
      const result = answer(next)
      if (result.kind === 'chosen' && result.own) state.deciderLayout = next
      return { result, adopted: result.kind === 'chosen' && result.own }
    },
    votersText: () => '1, 2',
    holdersOf: () => [N1, N2],
    reports: () => new Map(),
    lockSplit: async req => ({ reply: serve(req), coordinator: N1, ownCatalogVersion: 9, behind: [] }),
    releaseSplit: async req => { state.released++; serve(req) },
    log: pino({ level: 'silent' })
  })
  return { split, coord, state, ddl }
}

describe('a DDL racing a split\'s start when the catalog coordinator is not the decider', () => {
  it('a DDL sent to the coordinator while the intent is being decided is refused (SB_SHARD_SPLIT_IN_PROGRESS), and keeps being so once the coordinator adopts the intent', async () => {
    const { split, coord, state, ddl } = pair()
    expect(ddl(3)).toBe('applied')
    await split.op(4)
    expect(state.asked).toHaveLength(1)
    expect(state.duringDecree).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Still refused after the decree, before the coordinator heard of the intent …
    expect(ddl(3)).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // … and after: the layout's split refuses it from then on (the lock lapsed with the epoch).
    coord.layout = state.deciderLayout
    expect(coord.lock.current(coord.now, coord.layout.epoch)).toBeNull()
    expect(ddl(3)).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // A DDL the split does not depend on passes.
    expect(ddl(2)).toBe('applied')
  })

  it('a DDL running on the coordinator refuses the start (nothing decided); a decree not chosen releases the lock', async () => {
    const a = pair()
    a.coord.ddlRunning = true
    await expect(a.split.op(4)).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_UNSUPPORTED', details: { blockers: ['catalog_change'] } })
    expect(a.state.asked).toEqual([])
    const b = pair(l => ({ kind: 'chosen', layout: { ...l, split: undefined } as ClusterLayout, own: false }))
    await expect(b.split.op(4)).rejects.toMatchObject({ code: 'SB_MEMBERSHIP_REFUSED' })
    expect(b.state.duringDecree).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    expect(b.state.released).toBe(1)
    expect(b.ddl(3)).toBe('applied')
    // Undecided, but voters may hold it: the lock stays (it may still be chosen).
    const c = pair(() => ({ kind: 'undecided', missing: [N1], maybe: true }))
    await expect(c.split.op(4)).rejects.toMatchObject({ code: 'SB_MEMBERSHIP_NO_MAJORITY' })
    expect(c.state.released).toBe(0)
    expect(c.ddl(3)).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
  })
})

/**
 * The coordinator's judgment of a DDL that raises the copies Mode 1 keeps from 2 to 3, built on
 * a node whose layout is of epoch 4 (no split recorded), from its own view and what the
 * statement's fetch round reported (ClusterShell.checkProvidable).
 */
function judge (over: Partial<DdlSplitView>): string {
  const v: DdlSplitView = { layoutEpoch: 4, recorded: null, deciding: null, lock: null, accepted: null, roundSince: 0, reported: [], ...over }
  const refused = splitDdlRefusal(ddlSplit(v), facts(2), facts(3), 'ALTER TABLE t SET replication_factor')
  return refused === null ? 'applied' : refused.code
}
const reported = (from: NodeId, hold: SplitHold | null, receivedAt: number): ReportedHold[] => hold === null ? [] : [{ from, hold, receivedAt }]
const ACCEPTED: SplitHold = { kind: 'accepted', epoch: 5, shards: 2, to: 4, lapsedMs: 0 }

describe('the split lock across coordinator hand-overs and decrees outliving the lock', () => {
  it('a coordinator hand-over inside the window: the new coordinator\'s fetch round hears the old one\'s lock, held or lapsed after the round began', () => {
    // Decider 3 took the lock on node 2 (node 1 was down) at t = 1000 on node 2's clock.
    const old = new SplitDdlLock()
    expect(old.request(N3, TAKE, view())).toMatchObject({ granted: true })
    // Node 1 comes back and coordinates a DDL: its round fetches node 2 (its clock runs 50 000 ms
    // ahead of node 2's; only durations cross). The lock is held: refused.
    expect(judge({ roundSince: 51_200, reported: reported(N2, old.hold(1200, 4), 51_210) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Node 2's lock lapses while node 1's round runs: still refused (the decree's acceptances may
    // have landed on members node 1 fetched from before).
    const lapsedAfter = old.hold(1000 + SPLIT_LOCK_TTL_MS + 300, 4)
    expect(lapsedAfter).toMatchObject({ kind: 'lock', lapsedMs: 300 })
    expect(judge({ roundSince: 51_000 + SPLIT_LOCK_TTL_MS - 100, reported: reported(N2, lapsedAfter, 51_000 + SPLIT_LOCK_TTL_MS + 310) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // A round begun after the lapse is not held back by the lock (the acceptors' records are what
    // hold the intent from then on: next test) …
    expect(judge({ roundSince: 51_000 + SPLIT_LOCK_TTL_MS + 200, reported: reported(N2, lapsedAfter, 51_000 + SPLIT_LOCK_TTL_MS + 310) })).toBe('applied')
    // … and an acceptor of the intent answering it is.
    expect(judge({ roundSince: 51_000 + SPLIT_LOCK_TTL_MS + 200, reported: reported(N3, ACCEPTED, 51_000 + SPLIT_LOCK_TTL_MS + 320) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Had node 1's round reached node 2 before the grant, node 2 (having heard of the lower id)
    // would not have granted it: no lock, no start.
    expect(new SplitDdlLock().request(N3, TAKE, view({ isCoordinator: false }))).toMatchObject({ granted: false })
  })

  it('a decree still undecided past the old 60 s TTL: an acceptor\'s record holds DDL back for as long as the intent may be chosen', () => {
    const longAfter = 1000 + 10 * 60_000
    // Another member's record, or this coordinator's own.
    expect(judge({ roundSince: longAfter, reported: reported(N2, ACCEPTED, longAfter + 5) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    expect(judge({ roundSince: longAfter, accepted: ACCEPTED })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Once this node's layout reached the intent's epoch the decree is decided here: the layout
    // refuses (its split) or nothing does (another value won).
    expect(judge({ layoutEpoch: 5, roundSince: longAfter, reported: reported(N2, ACCEPTED, longAfter + 5) })).toBe('applied')
    expect(judge({ layoutEpoch: 5, recorded: { shards: 2, to: 4 }, roundSince: longAfter })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Held back by records only: the decider completes the intent; not while a lock is heard of
    // (its decider is deciding it) or the split is recorded somewhere.
    const base: DdlSplitView = { layoutEpoch: 4, recorded: null, deciding: null, lock: null, accepted: null, roundSince: longAfter, reported: reported(N2, ACCEPTED, longAfter + 5) }
    expect(heldByRecordOnly(base)).toBe(true)
    expect(heldByRecordOnly({ ...base, reported: [...base.reported, ...reported(N3, { kind: 'lock', epoch: 5, shards: 2, to: 4, lapsedMs: 0 }, longAfter + 6)] })).toBe(false)
    expect(heldByRecordOnly({ ...base, reported: [...base.reported, ...reported(N3, { kind: 'recorded', epoch: 5, shards: 2, to: 4, lapsedMs: 0 }, longAfter + 6)] })).toBe(false)
    expect(heldByRecordOnly({ ...base, reported: [] })).toBe(false)
  })

  it('the coordinator\'s own lock counts when it was held at any time since the statement\'s fetch round began', () => {
    const lock = new SplitDdlLock()
    lock.request(N2, TAKE, view())
    const since = 1000 + SPLIT_LOCK_TTL_MS - 1
    const builtAt = 1000 + SPLIT_LOCK_TTL_MS + 5
    expect(lock.current(builtAt, 4)).toBeNull()
    expect(judge({ roundSince: since, lock: lock.heldSince(since, builtAt, 4) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    expect(judge({ roundSince: builtAt, lock: lock.heldSince(builtAt, builtAt, 4) })).toBe('applied')
    // A release (the intent can never be chosen) leaves nothing behind, lapsed or not.
    lock.request(N2, { ...TAKE, take: false }, view({ now: builtAt }))
    expect(lock.heldSince(since, builtAt, 4)).toBeNull()
    expect(lock.hold(builtAt, 4)).toBeNull()
  })

  it('a decider dying mid-decree holds DDL back for SPLIT_LOCK_TTL_MS only, which still covers every message of its decree', () => {
    expect(SPLIT_LOCK_TTL_MS).toBeLessThanOrEqual(15_000)
    expect(SPLIT_LOCK_TTL_MS).toBeGreaterThanOrEqual(SPLIT_DECREE_SEND_MS + DECREE_CALL_TIMEOUT_MS)
    const lock = new SplitDdlLock()
    lock.request(N2, TAKE, view())
    // Node 2 dies before any acceptor took its intent: past the TTL nothing holds the DDL back.
    const after = 1000 + SPLIT_LOCK_TTL_MS
    expect(judge({ roundSince: after, lock: lock.heldSince(after, after, 4) })).toBe('applied')
    expect(judge({ roundSince: 1000 + 15_000, lock: lock.heldSince(1000 + 15_000, 1000 + 15_000, 4) })).toBe('applied')
  })

  it('a DDL the split would refuse needs a majority of the decree\'s voters in its fetch round', () => {
    const voters = [N1, N2, N3]
    expect(splitDdlQuorum(voters, N1, new Set(), 'ALTER TABLE t')).toMatchObject({ code: 'SB_MEMBERSHIP_NO_MAJORITY', details: { missing: [N2, N3] } })
    expect(splitDdlQuorum(voters, N1, new Set([N3]), 'ALTER TABLE t')).toBeNull()
    // A coordinator that is no voter (a joiner's id below the members'?) counts only answers.
    expect(splitDdlQuorum([N2, N3], N1, new Set([N2]), 'ALTER TABLE t')).toMatchObject({ code: 'SB_MEMBERSHIP_NO_MAJORITY' })
    expect(splitDdlQuorum([N1], N1, new Set(), 'ALTER TABLE t')).toBeNull()
  })

  it('the decider bounds its decree\'s messages by the window, and keeps the lock when outbid (a higher ballot may find its intent accepted)', async () => {
    const { split, state, ddl } = pair(() => ({ kind: 'outbid', promised: { round: 9, node: N3 } }))
    await expect(split.op(4)).rejects.toMatchObject({ code: 'SB_MEMBERSHIP_REFUSED' })
    expect(state.released).toBe(0)
    expect(ddl(3)).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
  })
})

/**
 * Voters 1, 2, 3 at epoch 1 deciding epoch 2; each acceptor with its record and catalog version.
 * Delivers a proposer's messages to the reachable ones (in-memory, no faults).
 */
function voters () {
  const base = configuredLayout('c', 2, [N1, N2, N3])
  const records = new Map<NodeId, DecreeRecord | null>()
  const catalogs = new Map<NodeId, number>([[N1, 9], [N2, 9], [N3, 9]])
  const run = (p: DecreeProposer, reachable: readonly NodeId[], stopAfterOwnAccept = false): ProposalOutcome | null => {
    let queue = p.start().send
    while (queue.length > 0) {
      const next: typeof queue = []
      for (const { to, req } of queue) {
        if (!reachable.includes(to)) continue
        const { next: rec, reply } = answerDecree(records.get(to) ?? null, 1, req, catalogs.get(to))
        if (rec !== null) records.set(to, rec)
        // The decider stops right after its own acceptance (before any other voter got one).
        if (stopAfterOwnAccept && req.kind === 'accept' && to === p.ballot.node) return null
        const r = p.onReply(to, reply)
        next.push(...r.send)
        if (r.outcome !== null) return r.outcome
      }
      queue = next
    }
    return null
  }
  const intent = { ...base, epoch: 2, split: { to: 4 } }
  return { base, records, catalogs, run, intent }
}
const ballot = (round: number, node: NodeId): Ballot => ({ round, node })

describe('a split\'s intent completed after a DDL it refuses slipped past its holders', () => {
  it('holders unreachable during the DDL: the acceptors that installed it refuse the intent (stale), so it is never chosen, and it does not block the next decree', () => {
    const v = voters()
    // Decider 1 judged the start at catalog version 9 and accepted its own intent, then stopped.
    expect(v.run(new DecreeProposer(v.base, v.intent, ballot(1, N1), { judgedAt: 9 }), [N1, N2, N3], true)).toBeNull()
    expect(v.records.get(N1)?.accepted).toMatchObject({ layout: v.intent, judgedAt: 9 })
    // While node 1 was unreachable, a DDL raising the copies Mode 1 keeps was installed on 2 and 3
    // (and on node 1 at its startup round).
    for (const n of [N1, N2, N3]) v.catalogs.set(n, 10)
    // Node 1 comes back and completes its decree: node 1 accepts it again (it holds it), 2 and 3
    // refuse it — a majority: never chosen, never choosable.
    const again = v.run(new DecreeProposer(v.base, v.intent, ballot(2, N1), { judgedAt: 9 }), [N1, N2, N3])
    expect(again).toEqual({ kind: 'stale', value: { layout: v.intent, judgedAt: 9 }, own: true, catalogVersion: 10 })
    expect(v.records.get(N2)?.accepted ?? null).toBeNull()
    expect(v.records.get(N3)?.accepted ?? null).toBeNull()
    // Another decider admitting node 4 finds the intent in node 1's promise: proposing it again is
    // refused the same way; dropped (exclude), its own value is chosen.
    const admit = admitLayout(v.base, asNodeId(4))
    const first = v.run(new DecreeProposer(v.base, admit, ballot(3, N2)), [N1, N2, N3])
    expect(first).toMatchObject({ kind: 'stale', own: false })
    const second = v.run(new DecreeProposer(v.base, admit, ballot(4, N2), { exclude: [{ layout: v.intent, judgedAt: 9 }] }), [N1, N2, N3])
    expect(second).toEqual({ kind: 'chosen', layout: admit, own: true })
  })

  it('an intent chosen before the catalog moved on stays chosen: its holders accept it again whatever their catalog', () => {
    const v = voters()
    expect(v.run(new DecreeProposer(v.base, v.intent, ballot(1, N1), { judgedAt: 9 }), [N1, N2])).toEqual({ kind: 'chosen', layout: v.intent, own: true })
    for (const n of [N1, N2, N3]) v.catalogs.set(n, 11)
    // A later proposer (node 3, wanting something else) finds it and completes it: 1 and 2 hold it.
    const later = v.run(new DecreeProposer(v.base, admitLayout(v.base, asNodeId(4)), ballot(5, N3)), [N1, N2, N3])
    expect(later).toEqual({ kind: 'chosen', layout: v.intent, own: false })
    // An intent without a judged version (a previous release's decider) is accepted as before.
    expect(answerDecree(null, 1, { kind: 'accept', epoch: 2, ballot: ballot(1, N1), layout: v.intent }, 50).reply.kind).toBe('accepted')
  })

  it('a decider completing an intent a DDL\'s round reported (completeOnly) proposes only a value a voter accepted', () => {
    const v = voters()
    const placeholder = { ...v.base, epoch: 2 }
    // Nothing accepted anywhere: nothing is proposed, nothing accepted.
    expect(v.run(new DecreeProposer(v.base, placeholder, ballot(1, N1), { completeOnly: true }), [N1, N2, N3])).toEqual({ kind: 'none' })
    expect([N1, N2, N3].map(n => v.records.get(n)?.accepted ?? null)).toEqual([null, null, null])
    // Node 2 accepted an intent whose decider stopped: completed (the catalog did not move).
    expect(v.run(new DecreeProposer(v.base, v.intent, ballot(2, N2), { judgedAt: 9 }), [N2, N3], true)).toBeNull()
    expect([N1, N2, N3].map(n => v.records.get(n)?.accepted?.layout ?? null)).toEqual([null, v.intent, null])
    expect(v.run(new DecreeProposer(v.base, placeholder, ballot(3, N1), { completeOnly: true }), [N1, N2, N3])).toEqual({ kind: 'chosen', layout: v.intent, own: false })
  })

  it('the coordinator drops an accepted hold proven stale (a majority answered with a newer catalog, not holding it), and only then', () => {
    const stale: SplitHold = { ...ACCEPTED, judgedAt: 9 }
    const catalogs = (answered: Array<[NodeId, number]>, own = 10) => ({ voters: [N1, N2, N3], self: N2, own, answered: new Map(answered) })
    // Node 1 holds it (catalog 10 now); 2 (this coordinator) and 3 are at 10 without it: dropped.
    expect(judge({ reported: reported(N1, stale, 5), catalogs: catalogs([[N1, 10], [N3, 10]]) })).toBe('applied')
    // Node 3 did not answer: only this node is known to refuse it — held.
    expect(judge({ reported: reported(N1, stale, 5), catalogs: catalogs([[N1, 10]]) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Node 3 holds it too: two holders, held.
    expect(judge({ reported: [...reported(N1, stale, 5), ...reported(N3, stale, 5)], catalogs: catalogs([[N1, 10], [N3, 10]]) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // Node 3 is still at the judged version (it would accept it): held.
    expect(judge({ reported: reported(N1, stale, 5), catalogs: catalogs([[N1, 10], [N3, 9]]) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    // A hold without a judged version (a previous release) is never dropped.
    expect(judge({ reported: reported(N1, ACCEPTED, 5), catalogs: catalogs([[N1, 10], [N3, 10]]) })).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
  })
})
