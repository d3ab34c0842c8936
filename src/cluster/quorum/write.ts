import { assert, type ScratchBirdError } from '../../core/errors'
import { acksToward, ackRuleMet, neededAcks, type AckRule } from './ack-rule'
import {
  isAliveIn, quorumNotAchieved,
  type AliveView, type ApplyAck, type ApplyRequest, type QuorumFailed, type QuorumFailReason
} from './types'
import type { NodeId } from '../../core/ids'

// The coordinator side of one leaderless quorum write (DESIGN §6 "Mode 3") as a sans-I/O state
// machine: the shell calls start / onAck / onFail / tick with its monotonic clock and carries out
// the outputs (send the ApplyRequest, store the hint durably, answer the client). No timers here:
// the shell calls tick(now) at deadlineMs (or on any periodic tick).
//
// Life of a write:
//  - start: fewer than W replicas alive → failed at once, nothing sent, no hints (the write
//    changed nothing). Otherwise an ApplyRequest to every alive replica and a hint for every
//    replica not alive — a replica gets the version either way.
//  - W distinct acks → succeeded. Later acks (until the deadline) still count, for hinting only.
//  - onFail (the RPC to a replica failed: refused, reset, replica error) is that replica's final
//    no-ack: its hint is output at once and a later ack from it is ignored. If the acks plus the
//    replicas still outstanding can no longer reach W, the write fails now, not at the deadline.
//  - deadline (tick(now) with now ≥ deadlineMs, or any call at or past it): if W was not reached
//    → failed; every replica that has neither acked nor been hinted gets its hint; done.
//  - onRefuse (the replica refused it for good: it changed nothing and refuses the same write
//    until a DDL re-laying the table out has ended — SB_TABLE_ALTERING, SB_CATALOG_STALE) is a
//    no-ack that is hinted only if the write succeeds: a hint of a write every replica refused
//    would land after the DDL, placed by the layout the DDL replaced.
//  - voters (a replica being bootstrapped, node/leaderless-bootstrap.ts): only the replicas in
//    `voters` count toward W — the others are sent the write and hinted like any replica, but
//    their acks do not count and their failures cannot fail the write. "W alive" at start is W
//    alive voters.
//  - pending (a replica being filled by a join or drain, cluster/membership/leaderless-moves.ts):
//    each must ack as well — W voters AND every pending replica (ack-rule.ts says why). Not alive
//    at start → failed at once, nothing sent; failing or silent → the write fails (its hint is
//    kept: the write may be on other replicas).
// At most one of {ack, hint} per replica (exactly one, but for refusals of a failed write);
// hints never count toward W. A failed write that was sent has an unknown outcome (unless every
// replica refused it): some replicas may hold it, and its hints carry it everywhere.
//
// The unit is an opaque batch `B` (production: one shard's REPLICA_APPLY — every row of a
// statement or COMMIT on that shard, coordinator.ts): W acks of the batch's request are W acks of
// every row in it, and a hint carries the whole batch. The machine never looks inside it.

export interface QuorumWriteOptions<B> {
  /** Identifies this write's ApplyRequests and their acks. */
  reqId: number
  /** What every replica is sent (and hinted): the versions the coordinator assigned (HLC). */
  batch: B
  /** The first N nodes of the shard's preference list (distinct). */
  replicas: readonly NodeId[]
  /** Acks needed, 1..N. */
  w: number
  /** The replicas whose acks count toward W (default: all but `pending`); a subset of `replicas`. */
  voters?: readonly NodeId[]
  /** Replicas of which each must ack besides the W voters (ack-rule.ts); a subset of `replicas`, none a voter. */
  pending?: readonly NodeId[]
  /** Which replicas the coordinator believes alive (gossip), read once at start. */
  alive: AliveView
  /** Coordinator monotonic ms: start time + write_timeout_ms. */
  deadlineMs: number
}

