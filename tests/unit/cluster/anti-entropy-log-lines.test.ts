import { describe, expect, it } from 'vitest'
import { antiEntropyLogLine } from '../../../src/cluster/anti-entropy/log-lines'
import type { RoundResult } from '../../../src/cluster/anti-entropy/types'
import { asNodeId, asShardId } from '../../../src/core/ids'

const report = { window: 150, inFlight: 0, rowsRepaired: 3, leavesAdopted: 0, conflicts: 0, unrepairable: 0 }

describe('anti-entropy log lines', () => {
  it('read as the seeds print them', () => {
    expect(antiEntropyLogLine({ type: 'window-diverged', shard: asShardId(1), peer: asNodeId(2), window: 150 }))
      .toMatchObject({ level: 'INFO', msg: 'Anti-entropy: Window 150 diverged (Shard 001), repair initiated' })
    expect(antiEntropyLogLine({ type: 'window-repaired', shard: asShardId(1), peer: asNodeId(2), report }))
      .toMatchObject({ level: 'INFO', msg: 'Anti-entropy: Repaired 3 rows (Shard 001, Window 150)' })
    expect(antiEntropyLogLine({ type: 'window-diverged', shard: asShardId(1234), peer: asNodeId(2), window: 7 }).msg)
      .toBe('Anti-entropy: Window 7 diverged (Shard 1234), repair initiated')
  })

  it('a window left with conflicts or unrepairable keys is a WARNING that says so', () => {
    const line = antiEntropyLogLine({ type: 'window-repaired', shard: asShardId(4), peer: asNodeId(2), report: { ...report, rowsRepaired: 1, conflicts: 1, unrepairable: 2 } })
    expect(line.level).toBe('WARNING')
    expect(line.msg).toBe('Anti-entropy: Repaired 1 rows (Shard 004, Window 150); 1 conflicting and 2 unrepairable keys left')
  })

  it('an aborted round is a WARNING naming the reason', () => {
    const result: RoundResult = {
      shard: asShardId(2),
      peer: asNodeId(3),
      outcome: 'aborted',
      reason: 'timeout',
      error: undefined,
      startedAtMs: 0,
      finishedAtMs: 1,
      verifiedThroughMs: null,
      windowsCompared: 4,
      windowsDiverged: 1,
      rowsRepaired: 0,
      windows: [],
      bytesExchanged: 10,
      leavesExchanged: 0,
      busyMs: 0,
      lastWindow: undefined
    }
    const line = antiEntropyLogLine({ type: 'round-finished', result })
    expect(line.level).toBe('WARNING')
    expect(line.msg).toBe('Anti-entropy: Round with Node 3 aborted (timeout) (Shard 002): 4 windows compared, 1 diverged, 0 rows repaired')
  })
})
