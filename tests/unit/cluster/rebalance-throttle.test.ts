import { describe, expect, it } from 'vitest'
import { MAX_PACE_MS, paceAfterChunk, pacedBootstrap, TokenBucket } from '../../../src/cluster/membership/rebalance-throttle'
import { ManualClock } from '../../../src/core/clock'
import { asNodeId } from '../../../src/core/ids'

// cluster.rebalance_rate_bytes_per_s (issue 20 item 3): the token bucket bounding the snapshot
// bytes a node streams for replica moves.

describe('TokenBucket', () => {
  it('0 is unlimited: nothing ever waits', () => {
    const b = new TokenBucket(0, new ManualClock())
    expect(b.unlimited).toBe(true)
    for (let i = 0; i < 5; i++) expect(b.take(1e9)).toBe(0)
  })

  it('a second\'s worth at once, then the rest waits for the rate', () => {
    const clock = new ManualClock()
    const b = new TokenBucket(1000, clock)
    expect(b.take(600)).toBe(0)
    expect(b.take(400)).toBe(0)
    expect(b.take(500)).toBe(500)
    // The caller sleeps the 500 ms, then the next 500 bytes wait another 500 ms.
    clock.advance(500)
    expect(b.take(500)).toBe(500)
  })

  it('a chunk larger than the burst goes at once and its debt is repaid before the next', () => {
    const clock = new ManualClock()
    const b = new TokenBucket(1000, clock)
    expect(b.take(5000)).toBe(4000)
    clock.advance(4000)
    expect(b.take(1)).toBe(1)
  })

  it('over any span the bytes granted stay within rate × time plus one burst', () => {
    const clock = new ManualClock()
    const rate = 10_000
    const b = new TokenBucket(rate, clock)
    let sent = 0
    for (let i = 0; i < 200; i++) {
      const wait = b.take(3_000)
      clock.advance(wait)
      sent += 3_000
      expect(sent).toBeLessThanOrEqual(rate * clock.monotonic() / 1000 + rate)
    }
    // And it is not slower than the rate either: 600 kB took about 59 s, not more.
    expect(clock.monotonic()).toBeLessThanOrEqual(600_000 / rate * 1000)
  })

  it('idle time refills at most one burst', () => {
    const clock = new ManualClock()
    const b = new TokenBucket(1000, clock)
    b.take(1000)
    clock.advance(60_000)
    expect(b.take(1000)).toBe(0)
    expect(b.take(1000)).toBe(1000)
  })

  it('a rate below 0 or not finite is refused', () => {
    expect(() => new TokenBucket(-1, new ManualClock())).toThrow()
    expect(() => new TokenBucket(Number.NaN, new ManualClock())).toThrow()
  })
})

describe('paceAfterChunk (cluster.rebalance_max_busy_share)', () => {
  it('waits so the stream is busy at most the share: busy / (busy + wait) = share', () => {
    expect(paceAfterChunk(10, 0.2)).toBe(40)
    expect(paceAfterChunk(10, 0.5)).toBe(10)
    expect(paceAfterChunk(3, 0.25)).toBe(9)
    for (const [busy, share] of [[7, 0.3], [120, 0.1], [1, 0.9]] as const) {
      const wait = paceAfterChunk(busy, share)
      expect(busy / (busy + wait)).toBeLessThanOrEqual(share + 1e-9)
    }
  })
  it('1, or no busy time, waits nothing; a share outside (0, 1] is refused', () => {
    expect(paceAfterChunk(50, 1)).toBe(0)
    // Never near the source snapshot's idle limit (a minute).
    expect(paceAfterChunk(30_000, 0.2)).toBe(MAX_PACE_MS)
    expect(paceAfterChunk(0, 0.2)).toBe(0)
    expect(paceAfterChunk(-5, 0.2)).toBe(0)
    expect(() => paceAfterChunk(5, 0)).toThrow()
    expect(() => paceAfterChunk(5, 1.5)).toThrow()
    expect(() => paceAfterChunk(5, Number.NaN)).toThrow()
  })
})

describe('pacedBootstrap: a copy added is paced, a recovery is not', () => {
  const n = (...ids: number[]): ReturnType<typeof asNodeId>[] => ids.map(asNodeId)
  it('a join or drain adds a learner to a group with its copies: paced', () => {
    expect(pacedBootstrap(asNodeId(4), n(1, 2), [])).toBe(true)
  })
  it('a voter bootstrapped again (behind the log) or a replacement for a voter gone for good: not paced', () => {
    expect(pacedBootstrap(asNodeId(2), n(1, 2), [])).toBe(false)
    expect(pacedBootstrap(asNodeId(4), n(1, 2, 3), n(3))).toBe(false)
    // A gone node no longer a voter does not count.
    expect(pacedBootstrap(asNodeId(4), n(1, 2), n(3))).toBe(true)
  })
})
