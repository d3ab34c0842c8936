// The only place ScratchBird reads time (DESIGN §10 "Deterministic core"). Everything the simulator
// runs takes a Clock; production passes systemClock, tests and the simulator a ManualClock.

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (may jump backwards: NTP). */
  now (): number
  /** Monotonic milliseconds, for durations and timeouts only. */
  monotonic (): number
}

/**
 * Fault injection for cluster tests (DESIGN §11 "clock offsets"): SCRATCHBIRD_TEST_CLOCK_OFFSET_MS
 * shifts this process's wall clock by that many milliseconds, as a badly synchronised machine
 * would. Unset (the only sane production setting) it is 0.
 */
export function wallClockOffset (text: string | undefined): number {
  if (text === undefined || text === '') return 0
  const n = Number(text)
  if (!Number.isInteger(n) || Math.abs(n) > 86_400_000) throw new Error(`SCRATCHBIRD_TEST_CLOCK_OFFSET_MS must be an integer number of ms within a day, got ${text}`)
  return n
}

const OFFSET_MS = wallClockOffset(process.env.SCRATCHBIRD_TEST_CLOCK_OFFSET_MS)

export const systemClock: Clock = {
  now: OFFSET_MS === 0 ? () => Date.now() : () => Date.now() + OFFSET_MS,
  monotonic: () => performance.now()
}

/** A clock tests and the simulator drive by hand. */
export class ManualClock implements Clock {
  private wall: number
  private mono = 0

  constructor (startMs = 1_767_225_600_000 /* 2026-01-01T00:00:00Z */) {
    this.wall = startMs
  }

  now (): number { return this.wall }
  monotonic (): number { return this.mono }

  /** Advance both clocks. */
  advance (ms: number): void {
    this.wall += ms
    this.mono += Math.max(0, ms)
  }

  /** Set the wall clock only (an NTP step, possibly backwards); monotonic time is unaffected. */
  setWall (ms: number): void { this.wall = ms }
}
