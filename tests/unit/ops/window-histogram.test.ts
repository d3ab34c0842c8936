import { describe, expect, it } from 'vitest'
import { WindowHistogram } from '../../../src/ops/window-histogram'

describe('sliding-window histogram', () => {
  it('p99 of the window lies in the bucket of the 99th value, interpolated inside it', () => {
    const h = new WindowHistogram(0)
    for (let i = 0; i < 990; i++) h.observe(1, 1000)
    for (let i = 0; i < 10; i++) h.observe(40, 1000)
    // 990 values ≤ 1 ms: the 99th percentile (rank 990) is the top of the 0.5–1 ms bucket.
    expect(h.quantile(0.99, 1000)).toBeCloseTo(1, 6)
    expect(h.quantile(0.995, 1000)).toBeGreaterThan(30)
    expect(h.quantile(0.995, 1000)).toBeLessThanOrEqual(40)
    expect(h.quantile(1, 1000)).toBe(40)
  })

  it('values above the last bound report the largest seen', () => {
    const h = new WindowHistogram(0)
    h.observe(25_000, 10)
    expect(h.quantile(0.99, 10)).toBe(25_000)
  })

  it('forgets what left the window; rate covers the window or the time since start', () => {
    const h = new WindowHistogram(0, { slots: 6, slotMs: 10_000 })
    for (let i = 0; i < 100; i++) h.observe(5, 5_000)
    expect(h.count(5_000)).toBe(100)
    expect(h.ratePerSecond(5_000)).toBeCloseTo(20, 6) // 100 in the first 5 s
    expect(h.ratePerSecond(59_999)).toBeCloseTo(100 / 59.999, 3)
    expect(h.count(60_000)).toBe(0) // slot 0 (0–10 s) left the window
    expect(h.quantile(0.99, 60_000)).toBeNull()
    h.observe(2, 61_000)
    expect(h.count(61_000)).toBe(1)
    expect(h.quantile(0.5, 61_000)).toBeGreaterThan(1)
    expect(h.quantile(0.5, 61_000)).toBeLessThanOrEqual(2)
  })
})
