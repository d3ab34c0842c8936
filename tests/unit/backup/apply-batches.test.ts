import { describe, expect, it } from 'vitest'
import { applyBatches, parseUntil, prefixUntil } from '../../../src/backup/apply-batches'
import type { RawLogEntry } from '../../../src/storage/commit-log'
import { MAX_APPLY_MUTATIONS } from '../../../src/storage/replica-apply'
import { asXid } from '../../../src/core/ids'
import { hlcTs } from '../../../src/storage/types'

// Point-in-time replay's cut and the apply batches of an incremental restore (issue 17 item 4).

const entry = (lsn: number, ms: number, mutations = 0): RawLogEntry => ({
  lsn: BigInt(lsn),
  generation: 0n,
  xid: asXid(BigInt(lsn)),
  commitHlc: hlcTs(ms, 3),
  mutations: Array.from({ length: mutations }, () => ({ tableId: 1, pkBytes: Uint8Array.of(0x14), versionId: new Uint8Array(16), row: null }))
})

describe('prefixUntil', () => {
  it('keeps the entries committed at or before the time and stops at the first later one', () => {
    const log = [entry(1, 100), entry(2, 200), entry(3, 300), entry(4, 250)]
    expect(prefixUntil(log, 200)).toEqual({ take: [log[0], log[1]], stopped: true })
    // A later LSN committed earlier is not taken past the cut: the shard stays a prefix of its log.
    expect(prefixUntil(log, 260).take.map(e => e.lsn)).toEqual([1n, 2n])
    expect(prefixUntil(log, 300)).toEqual({ take: log, stopped: false })
  })
})

describe('parseUntil', () => {
  it('reads the seeds\' form as UTC and honours offsets and fractions', () => {
    expect(parseUntil('2026-01-10 15:30:00')).toBe(Date.UTC(2026, 0, 10, 15, 30, 0))
    expect(parseUntil('2026-01-10T15:30:00.250+02:00')).toBe(Date.UTC(2026, 0, 10, 13, 30, 0, 250))
    for (const bad of ['yesterday', '2026-13-40 99:00:00', '']) expect(() => parseUntil(bad)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })
})

describe('applyBatches', () => {
  it('splits runs so that no call exceeds the apply op\'s mutation bound, keeping order', () => {
    const log = [entry(1, 1, MAX_APPLY_MUTATIONS - 10), entry(2, 2, 20), entry(3, 3, 5)]
    const batches = applyBatches(log)
    expect(batches.map(b => b.map(e => e.lsn))).toEqual([[1n], [2n, 3n]])
  })
})
