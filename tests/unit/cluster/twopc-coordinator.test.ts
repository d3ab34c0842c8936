import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../src/core/errors'
import { TwoPhaseCoordinator, type CoordinatorEffect } from '../../../src/cluster/twopc/coordinator'
import { ABORT_DECISION } from '../../../src/cluster/twopc/decision'
import { makeXid } from '../../../src/storage/xid'
import { hlcTs } from '../../../src/storage/types'
import { asNodeId, asShardId } from '../../../src/core/ids'

// The coordinator machine alone: effects out for events in, no I/O.

const XID = makeXid(asNodeId(3), 9n)
const HLC = hlcTs(16_000_000)
const FLOOR = hlcTs(0)
const lost = (): ScratchBirdError => new ScratchBirdError('SB_NODE_UNREACHABLE', 'connection reset')
const taken = (): ScratchBirdError => new ScratchBirdError('SB_UNIQUE_VIOLATION', 'duplicate primary key')

function make (shards = [1, 2, 3].map(s => asShardId(s))): { m: TwoPhaseCoordinator, hlcReads: () => number } {
  let reads = 0
  const m = new TwoPhaseCoordinator(XID, shards, () => { reads++; return HLC })
  return { m, hlcReads: () => reads }
}

const types = (out: CoordinatorEffect[]): string[] => out.map(e => 'shard' in e ? `${e.type}:${e.shard}` : e.type)

function prepareAll (m: TwoPhaseCoordinator): CoordinatorEffect[] {
  const out: CoordinatorEffect[] = []
  for (const s of m.shards) out.push(...m.step({ type: 'prepared', shard: s, floor: FLOOR }))
  return out
}

