import { ScratchBirdError } from '../../core/errors'
import { uuidv8Timestamp } from '../../core/hlc'
import type { VersionId } from '../types'

// The time-window rules of the Merkle forest (DESIGN §6 "Anti-entropy"), as pure functions of
// their arguments: the caller passes "now" (from its Clock), nothing here reads a clock.
//
// A version belongs to window floor(HLC ms of its version id / window length): the write's own
// timestamp, not its arrival time, so a hint or repair delivered hours later lands in the same
// window on every replica and the replicas' roots stay comparable. Window w covers
// [w × length, (w + 1) × length) ms and may be sealed once its end plus the sealing grace has
// passed; the grace absorbs in-flight writes and clock skew between replicas.

const MS_PER_HOUR = 3_600_000
const MS_PER_MINUTE = 60_000

function bad (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle window: ${why}`)
}

function checkLength (windowMs: number): void {
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw bad(`window length ${windowMs} ms is not a positive integer`)
}

function checkMs (what: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw bad(`${what} ${ms} ms is not a non-negative integer`)
}

/** `anti_entropy.merkle_tree_window_hours` as whole milliseconds (at least 1). */
export function windowLengthMs (hours: number): number {
  if (!Number.isFinite(hours) || hours <= 0) throw bad(`window of ${hours} hours is not positive`)
  return Math.max(1, Math.round(hours * MS_PER_HOUR))
}

/** `anti_entropy.sealing_grace_period_minutes` as whole milliseconds. */
export function sealingGraceMs (minutes: number): number {
  if (!Number.isFinite(minutes) || minutes < 0) throw bad(`sealing grace of ${minutes} minutes is negative`)
  return Math.round(minutes * MS_PER_MINUTE)
}

/** The window of a version (SB_UUID_INVALID for an id that is not a UUIDv8-HLC or v7). */
export function windowOf (version: VersionId, windowMs: number): number {
  checkLength(windowMs)
  return Math.floor(uuidv8Timestamp(version) / windowMs)
}

/** First millisecond after window `w`. */
export function windowEndMs (w: number, windowMs: number): number {
  checkLength(windowMs)
  return (w + 1) * windowMs
}

/** Whether window `w` may be sealed at `nowMs`: its end plus the grace has passed. */
export function isSealable (w: number, windowMs: number, graceMs: number, nowMs: number): boolean {
  checkMs('sealing grace', graceMs)
  return windowEndMs(w, windowMs) + graceMs <= nowMs
}

/**
 * The first window not sealable at `nowMs`: every window below it is sealable. A window w is
 * sealable iff (w + 1) × length + grace ≤ now, i.e. w < floor((now − grace) / length).
 */
export function firstUnsealable (windowMs: number, graceMs: number, nowMs: number): number {
  checkLength(windowMs)
  checkMs('sealing grace', graceMs)
  if (!Number.isFinite(nowMs)) throw bad(`now ${nowMs} is not a number`)
  return Math.floor((nowMs - graceMs) / windowMs)
}
