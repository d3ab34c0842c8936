import { describe, expect, it } from 'vitest'
import type { ReplEntry, ReplicationConfig } from '../../../../src/cluster/replication/types'
import { asNodeId } from '../../../../src/core/ids'
import { data, durable, ELECTION_MS, Group, HEARTBEAT_MS, ids, LEASE_MS } from './group'

// The replication machine with engineLog (issue 14): its log IS the shard's commit log, the
// engine allocates LSNs. Commits land in the engine first and come in through 'logged' (read from
// the log tail); the noop and config entries are asked of the shell (Ready.control) and come back
// the same way; a 'logged' entry that does not continue the machine's log is Ready.diverged.

const base: Omit<ReplicationConfig, 'self'> = {
  preference: ids(1, 2, 3),
  syncReplicas: 'majority',
  electionTimeoutMs: ELECTION_MS,
  heartbeatMs: HEARTBEAT_MS,
  leaseMs: LEASE_MS,
  maxRetainedBytes: 1_000_000,
  engineLog: true
}

function group (n: number, config: Partial<Omit<ReplicationConfig, 'self'>> = {}): Group {
  const voters = Array.from({ length: n }, (_, i) => i + 1)
  const g = new Group({ ...base, preference: ids(...voters), ...config })
  for (const v of voters) g.add(asNodeId(v), durable(ids(...voters)))
  return g
}

/** The engine's answer to a Ready.control: the entry at `lsn`. */
function control (g: Group, id: number, lsn: number): ReplEntry {
  const c = g.all(id, 'control').filter(x => x !== null).at(-1)!
  return { ...c.entry, lsn: BigInt(lsn), generation: c.generation } as ReplEntry
}

function logged (g: Group, id: number, entries: ReplEntry[]): ReturnType<Group['step']> {
  return g.step(id, { type: 'logged', entries, epoch: g.m(id).logEpoch })
}

/** Elect node 1 and land its noop at the next LSN; returns that LSN. */
function electWithNoop (g: Group, id = 1): bigint {
  g.elect(id)
  expect(g.m(id).role).toBe('primary')
  const lsn = g.m(id).lastLsn + 1n
  expect(g.m(id).lastLsn).toBe(lsn - 1n) // nothing appended by the machine itself
  logged(g, id, [control(g, id, Number(lsn))])
  g.flush()
  return lsn
}

