import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { STALL_GRACE_MS, STALL_MS, StallWatch, stalledRecently } from '../../../src/net/stall-guard'

describe('StallWatch (kept-alive connections through a stall of the process)', () => {
  it('a beat on time is no stall; a beat far too late marks a stall for the grace period', () => {
    const clock = new ManualClock()
    const w = new StallWatch(clock, 250)
    clock.advance(250); w.beat()
    expect(w.stalledRecently()).toBe(false)
    clock.advance(250 + STALL_MS - 1); w.beat()
    expect(w.stalledRecently()).toBe(false) // scheduling jitter, not a stall
    clock.advance(8000); w.beat()
    expect(w.stalls).toBe(1)
    expect(w.stalledRecently()).toBe(true)
    // Beating on time again: still within the grace until STALL_GRACE_MS after the resume.
    for (let t = 250; t < STALL_GRACE_MS; t += 250) { clock.advance(250); w.beat() }
    expect(w.stalledRecently()).toBe(true)
    clock.advance(250); w.beat()
    expect(w.stalledRecently()).toBe(false)
    expect(w.stalls).toBe(1)
  })

  it('a timeout that fires before the watch beat again after a stall still sees it (its last beat is too old)', () => {
    const clock = new ManualClock()
    const w = new StallWatch(clock, 250)
    clock.advance(250); w.beat()
    clock.advance(8000) // stopped; the socket's timer runs first on resume
    expect(w.stalledRecently()).toBe(true)
    expect(stalledRecently(1000, 0, 250, null)).toBe(false)
    expect(stalledRecently(1251, 0, 250, null)).toBe(true)
  })
})
