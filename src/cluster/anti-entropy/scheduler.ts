import { assert } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import type { Rng } from '../../core/rng'
import type { ShardRepairState } from './purge-rules'
import { FORCED_IN_FLIGHT_TOLERANCE_MS, FORCED_MAX_BUSY_PERCENT, MAX_BUSY_PERCENT, RepairRound, type RoundOptions } from './round'
import type { AbortReason, AeEvent, AeReply, AeRequest, RoundResult } from './types'

// Which repair round runs when (DESIGN §6 "Anti-entropy": rounds every anti_entropy.interval_ms,
// for each shard, with each replica peer in turn), as a sans-I/O machine: the shell calls tick()
// with the time, the shards this node holds a replica of (with their other replicas) and gossip's
// liveness, carries out the requests it returns and feeds the replies back. It keeps, per shard
// and peer, the last completed round — what SHOW ANTI_ENTROPY STATUS shows and what the purge and
// stale-replica rules read (purge-rules.ts; the shell persists it).
//
//  - Per shard one round at a time, with the next live peer in ascending node-id order after the
//    previous one (peers gossip marks down are skipped; a round whose peer goes down is aborted).
//  - A shard is due `intervalMs` after its previous round started (first sight: a random point in
//    the first interval, so the shards of a node, and the nodes, do not all start together); a
//    round that overruns delays the next one, never overlaps it. force() makes it due now.
//  - At most `maxConcurrentRounds` rounds at once over all shards (each holds at most two requests
//    in flight: round.ts), due shards oldest-due first.
//  - A round aborted by its budget resumes with the same peer after the last window it walked.

export const MAX_CONCURRENT_ROUNDS = 2

export interface SchedulerOptions {
  /** anti_entropy.interval_ms. */
  readonly intervalMs: number
  readonly maxConcurrentRounds?: number
  /** Passed to every round (tolerance, budgets, rate). */
  readonly round?: Omit<RoundOptions, 'shard' | 'peer' | 'startWallMs' | 'resumeAfterWindow'>
}

/** A shard this node holds a replica of, and the shard's other replicas (placement). */
export interface HeldShard {
  readonly shard: ShardId
  readonly peers: readonly NodeId[]
}

/** A round's request, tagged so a late reply to an earlier round is never taken for this one's. */
export interface ScheduledRequest {
  readonly shard: ShardId
  readonly peer: NodeId
  readonly round: number
  readonly request: AeRequest
}

export interface PeerRoundRecord {
  /** The last completed round with this peer. */
  readonly lastCompleted: RoundResult | undefined
  /** Highest verifiedThroughMs over completed rounds (purge reads it). */
  readonly verifiedThroughMs: number | undefined
  /** The last round started with this peer, whatever its outcome. */
  readonly lastAttempt: { readonly startedAtMs: number, readonly outcome: RoundResult['outcome'] | 'running', readonly reason: AbortReason | undefined } | undefined
}

export interface ShardStatus {
  readonly shard: ShardId
  readonly running: { readonly peer: NodeId, readonly round: number } | undefined
  readonly nextDueAt: number
  readonly peers: ReadonlyMap<NodeId, PeerRoundRecord>
}

interface PeerState {
  lastCompleted: RoundResult | undefined
  verifiedThroughMs: number | undefined
  lastAttempt: PeerRoundRecord['lastAttempt']
  resumeAfterWindow: number | undefined
}

interface ShardState {
  nextDueAt: number
  forced: boolean
  /** Last peer a round was started with (rotation point). */
  lastPeer: NodeId | undefined
  active: { round: RepairRound, no: number } | undefined
  readonly peers: Map<NodeId, PeerState>
}

/**
 * The options of a forced round (REPAIR TABLE / SHARD, a stale shard's rounds back to back): keys
 * still in flight are repaired too and the duty cycle is the forced one (round.ts FORCED_*); never
 * slower or more careful than the configured options.
 */
export function forcedRoundOptions (o: SchedulerOptions['round']): NonNullable<SchedulerOptions['round']> {
  return {
    ...o,
    repairToleranceMs: Math.min(o?.repairToleranceMs ?? FORCED_IN_FLIGHT_TOLERANCE_MS, FORCED_IN_FLIGHT_TOLERANCE_MS),
    maxBusyPercent: Math.max(o?.maxBusyPercent ?? MAX_BUSY_PERCENT, FORCED_MAX_BUSY_PERCENT)
  }
}

