// A histogram over a sliding time window, for the seed's gauges that Prometheus cannot compute
// from a cumulative series without a query: scratchbird_write_tps (events per second over the
// window) and scratchbird_read_latency_p99_ms (the 99th percentile over the window). Pure: time
// comes in as arguments (the caller's Clock).
//
// The window is SLOTS slots of slotMs each (default 6 x 10 s = the last 60 s); each slot holds a
// count per latency bucket (fixed bounds, below) and is reset when time moves into it again.
// A quantile merges the live slots' buckets, finds the bucket where the cumulative count reaches
// q x total, and interpolates linearly inside it (as Prometheus' histogram_quantile does); values
// above the last bound report the largest value seen in the window. So a p99 is exact to within
// its bucket's width, and it covers between (SLOTS-1) x slotMs and SLOTS x slotMs of the past.

/** Bucket upper bounds in milliseconds; the last bucket (above 10 s) is open. */
export const WINDOW_BOUNDS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000, 2000, 5000, 10_000]

export interface WindowOptions {
  readonly slots?: number
  readonly slotMs?: number
}

interface Slot { epoch: number, counts: number[], max: number, total: number }

export class WindowHistogram {
  readonly slotMs: number
  private readonly slots: Slot[]
  private readonly startedMs: number

  constructor (nowMs: number, o: WindowOptions = {}) {
    this.slotMs = o.slotMs ?? 10_000
    const n = o.slots ?? 6
    this.slots = Array.from({ length: n }, () => ({ epoch: -1, counts: new Array<number>(WINDOW_BOUNDS_MS.length + 1).fill(0), max: 0, total: 0 }))
    this.startedMs = nowMs
  }

  get windowMs (): number { return this.slots.length * this.slotMs }

  observe (valueMs: number, nowMs: number): void {
    const slot = this.slotAt(nowMs)
    let i = 0
    while (i < WINDOW_BOUNDS_MS.length && valueMs > WINDOW_BOUNDS_MS[i]!) i++
    slot.counts[i]!++
    slot.total++
    if (valueMs > slot.max) slot.max = valueMs
  }

  /** Observations inside the window. */
  count (nowMs: number): number {
    return this.live(nowMs).reduce((n, s) => n + s.total, 0)
  }

  /** Observations per second over the window (or over the time since creation, when shorter). */
  ratePerSecond (nowMs: number): number {
    const epoch = Math.floor(nowMs / this.slotMs)
    const covered = Math.min((this.slots.length - 1) * this.slotMs + (nowMs - epoch * this.slotMs), nowMs - this.startedMs)
    return covered <= 0 ? 0 : this.count(nowMs) / (covered / 1000)
  }

  /** The q-quantile (0 < q ≤ 1) of the window's observations in ms; null when there are none. */
  quantile (q: number, nowMs: number): number | null {
    const live = this.live(nowMs)
    const total = live.reduce((n, s) => n + s.total, 0)
    if (total === 0) return null
    const merged = new Array<number>(WINDOW_BOUNDS_MS.length + 1).fill(0)
    let max = 0
    for (const s of live) {
      s.counts.forEach((c, i) => { merged[i]! += c })
      if (s.max > max) max = s.max
    }
    const rank = q * total
    let cumulative = 0
    for (let i = 0; i < merged.length; i++) {
      const c = merged[i]!
      if (c > 0 && cumulative + c >= rank) {
        if (i === WINDOW_BOUNDS_MS.length) return max
        const lower = i === 0 ? 0 : WINDOW_BOUNDS_MS[i - 1]!
        const upper = Math.min(WINDOW_BOUNDS_MS[i]!, max)
        return lower + (upper - lower) * ((rank - cumulative) / c)
      }
      cumulative += c
    }
    return max
  }

  private slotAt (nowMs: number): Slot {
    const epoch = Math.floor(nowMs / this.slotMs)
    const slot = this.slots[epoch % this.slots.length]!
    if (slot.epoch !== epoch) {
      slot.epoch = epoch
      slot.counts.fill(0)
      slot.max = 0
      slot.total = 0
    }
    return slot
  }

  private live (nowMs: number): Slot[] {
    const epoch = Math.floor(nowMs / this.slotMs)
    return this.slots.filter(s => s.epoch > epoch - this.slots.length && s.epoch <= epoch)
  }
}
