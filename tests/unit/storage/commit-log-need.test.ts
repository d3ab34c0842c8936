import { describe, expect, it } from 'vitest'
import { asHlcTs, asXid, type HlcTs, type Xid } from '../../../src/core/ids'
import { commitLogNeed, commitValueDroppable, commitValueSpan, encodeCommitGroup } from '../../../src/storage/commit-log'

// The one rule of commit-log truncation (commit-log.ts): what the consumers need, and whether a
// stored value (one entry, or a group) lies wholly below it.

const entry = (xid: bigint, commitHlc: bigint): { xid: Xid, commitHlc: HlcTs, mutations: [] } => ({ xid: asXid(xid), commitHlc: asHlcTs(commitHlc), mutations: [] })
const h = asHlcTs

describe('commit-log need', () => {
  it('is the minimum over the consumers, per unit; no consumer at all keeps everything', () => {
    expect(commitLogNeed([])).toEqual({ fromLsn: undefined, sinceHlc: undefined, keepAll: true })
    expect(commitLogNeed([{ name: 'a', fromLsn: 9n }, { name: 'b', fromLsn: 4n, sinceHlc: h(70n) }, { name: 'c', sinceHlc: h(50n) }]))
      .toEqual({ fromLsn: 4n, sinceHlc: h(50n), keepAll: false })
  })

  it('drops a value only when every LSN in it is below fromLsn and every commit below sinceHlc', () => {
    const need = commitLogNeed([{ name: 'replica', fromLsn: 10n }, { name: 'retention', sinceHlc: h(100n) }])
    expect(commitValueDroppable(need, 5n, 5, h(99n))).toBe(true) // LSNs 5..9
    expect(commitValueDroppable(need, 5n, 6, h(99n))).toBe(false) // LSNs 5..10 straddle the cut: kept whole
    expect(commitValueDroppable(need, 5n, 1, h(100n))).toBe(false) // committed inside the window
    expect(commitValueDroppable(commitLogNeed([]), 1n, 1, h(0n))).toBe(false)
  })

  it('reads the entry count and newest commit HLC from the headers of a single entry and of a group', () => {
    expect(commitValueSpan(7n, encodeCommitGroup([entry(1n, 42n)]))).toEqual({ count: 1, maxCommitHlc: 42n })
    expect(commitValueSpan(7n, encodeCommitGroup([entry(1n, 42n), entry(2n, 90n), entry(3n, 60n)]))).toEqual({ count: 3, maxCommitHlc: 90n })
    const bad = encodeCommitGroup([entry(1n, 42n), entry(2n, 90n)]).slice(0, 20)
    expect(() => commitValueSpan(7n, bad)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }) as Error)
  })
})