describe('engineLog: the machine\'s log is the engine\'s commit log', () => {
  it('a new primary asks the shell for its noop (after its hard state) and appends nothing itself; reads wait until an entry of its generation commits', () => {
    const g = group(3)
    g.elect(1)
    const became = g.readys.find(r => r.node === 1 && r.ready.events.some(e => e.type === 'became-primary'))!.ready
    expect(became.control).toEqual({ generation: 1, entry: { kind: 'noop' } })
    expect(became.entries).toEqual([])
    expect(g.m(1).lastLsn).toBe(0n)
    expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: false, error: { code: 'SB_NOT_PRIMARY' } })
    logged(g, 1, [control(g, 1, 1)])
    g.flush()
    expect(g.m(1).commitLsn).toBe(1n)
    expect(g.m(2).entryAt(1n)).toEqual({ lsn: 1n, generation: 1, kind: 'noop' })
    expect(g.step(1, { type: 'read' }).read).toMatchObject({ granted: true, readLsn: 1n })
  })

  it('commits the engine logged are proposals: shipped to the replicas and acknowledged under sync_replicas, in LSN order', () => {
    const g = group(3)
    const noop = electWithNoop(g)
    const r = logged(g, 1, [data(2, 1, 'a'), data(3, 1, 'b')])
    expect(r.entries).toEqual([]) // already durable in the engine
    expect(r.acks).toEqual([])
    expect(g.m(1).lastLsn).toBe(3n)
    g.flush([1, 2])
    expect(g.all(1, 'acks').flat()).toEqual([2n, 3n])
    expect(g.m(2).entryAt(3n)).toEqual(data(3, 1, 'b'))
    // A tail read twice: the entries held are skipped.
    expect(logged(g, 1, [data(2, 1, 'a'), data(3, 1, 'b'), data(4, 1, 'c')]).diverged).toBeNull()
    expect(g.m(1).lastLsn).toBe(4n)
    expect(noop).toBe(1n)
  })

  it('\'propose\' is not for an engineLog machine', () => {
    const g = group(1)
    g.advance(2 * ELECTION_MS)
    expect(() => g.step(1, { type: 'propose', payload: new Uint8Array([1]) })).toThrow(/engineLog/)
  })

  it('a commit that lands after the node stopped being primary stays in its log but its outcome is unknown', () => {
    const g = group(3)
    electWithNoop(g)
    // Node 2 takes over (node 1 cut off); node 1 hears of generation 2 before its engine's commit comes in.
    g.clocks.get(asNodeId(1))!.advance(2 * ELECTION_MS)
    g.elect(2, [2, 3])
    g.step(1, { type: 'message', msg: { type: 'append', generation: 2, from: asNodeId(2), prevLsn: 1n, prevGeneration: 1, entries: [], leaderCommit: 1n, stamp: 0 } })
    expect(g.m(1).role).toBe('replica')
    const r = logged(g, 1, [data(2, 1, 'late')])
    expect(r.diverged).toBeNull()
    expect(r.failed).toMatchObject([{ lsn: 2n, error: { code: 'SB_COMMIT_OUTCOME_UNKNOWN' } }])
    expect(g.m(1).lastLsn).toBe(2n)
  })

  it('an entry that does not continue the machine\'s log is Ready.diverged, and changes nothing', () => {
    const g = group(3)
    electWithNoop(g)
    logged(g, 1, [data(2, 1, 'a')]) // not shipped yet, so not compacted either
    const before = g.m(1).lastLsn
    // A gap, another generation at a held LSN, a generation above the machine's, one going down.
    for (const bad of [[data(4, 1)], [data(2, 0)], [data(3, 2)], [data(3, 0)]]) {
      const r = logged(g, 1, bad)
      expect(String(r.diverged), JSON.stringify(bad.map(e => [String(e.lsn), e.generation]))).toMatch(/LSN/)
      expect(g.m(1).lastLsn).toBe(before)
    }
    // A replica that took the new primary's entry at an LSN where its engine logged a commit of its own.
    const h = group(3)
    electWithNoop(h)
    logged(h, 1, [data(2, 1, 'x')])
    h.flush([1, 2, 3])
    h.clocks.get(asNodeId(1))!.advance(2 * ELECTION_MS)
    h.elect(2, [2, 3])
    h.step(2, { type: 'logged', entries: [control(h, 2, 3)], epoch: h.m(2).logEpoch })
    h.flush([2, 3])
    h.clocks.get(asNodeId(2))!.advance(HEARTBEAT_MS)
    h.step(2, { type: 'tick' })
    h.flush([1, 2, 3])
    expect(h.m(1).entryAt(3n)).toEqual({ lsn: 3n, generation: 2, kind: 'noop' })
    expect(logged(h, 1, [data(3, 1, 'late')]).diverged).toMatch(/LSN 3/)
  })

  it('a tail read begun before a truncation is stale and ignored', () => {
    const g = group(3)
    electWithNoop(g)
    logged(g, 1, [data(2, 1, 'a')])
    // Node 1 is cut off with an entry the others lack; node 2 takes over and writes LSN 2 itself.
    g.clocks.get(asNodeId(1))!.advance(2 * ELECTION_MS)
    g.queue = []
    g.elect(2, [2, 3])
    g.step(2, { type: 'logged', entries: [control(g, 2, 2)], epoch: g.m(2).logEpoch })
    const epoch = g.m(1).logEpoch
    g.flush([2, 3])
    g.step(2, { type: 'tick' })
    g.clocks.get(asNodeId(2))!.advance(HEARTBEAT_MS)
    g.step(2, { type: 'tick' })
    g.flush([1, 2, 3])
    expect(g.m(1).entryAt(2n)).toEqual({ lsn: 2n, generation: 2, kind: 'noop' })
    expect(g.m(1).logEpoch).toBeGreaterThan(epoch)
    // The read started before the truncation reports node 1's old LSN 3 on top: ignored.
    const r = g.step(1, { type: 'logged', entries: [data(3, 1, 'gone')], epoch })
    expect(r.diverged).toBeNull()
    expect(g.m(1).lastLsn).toBe(2n)
  })

  it('membership changes are asked of the shell one at a time, effective once logged', () => {
    const g = group(3, { preference: ids(1, 2, 3, 4) })
    g.add(asNodeId(4), durable([]), { preference: ids(1, 2, 3, 4) })
    electWithNoop(g)
    for (let i = 0; i < 4; i++) { g.advance(HEARTBEAT_MS); g.flush() }
    const asks = g.all(1, 'control').filter(c => c !== null && c.entry.kind === 'config')
    expect(asks).toEqual([{ generation: 1, entry: { kind: 'config', voters: ids(1, 2, 3, 4) } }])
    expect(g.m(1).voters).toEqual(ids(1, 2, 3))
    const lsn = Number(g.m(1).lastLsn + 1n)
    const r = logged(g, 1, [control(g, 1, lsn)])
    expect(r.events).toContainEqual({ type: 'membership', change: 'promote', node: 4, lsn: BigInt(lsn) })
    expect(g.m(1).voters).toEqual(ids(1, 2, 3, 4))
    g.flush()
    expect(g.m(4).role).toBe('replica')
  })
})
