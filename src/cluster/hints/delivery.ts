import { assert } from '../../core/errors'
import { HINT_DEFAULTS } from '../../core/config/schema'
import { LIMITS } from '../../core/limits'
import type { NodeId } from '../../core/ids'

// Hint delivery scheduling (DESIGN §6 Mode 3 "Hints": delivered every 10 s when the target is
// alive, rate-limited, deleted on acknowledgement, expired after hint_expiration_days;
// `DELIVER HINTS TO NODE n` forces delivery) as a sans-I/O state machine: the shell calls tick()
// with the time, liveness (gossip) and the store's per-target counts, carries out the actions
// (read the hints, send them, delete the acknowledged ones, expire old ones) and reports back
// with onDelivered() / onFailed(). No timers, no clock, no store access here, so the simulator
// runs the same code under a fake clock.
//
// Per target:
//  - A delivery round starts at the first tick at or after `nextRoundAt` (first sight of a target
//    with hints + intervalMs; after a failure, failure time + intervalMs) when the target is
//    alive, or at the next tick after force(). Starting a round moves nextRoundAt one interval on.
//  - During a round each tick sends one batch if none is in flight, until the target has no hints
//    left (the round then ends and the target's state is forgotten), a batch fails (retry in the
//    next interval) or the target is seen dead (the round waits for it to be alive again at or
//    after nextRoundAt).
//  - Rate: a token bucket of `ratePerSecond` tokens a second holding at most one second's worth;
//    a batch takes min(tokens, maxBatchHints, pending) hints, so over any span T a target gets at
//    most rate × (T + 1 s) hints, whatever the tick period. The shell ticks every DELIVERY_TICK_MS
//    so the full rate is reachable with one batch in flight.
//  - One batch in flight per target; one not answered within inFlightTimeoutMs counts as failed
//    (a bug in the shell must not stall a target forever), and its late answer is ignored.
// Expiry: the first tick and then one tick every expireIntervalMs emit { type: 'expire' }.

/** Delivery round period per target (replication.hint_delivery_interval_ms default). */
export const DELIVERY_INTERVAL_MS = HINT_DEFAULTS.deliveryIntervalMs
/** Most hints per second delivered to one target (replication.hint_delivery_rate default). */
export const DELIVERY_RATE_PER_TARGET = HINT_DEFAULTS.deliveryRate
/** Most hints in one delivery batch (one RPC). */
export const MAX_DELIVERY_BATCH_HINTS = 1000
/** Most hint bytes (as stored) in one delivery batch, well under the RPC body limit. */
export const MAX_DELIVERY_BATCH_BYTES = LIMITS.hintBatchBytes
/** How often the shell should call tick(). */
export const DELIVERY_TICK_MS = 1000
/** A batch not answered within this long counts as failed. */
export const DELIVERY_TIMEOUT_MS = 60_000
/** How often tick() asks for expiry. */
export const EXPIRE_INTERVAL_MS = 3_600_000
/** replication.hint_expiration_days default. */
export const HINT_EXPIRATION_DAYS = HINT_DEFAULTS.expirationDays
const DAY_MS = 86_400_000

export interface HintDeliveryOptions {
  /** replication.hint_delivery_interval_ms. */
  intervalMs?: number | undefined
  /** replication.hint_delivery_rate (hints per second per target). */
  ratePerSecond?: number | undefined
  /** replication.hint_expiration_days. */
  expirationDays?: number | undefined
  maxBatchHints?: number | undefined
  maxBatchBytes?: number | undefined
  inFlightTimeoutMs?: number | undefined
  expireIntervalMs?: number | undefined
}

export type HintDeliveryAction =
  /** Read up to maxHints oldest hints of `target` (HintStore.list(target, maxHints, { maxBytes })),
   *  send them, then answer onDelivered(target, batch, n) or onFailed(target, batch). */
  | { readonly type: 'deliver', readonly target: NodeId, readonly batch: number, readonly maxHints: number, readonly maxBytes: number }
  /** Call HintStore.expire(wall-clock now, maxAgeMs). */
  | { readonly type: 'expire', readonly maxAgeMs: number }