export type WriteOutput<B = unknown> =
  | { type: 'send', to: NodeId, msg: ApplyRequest<B> }
  /** The client's answer: W replicas acknowledged (`acked`, in ack order). Emitted once. */
  | { type: 'succeeded', acked: number[] }
  /** The client's answer: SB_QUORUM_NOT_ACHIEVED. Emitted once. */
  | QuorumFailed
  /** Store durably for `to` and deliver later as an ApplyRequest (hints module). */
  | { type: 'hint', to: NodeId, batch: B }

type ReplicaState = 'pending' | 'acked' | 'hinted' | 'refused'

export class QuorumWrite<B> {
  readonly reqId: number
  readonly batch: B
  readonly replicas: readonly NodeId[]
  readonly w: number
  readonly deadlineMs: number
  readonly voters: ReadonlySet<NodeId>
  readonly pending: readonly NodeId[]
  private readonly rule: AckRule
  private readonly alive: AliveView
  private readonly state = new Map<NodeId, ReplicaState>()
  private readonly ackOrder: number[] = []
  private started = false
  private decided: WriteOutput<B> & { type: 'succeeded' | 'failed' } | null = null
  private over = false

  constructor (options: QuorumWriteOptions<B>) {
    const { reqId, batch, replicas, w, alive, deadlineMs } = options
    assert(replicas.length > 0 && new Set(replicas).size === replicas.length, 'quorum write: replicas must be a non-empty list of distinct node ids')
    assert(options.voters === undefined || options.voters.every(v => replicas.includes(v)), 'quorum write: voters must be replicas')
    assert(Number.isInteger(w) && w >= 1 && w <= replicas.length, `quorum write: W=${w} must be 1..N=${replicas.length}`)
    assert(Number.isFinite(deadlineMs), 'quorum write: deadline must be finite')
    const pending = options.pending ?? []
    assert(pending.every(p => replicas.includes(p) && !(options.voters ?? []).includes(p)), 'quorum write: pending replicas must be replicas, not voters')
    this.reqId = reqId
    this.batch = batch
    this.replicas = [...replicas]
    this.w = w
    this.voters = new Set(options.voters ?? replicas.filter(id => !pending.includes(id)))
    this.pending = [...pending]
    this.rule = { w, voters: this.voters, pending: new Set(pending) }
    this.alive = alive
    this.deadlineMs = deadlineMs
  }

  /** The client outcome once decided (succeeded or failed), else null. */
  get outcome (): (WriteOutput<B> & { type: 'succeeded' | 'failed' }) | null { return this.decided }

  /** Nothing more will come out: outcome decided and every replica acked or hinted. The shell may drop the machine. */
  get finished (): boolean { return this.over }

  /** Voters that acknowledged (before the deadline, not after failing), in ack order. */
  get acked (): readonly number[] { return this.ackOrder }

  /** Pending replicas that acknowledged (before the deadline). */
  get pendingAcked (): readonly NodeId[] { return this.pending.filter(id => this.state.get(id) === 'acked') }

  start (now: number): Array<WriteOutput<B>> {
    assert(!this.started, 'quorum write: start called twice')
    this.started = true
    const alive = this.replicas.filter(id => isAliveIn(this.alive, id))
    const available = acksToward(this.rule, alive)
    if (available < neededAcks(this.rule)) {
      this.over = true
      return [this.decide({ type: 'failed', error: this.notAchieved(available, 'not_enough_alive') })]
    }
    const out: Array<WriteOutput<B>> = []
    for (const to of alive) {
      this.state.set(to, 'pending')
      out.push({ type: 'send', to, msg: { type: 'apply', reqId: this.reqId, batch: this.batch } })
    }
    for (const to of this.replicas) if (!alive.includes(to)) out.push(this.hint(to))
    out.push(...this.tick(now))
    return out
  }

  /** An ApplyAck for this write (other reqIds are ignored). */
  receive (msg: ApplyAck, now: number): Array<WriteOutput<B>> {
    return msg.reqId === this.reqId ? this.onAck(msg.from, now) : []
  }