export class AntiEntropyScheduler {
  private readonly intervalMs: number
  private readonly maxConcurrent: number
  private readonly roundOpts: SchedulerOptions['round']
  private readonly shards = new Map<ShardId, ShardState>()
  private events: AeEvent[] = []
  private roundSeq = 0

  constructor (opts: SchedulerOptions, private readonly rng: Rng) {
    this.intervalMs = opts.intervalMs
    this.maxConcurrent = opts.maxConcurrentRounds ?? MAX_CONCURRENT_ROUNDS
    this.roundOpts = opts.round
    assert(this.intervalMs > 0 && Number.isInteger(this.maxConcurrent) && this.maxConcurrent >= 1, 'anti-entropy scheduler options out of range')
  }

  /** Events of the rounds since the last call (log-lines.ts words them). */
  drainEvents (): AeEvent[] {
    const out = this.events
    this.events = []
    return out
  }

  /**
   * Restore a shard's per-peer records (persisted by the shell), so purge and stale-replica
   * decisions survive a restart. Only verifiedThroughMs and lastCompleted matter to them.
   */
  restore (shard: ShardId, peers: ReadonlyMap<NodeId, { lastCompleted?: RoundResult, verifiedThroughMs?: number }>): void {
    const st = this.stateOf(shard, 0)
    for (const [p, r] of peers) {
      st.peers.set(p, { lastCompleted: r.lastCompleted, verifiedThroughMs: r.verifiedThroughMs, lastAttempt: undefined, resumeAfterWindow: undefined })
    }
  }

  /** REPAIR SHARD n: a round at the next tick (with the next live peer); false if the shard is unknown. */
  force (shard: ShardId): boolean {
    const st = this.shards.get(shard)
    if (st === undefined) return false
    st.forced = true
    return true
  }

  /**
   * Advance to `nowMs` (monotonic); `wallMs` is the wall clock (rounds' start times). `held` lists
   * the shards this node holds now; a shard no longer listed has its round cancelled.
   */
  tick (nowMs: number, wallMs: number, held: readonly HeldShard[], isAlive: (node: NodeId) => boolean): ScheduledRequest[] {
    const out: ScheduledRequest[] = []
    const listed = new Map(held.map(h => [h.shard, h]))
    for (const [shard, st] of this.shards) {
      const a = st.active
      if (a === undefined) continue
      if (!listed.has(shard)) a.round.abort('cancelled', nowMs)
      else if (!isAlive(a.round.peer)) a.round.abort('peer-down', nowMs)
      else this.tag(shard, a, a.round.tick(nowMs), out)
      this.settle(shard, st)
    }
    let running = [...this.shards.values()].filter(s => s.active !== undefined).length
    const due = held
      .map(h => ({ h, st: this.stateOf(h.shard, nowMs) }))
      .filter(({ st }) => st.active === undefined && (st.forced || nowMs >= st.nextDueAt))
      .sort((x, y) => (x.st.forced === y.st.forced ? x.st.nextDueAt - y.st.nextDueAt : x.st.forced ? -1 : 1) || x.h.shard - y.h.shard)
    for (const { h, st } of due) {
      if (running >= this.maxConcurrent) break
      const forced = st.forced
      st.forced = false
      st.nextDueAt = nowMs + this.intervalMs
      const peer = nextPeer(h.peers, st.lastPeer, isAlive)
      if (peer === undefined) continue
      st.lastPeer = peer
      const ps = this.peerOf(st, peer)
      const round = new RepairRound({ ...(forced ? forcedRoundOptions(this.roundOpts) : this.roundOpts), shard: h.shard, peer, startWallMs: wallMs, resumeAfterWindow: ps.resumeAfterWindow })
      const a = { round, no: ++this.roundSeq }
      st.active = a
      ps.lastAttempt = { startedAtMs: wallMs, outcome: 'running', reason: undefined }
      running++
      this.tag(h.shard, a, round.start(nowMs), out)
      this.settle(h.shard, st)
    }
    return out
  }

  onReply (shard: ShardId, round: number, id: number, reply: AeReply, nowMs: number, costMs?: number): ScheduledRequest[] {
    return this.feed(shard, round, r => r.onReply(id, reply, nowMs, costMs))
  }

  onError (shard: ShardId, round: number, id: number, error: unknown, nowMs: number): ScheduledRequest[] {
    return this.feed(shard, round, r => r.onError(id, error, nowMs))
  }

