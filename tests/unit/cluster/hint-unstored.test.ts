import { describe, expect, it } from 'vitest'
import { FIRST_RETRY_MS, hintBytes, MAX_RETRY_MS, UnstoredHints } from '../../../src/cluster/hints/unstored'
import { asNodeId, asShardId, asXid } from '../../../src/core/ids'
import type { Hint } from '../../../src/storage/hint-store'

// Issue 21: hints the hint log refused (a full disk) are held in memory and offered again on a
// short back-off, oldest first, within bounds — src/cluster/hints/unstored.ts.

const hint = (n: number, rowBytes = 10): Hint => ({
  target: asNodeId(1), shard: asShardId(0), tableId: 5, key: Uint8Array.of(n), xid: asXid(BigInt(n)), versionId: new Uint8Array(16), row: new Uint8Array(rowBytes), createdAtMs: n
})

describe('hints the log refused', () => {
  it('are offered again after the back-off, oldest first, and back in front when still refused; the back-off doubles to its cap and resets once stored', () => {
    const u = new UnstoredHints()
    expect(u.keep([hint(1)], 0)).toBe(0)
    u.keep([hint(2), hint(3)], 10)
    expect(u.count).toBe(3)
    expect(u.take(FIRST_RETRY_MS - 1)).toBeNull()
    const first = u.take(FIRST_RETRY_MS)!
    expect(first.map(b => b.map(h => h.xid))).toEqual([[1n], [2n, 3n]])
    expect(u.take(FIRST_RETRY_MS)).toBeNull() // one try at a time
    u.keep([hint(4)], FIRST_RETRY_MS) // kept while the try runs: after the ones the try gives back
    u.settled(first, FIRST_RETRY_MS)
    expect(u.take(FIRST_RETRY_MS + 2 * FIRST_RETRY_MS - 1)).toBeNull()
    let t = FIRST_RETRY_MS + 2 * FIRST_RETRY_MS
    const second = u.take(t)!
    expect(second.flat().map(h => h.xid)).toEqual([1n, 2n, 3n, 4n])
    // Refused again and again: the wait doubles, never beyond MAX_RETRY_MS.
    let wait = 2 * FIRST_RETRY_MS
    let batches = second
    for (let i = 0; i < 6; i++) {
      u.settled(batches, t)
      wait = Math.min(MAX_RETRY_MS, wait * 2)
      expect(u.take(t + wait - 1)).toBeNull()
      t += wait
      batches = u.take(t)!
    }
    expect(wait).toBe(MAX_RETRY_MS)
    // Stored at last: nothing held, and the next refusal waits the first back-off again.
    u.settled([], t)
    expect(u.count).toBe(0)
    expect(u.take(t + 60_000)).toBeNull()
    u.keep([hint(5)], t + 60_000)
    expect(u.take(t + 60_000 + FIRST_RETRY_MS)).not.toBeNull()
  })

  it('stay within their bounds: the oldest batches are dropped and counted', () => {
    const u = new UnstoredHints(3, 10_000)
    u.keep([hint(1), hint(2)], 0)
    expect(u.keep([hint(3), hint(4)], 0)).toBe(2)
    expect([u.count, u.dropped]).toEqual([2, 2])
    const small = new UnstoredHints(100, 2 * hintBytes(hint(0, 100)))
    small.keep([hint(1, 100)], 0)
    small.keep([hint(2, 100)], 0)
    expect(small.keep([hint(3, 100)], 0)).toBe(1)
    expect(small.take(FIRST_RETRY_MS)!.flat().map(h => h.xid)).toEqual([2n, 3n])
    expect(small.bytes).toBe(0)
  })
})
