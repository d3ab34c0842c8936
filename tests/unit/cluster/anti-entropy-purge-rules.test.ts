import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  repairedAsOf, servable, serveVerdict, tombstoneGraceMs, tombstonePurgeCutoff, tombstonePurgeVerdict, type PeerRepairRecord, type ShardRepairState
} from '../../../src/cluster/anti-entropy/purge-rules'
import { asNodeId, type NodeId } from '../../../src/core/ids'

const DAY = 86_400_000
const GRACE = tombstoneGraceMs(10)
const PEERS = [asNodeId(2), asNodeId(3)]

function state (peers: Record<number, PeerRepairRecord>, currentSinceMs = 0): ShardRepairState {
  return { currentSinceMs, peers: new Map(Object.entries(peers).map(([p, r]) => [asNodeId(Number(p)), r])) }
}

const time = fc.integer({ min: 0, max: 100 * DAY })
const record = fc.record({ lastCompletedAtMs: fc.option(time, { nil: undefined }), verifiedThroughMs: fc.option(time, { nil: undefined }) })
const anyState = fc.record({ currentSinceMs: time, r2: record, r3: record }).map(x => state({ 2: x.r2, 3: x.r3 }, x.currentSinceMs))

describe('tombstone purge rule', () => {
  it('grace in days', () => {
    expect(tombstoneGraceMs(10)).toBe(10 * DAY)
    expect(tombstoneGraceMs(0.5)).toBe(DAY / 2)
  })

  it('never purges a tombstone younger than the grace period, whatever the repairs (property)', () => {
    fc.assert(fc.property(anyState, time, time, fc.integer({ min: 0, max: GRACE }), (st, ts, local, age) => {
      const written = Math.max(ts, local)
      const v = tombstonePurgeVerdict({ versionTsMs: ts, localWriteMs: local }, PEERS, st, written + age, GRACE)
      expect(v).toEqual({ purge: false, why: 'too-young' })
    }))
  })

  it('purges only when every peer was verified past the later of the version time and the local write (property)', () => {
    fc.assert(fc.property(anyState, time, time, time, (st, ts, local, now) => {
      const v = tombstonePurgeVerdict({ versionTsMs: ts, localWriteMs: local }, PEERS, st, now, GRACE)
      const written = Math.max(ts, local)
      const allVerified = PEERS.every(p => (st.peers.get(p)?.verifiedThroughMs ?? -Infinity) > written)
      expect(v.purge).toBe(now - written > GRACE && allVerified)
      if (!v.purge && v.why === 'unverified') expect(PEERS).toContain(v.peer)
    }))
  })

  it('a tombstone delivered late (hint, repair) counts from its arrival, not from its version time', () => {
    const st = state({ 2: { verifiedThroughMs: 20 * DAY }, 3: { verifiedThroughMs: 20 * DAY } })
    // version from day 1, but this replica wrote it on day 19: round verification of day 20 covers it
    expect(tombstonePurgeVerdict({ versionTsMs: DAY, localWriteMs: 19 * DAY }, PEERS, st, 30 * DAY, GRACE)).toEqual({ purge: true })
    // written on day 21: the day-20 verification predates it
    expect(tombstonePurgeVerdict({ versionTsMs: DAY, localWriteMs: 21 * DAY }, PEERS, st, 40 * DAY, GRACE)).toEqual({ purge: false, why: 'unverified', peer: 2 })
  })

  it('a replica of the shard without any record blocks the purge (newly placed, never repaired with)', () => {
    const st = state({ 2: { verifiedThroughMs: 50 * DAY } })
    expect(tombstonePurgeVerdict({ versionTsMs: DAY, localWriteMs: DAY }, PEERS, st, 60 * DAY, GRACE)).toEqual({ purge: false, why: 'unverified', peer: 3 })
  })
})

describe('stale replica rule', () => {
  it('a sole replica is always servable', () => {
    expect(servable(state({}), [], 1000 * DAY, GRACE)).toBe(true)
  })

  it('a replica back from an outage longer than the grace is stale until a round completes', () => {
    const st = state({ 2: { lastCompletedAtMs: 5 * DAY }, 3: { lastCompletedAtMs: 4 * DAY } })
    expect(servable(st, PEERS, 15 * DAY, GRACE)).toBe(true)
    expect(servable(st, PEERS, 15 * DAY + 1, GRACE)).toBe(false)
    const repaired = state({ 2: { lastCompletedAtMs: 5 * DAY }, 3: { lastCompletedAtMs: 16 * DAY } })
    expect(servable(repaired, PEERS, 16 * DAY + 1, GRACE)).toBe(true)
  })

  it('one peer down for longer than the grace does not make the replicas repairing each other stale', () => {
    // this replica keeps completing rounds with node 2; node 3 has been down 30 days
    const st = state({ 2: { lastCompletedAtMs: 40 * DAY - 60_000 }, 3: { lastCompletedAtMs: 10 * DAY } })
    expect(servable(st, PEERS, 40 * DAY, GRACE)).toBe(true)
  })

  it('currentSinceMs (created or bootstrapped) counts as a repair; records of peers no longer replicas do not', () => {
    expect(servable(state({}, 100 * DAY), PEERS, 105 * DAY, GRACE)).toBe(true)
    const st = state({ 9: { lastCompletedAtMs: 100 * DAY } }, 0)
    expect(repairedAsOf(st, PEERS)).toBe(0)
    expect(servable(st, PEERS, 100 * DAY, GRACE)).toBe(false)
  })

  it('servable exactly when some peer or the baseline is within the grace (property)', () => {
    fc.assert(fc.property(anyState, time, (st, now) => {
      const latest = Math.max(st.currentSinceMs, ...PEERS.map((p: NodeId) => st.peers.get(p)?.lastCompletedAtMs ?? -Infinity))
      expect(servable(st, PEERS, now, GRACE)).toBe(now - latest <= GRACE)
    }))
  })
})