/** What force() found: delivery starts at the next tick only when 'scheduled'. */
export type ForceResult = 'scheduled' | 'not-alive' | 'no-hints'

interface TargetState {
  nextRoundAt: number
  active: boolean
  forced: boolean
  tokens: number
  refilledAt: number
  inFlight: { batch: number, maxHints: number, sentAt: number } | undefined
}

export class HintDelivery {
  intervalMs: number
  ratePerSecond: number
  maxAgeMs: number
  maxBatchHints: number
  /** The batch size asked for; maxBatchHints is this capped by the rate. */
  private readonly batchHintsWanted: number
  readonly maxBatchBytes: number
  readonly inFlightTimeoutMs: number
  readonly expireIntervalMs: number
  private readonly targets = new Map<NodeId, TargetState>()
  private nextExpireAt: number | undefined
  private batchSeq = 0

  constructor (options: HintDeliveryOptions = {}) {
    this.intervalMs = options.intervalMs ?? DELIVERY_INTERVAL_MS
    this.ratePerSecond = options.ratePerSecond ?? DELIVERY_RATE_PER_TARGET
    this.maxAgeMs = (options.expirationDays ?? HINT_EXPIRATION_DAYS) * DAY_MS
    this.batchHintsWanted = options.maxBatchHints ?? MAX_DELIVERY_BATCH_HINTS
    this.maxBatchHints = Math.min(this.batchHintsWanted, this.ratePerSecond)
    this.maxBatchBytes = options.maxBatchBytes ?? MAX_DELIVERY_BATCH_BYTES
    this.inFlightTimeoutMs = options.inFlightTimeoutMs ?? DELIVERY_TIMEOUT_MS
    this.expireIntervalMs = options.expireIntervalMs ?? EXPIRE_INTERVAL_MS
    assert(this.intervalMs > 0 && this.ratePerSecond >= 1 && this.maxAgeMs > 0 && this.maxBatchHints >= 1 &&
      this.maxBatchBytes > 0 && this.inFlightTimeoutMs > 0 && this.expireIntervalMs > 0, 'hint delivery options out of range')
  }

  /**
   * New interval, rate and expiry (a SIGHUP reload: replication.hint_delivery_* and
   * hint_expiration_days are live). Targets keep their schedule; a bucket holding more than one
   * second of the new rate is cut down to it, so a lowered rate holds from the next batch on.
   */
  retune (options: Pick<HintDeliveryOptions, 'intervalMs' | 'ratePerSecond' | 'expirationDays'>): void {
    const intervalMs = options.intervalMs ?? this.intervalMs
    const ratePerSecond = options.ratePerSecond ?? this.ratePerSecond
    const maxAgeMs = options.expirationDays === undefined ? this.maxAgeMs : options.expirationDays * DAY_MS
    assert(intervalMs > 0 && ratePerSecond >= 1 && maxAgeMs > 0, 'hint delivery options out of range')
    this.intervalMs = intervalMs
    this.ratePerSecond = ratePerSecond
    this.maxAgeMs = maxAgeMs
    this.maxBatchHints = Math.min(this.batchHintsWanted, ratePerSecond)
    for (const st of this.targets.values()) st.tokens = Math.min(st.tokens, ratePerSecond)
  }

