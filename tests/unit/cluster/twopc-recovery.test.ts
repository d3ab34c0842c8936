import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../src/core/errors'
import { ABORT_DECISION } from '../../../src/cluster/twopc/decision'
import { LimboRecovery, type CoordinatorStatus, type RecoveryEffect } from '../../../src/cluster/twopc/recovery'
import { hlcTs, type Xid } from '../../../src/storage/types'
import { asShardId, asXid, type ShardId } from '../../../src/core/ids'

// The limbo-recovery machine alone: effects out for events in, no I/O.

const HLC = hlcTs(112_000)
const lost = (): ScratchBirdError => new ScratchBirdError('SB_NODE_UNREACHABLE', 'connection reset')
const taken = (): ScratchBirdError => new ScratchBirdError('SB_UNIQUE_VIOLATION', 'duplicate primary key')

function make (shards: ShardId[], status: CoordinatorStatus | ((xid: Xid) => CoordinatorStatus), dropDecisions = false): LimboRecovery {
  return new LimboRecovery({ shards, coordinator: typeof status === 'function' ? status : () => status, dropDecisions })
}

describe('limbo recovery machine', () => {
  it('lists every shard; one lookup per xid however many shards hold it; commit by the record', () => {
    const m = make([asShardId(0), asShardId(1)], 'gone', true)
    expect(m.start()).toEqual([{ type: 'list-limbo', shard: 0 }, { type: 'list-limbo', shard: 1 }])
    expect(m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n)] })).toEqual([{ type: 'read-decision', xid: 5n }])
    expect(m.step({ type: 'limbo-listed', shard: asShardId(1), xids: [asXid(5n)] })).toEqual([]) // rides along
    expect(m.step({ type: 'decision-read', xid: asXid(5n), decision: { outcome: 'commit', commitHlc: HLC } })).toEqual([
      { type: 'commit-prepared', shard: 0, xid: 5n, commitHlc: HLC },
      { type: 'commit-prepared', shard: 1, xid: 5n, commitHlc: HLC }
    ])
    expect(m.step({ type: 'resolved', shard: asShardId(0), xid: asXid(5n) })).toEqual([])
    expect(m.step({ type: 'resolved', shard: asShardId(1), xid: asXid(5n) })).toEqual([{ type: 'drop-decision', xid: 5n }])
    expect(m.finished).toBe(false)
    m.step({ type: 'dropped', xid: asXid(5n) })
    expect(m.finished).toBe(true)
    expect(m.result).toEqual({ committed: 2, aborted: 0, failed: 0, pending: 0 })
  })

  it('an xid listed by a shard after its decision was read is resolved at once', () => {
    const m = make([asShardId(0), asShardId(1)], 'gone')
    m.start()
    m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n)] })
    m.step({ type: 'decision-read', xid: asXid(5n), decision: ABORT_DECISION })
    expect(m.step({ type: 'limbo-listed', shard: asShardId(1), xids: [asXid(5n)] })).toEqual([{ type: 'abort-prepared', shard: 1, xid: 5n }])
    m.step({ type: 'resolved', shard: asShardId(0), xid: asXid(5n) })
    m.step({ type: 'resolved', shard: asShardId(1), xid: asXid(5n) })
    expect(m.finished).toBe(true)
    expect(m.result).toEqual({ committed: 0, aborted: 2, failed: 0, pending: 0 })
  })

  it('no record and the coordinator gone → abort without a fence (presumed abort)', () => {
    const m = make([asShardId(0)], 'gone')
    m.start()
    m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n)] })
    expect(m.step({ type: 'decision-read', xid: asXid(5n), decision: null })).toEqual([{ type: 'abort-prepared', shard: 0, xid: 5n }])
  })

  it('no record and the coordinator maybe running → fence first; abort only once the fence landed', () => {
    const m = make([asShardId(0)], 'maybe-running')
    m.start()
    m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n)] })
    expect(m.step({ type: 'decision-read', xid: asXid(5n), decision: null })).toEqual([{ type: 'write-decision', xid: 5n, decision: ABORT_DECISION }])
    expect(m.step({ type: 'fenced', xid: asXid(5n) })).toEqual([{ type: 'abort-prepared', shard: 0, xid: 5n }])
    m.step({ type: 'resolved', shard: asShardId(0), xid: asXid(5n) })
    expect(m.result).toEqual({ committed: 0, aborted: 1, failed: 0, pending: 0 })
    expect(m.finished).toBe(true)
  })

  it('a fence refused because the coordinator wrote first → read again and commit', () => {
    const m = make([asShardId(0)], 'maybe-running')
    m.start()
    m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n)] })
    m.step({ type: 'decision-read', xid: asXid(5n), decision: null })
    expect(m.step({ type: 'fence-failed', xid: asXid(5n), error: taken() })).toEqual([{ type: 'read-decision', xid: 5n }])
    expect(m.step({ type: 'decision-read', xid: asXid(5n), decision: { outcome: 'commit', commitHlc: HLC } })).toEqual([{ type: 'commit-prepared', shard: 0, xid: 5n, commitHlc: HLC }])
  })

  it('never guesses: a lookup or fence that fails leaves the entry in limbo and counts it failed; no record is dropped then', () => {
    const m = make([asShardId(0), asShardId(1)], 'maybe-running', true)
    m.start()
    m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n), asXid(6n)] })
    m.step({ type: 'limbo-listed', shard: asShardId(1), xids: [asXid(7n)] })
    expect(m.step({ type: 'decision-read-failed', xid: asXid(5n), error: lost() })).toEqual([])
    m.step({ type: 'decision-read', xid: asXid(6n), decision: null })
    expect(m.step({ type: 'fence-failed', xid: asXid(6n), error: lost() })).toEqual([])
    m.step({ type: 'decision-read', xid: asXid(7n), decision: { outcome: 'commit', commitHlc: HLC } })
    expect(m.step({ type: 'resolved', shard: asShardId(1), xid: asXid(7n) })).toEqual([]) // failures elsewhere: the record stays
    expect(m.finished).toBe(true)
    expect(m.result).toEqual({ committed: 1, aborted: 0, failed: 2, pending: 0 })
  })

  it('leaves an xid its running coordinator holds (pending), without reading its record', () => {
    const m = make([asShardId(0)], xid => xid === 5n ? 'running' : 'gone')
    m.start()
    expect(m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n), asXid(6n)] })).toEqual([{ type: 'read-decision', xid: 6n }])
    m.step({ type: 'decision-read', xid: asXid(6n), decision: null })
    m.step({ type: 'resolved', shard: asShardId(0), xid: asXid(6n) })
    expect(m.result).toEqual({ committed: 0, aborted: 1, failed: 0, pending: 1 })
    expect(m.finished).toBe(true)
  })

  it('a shard whose limbo cannot be listed counts as failed; nothing to do ends at once', () => {
    const m = make([asShardId(0), asShardId(1)], 'gone')
    m.start()
    m.step({ type: 'list-failed', shard: asShardId(0), error: lost() })
    m.step({ type: 'limbo-listed', shard: asShardId(1), xids: [] })
    expect(m.finished).toBe(true)
    expect(m.result).toEqual({ committed: 0, aborted: 0, failed: 1, pending: 0 })
    const empty = make([], 'gone')
    expect(empty.start()).toEqual([])
    expect(empty.finished).toBe(true)
  })

  it('a failed resolution counts as failed; stray answers are ignored', () => {
    const m = make([asShardId(0)], 'gone')
    m.start()
    m.step({ type: 'limbo-listed', shard: asShardId(0), xids: [asXid(5n)] })
    expect(m.step({ type: 'fenced', xid: asXid(5n) })).toEqual([]) // not fencing
    m.step({ type: 'decision-read', xid: asXid(5n), decision: ABORT_DECISION })
    expect(m.step({ type: 'resolved', shard: asShardId(3), xid: asXid(5n) })).toEqual([])
    expect(m.step({ type: 'resolved', shard: asShardId(0), xid: asXid(99n) })).toEqual([])
    const out: RecoveryEffect[] = m.step({ type: 'resolve-failed', shard: asShardId(0), xid: asXid(5n), error: lost() })
    expect(out).toEqual([])
    expect(m.result).toEqual({ committed: 0, aborted: 0, failed: 1, pending: 0 })
    expect(m.finished).toBe(true)
  })
})
