import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ReplicationMachine } from '../../../../src/cluster/replication/machine'
import type { ReplEntry, ReplInput, ReplMessage } from '../../../../src/cluster/replication/types'
import { ManualClock } from '../../../../src/core/clock'
import { asNodeId, type NodeId } from '../../../../src/core/ids'
import { SeededRng } from '../../../../src/core/rng'
import { data, durable, ELECTION_MS, HEARTBEAT_MS, ids, LEASE_MS } from './group'

// Whatever peers send — stale, duplicated, contradictory or made up — the machine never throws,
// and its own bookkeeping stays consistent: commit ≤ last LSN, applied = commit, the base below
// both, entries handed out in LSN order. (Safety across a group is the simulation's job.)

const node = fc.integer({ min: 1, max: 4 }).map(n => asNodeId(n))
const gen = fc.integer({ min: 0, max: 5 })
const lsn = fc.integer({ min: 0, max: 12 }).map(BigInt)
const entry = fc.record({ lsn: fc.integer({ min: 1, max: 12 }), generation: gen, kind: fc.constantFrom('data', 'noop', 'config') })
  .map(({ lsn, generation, kind }): ReplEntry => kind === 'data'
    ? data(lsn, generation)
    : kind === 'noop' ? { lsn: BigInt(lsn), generation, kind } : { lsn: BigInt(lsn), generation, kind, voters: ids(1, 2, 3) })
const contiguous = fc.tuple(lsn, gen, fc.array(fc.tuple(gen, fc.boolean()), { maxLength: 5 })).map(([prev, g0, gs]) => {
  let g = g0
  return gs.map(([dg, noop], i): ReplEntry => {
    g = Math.max(g, dg)
    return noop ? { lsn: prev + BigInt(i) + 1n, generation: g, kind: 'noop' } : data(Number(prev) + i + 1, g)
  })
})

const message: fc.Arbitrary<ReplMessage> = fc.oneof(
  fc.record({ type: fc.constant('append' as const), generation: gen, from: node, prevLsn: lsn, prevGeneration: gen, entries: fc.oneof(fc.array(entry, { maxLength: 4 }), contiguous), leaderCommit: lsn, stamp: fc.integer({ min: 0, max: 10_000 }) }),
  fc.record({ type: fc.constant('append-reply' as const), generation: gen, from: node, ok: fc.boolean(), matchLsn: lsn, hintLsn: lsn, hintGeneration: gen, stamp: fc.integer({ min: 0, max: 10_000 }) }),
  fc.record({ type: fc.constant('vote' as const), generation: gen, from: node, lastLsn: lsn, lastGeneration: gen, preVote: fc.boolean() }),
  fc.record({ type: fc.constant('vote-reply' as const), generation: gen, from: node, granted: fc.boolean(), preVote: fc.boolean() }),
  fc.record({ type: fc.constant('snapshot' as const), generation: gen, from: node, base: fc.record({ lsn, generation: gen, voters: fc.constantFrom(ids(1, 2, 3), ids(1, 2), [] as NodeId[]) }) })
)

const input: fc.Arbitrary<ReplInput | { type: 'advance', ms: number }> = fc.oneof(
  { weight: 6, arbitrary: message.map(msg => ({ type: 'message' as const, msg })) },
  { weight: 2, arbitrary: fc.constant({ type: 'tick' as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 2 * ELECTION_MS }).map(ms => ({ type: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.constant({ type: 'propose' as const, payload: new Uint8Array([1]) }) },
  { weight: 1, arbitrary: fc.constant({ type: 'read' as const }) },
  { weight: 1, arbitrary: node.map(to => ({ type: 'snapshot-failed' as const, to })) },
  { weight: 1, arbitrary: fc.constantFrom(ids(1, 2, 3), ids(1, 2, 3, 4), ids(2, 3)).map(nodes => ({ type: 'preference' as const, nodes })) }
)

describe('replication machine under arbitrary peer input', () => {
  it('never throws and keeps its bookkeeping consistent', () => {
    fc.assert(fc.property(fc.array(input, { maxLength: 60 }), fc.boolean(), (inputs, startFull) => {
      const clock = new ManualClock()
      const start = startFull ? durable(ids(1, 2, 3), [data(1, 1), data(2, 1), data(3, 2)], 2, 1n) : durable(ids(1, 2, 3))
      const m = new ReplicationMachine({ self: asNodeId(1), preference: ids(1, 2, 3), syncReplicas: 'majority', electionTimeoutMs: ELECTION_MS, heartbeatMs: HEARTBEAT_MS, leaseMs: LEASE_MS, maxRetainedBytes: 200 }, start, clock, new SeededRng(7))
      let applied = m.appliedLsn
      for (const i of inputs) {
        if (i.type === 'advance') { clock.advance(i.ms); continue }
        const r = m.step(i)
        if (r.installSnapshot !== null) applied = r.installSnapshot.lsn
        for (const e of r.committed) {
          expect(e.lsn).toBe(applied + 1n)
          applied = e.lsn
        }
        expect(m.appliedLsn).toBe(applied)
        expect(m.commitLsn).toBe(m.appliedLsn)
        expect(m.commitLsn <= m.lastLsn).toBe(true)
        expect(m.logBase <= m.appliedLsn).toBe(true)
      }
    }), { numRuns: 1500 })
  })

  it('refuses entries crossing its snapshot base with a generation below the base\'s', () => {
    const m = new ReplicationMachine({ self: asNodeId(1), preference: ids(1, 2, 3), syncReplicas: 'majority', electionTimeoutMs: ELECTION_MS, heartbeatMs: HEARTBEAT_MS, leaseMs: LEASE_MS, maxRetainedBytes: 200 }, durable(ids(1, 2, 3)), new ManualClock(), new SeededRng(7))
    expect(m.step({ type: 'message', msg: { type: 'snapshot', generation: 3, from: asNodeId(2), base: { lsn: 5n, generation: 3, voters: ids(1, 2, 3) } } }).installSnapshot).not.toBeNull()
    const r = m.step({ type: 'message', msg: { type: 'append', generation: 3, from: asNodeId(2), prevLsn: 3n, prevGeneration: 1, entries: [data(4, 1), data(5, 1), data(6, 1)], leaderCommit: 6n, stamp: 1 } })
    expect(r.entries).toEqual([])
    expect(r.events).toContainEqual(expect.objectContaining({ type: 'refused', reason: expect.stringMatching(/below our base/) }))
    expect(m.lastLsn).toBe(5n)
  })
})