describe('2PC coordinator machine', () => {
  it('commits at one HLC above the highest commit floor a participant answered PREPARE with', () => {
    const asked: bigint[] = []
    const m = new TwoPhaseCoordinator(XID, [1, 2].map(s => asShardId(s)), above => { asked.push(above); return HLC })
    m.start()
    const high = hlcTs(16_000_005, 3)
    m.step({ type: 'prepared', shard: asShardId(1), floor: high })
    const out = m.step({ type: 'prepared', shard: asShardId(2), floor: hlcTs(16_000_001) })
    expect(asked).toEqual([high])
    // The clock's reading (HLC) is below the floor: the machine still commits above it.
    expect(out).toEqual([{ type: 'write-decision', decision: { outcome: 'commit', commitHlc: high + 1n } }])
    expect(m.step({ type: 'decision-written' })).toEqual([1, 2].map(shard => ({ type: 'commit-prepared', shard, commitHlc: high + 1n })))
  })

  it('prepares all, writes the commit record once all prepared, commits all, then drops the record', () => {
    const { m, hlcReads } = make()
    expect(types(m.start())).toEqual(['prepare:1', 'prepare:2', 'prepare:3'])
    expect(m.step({ type: 'prepared', shard: asShardId(1), floor: FLOOR })).toEqual([])
    expect(m.step({ type: 'prepared', shard: asShardId(1), floor: FLOOR })).toEqual([]) // duplicate answer
    expect(m.step({ type: 'prepared', shard: asShardId(2), floor: FLOOR })).toEqual([])
    expect(hlcReads()).toBe(0) // the commit HLC is read after every prepare
    expect(m.step({ type: 'prepared', shard: asShardId(3), floor: FLOOR })).toEqual([{ type: 'write-decision', decision: { outcome: 'commit', commitHlc: HLC } }])
    expect(hlcReads()).toBe(1)
    expect(m.step({ type: 'decision-written' })).toEqual([1, 2, 3].map(shard => ({ type: 'commit-prepared', shard, commitHlc: HLC })))
    m.step({ type: 'committed', shard: asShardId(3) })
    m.step({ type: 'committed', shard: asShardId(1) })
    expect(m.outcome).toBeNull()
    expect(m.step({ type: 'committed', shard: asShardId(2) })).toEqual([{ type: 'outcome', outcome: { committed: true, commitHlc: HLC } }, { type: 'drop-decision' }])
    expect(m.finished).toBe(false)
    m.step({ type: 'dropped', ok: true })
    expect(m.finished).toBe(true)
  })

  it('a failed prepare waits for every answer, then aborts the prepared and rolls back the rest, writing no record', () => {
    const { m, hlcReads } = make()
    m.start()
    m.step({ type: 'prepared', shard: asShardId(1), floor: FLOOR })
    m.step({ type: 'prepare-failed', shard: asShardId(2), error: lost() })
    const out = m.step({ type: 'prepared', shard: asShardId(3), floor: FLOOR })
    expect(types(out)).toEqual(['abort-prepared:1', 'rollback:2', 'abort-prepared:3'])
    expect(hlcReads()).toBe(0)
    m.step({ type: 'aborted', shard: asShardId(1), ok: true })
    // Its rollback failed: its PREPARE may have landed (lost reply) → ABORT PREPARED, once.
    expect(m.step({ type: 'aborted', shard: asShardId(2), ok: false })).toEqual([{ type: 'abort-prepared', shard: 2 }])
    expect(m.step({ type: 'aborted', shard: asShardId(3), ok: true })).toEqual([])
    expect(m.step({ type: 'aborted', shard: asShardId(2), ok: false })).toEqual([{ type: 'outcome', outcome: { committed: false, error: expect.objectContaining({ code: 'SB_NODE_UNREACHABLE' }), unknown: false } }])
    expect(m.finished).toBe(true)
  })

  it('a commit record refused because recovery fenced the slot aborts everything', () => {
    const { m } = make([asShardId(1), asShardId(2)])
    m.start()
    prepareAll(m)
    expect(types(m.step({ type: 'decision-failed', error: taken() }))).toEqual(['abort-prepared:1', 'abort-prepared:2'])
    m.step({ type: 'aborted', shard: asShardId(1), ok: true })
    const [o] = m.step({ type: 'aborted', shard: asShardId(2), ok: true })
    expect(o).toMatchObject({ type: 'outcome', outcome: { committed: false, unknown: false, error: { code: 'SB_TXN_NOT_ACTIVE' } } })
  })

  it('an ambiguous commit-record failure fences the slot: fence landed → abort', () => {
    const { m } = make([asShardId(1), asShardId(2)])
    m.start()
    prepareAll(m)
    expect(m.step({ type: 'decision-failed', error: lost() })).toEqual([{ type: 'write-decision', decision: ABORT_DECISION }])
    expect(types(m.step({ type: 'decision-written' }))).toEqual(['abort-prepared:1', 'abort-prepared:2'])
  })

  it('an ambiguous commit-record failure whose record did land: the fence is refused, the read finds the commit → commit all', () => {
    const { m } = make([asShardId(1), asShardId(2)])
    m.start()
    prepareAll(m)
    m.step({ type: 'decision-failed', error: lost() })
    expect(m.step({ type: 'decision-failed', error: taken() })).toEqual([{ type: 'read-decision' }])
    expect(types(m.step({ type: 'decision-read', decision: { outcome: 'commit', commitHlc: HLC } }))).toEqual(['commit-prepared:1', 'commit-prepared:2'])
  })

  it('when neither the fence nor a read settles it, the outcome is unknown and the participants stay in limbo', () => {
    const { m } = make([asShardId(1), asShardId(2)])
    m.start()
    prepareAll(m)
    m.step({ type: 'decision-failed', error: lost() })
    m.step({ type: 'decision-failed', error: lost() })
    const out = m.step({ type: 'decision-read-failed', error: lost() })
    expect(out).toEqual([{ type: 'outcome', outcome: { committed: false, error: expect.objectContaining({ code: 'SB_NODE_UNREACHABLE' }), unknown: true } }])
    expect(m.finished).toBe(true)
  })

  it('a failed COMMIT PREPARED still answers committed, and keeps the record for recovery', () => {
    const { m } = make([asShardId(1), asShardId(2)])
    m.start()
    prepareAll(m)
    m.step({ type: 'decision-written' })
    m.step({ type: 'commit-failed', shard: asShardId(1), error: lost() })
    expect(m.step({ type: 'committed', shard: asShardId(2) })).toEqual([{ type: 'outcome', outcome: { committed: true, commitHlc: HLC } }])
    expect(m.finished).toBe(true)
  })

  it('ignores answers that do not fit the phase', () => {
    const { m } = make([asShardId(1), asShardId(2)])
    m.start()
    expect(m.step({ type: 'committed', shard: asShardId(1) })).toEqual([])
    expect(m.step({ type: 'decision-written' })).toEqual([])
    expect(m.step({ type: 'prepared', shard: asShardId(9), floor: FLOOR })).toEqual([])
    expect(m.step({ type: 'decision-read', decision: ABORT_DECISION })).toEqual([])
    expect(m.outcome).toBeNull()
  })

  it('refuses an empty or repeating participant list', () => {
    expect(() => new TwoPhaseCoordinator(XID, [], () => HLC)).toThrow()
    expect(() => new TwoPhaseCoordinator(XID, [asShardId(1), asShardId(1)], () => HLC)).toThrow()
  })
})
