import { describe, expect, it } from 'vitest'
import {
  DELIVERY_INTERVAL_MS, DELIVERY_RATE_PER_TARGET, HintDelivery, MAX_DELIVERY_BATCH_BYTES,
  type HintDeliveryAction
} from '../../../src/cluster/hints/delivery'
import { asNodeId, type NodeId } from '../../../src/core/ids'

type Deliver = Extract<HintDeliveryAction, { type: 'deliver' }>

const alive = (): boolean => true
const pendingOf = (counts: Record<number, number>): Map<NodeId, { count: number }> =>
  new Map(Object.entries(counts).filter(([, c]) => c > 0).map(([t, c]) => [asNodeId(Number(t)), { count: c }]))
const delivers = (as: HintDeliveryAction[]): Deliver[] => as.filter((a): a is Deliver => a.type === 'deliver')

/** A fake shell: a store of per-target counts and a target that acknowledges instantly (or not). */
class Shell {
  counts: Record<number, number>
  delivered: Record<number, number> = {}
  log: Array<{ at: number, target: NodeId, n: number }> = []
  constructor (readonly d: HintDelivery, counts: Record<number, number>, readonly isAlive: (t: number) => boolean = alive) {
    this.counts = { ...counts }
  }

  tick (now: number, answer: 'ack' | 'fail' | 'hold' = 'ack'): Deliver[] {
    const out = delivers(this.d.tick(now, this.isAlive, pendingOf(this.counts)))
    for (const a of out) {
      if (answer === 'hold') continue
      if (answer === 'fail') { expect(this.d.onFailed(a.target, a.batch, now)).toBe(true); continue }
      const n = Math.min(a.maxHints, this.counts[a.target] ?? 0)
      this.counts[a.target] = (this.counts[a.target] ?? 0) - n
      this.delivered[a.target] = (this.delivered[a.target] ?? 0) + n
      this.log.push({ at: now, target: a.target, n })
      expect(this.d.onDelivered(a.target, a.batch, n)).toBe(true)
    }
    return out
  }
}