  /** Earliest time tick() has work for a running round (held step, timeout); undefined if none runs. */
  nextWakeAt (): number | undefined {
    let at: number | undefined
    for (const st of this.shards.values()) {
      const w = st.active?.round.nextWakeAt()
      if (w !== undefined && (at === undefined || w < at)) at = w
    }
    return at
  }

  status (): ShardStatus[] {
    return [...this.shards.entries()].sort((a, b) => a[0] - b[0]).map(([shard, st]) => ({
      shard,
      running: st.active === undefined ? undefined : { peer: st.active.round.peer, round: st.active.no },
      nextDueAt: st.nextDueAt,
      peers: new Map([...st.peers].map(([p, s]) => [p, { lastCompleted: s.lastCompleted, verifiedThroughMs: s.verifiedThroughMs, lastAttempt: s.lastAttempt }]))
    }))
  }

  /** The shard's record as purge-rules.ts reads it. */
  repairState (shard: ShardId, currentSinceMs: number): ShardRepairState {
    const st = this.shards.get(shard)
    const peers = new Map<NodeId, { lastCompletedAtMs?: number, verifiedThroughMs?: number }>()
    for (const [p, s] of st?.peers ?? []) {
      // After a restart only verifiedThroughMs is known (persisted): it is at most the start of the
      // round that set it, so it stands in for that round's start.
      peers.set(p, { lastCompletedAtMs: s.lastCompleted?.startedAtMs ?? s.verifiedThroughMs, verifiedThroughMs: s.verifiedThroughMs })
    }
    return { currentSinceMs, peers }
  }

  private feed (shard: ShardId, no: number, step: (r: RepairRound) => AeRequest[]): ScheduledRequest[] {
    const st = this.shards.get(shard)
    const a = st?.active
    if (st === undefined || a === undefined || a.no !== no) return []
    const out: ScheduledRequest[] = []
    this.tag(shard, a, step(a.round), out)
    this.settle(shard, st)
    return out
  }

  private tag (shard: ShardId, a: { round: RepairRound, no: number }, reqs: AeRequest[], out: ScheduledRequest[]): void {
    for (const request of reqs) out.push({ shard, peer: a.round.peer, round: a.no, request })
  }

  /** Collect a finished round: its events, and the peer's record. */
  private settle (shard: ShardId, st: ShardState): void {
    const a = st.active
    if (a === undefined) return
    this.events.push(...a.round.drainEvents())
    const r = a.round.result
    if (r === undefined) return
    st.active = undefined
    const ps = this.peerOf(st, r.peer)
    ps.lastAttempt = { startedAtMs: r.startedAtMs, outcome: r.outcome, reason: r.reason }
    if (r.outcome === 'completed') {
      ps.lastCompleted = r
      ps.resumeAfterWindow = undefined
      if (r.verifiedThroughMs !== null && (ps.verifiedThroughMs === undefined || r.verifiedThroughMs > ps.verifiedThroughMs)) ps.verifiedThroughMs = r.verifiedThroughMs
    } else if (r.reason === 'budget' && r.lastWindow !== undefined) {
      ps.resumeAfterWindow = r.lastWindow
    }
  }

  private stateOf (shard: ShardId, nowMs: number): ShardState {
    let st = this.shards.get(shard)
    if (st === undefined) {
      st = { nextDueAt: nowMs + Math.floor(this.rng.next() * this.intervalMs), forced: false, lastPeer: undefined, active: undefined, peers: new Map() }
      this.shards.set(shard, st)
    }
    return st
  }

  private peerOf (st: ShardState, peer: NodeId): PeerState {
    let ps = st.peers.get(peer)
    if (ps === undefined) {
      ps = { lastCompleted: undefined, verifiedThroughMs: undefined, lastAttempt: undefined, resumeAfterWindow: undefined }
      st.peers.set(peer, ps)
    }
    return ps
  }
}

/** The first live peer after `last` in ascending node-id order, wrapping around. */
export function nextPeer (peers: readonly NodeId[], last: NodeId | undefined, isAlive: (node: NodeId) => boolean): NodeId | undefined {
  const sorted = [...new Set(peers)].sort((a, b) => a - b)
  const start = last === undefined ? 0 : sorted.findIndex(p => p > last)
  for (let i = 0; i < sorted.length; i++) {
    const p = sorted[((start < 0 ? 0 : start) + i) % sorted.length]!
    if (isAlive(p)) return p
  }
  return undefined
}
