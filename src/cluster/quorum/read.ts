import { assert } from '../../core/errors'
import { compareVersionIds, newerVersion } from '../../storage/lww'
import {
  isAliveIn, isVersioned, quorumNotAchieved,
  type AliveView, type QuorumFailed, type ReadReply, type ReadRequest, type Versioned
} from './types'
import type { NodeId } from '../../core/ids'

// The coordinator side of one leaderless quorum read (DESIGN §6 "Mode 3") as a sans-I/O state
// machine, like QuorumWrite: start / onReply / onFail / tick in, outputs out, no timers.
//
//  - start: fewer than R replicas alive → failed at once, nothing sent. Otherwise a ReadRequest to
//    every alive replica (not only R: the extra answers cost little and feed read repair).
//  - R replies → succeeded with the highest version among them (unsigned byte order of versionId;
//    a tombstone is a version and wins like one). row null = not found (no replica had the key, or
//    the newest version is a delete).
//  - onFail / deadline: like writes — fail now when replies + outstanding < R, fail at the
//    deadline when R replies have not arrived.
//  - Read repair, only after a success and never before the client's answer: every replica that
//    replied with an older version or without the key gets one 'repair' (an ApplyRequest of the
//    newest version seen so far) — at most once per replica. Replies arriving after the answer
//    (until every asked replica answered, or the deadline) are checked the same way. A later reply
//    newer than the answer raises the repair version for replicas not yet repaired; one already
//    repaired with an older version is left to hints and anti-entropy (at most one repair each).
//  - Versions order by storage/lww.ts, the comparison replicas apply with (row-write.ts).
//
// The machine reads one key; what identifies it is an opaque query `Q` (production: the key's
// position in a REPLICA_READ that asks one replica for several keys at once, coordinator.ts).

export interface QuorumReadOptions<Q> {
  reqId: number
  /** What a replica is asked for (one key); returned with each send and repair. */
  query: Q
  /** The first N nodes of the shard's preference list (distinct). */
  replicas: readonly NodeId[]
  /** Replies needed, 1..N. */
  r: number
  /** Which replicas the coordinator believes alive (gossip), read once at start. */
  alive: AliveView
  /** Coordinator monotonic ms: start time + read_timeout_ms. */
  deadlineMs: number
}

export type ReadOutput<Q = unknown> =
  | { type: 'send', to: NodeId, msg: ReadRequest<Q> }
  /**
   * The client's answer (once): the newest of the first R replies, null if none had the key;
   * `row` is version?.row (null = not found). `replied`: the replicas it was decided from.
   */
  | { type: 'succeeded', version: Versioned | null, row: Uint8Array | null, replied: number[] }
  | QuorumFailed
  /** Read repair: apply `version` of the key `query` names on replica `to` (its ack needs no answer). */
  | { type: 'repair', to: NodeId, query: Q, version: Versioned }

type ReplicaState = 'pending' | 'replied' | 'failed'

export class QuorumRead<Q> {
  readonly reqId: number
  readonly query: Q
  readonly replicas: readonly NodeId[]
  readonly r: number
  readonly deadlineMs: number
  private readonly alive: AliveView
  private readonly state = new Map<NodeId, ReplicaState>()
  private readonly replies = new Map<NodeId, Versioned | null>()
  private readonly repaired = new Set<number>()
  /** Newest version among all replies so far. */
  private best: Versioned | null = null
  private started = false
  private decided: (ReadOutput<Q> & { type: 'succeeded' | 'failed' }) | null = null
  private over = false

  constructor (options: QuorumReadOptions<Q>) {
    const { reqId, query, replicas, r, alive, deadlineMs } = options
    assert(replicas.length > 0 && new Set(replicas).size === replicas.length, 'quorum read: replicas must be a non-empty list of distinct node ids')
    assert(Number.isInteger(r) && r >= 1 && r <= replicas.length, `quorum read: R=${r} must be 1..N=${replicas.length}`)
    assert(Number.isFinite(deadlineMs), 'quorum read: deadline must be finite')
    this.reqId = reqId
    this.query = query
    this.replicas = [...replicas]
    this.r = r
    this.alive = alive
    this.deadlineMs = deadlineMs
  }