describe('hint delivery scheduling', () => {
  it('expires on the first tick, then once an hour', () => {
    const d = new HintDelivery({ expirationDays: 7 })
    const expires = (now: number): number => d.tick(now, alive, new Map()).filter(a => a.type === 'expire').length
    expect(d.tick(0, alive, new Map())).toEqual([{ type: 'expire', maxAgeMs: 7 * 86_400_000 }])
    expect(expires(1000)).toBe(0)
    expect(expires(3_599_999)).toBe(0)
    expect(expires(3_600_000)).toBe(1)
    expect(expires(3_600_001)).toBe(0)
    expect(expires(7_200_000)).toBe(1)
  })

  it('first delivers one interval after the hints appear, then continues while hints remain', () => {
    const s = new Shell(new HintDelivery(), { 3: 2500 })
    for (let t = 0; t < DELIVERY_INTERVAL_MS; t += 1000) expect(s.tick(t)).toEqual([])
    const first = s.tick(DELIVERY_INTERVAL_MS)
    expect(first).toEqual([{ type: 'deliver', target: 3, batch: 1, maxHints: DELIVERY_RATE_PER_TARGET, maxBytes: MAX_DELIVERY_BATCH_BYTES }])
    // The round goes on at the tick rate until drained, bounded by the token bucket.
    s.tick(DELIVERY_INTERVAL_MS + 500)
    expect(s.delivered[3]).toBe(1000 + 500)
    s.tick(DELIVERY_INTERVAL_MS + 1500)
    expect(s.delivered[3]).toBe(2500)
    expect(s.tick(DELIVERY_INTERVAL_MS + 2500)).toEqual([])
    // New hints after the round: a fresh round one interval later.
    s.counts[3] = 10
    expect(s.tick(DELIVERY_INTERVAL_MS + 3000)).toEqual([])
    expect(s.tick(2 * DELIVERY_INTERVAL_MS + 2999)).toEqual([])
    expect(s.tick(2 * DELIVERY_INTERVAL_MS + 3000).map(a => a.maxHints)).toEqual([10])
  })

  it('retune: a lowered rate holds from the next batch (the bucket is cut to it), a new interval from the next round, a new expiry at the next expire', () => {
    const d = new HintDelivery({ expirationDays: 7 })
    const s = new Shell(d, { 3: 10_000 })
    s.tick(0)
    s.tick(DELIVERY_INTERVAL_MS)
    expect(s.delivered[3]).toBe(DELIVERY_RATE_PER_TARGET)
    d.retune({ ratePerSecond: 10, intervalMs: 60_000, expirationDays: 1 })
    expect(d.maxBatchHints).toBe(10)
    s.tick(DELIVERY_INTERVAL_MS + 1000)
    expect(s.delivered[3]).toBe(DELIVERY_RATE_PER_TARGET + 10)
    expect(d.tick(3_600_000, alive, new Map()).find(a => a.type === 'expire')).toEqual({ type: 'expire', maxAgeMs: 86_400_000 })
    expect(() => d.retune({ ratePerSecond: 0 })).toThrow(/out of range/)
    expect(d.ratePerSecond).toBe(10)
  })

  it('never exceeds the rate, whatever the tick period', () => {
    for (const tickMs of [1, 7, 100, 333, 1000, 5000]) {
      const rate = 50
      const s = new Shell(new HintDelivery({ ratePerSecond: rate, intervalMs: 1000 }), { 1: 1_000_000, 2: 1_000_000 })
      const horizon = 30_000
      for (let t = 0; t <= horizon; t += tickMs) s.tick(t)
      for (const target of [1, 2]) {
        const log = s.log.filter(e => e.target === target)
        for (const e of log) expect(e.n).toBeLessThanOrEqual(rate)
        // Any window of W ms holds at most rate × (W / 1000 + 1) hints.
        for (let i = 0; i < log.length; i++) {
          let sum = 0
          for (let j = i; j < log.length && log[j]!.at - log[i]!.at < 10_000; j++) sum += log[j]!.n
          expect(sum).toBeLessThanOrEqual(rate * 11)
        }
        // …and delivery is not starved: close to the rate over the whole run once started.
        if (tickMs <= 1000) expect(s.delivered[target]).toBeGreaterThanOrEqual(rate * 27)
      }
    }
  })

  it('keeps one batch in flight per target and ignores stale answers', () => {
    const d = new HintDelivery()
    const s = new Shell(d, { 2: 5000, 3: 5000 })
    s.tick(0)
    const first = s.tick(DELIVERY_INTERVAL_MS, 'hold')
    expect(first.map(a => a.target)).toEqual([2, 3])
    for (let t = DELIVERY_INTERVAL_MS + 1000; t < DELIVERY_INTERVAL_MS + 10_000; t += 1000) expect(s.tick(t, 'hold')).toEqual([])
    expect(d.inFlight(asNodeId(2))).toBe(first[0]!.batch)
    expect(d.onDelivered(asNodeId(2), first[1]!.batch, 10)).toBe(false) // target 3's batch id
    expect(d.onDelivered(asNodeId(2), first[0]!.batch, 1000)).toBe(true)
    expect(d.onDelivered(asNodeId(2), first[0]!.batch, 1000)).toBe(false) // answered twice
    s.counts[2] = 4000
    const next = s.tick(DELIVERY_INTERVAL_MS + 10_000, 'hold')
    expect(next.map(a => a.target)).toEqual([2])
    expect(next[0]!.batch).toBeGreaterThan(first[1]!.batch)
  })

  it('an unanswered batch times out as failed; its late answer is ignored', () => {
    const d = new HintDelivery({ inFlightTimeoutMs: 30_000 })
    const s = new Shell(d, { 4: 10 })
    s.tick(0)
    const [a] = s.tick(DELIVERY_INTERVAL_MS, 'hold')
    expect(s.tick(DELIVERY_INTERVAL_MS + 29_999, 'hold')).toEqual([])
    // Timed out at +30 s: failed, retry one interval later.
    expect(s.tick(DELIVERY_INTERVAL_MS + 30_000, 'hold')).toEqual([])
    expect(d.inFlight(asNodeId(4))).toBeUndefined()
    expect(d.onDelivered(asNodeId(4), a!.batch, 10)).toBe(false)
    expect(s.tick(DELIVERY_INTERVAL_MS + 30_000 + DELIVERY_INTERVAL_MS - 1)).toEqual([])
    expect(s.tick(DELIVERY_INTERVAL_MS + 30_000 + DELIVERY_INTERVAL_MS)).toHaveLength(1)
    expect(s.counts[4]).toBe(0)
  })

  it('a failed batch is retried in the next interval, not before', () => {
    const d = new HintDelivery()
    const s = new Shell(d, { 5: 100 })
    s.tick(0)
    const t0 = DELIVERY_INTERVAL_MS
    expect(s.tick(t0, 'fail')).toHaveLength(1)
    expect(d.inFlight(asNodeId(5))).toBeUndefined()
    for (let t = t0 + 1000; t < t0 + DELIVERY_INTERVAL_MS; t += 1000) expect(s.tick(t)).toEqual([])
    expect(s.tick(t0 + DELIVERY_INTERVAL_MS)).toHaveLength(1)
    expect(s.counts[5]).toBe(0)
    // A failure late in a round still waits a full interval from the failure.
    s.counts[5] = 3000
    s.tick(t0 + 2 * DELIVERY_INTERVAL_MS)
    s.tick(t0 + 2 * DELIVERY_INTERVAL_MS + 9000, 'fail')
    expect(s.tick(t0 + 3 * DELIVERY_INTERVAL_MS + 1000)).toEqual([])
    expect(s.tick(t0 + 3 * DELIVERY_INTERVAL_MS + 9000)).toHaveLength(1)
  })

  it('skips dead targets and resumes when they are alive again', () => {
    const up = new Set([1])
    const d = new HintDelivery()
    const s = new Shell(d, { 1: 10, 2: 10 }, t => up.has(t))
    expect(s.tick(0)).toEqual([])
    expect(s.tick(DELIVERY_INTERVAL_MS).map(a => a.target)).toEqual([1])
    for (let t = DELIVERY_INTERVAL_MS; t < 60_000; t += 1000) expect(s.tick(t)).toEqual([])
    up.add(2)
    expect(s.tick(60_000).map(a => a.target)).toEqual([2])
    expect(s.counts).toEqual({ 1: 0, 2: 0 })
  })

  it('a target dying mid-round stops the round', () => {
    const up = new Set([1])
    const d = new HintDelivery()
    const s = new Shell(d, { 1: 5000 }, t => up.has(t))
    s.tick(0)
    expect(s.tick(DELIVERY_INTERVAL_MS)).toHaveLength(1)
    up.delete(1)
    expect(s.tick(DELIVERY_INTERVAL_MS + 1000)).toEqual([])
    up.add(1)
    // Back before nextRoundAt: waits for it.
    expect(s.tick(DELIVERY_INTERVAL_MS + 2000)).toEqual([])
    expect(s.tick(2 * DELIVERY_INTERVAL_MS)).toHaveLength(1)
  })

  it('force: delivers at the next tick regardless of the interval or a failure back-off, still rate-bounded', () => {
    const up = new Set([1, 2])
    const d = new HintDelivery({ ratePerSecond: 100 })
    const s = new Shell(d, { 1: 1000, 2: 5 }, t => up.has(t))
    expect(d.force(asNodeId(3), false, 0)).toBe('not-alive')
    expect(d.force(asNodeId(2), true, 0)).toBe('no-hints')
    expect(d.force(asNodeId(1), true, 1000)).toBe('scheduled')
    const first = s.tick(0)
    expect(first.map(a => [a.target, a.maxHints])).toEqual([[1, 100]])
    s.tick(500)
    expect(s.delivered[1]).toBe(150)
    // After a failure the back-off is one interval; force skips it.
    s.tick(1000, 'fail')
    expect(s.tick(2000)).toEqual([])
    expect(d.force(asNodeId(1), true, s.counts[1]!)).toBe('scheduled')
    expect(s.tick(2000).map(a => a.maxHints)).toEqual([100])
    // Forced but dead at the tick: nothing is sent, and force must be asked again.
    s.tick(3000, 'fail')
    expect(d.force(asNodeId(1), true, s.counts[1]!)).toBe('scheduled')
    up.delete(1)
    expect(s.tick(4000)).toEqual([])
    up.add(1)
    expect(s.tick(5000)).toEqual([])
    // Target 2 was never forced: its first round is one interval after it was first seen.
    expect(s.tick(3000 + DELIVERY_INTERVAL_MS).map(a => a.target)).toEqual([1, 2])
  })

  it('rate below the batch size shrinks the batch; onDelivered refunds unused tokens', () => {
    const d = new HintDelivery({ ratePerSecond: 20 })
    expect(d.maxBatchHints).toBe(20)
    d.tick(0, alive, pendingOf({ 9: 100 }))
    const [a] = delivers(d.tick(DELIVERY_INTERVAL_MS, alive, pendingOf({ 9: 100 })))
    expect(a!.maxHints).toBe(20)
    // Only 5 went out (byte bound): 15 tokens back, so the next tick can send 15 at once.
    d.onDelivered(asNodeId(9), a!.batch, 5)
    expect(delivers(d.tick(DELIVERY_INTERVAL_MS, alive, pendingOf({ 9: 95 })))[0]!.maxHints).toBe(15)
  })
})
