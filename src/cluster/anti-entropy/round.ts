import { assert, isScratchBirdError, ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import { replyBytes, requestBytes } from './replies'
import { Abort, RoundWalk, type Ask, type Steps } from './walk'
import type { AbortReason, AeEvent, AeReply, AeRequest, RoundResult } from './types'

// One anti-entropy repair round of one shard between this node's replica and one peer's (DESIGN
// §6 "Anti-entropy"), as a sans-I/O machine: start(), onReply(), onError() and tick() return the
// requests to carry out (types.ts maps each onto a shard op, local or over RPC); what happened
// comes out as events and, at the end, a RoundResult. No clock, no timers, no I/O here: times
// come in as arguments (`nowMs` = Clock.monotonic for timeouts and budgets, the wall clock only
// once, at construction, for the in-flight tolerance and the purge horizon).
//
// The round (the steps themselves: walk.ts):
//  1. roots of both replicas (MERKLE_ROOTS); every window either lists is compared, sealed or
//     not (an unknown window is empty: root 0). The divergent ones are walked oldest first —
//     after `resumeAfterWindow` when a previous round with this peer ran out of budget, so a
//     round that cannot finish still makes progress over the windows.
//  2. per divergent window: both sides' bucket hashes (MERKLE_BUCKETS), the differing buckets'
//     leaves (MERKLE_LEAVES, a few buckets at a time, continued when a reply is cut), and for
//     each differing key the decision table of decide.ts: adopt, read, apply, adopt — both
//     directions in the same requests.
//  3. a report per divergent window, the seed's log lines as events, and the result.
//
// Bounds: at most one request per side in flight (two in all); `maxKeysPerRequest` keys and
// `maxBucketsPerLeaves` buckets per request; per round at most `maxLeaves` leaves and `maxBytes`
// bytes with the peer, and `maxRoundMs` of time (then 'budget'). A request unanswered for
// `requestTimeoutMs` is sent again, `retries` times, then ends the round ('timeout'): every op is
// idempotent (reads, or LWW applies and adopts), and a round has dozens of steps, so on a lossy
// link one lost message must not cost the whole round. The rate limit is a duty cycle: the time the
// round's requests were outstanding (or the cost the shell measured for them) is kept under
// `maxBusyPercent` of the round's elapsed time by holding the next step back — the seeds' 2 % CPU
// budget for anti-entropy. An aborted round keeps what it repaired (every step is idempotent).

/** Keys whose newer leaf is younger than this are in flight (quorum fan-out, hints): left alone. */
export const IN_FLIGHT_TOLERANCE_MS = 60_000
/**
 * The in-flight tolerance of a FORCED round (REPAIR TABLE / SHARD, a stale shard's rounds back to
 * back): someone asked for the replicas to agree now, and repairing a key still in flight is
 * harmless (decide.ts: LWW applies are idempotent; the fan-out or hint lands on the same winner).
 * With the full minute, a write acknowledged while its hint to a replica was lost (a coordinator
 * killed before storing it) waited 60 s for any round to touch it (chaos seed 7009). The round's
 * verifiedThroughMs keeps the full tolerance: the tombstone purge bound is not loosened.
 */
export const FORCED_IN_FLIGHT_TOLERANCE_MS = 5_000
/**
 * The duty cycle of a FORCED round: the 2 % budget is the background's (seeds: anti-entropy < 2 %
 * CPU); a round someone asked for runs up to half the time busy. At 2 % every step of a round waited
 * 49 times its own length, so the few rounds REPAIR needs to reach every replica (one peer per round)
 * took tens of seconds (chaos seed 7009: ~45 s) where they take about a second.
 */
export const FORCED_MAX_BUSY_PERCENT = 50
/** Seeds (Phase 4): anti-entropy overhead < 2 % CPU. */
export const MAX_BUSY_PERCENT = 2
export const REQUEST_TIMEOUT_MS = 30_000
/** Times an unanswered request is sent again before the round gives up. */
export const REQUEST_RETRIES = 2
export const MAX_ROUND_MS = 30 * 60_000
export const MAX_ROUND_LEAVES = 200_000
export const MAX_ROUND_BYTES = 64 * 1024 * 1024
/** Keys per adopt/read/apply request (REPLICA_READ reads at most 10,000 rows). */
export const MAX_KEYS_PER_REQUEST = 1000
/** Buckets per MERKLE_LEAVES request. */
export const MAX_BUCKETS_PER_LEAVES = 64

export interface RoundOptions {
  readonly shard: ShardId
  readonly peer: NodeId
  /** Wall-clock ms at the start (Clock.now): in-flight tolerance and verifiedThroughMs are from it. */
  readonly startWallMs: number
  readonly inFlightToleranceMs?: number
  /** Keys younger than this are left alone in this round (default: inFlightToleranceMs, at most it); verifiedThroughMs still counts inFlightToleranceMs. */
  readonly repairToleranceMs?: number
  readonly maxBusyPercent?: number
  readonly requestTimeoutMs?: number
  readonly retries?: number
  readonly maxRoundMs?: number
  readonly maxLeaves?: number
  readonly maxBytes?: number
  readonly maxKeysPerRequest?: number
  readonly maxBucketsPerLeaves?: number
  /** Walk divergent windows above this one first (the previous round's lastWindow after a budget abort). */
  readonly resumeAfterWindow?: number | undefined
}

interface Batch {
  readonly asks: Ask[]
  readonly ids: number[]
  readonly replies: Array<AeReply | undefined>
  sentAt: number
  attempt: number
  got: number
  cost: number
}

export class RepairRound {
  readonly shard: ShardId
  readonly peer: NodeId
  private readonly startWallMs: number
  private readonly tolerance: number
  private readonly busyPercent: number
  private readonly requestTimeoutMs: number
  private readonly retries: number
  private readonly maxRoundMs: number
  private readonly maxBytes: number
  private readonly maxKeys: number
  private readonly maxBuckets: number
  private readonly steps: Steps
  private startMono = 0
  private started = false
  private batch: Batch | undefined
  /** A step held back by the rate limit, and when it may go. */
  private held: { asks: Ask[], at: number } | undefined
  private busyMs = 0
  private nextId = 1
  private res: RoundResult | undefined
  private readonly walk: RoundWalk
  private bytes = 0

  constructor (opts: RoundOptions) {
    this.shard = opts.shard
    this.peer = opts.peer
    this.startWallMs = opts.startWallMs
    this.tolerance = opts.inFlightToleranceMs ?? IN_FLIGHT_TOLERANCE_MS
    this.busyPercent = opts.maxBusyPercent ?? MAX_BUSY_PERCENT
    this.requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
    this.retries = opts.retries ?? REQUEST_RETRIES
    this.maxRoundMs = opts.maxRoundMs ?? MAX_ROUND_MS
    this.maxBytes = opts.maxBytes ?? MAX_ROUND_BYTES
    this.maxKeys = opts.maxKeysPerRequest ?? MAX_KEYS_PER_REQUEST
    this.maxBuckets = opts.maxBucketsPerLeaves ?? MAX_BUCKETS_PER_LEAVES
    assert(Number.isFinite(this.startWallMs) && this.tolerance >= 0 && (opts.repairToleranceMs ?? 0) >= 0 && this.busyPercent > 0 && this.busyPercent <= 100 &&
      this.requestTimeoutMs > 0 && Number.isInteger(this.retries) && this.retries >= 0 && this.maxRoundMs > 0 && (opts.maxLeaves ?? MAX_ROUND_LEAVES) > 0 && this.maxBytes > 0 &&
      Number.isInteger(this.maxKeys) && this.maxKeys >= 1 && Number.isInteger(this.maxBuckets) && this.maxBuckets >= 1,
    'anti-entropy round options out of range')
    this.walk = new RoundWalk({
      shard: this.shard,
      peer: this.peer,
      youngerThanMs: this.startWallMs - Math.min(this.tolerance, opts.repairToleranceMs ?? this.tolerance),
      maxLeaves: opts.maxLeaves ?? MAX_ROUND_LEAVES,
      maxKeys: this.maxKeys,
      maxBuckets: this.maxBuckets,
      resumeAfterWindow: opts.resumeAfterWindow
    })
    this.steps = this.walk.run()
  }

  get done (): boolean { return this.res !== undefined }
  get result (): RoundResult | undefined { return this.res }

  /** Events since the last call (the shell logs them: log-lines.ts). */
  drainEvents (): AeEvent[] {
    return this.walk.events.splice(0)
  }

  /** The requests in flight (for the shell's bookkeeping and tests). */
  inFlight (): number[] { return this.batch === undefined ? [] : this.batch.ids.filter((_, i) => this.batch!.replies[i] === undefined) }

  /** When tick() next has something to do (a held step, a timeout, the time budget); undefined when done. */
  nextWakeAt (): number | undefined {
    if (this.done) return undefined
    const budgetAt = this.startMono + this.maxRoundMs
    if (this.held !== undefined) return Math.min(this.held.at, budgetAt)
    if (this.batch !== undefined) return Math.min(this.batch.sentAt + this.requestTimeoutMs, budgetAt)
    return budgetAt
  }

  start (nowMs: number): AeRequest[] {
    assert(!this.started, 'anti-entropy round started twice')
    this.started = true
    this.startMono = nowMs
    return this.advance(undefined, nowMs)
  }

  /** A reply to request `id`; `costMs` is the busy time the shell measured for it (default: its round trip). */
  onReply (id: number, reply: AeReply, nowMs: number, costMs?: number): AeRequest[] {
    const b = this.batch
    if (this.done || b === undefined) return []
    const i = b.ids.indexOf(id)
    if (i < 0 || b.replies[i] !== undefined) return [] // late or duplicate: ignored
    const ask = b.asks[i]!
    if (typeof reply !== 'object' || reply === null || reply.op !== ask.op) {
      return this.finish('aborted', 'bad-reply', new ScratchBirdError('SB_RPC_MALFORMED', `anti-entropy: reply to ${ask.op} is not a ${ask.op} reply`, { side: ask.side }), nowMs)
    }
    if (ask.side === 'peer') {
      try { this.bytes += replyBytes(reply) } catch {
        return this.finish('aborted', 'bad-reply', new ScratchBirdError('SB_RPC_MALFORMED', `anti-entropy: malformed ${ask.op} reply`, { side: ask.side }), nowMs)
      }
    }
    b.replies[i] = reply
    b.got++
    b.cost = Math.max(b.cost, costMs ?? nowMs - b.sentAt)
    if (b.got < b.asks.length) return []
    this.busyMs += Math.max(0, b.cost)
    this.batch = undefined
    return this.advance(b.replies as AeReply[], nowMs)
  }

  /** Request `id` failed. */
  onError (id: number, error: unknown, nowMs: number): AeRequest[] {
    const b = this.batch
    if (this.done || b === undefined) return []
    const i = b.ids.indexOf(id)
    if (i < 0 || b.replies[i] !== undefined) return []
    const side = b.asks[i]!.side
    if (side === 'local') return this.finish('aborted', 'local-error', error, nowMs)
    if (isScratchBirdError(error, 'SB_RPC_TIMEOUT')) return this.retryOrAbort(b, nowMs, error)
    const reason = isScratchBirdError(error, 'SB_NODE_UNREACHABLE') ? 'peer-down' : isScratchBirdError(error, 'SB_FEATURE_NOT_SUPPORTED') ? 'peer-disabled' : 'peer-error'
    return this.finish('aborted', reason, error, nowMs)
  }

  /** Timeouts, the time budget and held steps. */
  tick (nowMs: number): AeRequest[] {
    if (this.done || !this.started) return []
    if (nowMs - this.startMono >= this.maxRoundMs) return this.finish('aborted', 'budget', undefined, nowMs)
    if (this.batch !== undefined && nowMs - this.batch.sentAt >= this.requestTimeoutMs) return this.retryOrAbort(this.batch, nowMs, undefined)
    if (this.held !== undefined && nowMs >= this.held.at) {
      const asks = this.held.asks
      this.held = undefined
      return this.send(asks, nowMs)
    }
    return []
  }

  /** End the round from outside: gossip marked the peer down, shutdown, the shard moved. */
  abort (reason: AbortReason, nowMs: number): void {
    if (!this.done) this.finish('aborted', reason, undefined, nowMs)
  }

  /** Send the batch's unanswered requests again under new ids (late answers to the old ones are ignored), or give up. */
  private retryOrAbort (b: Batch, nowMs: number, error: unknown): AeRequest[] {
    if (b.attempt >= this.retries) return this.finish('aborted', 'timeout', error, nowMs)
    b.attempt++
    b.sentAt = nowMs
    const out: AeRequest[] = []
    b.asks.forEach((a, i) => {
      if (b.replies[i] !== undefined) return
      const id = this.nextId++
      b.ids[i] = id
      if (a.side === 'peer') this.bytes += requestBytes(a)
      out.push({ ...a, id })
    })
    return out
  }

  private advance (replies: AeReply[] | undefined, nowMs: number): AeRequest[] {
    if (this.bytes > this.maxBytes) return this.finish('aborted', 'budget', undefined, nowMs)
    let step: IteratorResult<Ask[], void>
    try {
      step = replies === undefined ? this.steps.next() : this.steps.next(replies)
    } catch (e) {
      if (e instanceof Abort) return this.finish('aborted', e.reason, e.error, nowMs)
      // every coded error in the steps comes from checking a reply (replies.ts, the Merkle leaf
      // checks): bad input ends the round, never the node; anything else is a bug and surfaces
      if (isScratchBirdError(e)) return this.finish('aborted', 'bad-reply', e, nowMs)
      throw e
    }
    if (step.done === true) return this.finish('completed', undefined, undefined, nowMs)
    const asks = step.value
    assert(asks.length >= 1 && asks.length <= 2, 'anti-entropy step asks one request per side')
    const allowedAt = this.startMono + this.busyMs * 100 / this.busyPercent
    if (nowMs < allowedAt) {
      this.held = { asks, at: allowedAt }
      return []
    }
    return this.send(asks, nowMs)
  }

  private send (asks: Ask[], nowMs: number): AeRequest[] {
    const ids = asks.map(() => this.nextId++)
    this.batch = { asks, ids, replies: asks.map(() => undefined), sentAt: nowMs, attempt: 0, got: 0, cost: 0 }
    for (const a of asks) if (a.side === 'peer') this.bytes += requestBytes(a)
    return asks.map((a, i) => ({ ...a, id: ids[i]! }))
  }

  private finish (outcome: RoundResult['outcome'], reason: AbortReason | undefined, error: unknown, nowMs: number): AeRequest[] {
    if (this.done) return []
    this.batch = undefined
    this.held = undefined
    const w = this.walk
    const unresolved = w.reports.reduce((n, r) => n + r.conflicts + r.unrepairable, 0)
    this.res = {
      shard: this.shard,
      peer: this.peer,
      outcome,
      reason,
      error,
      startedAtMs: this.startWallMs,
      finishedAtMs: this.startWallMs + Math.max(0, nowMs - this.startMono),
      verifiedThroughMs: outcome === 'completed' && unresolved === 0 ? this.startWallMs - this.tolerance : null,
      windowsCompared: w.windowsCompared,
      windowsDiverged: w.windowsDiverged,
      rowsRepaired: w.reports.reduce((n, r) => n + r.rowsRepaired, 0),
      windows: [...w.reports],
      bytesExchanged: this.bytes,
      busyMs: this.busyMs,
      leavesExchanged: w.leavesSeen,
      lastWindow: w.lastWindow
    }
    w.events.push({ type: 'round-finished', result: this.res })
    return []
  }
}
