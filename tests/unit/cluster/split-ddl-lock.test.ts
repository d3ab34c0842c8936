import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { ClusterLayout } from '../../../src/cluster/layout'
import { splitDdlRefusal, type SplitCatalogFacts } from '../../../src/cluster/split-ddl-guard'
import { SPLIT_LOCK_TTL_MS, SplitDdlLock, splitLockBlocker, type SplitLockOutcome, type SplitLockRequest, type SplitLockView } from '../../../src/cluster/split-ddl-lock'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import { ClusterSplit } from '../../../src/node/cluster-split'
import type { DecreeResult } from '../../../src/node/membership-decree'

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