  /** Replica `from` acknowledged. Duplicates, unknown senders, failed replicas and anything at or after the deadline are ignored. */
  onAck (from: NodeId, now: number): Array<WriteOutput<B>> {
    const out = this.tick(now)
    if (this.over || this.state.get(from) !== 'pending') return out
    this.state.set(from, 'acked')
    if (this.voters.has(from)) this.ackOrder.push(from)
    else if (!this.rule.pending.has(from)) {
      this.checkAllAnswered()
      return out
    }
    if (this.decided === null && ackRuleMet(this.rule, this.ackedIds())) {
      out.push(this.decide({ type: 'succeeded', acked: [...this.ackOrder] }))
      for (const to of this.replicas) if (this.state.get(to) === 'refused') out.push(this.hint(to))
    }
    this.checkAllAnswered()
    return out
  }

  /** The request to `from` failed (no ack will come): hint it now; fail now if W became unreachable. */
  onFail (from: NodeId, now: number): Array<WriteOutput<B>> {
    const out = this.tick(now)
    if (this.over || this.state.get(from) !== 'pending') return out
    const hint = this.hint(from)
    this.failIfUnreachable(out)
    out.push(hint)
    this.checkAllAnswered()
    return out
  }

  /** The replica refused the write for good (see the top): no ack; hinted only if the write succeeds. */
  onRefuse (from: NodeId, now: number): Array<WriteOutput<B>> {
    const out = this.tick(now)
    if (this.over || this.state.get(from) !== 'pending') return out
    this.state.set(from, 'refused')
    if (this.decided?.type === 'succeeded') out.push(this.hint(from))
    else this.failIfUnreachable(out)
    this.checkAllAnswered()
    return out
  }

  /** A replica answered without an ack: the write fails now when the acks plus the replicas still outstanding cannot meet the rule. */
  private failIfUnreachable (out: Array<WriteOutput<B>>): void {
    if (this.decided !== null) return
    const possible = acksToward(this.rule, [...this.state].filter(([, s]) => s === 'acked' || s === 'pending').map(([id]) => id))
    if (possible < neededAcks(this.rule)) out.push(this.decide({ type: 'failed', error: this.notAchieved(possible, 'replicas_failed') }))
  }

  /** The replicas that acknowledged (voters, pending and others). */
  private ackedIds (): NodeId[] {
    return [...this.state].filter(([, s]) => s === 'acked').map(([id]) => id)
  }

  private notAchieved (available: number, reason: QuorumFailReason): ScratchBirdError {
    return quorumNotAchieved('write', neededAcks(this.rule), available, reason, this.pending)
  }

  /** Deadline check; the shell calls it at deadlineMs (extra calls are harmless). */
  tick (now: number): Array<WriteOutput<B>> {
    if (!this.started || this.over || now < this.deadlineMs) return []
    const out: Array<WriteOutput<B>> = []
    if (this.decided === null) out.push(this.decide({ type: 'failed', error: this.notAchieved(acksToward(this.rule, this.ackedIds()), 'timeout') }))
    for (const to of this.replicas) if (this.state.get(to) === 'pending') out.push(this.hint(to))
    this.over = true
    return out
  }

  private decide<T extends WriteOutput<B> & { type: 'succeeded' | 'failed' }> (o: T): T {
    this.decided = o
    return o
  }

  private hint (to: NodeId): WriteOutput<B> {
    this.state.set(to, 'hinted')
    return { type: 'hint', to, batch: this.batch }
  }

  private count (s: ReplicaState): number {
    let n = 0
    for (const v of this.state.values()) if (v === s) n++
    return n
  }

  /** Every replica acked, hinted or refused: the outcome is decided by now (W ≤ N), nothing left to wait for. */
  private checkAllAnswered (): void {
    if (this.count('pending') > 0) return
    assert(this.decided !== null, 'quorum write: all replicas answered but no outcome')
    this.over = true
  }
}
