import { assert, isScratchBirdError, ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import { divergentWindows } from '../../storage/merkle/forest-index'
import { bucketOf, diffLeaves, type MerkleLeaf } from '../../storage/merkle/tree'
import { afterRead, isRowRepaired, keyAction, type KeyAction } from './decide'
import { checkAdopt, checkApply, checkBuckets, checkLeaves, checkRead, checkRoots, replyBytes, requestBytes } from './replies'
import type { AbortReason, AeEvent, AeReply, AeRequest, AeRequestBody, RepairVersion, RoundResult, Side, WindowReport } from './types'

// One anti-entropy repair round of one shard between this node's replica and one peer's (DESIGN
// §6 "Anti-entropy"), as a sans-I/O machine: start(), onReply(), onError() and tick() return the
// requests to carry out (types.ts maps each onto a shard op, local or over RPC); what happened
// comes out as events and, at the end, a RoundResult. No clock, no timers, no I/O here: times
// come in as arguments (`nowMs` = Clock.monotonic for timeouts and budgets, the wall clock only
// once, at construction, for the in-flight tolerance and the purge horizon).
//
// The round:
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

type Ask = AeRequestBody & { readonly side: Side }
type Steps = Generator<Ask[], void, AeReply[]>

/** Thrown inside the steps to end the round; never escapes the machine. */
class Abort {
  constructor (readonly reason: AbortReason, readonly error?: unknown) {}
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

class Tally {
  inFlight = 0
  rowsRepaired = 0
  leavesAdopted = 0
  conflicts = 0
  unrepairable = 0
  constructor (readonly window: number) {}
  report (): WindowReport {
    return { window: this.window, inFlight: this.inFlight, rowsRepaired: this.rowsRepaired, leavesAdopted: this.leavesAdopted, conflicts: this.conflicts, unrepairable: this.unrepairable }
  }
}

function chunks<T> (items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
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
  private readonly maxLeaves: number
  private readonly maxBytes: number
  private readonly maxKeys: number
  private readonly maxBuckets: number
  private readonly resumeAfter: number | undefined
  private readonly steps: Steps
  private startMono = 0
  private started = false
  private batch: Batch | undefined
  /** A step held back by the rate limit, and when it may go. */
  private held: { asks: Ask[], at: number } | undefined
  private busyMs = 0
  private nextId = 1
  private events: AeEvent[] = []
  private res: RoundResult | undefined
  // counters for the result
  private windowsCompared = 0
  private windowsDiverged = 0
  private readonly reports: WindowReport[] = []
  private bytes = 0
  private leavesSeen = 0
  private lastWindow: number | undefined

  constructor (opts: RoundOptions) {
    this.shard = opts.shard
    this.peer = opts.peer
    this.startWallMs = opts.startWallMs
    this.tolerance = opts.inFlightToleranceMs ?? IN_FLIGHT_TOLERANCE_MS
    this.busyPercent = opts.maxBusyPercent ?? MAX_BUSY_PERCENT
    this.requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
    this.retries = opts.retries ?? REQUEST_RETRIES
    this.maxRoundMs = opts.maxRoundMs ?? MAX_ROUND_MS
    this.maxLeaves = opts.maxLeaves ?? MAX_ROUND_LEAVES
    this.maxBytes = opts.maxBytes ?? MAX_ROUND_BYTES
    this.maxKeys = opts.maxKeysPerRequest ?? MAX_KEYS_PER_REQUEST
    this.maxBuckets = opts.maxBucketsPerLeaves ?? MAX_BUCKETS_PER_LEAVES
    this.resumeAfter = opts.resumeAfterWindow
    assert(Number.isFinite(this.startWallMs) && this.tolerance >= 0 && this.busyPercent > 0 && this.busyPercent <= 100 &&
      this.requestTimeoutMs > 0 && Number.isInteger(this.retries) && this.retries >= 0 && this.maxRoundMs > 0 && this.maxLeaves > 0 && this.maxBytes > 0 &&
      Number.isInteger(this.maxKeys) && this.maxKeys >= 1 && Number.isInteger(this.maxBuckets) && this.maxBuckets >= 1,
    'anti-entropy round options out of range')
    this.steps = this.run()
  }

  get done (): boolean { return this.res !== undefined }
  get result (): RoundResult | undefined { return this.res }

  /** Events since the last call (the shell logs them: log-lines.ts). */
  drainEvents (): AeEvent[] {
    const out = this.events
    this.events = []
    return out
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
    return this.finish('aborted', isScratchBirdError(error, 'SB_NODE_UNREACHABLE') ? 'peer-down' : 'peer-error', error, nowMs)
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
    const unresolved = this.reports.reduce((n, r) => n + r.conflicts + r.unrepairable, 0)
    this.res = {
      shard: this.shard,
      peer: this.peer,
      outcome,
      reason,
      error,
      startedAtMs: this.startWallMs,
      finishedAtMs: this.startWallMs + Math.max(0, nowMs - this.startMono),
      verifiedThroughMs: outcome === 'completed' && unresolved === 0 ? this.startWallMs - this.tolerance : null,
      windowsCompared: this.windowsCompared,
      windowsDiverged: this.windowsDiverged,
      rowsRepaired: this.reports.reduce((n, r) => n + r.rowsRepaired, 0),
      windows: [...this.reports],
      bytesExchanged: this.bytes,
      leavesExchanged: this.leavesSeen,
      lastWindow: this.lastWindow
    }
    this.events.push({ type: 'round-finished', result: this.res })
    return []
  }

  // ---- the round's steps: each `yield` sends one request per side and resumes with their replies

  private * run (): Steps {
    const [mine, theirs] = yield [{ side: 'local', op: 'roots' }, { side: 'peer', op: 'roots' }]
    const a = checkRoots(mine as Extract<AeReply, { op: 'roots' }>)
    const b = checkRoots(theirs as Extract<AeReply, { op: 'roots' }>)
    this.windowsCompared = new Set([...a.keys(), ...b.keys()]).size
    const divergent = divergentWindows(a, b)
    const after = this.resumeAfter
    const order = after === undefined ? divergent : [...divergent.filter(w => w > after), ...divergent.filter(w => w <= after)]
    for (const w of order) {
      yield * this.window(w)
      this.lastWindow = w
    }
  }

  private * window (w: number): Steps {
    const [hm, ht] = yield [{ side: 'local', op: 'buckets', window: w }, { side: 'peer', op: 'buckets', window: w }]
    const mine = checkBuckets(hm as Extract<AeReply, { op: 'buckets' }>)
    const theirs = checkBuckets(ht as Extract<AeReply, { op: 'buckets' }>)
    const differing: number[] = []
    for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) differing.push(i)
    const tally = new Tally(w)
    let announced = false
    const youngerThan = this.startWallMs - this.tolerance
    for (const chunk of chunks(differing, this.maxBuckets)) {
      let pending = chunk
      while (pending.length > 0) {
        if (this.leavesSeen >= this.maxLeaves) throw new Abort('budget')
        const [lm, lt] = yield [{ side: 'local', op: 'leaves', window: w, buckets: pending }, { side: 'peer', op: 'leaves', window: w, buckets: pending }]
        const rm = checkLeaves(lm as Extract<AeReply, { op: 'leaves' }>, pending)
        const rt = checkLeaves(lt as Extract<AeReply, { op: 'leaves' }>, pending)
        this.leavesSeen += (lm as Extract<AeReply, { op: 'leaves' }>).leaves.length + (lt as Extract<AeReply, { op: 'leaves' }>).leaves.length
        const done = new Set(pending.filter(x => rm.complete.has(x) && rt.complete.has(x)))
        if (done.size === 0) throw new Abort('bucket-too-large', new ScratchBirdError('SB_RPC_TOO_LARGE', `anti-entropy: bucket ${pending[0]} of window ${w} (shard ${this.shard}) does not fit one leaves reply`))
        const diffs = diffLeaves(rm.leaves.filter(l => done.has(bucketOf(l.key))), rt.leaves.filter(l => done.has(bucketOf(l.key))))
        const repairs: Array<Extract<KeyAction, { kind: 'repair' }>> = []
        for (const d of diffs) {
          const act = keyAction(d, youngerThan)
          if (act.kind === 'conflict') tally.conflicts++
          else if (act.kind === 'in-flight') tally.inFlight++
          else repairs.push(act)
        }
        if (!announced && (repairs.length > 0 || tally.conflicts > 0)) {
          announced = true
          this.windowsDiverged++
          this.events.push({ type: 'window-diverged', shard: this.shard, peer: this.peer, window: w })
        }
        for (const part of chunks(repairs, this.maxKeys)) yield * this.repair(part, tally)
        pending = pending.filter(x => !done.has(x))
      }
    }
    if (announced) {
      const report = tally.report()
      this.reports.push(report)
      this.events.push({ type: 'window-repaired', shard: this.shard, peer: this.peer, report })
    }
  }

  /** decide.ts's steps 1–4 for some keys, both directions together. */
  private * repair (keys: ReadonlyArray<Extract<KeyAction, { kind: 'repair' }>>, tally: Tally): Steps {
    // 1. the lagging side adopts the leaf when it holds that version or a newer one
    const needs = yield * this.adopt(keys.map(k => ({ side: k.lagging, leaf: k.leaf })), tally)
    const fetch = keys.filter((_, i) => needs[i])
    if (fetch.length === 0) return
    // 2. read the key's latest version from the side holding the leaf
    const reads = yield * this.both(fetch, k => k.holder, part => ({ op: 'read', keys: part.map(k => k.leaf.key) }),
      (reply, n) => checkRead(reply as Extract<AeReply, { op: 'read' }>, n))
    const ship: Array<{ key: Extract<KeyAction, { kind: 'repair' }>, version: RepairVersion, adoptAfter: boolean }> = []
    fetch.forEach((k, i) => {
      const d = afterRead(k.leaf, reads[i]!)
      if (d.kind === 'unrepairable') { tally.unrepairable++; return }
      ship.push({ key: k, version: { key: k.leaf.key, versionId: d.versionId, row: d.row }, adoptAfter: d.adoptAfter })
    })
    if (ship.length === 0) return
    // 3. apply it on the lagging side (LWW); the write adds its leaf to its own window there
    const applied = yield * this.both(ship, s => s.key.lagging, part => ({ op: 'apply', versions: part.map(s => s.version) }),
      (reply, n) => checkApply(reply as Extract<AeReply, { op: 'apply' }>, n))
    ship.forEach((_, i) => { if (isRowRepaired(applied[i]!)) tally.rowsRepaired++ })
    // 4. a newer version than the leaf was shipped: the leaf itself is history the lagging side now supersedes
    const later = ship.filter(s => s.adoptAfter)
    if (later.length === 0) return
    const still = yield * this.adopt(later.map(s => ({ side: s.key.lagging, leaf: s.key.leaf })), tally)
    tally.unrepairable += still.filter(Boolean).length
  }

  /** MERKLE_ADOPT of each leaf on its side; per leaf whether it still needs data. */
  private * adopt (items: ReadonlyArray<{ side: Side, leaf: MerkleLeaf }>, tally: Tally): Generator<Ask[], boolean[], AeReply[]> {
    const needs = yield * this.both(items, it => it.side, part => ({ op: 'adopt', leaves: part.map(it => it.leaf) }),
      (reply, n) => checkAdopt(reply as Extract<AeReply, { op: 'adopt' }>, n))
    tally.leavesAdopted += needs.filter(x => !x).length
    return [...needs]
  }

  /**
   * One request per side for the items addressed to it (none for a side with no items), and the
   * checked per-item answers back in the items' order.
   */
  private * both<T, R> (items: readonly T[], sideOf: (item: T) => Side, body: (part: T[]) => AeRequestBody,
    check: (reply: AeReply, n: number) => readonly R[]): Generator<Ask[], R[], AeReply[]> {
    const local = items.filter(it => sideOf(it) === 'local')
    const peer = items.filter(it => sideOf(it) === 'peer')
    const asks: Ask[] = []
    if (local.length > 0) asks.push({ side: 'local', ...body(local) })
    if (peer.length > 0) asks.push({ side: 'peer', ...body(peer) })
    if (asks.length === 0) return []
    const replies = yield asks
    const localAnswers = local.length > 0 ? check(replies[0]!, local.length) : []
    const peerAnswers = peer.length > 0 ? check(replies[local.length > 0 ? 1 : 0]!, peer.length) : []
    let li = 0
    let pi = 0
    return items.map(it => sideOf(it) === 'local' ? localAnswers[li++]! : peerAnswers[pi++]!)
  }
}