  /**
   * Advance to `nowMs` (monotonic). `pending` is HintStore.stats() (targets holding hints); the
   * shell must have applied every removal it reported through onDelivered before this call.
   */
  tick (nowMs: number, isAlive: (target: NodeId) => boolean, pending: ReadonlyMap<NodeId, { readonly count: number }>): HintDeliveryAction[] {
    const actions: HintDeliveryAction[] = []
    if (this.nextExpireAt === undefined || nowMs >= this.nextExpireAt) {
      actions.push({ type: 'expire', maxAgeMs: this.maxAgeMs })
      this.nextExpireAt = nowMs + this.expireIntervalMs
    }
    for (const [target, st] of this.targets) {
      if (st.inFlight !== undefined && nowMs - st.inFlight.sentAt >= this.inFlightTimeoutMs) this.fail(st, nowMs)
      if ((pending.get(target)?.count ?? 0) === 0 && st.inFlight === undefined) this.targets.delete(target)
    }
    const ids = [...pending.keys()].sort((a, b) => a - b)
    for (const target of ids) {
      const count = pending.get(target)!.count
      if (count <= 0) continue
      let st = this.targets.get(target)
      if (st === undefined) {
        st = { nextRoundAt: nowMs + this.intervalMs, active: false, forced: false, tokens: this.ratePerSecond, refilledAt: nowMs, inFlight: undefined }
        this.targets.set(target, st)
      }
      if (st.inFlight !== undefined) continue
      if (!isAlive(target)) {
        st.active = false
        st.forced = false
        continue
      }
      if (!st.active) {
        if (!st.forced && nowMs < st.nextRoundAt) continue
        st.active = true
        st.forced = false
        st.nextRoundAt = nowMs + this.intervalMs
      }
      this.refill(st, nowMs)
      const n = Math.min(Math.floor(st.tokens), this.maxBatchHints, count)
      if (n < 1) continue
      st.tokens -= n
      const batch = ++this.batchSeq
      st.inFlight = { batch, maxHints: n, sentAt: nowMs }
      actions.push({ type: 'deliver', target, batch, maxHints: n, maxBytes: this.maxBatchBytes })
    }
    return actions
  }

  /**
   * Batch `batch` to `target` was acknowledged and its `delivered` hints removed from the store.
   * Unused tokens (fewer hints than maxHints were sent) go back. False for an unknown or
   * timed-out batch (ignored).
   */
  onDelivered (target: NodeId, batch: number, delivered: number): boolean {
    const st = this.targets.get(target)
    if (st?.inFlight?.batch !== batch) return false
    const unused = st.inFlight.maxHints - Math.max(0, Math.min(delivered, st.inFlight.maxHints))
    st.tokens = Math.min(this.ratePerSecond, st.tokens + unused)
    st.inFlight = undefined
    return true
  }

  /** Batch `batch` to `target` failed (error, timeout, target down): retry one interval after `nowMs`. */
  onFailed (target: NodeId, batch: number, nowMs: number): boolean {
    const st = this.targets.get(target)
    if (st?.inFlight?.batch !== batch) return false
    this.fail(st, nowMs)
    return true
  }

  /**
   * `DELIVER HINTS TO NODE n`: start a round at the next tick regardless of the interval or a
   * failure back-off (still rate-limited, one batch in flight). `alive` and `pendingCount` are
   * what gossip and the store say now; 'not-alive' and 'no-hints' change nothing.
   */
  force (target: NodeId, alive: boolean, pendingCount: number): ForceResult {
    if (!alive) return 'not-alive'
    if (pendingCount <= 0) return 'no-hints'
    const st = this.targets.get(target)
    if (st === undefined) {
      this.targets.set(target, { nextRoundAt: Infinity, active: false, forced: true, tokens: this.ratePerSecond, refilledAt: -Infinity, inFlight: undefined })
    } else {
      st.forced = true
    }
    return 'scheduled'
  }

  /** The batch in flight to `target`, if any (for SHOW and tests). */
  inFlight (target: NodeId): number | undefined {
    return this.targets.get(target)?.inFlight?.batch
  }

  private fail (st: TargetState, nowMs: number): void {
    st.inFlight = undefined
    st.active = false
    st.forced = false
    st.nextRoundAt = nowMs + this.intervalMs
  }

  private refill (st: TargetState, nowMs: number): void {
    if (nowMs > st.refilledAt) {
      st.tokens = Math.min(this.ratePerSecond, st.tokens + (nowMs - st.refilledAt) * this.ratePerSecond / 1000)
      st.refilledAt = nowMs
    }
  }
}