describe('tombstonePurgeCutoff (the sweep\'s form of the rule)', () => {
  it('purges exactly what tombstonePurgeVerdict purges: written before the cutoff', () => {
    const peers = [asNodeId(2), asNodeId(3)]
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 100 * DAY }), fc.integer({ min: 0, max: 100 * DAY }),
      fc.option(fc.integer({ min: 0, max: 100 * DAY }), { nil: undefined }), fc.option(fc.integer({ min: 0, max: 100 * DAY }), { nil: undefined }),
      fc.integer({ min: 50 * DAY, max: 120 * DAY }),
      (versionTsMs, localWriteMs, v2, v3, nowMs) => {
        const state: ShardRepairState = { currentSinceMs: 0, peers: new Map<NodeId, PeerRepairRecord>([[peers[0]!, { verifiedThroughMs: v2 }], [peers[1]!, { verifiedThroughMs: v3 }]]) }
        const grace = 10 * DAY
        const cutoff = tombstonePurgeCutoff(peers, state, nowMs, grace)
        const verdict = tombstonePurgeVerdict({ versionTsMs, localWriteMs }, peers, state, nowMs, grace).purge
        const written = Math.max(versionTsMs, localWriteMs)
        expect(cutoff !== null && written < cutoff).toBe(verdict)
      }))
  })

  it('a peer never verified blocks every purge; a sole replica is bounded by the grace alone', () => {
    const state: ShardRepairState = { currentSinceMs: 0, peers: new Map([[asNodeId(2), { verifiedThroughMs: 5 * DAY }]]) }
    expect(tombstonePurgeCutoff([asNodeId(2), asNodeId(3)], state, 30 * DAY, 10 * DAY)).toBeNull()
    expect(tombstonePurgeCutoff([asNodeId(2)], state, 30 * DAY, 10 * DAY)).toBe(5 * DAY)
    expect(tombstonePurgeCutoff([], state, 30 * DAY, 10 * DAY)).toBe(20 * DAY)
  })
})

describe('serveVerdict: stale until a round with every peer', () => {
  it('a serving replica that passes the grace without a round becomes stale now', () => {
    const st = state({ 2: { lastCompletedAtMs: 5 * DAY }, 3: { lastCompletedAtMs: 4 * DAY } })
    expect(serveVerdict(st, PEERS, 15 * DAY, GRACE, null)).toEqual({ serving: true, staleSinceMs: null, waitingFor: [] })
    expect(serveVerdict(st, PEERS, 15 * DAY + 1, GRACE, null)).toEqual({ serving: false, staleSinceMs: 15 * DAY + 1, waitingFor: PEERS })
  })

  it('one completed round after it became stale is not enough (two returning replicas must not vouch for each other); rounds with every peer are', () => {
    const since = 20 * DAY
    const one = state({ 2: { lastCompletedAtMs: since + 1000 }, 3: { lastCompletedAtMs: 4 * DAY } })
    expect(serveVerdict(one, PEERS, since + 2000, GRACE, since)).toEqual({ serving: false, staleSinceMs: since, waitingFor: [asNodeId(3)] })
    // a round that started before it became stale does not count either
    const early = state({ 2: { lastCompletedAtMs: since + 1000 }, 3: { lastCompletedAtMs: since - 1 } })
    expect(serveVerdict(early, PEERS, since + 2000, GRACE, since).serving).toBe(false)
    const both = state({ 2: { lastCompletedAtMs: since + 1000 }, 3: { lastCompletedAtMs: since + 1500 } })
    expect(serveVerdict(both, PEERS, since + 2000, GRACE, since)).toEqual({ serving: true, staleSinceMs: null, waitingFor: [] })
  })

  it('stale replicas never serve before a round with every peer started at or after staleSince (property); a sole replica always serves', () => {
    fc.assert(fc.property(anyState, time, time, (st, now, since) => {
      const v = serveVerdict(st, PEERS, now, GRACE, since)
      const allAfter = PEERS.every(p => (st.peers.get(p)?.lastCompletedAtMs ?? -1) >= since)
      expect(v.serving).toBe(allAfter)
      expect(serveVerdict(st, [], now, GRACE, since).serving).toBe(true)
    }))
  })
})