  get outcome (): (ReadOutput<Q> & { type: 'succeeded' | 'failed' }) | null { return this.decided }

  /** Nothing more will come out (every asked replica answered or failed, or the deadline passed). */
  get finished (): boolean { return this.over }

  /** Replicas sent a repair, in order. */
  get repairedReplicas (): readonly number[] { return [...this.repaired] }

  start (now: number): Array<ReadOutput<Q>> {
    assert(!this.started, 'quorum read: start called twice')
    this.started = true
    const alive = this.replicas.filter(id => isAliveIn(this.alive, id))
    if (alive.length < this.r) {
      this.over = true
      return [this.decide({ type: 'failed', error: quorumNotAchieved('read', this.r, alive.length, 'not_enough_alive') })]
    }
    const out: Array<ReadOutput<Q>> = []
    for (const to of alive) {
      this.state.set(to, 'pending')
      out.push({ type: 'send', to, msg: { type: 'read', reqId: this.reqId, query: this.query } })
    }
    out.push(...this.tick(now))
    return out
  }

  /** A ReadReply for this read (other reqIds are ignored). */
  receive (msg: ReadReply, now: number): Array<ReadOutput<Q>> {
    return msg.reqId === this.reqId ? this.onReply(msg.from, msg.version, now) : []
  }

  /**
   * Replica `from` answered with its version (null: never saw the key). Duplicates, replicas not
   * asked, failed ones and anything at or after the deadline are ignored; a malformed version
   * counts as that replica failing.
   */
  onReply (from: NodeId, version: Versioned | null, now: number): Array<ReadOutput<Q>> {
    const out = this.tick(now)
    if (this.over || this.state.get(from) !== 'pending') return out
    if (version !== null && !isVersioned(version)) return this.onFail(from, now)
    this.state.set(from, 'replied')
    this.replies.set(from, version)
    this.best = newerVersion(this.best, version)
    if (this.decided === null && this.replies.size >= this.r) {
      out.push(this.decide({ type: 'succeeded', version: this.best, row: this.best?.row ?? null, replied: [...this.replies.keys()] }))
    }
    if (this.decided?.type === 'succeeded') this.repair(out)
    this.checkAllAnswered()
    return out
  }

  /** The request to `from` failed (no reply will come); fail now if R became unreachable. */
  onFail (from: NodeId, now: number): Array<ReadOutput<Q>> {
    const out = this.tick(now)
    if (this.over || this.state.get(from) !== 'pending') return out
    this.state.set(from, 'failed')
    if (this.decided === null) {
      const possible = this.replies.size + this.count('pending')
      if (possible < this.r) out.push(this.decide({ type: 'failed', error: quorumNotAchieved('read', this.r, possible, 'replicas_failed') }))
    }
    this.checkAllAnswered()
    return out
  }

  /** Deadline check; the shell calls it at deadlineMs (extra calls are harmless). */
  tick (now: number): Array<ReadOutput<Q>> {
    if (!this.started || this.over || now < this.deadlineMs) return []
    this.over = true
    if (this.decided !== null) return []
    return [this.decide({ type: 'failed', error: quorumNotAchieved('read', this.r, this.replies.size, 'timeout') })]
  }

  private repair (out: Array<ReadOutput<Q>>): void {
    const best = this.best
    if (best === null) return
    for (const [to, v] of this.replies) {
      if (this.repaired.has(to) || (v !== null && compareVersionIds(v.versionId, best.versionId) >= 0)) continue
      this.repaired.add(to)
      out.push({ type: 'repair', to, query: this.query, version: best })
    }
  }

  private decide<T extends ReadOutput<Q> & { type: 'succeeded' | 'failed' }> (o: T): T {
    this.decided = o
    return o
  }

  private count (s: ReplicaState): number {
    let n = 0
    for (const v of this.state.values()) if (v === s) n++
    return n
  }

  private checkAllAnswered (): void {
    if (this.count('pending') > 0) return
    assert(this.decided !== null, 'quorum read: all replicas answered but no outcome')
    this.over = true
  }
}
