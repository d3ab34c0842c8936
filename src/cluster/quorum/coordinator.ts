import { ScratchBirdError } from '../../core/errors'
import type { ReplicaWrite, VersionedRow } from '../../storage/engine'
import type { Tuple } from '../../storage/keys'
import type { HlcTs, Xid } from '../../storage/types'
import { QuorumRead } from './read'
import { quorumNotAchieved, type AliveView, type Versioned } from './types'
import { QuorumWrite, type WriteOutput } from './write'
import type { NodeId, ShardId } from '../../core/ids'

// The quorum coordinator of one statement (DESIGN §6 "Mode 3"), sans-I/O: what src/node/quorum.ts
// used to decide inline, as two machines the node's shell and the simulator drive alike (calls in
// with the coordinator's monotonic ms, effects out; the shell does the RPCs, the hint store writes,
// the timers and the logging).
//
//  - StatementWrite: a statement's (or a transaction COMMIT's) writes, grouped by shard, become
//    one QuorumWrite per shard batch whose opaque unit is that shard's REPLICA_APPLY (one per
//    replica carrying the whole batch: W acks of that request = W acks of every row in it). Every
//    batch carries the one XID and commit HLC of the statement. The statement succeeds when every
//    batch reached its W (during a join or drain: W and every replica being filled, ack-rule.ts); otherwise it fails with the first failed batch's error (in batch order),
//    once every batch is decided — it is not atomic across shards: a failed batch has an unknown
//    outcome, as in Cassandra, and the others stand. A replica that did not ack a batch gets a
//    hint of the whole batch (hints.ts turns it into hint records).
//  - PointRead: one QuorumRead per key, all sharing one deadline; the reads the machines ask of
//    the same replica go out as one REPLICA_READ (the keys, by position) — each machine's sends
//    are honoured, grouped, never dropped. Read repair comes out per (replica, key) as one write
//    of the newest version, only after the client's answer (the machines' rule).

/** Most keys of one quorum point read on one shard (a replica's REPLICA_READ reads at most 10 000). */
export const MAX_READ_KEYS = 1000

/** One shard's writes of a statement, as the executor hands them over (exec QuorumBatch). */
export interface ShardBatchSpec {
  readonly shard: ShardId
  readonly replicationFactor: number
  readonly writeQuorum: number
  /**
   * How many of the first replicas count toward W (default all N): fewer while the shard's newer
   * replicas are being bootstrapped (catalog/replica-bootstrap.ts). The others still get the write.
   */
  readonly countedReplicas?: number
  /** Shipped as they are (not copied): the caller hands them over. */
  readonly writes: ReplicaWrite[]
}

/** What one replica of `shard` is sent: the REPLICA_APPLY request of a shard batch. */
export interface ShardWrite {
  readonly shard: ShardId
  readonly writes: ReplicaWrite[]
  readonly commitHlc: HlcTs
  readonly xid: Xid
}

/** Why a shard batch failed, for the operator's log line and the metrics. */
export interface WriteFailureReport {
  readonly shard: ShardId
  readonly w: number
  readonly replicas: readonly NodeId[]
  readonly acked: readonly number[]
  /** Replicas that did not acknowledge: "Node 3 offline", "Node 2 failed: SB_…", "Node 1 no answer". */
  readonly missing: readonly string[]
  readonly error: ScratchBirdError
}

/**
 * Replica error codes that mean "changed nothing, and would refuse the same write again until a
 * DDL re-laying its table out has ended" (write.ts onRefuse): not hinted unless the write succeeds.
 */
export const DEFINITE_REFUSALS: ReadonlySet<string> = new Set(['SB_TABLE_ALTERING', 'SB_CATALOG_STALE'])

export type StatementWriteEffect =
  /** Send `batch` to replica `to` as REPLICA_APPLY; answer onAck / onFail with `reqId`. */
  | { readonly type: 'apply', readonly reqId: number, readonly to: NodeId, readonly batch: ShardWrite }
  /** Keep `batch` durably for `to` (hints.ts hintsOf) and deliver it later. */
  | { readonly type: 'hint', readonly to: NodeId, readonly batch: ShardWrite }
  /** One shard batch failed (log and count it); the statement's answer comes with 'failed'. */
  | { readonly type: 'batch-failed', readonly report: WriteFailureReport }
  /** The client's answer: every batch reached W. */
  | { readonly type: 'succeeded' }
  /** The client's answer: the first failed batch's SB_QUORUM_NOT_ACHIEVED. */
  | { readonly type: 'failed', readonly error: ScratchBirdError }

export interface StatementWriteOptions {
  /** Non-empty batches, one per shard. */
  readonly batches: readonly ShardBatchSpec[]
  readonly xid: Xid
  readonly commitHlc: HlcTs
  /**
   * The first n nodes of the shard's preference list — while a join or drain moves the shard's
   * leaderless replicas, the n old ones, then the new ones being filled (ClusterShell.replicasOf).
   */
  readonly replicas: (shard: ShardId, n: number) => readonly NodeId[]
  /**
   * Of those, the replicas being filled by a join or drain (leaderless-moves.ts fillTargets; none
   * when nothing moves): each must acknowledge, besides W of the others (ack-rule.ts).
   */
  readonly pending?: (shard: ShardId, n: number) => readonly NodeId[]
  /** Gossip liveness (read at start, and when describing a failure). */
  readonly alive: (nodeId: NodeId) => boolean
  /** Coordinator monotonic ms at start. */
  readonly nowMs: number
  /** replication.write_timeout_ms. */
  readonly timeoutMs: number
  /** Request ids, unique among this coordinator's machines. */
  readonly nextReqId: () => number
}

interface BatchState {
  readonly m: QuorumWrite<ShardWrite>
  readonly sent: Set<number>
  /** Replica → why its request failed (error code). */
  readonly failed: Map<NodeId, string>
}

export class StatementWrite {
  readonly deadlineMs: number
  private readonly batches: BatchState[]
  private readonly byReq = new Map<number, BatchState>()
  private readonly alive: (nodeId: NodeId) => boolean
  private decided: (StatementWriteEffect & { type: 'succeeded' | 'failed' }) | null = null

  constructor (o: StatementWriteOptions) {
    this.deadlineMs = o.nowMs + o.timeoutMs
    this.alive = o.alive
    const view: AliveView = id => o.alive(id)
    this.batches = o.batches.map(b => {
      const listed = o.replicas(b.shard, b.replicationFactor)
      const pending = o.pending?.(b.shard, b.replicationFactor) ?? []
      // The shell lists them already; added if not, so a replica that must ack is always sent the write.
      const replicas = [...listed, ...pending.filter(id => !listed.includes(id))]
      const current = listed.filter(id => !pending.includes(id))
      // A replica a raised replication_factor still bootstraps (catalog/replica-bootstrap.ts) is
      // pending too, as a join's target is (ack-rule.ts): its fill copies what the old replicas
      // held when it read them, so a write acknowledged after that without it would reach it only
      // by hint, read repair or anti-entropy — and the replica counts once marked ready.
      const voters = current.slice(0, b.countedReplicas ?? current.length)
      const bootstrapping = current.slice(voters.length)
      const m = new QuorumWrite<ShardWrite>({
        reqId: o.nextReqId(),
        batch: { shard: b.shard, writes: b.writes, commitHlc: o.commitHlc, xid: o.xid },
        replicas,
        w: b.writeQuorum,
        voters,
        pending: [...pending, ...bootstrapping],
        alive: view,
        deadlineMs: this.deadlineMs
      })
      const st = { m, sent: new Set<NodeId>(), failed: new Map<NodeId, string>() }
      this.byReq.set(m.reqId, st)
      return st
    })
  }

  /** The shard batches' machines, in batch order (their outcomes, acks, for tests and the simulator). */
  get machines (): ReadonlyArray<QuorumWrite<ShardWrite>> { return this.batches.map(b => b.m) }

  /** The client's answer once decided. */
  get outcome (): (StatementWriteEffect & { type: 'succeeded' | 'failed' }) | null { return this.decided }

  /** Nothing more will come out: every batch decided and every replica acked or hinted. */
  get finished (): boolean { return this.batches.every(b => b.m.finished) }

  start (now: number): StatementWriteEffect[] {
    const out: StatementWriteEffect[] = []
    for (const b of this.batches) this.take(b, b.m.start(now), out)
    return this.settle(out)
  }

  /** Replica `from` acknowledged request `reqId`. Unknown request ids are ignored. */
  onAck (reqId: number, from: NodeId, now: number): StatementWriteEffect[] {
    const b = this.byReq.get(reqId)
    if (b === undefined) return []
    const out: StatementWriteEffect[] = []
    this.take(b, b.m.onAck(from, now), out)
    return this.settle(out)
  }

  /** Request `reqId` to `from` failed (`why`: the error code, for the failure report). */
  onFail (reqId: number, from: NodeId, why: string, now: number): StatementWriteEffect[] {
    const b = this.byReq.get(reqId)
    if (b === undefined) return []
    if (b.sent.has(from) && !b.failed.has(from)) b.failed.set(from, why)
    const out: StatementWriteEffect[] = []
    this.take(b, DEFINITE_REFUSALS.has(why) ? b.m.onRefuse(from, now) : b.m.onFail(from, now), out)
    return this.settle(out)
  }

  /** Deadline check; the shell calls it at deadlineMs (extra calls are harmless). */
  tick (now: number): StatementWriteEffect[] {
    const out: StatementWriteEffect[] = []
    for (const b of this.batches) this.take(b, b.m.tick(now), out)
    return this.settle(out)
  }

  private take (b: BatchState, outs: Array<WriteOutput<ShardWrite>>, out: StatementWriteEffect[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          b.sent.add(o.to)
          out.push({ type: 'apply', reqId: b.m.reqId, to: o.to, batch: o.msg.batch })
          break
        case 'hint': out.push({ type: 'hint', to: o.to, batch: o.batch }); break
        case 'failed': out.push({ type: 'batch-failed', report: this.report(b, o.error) }); break
        case 'succeeded': break
      }
    }
  }

  /** Decides the statement once every batch is decided. */
  private settle (out: StatementWriteEffect[]): StatementWriteEffect[] {
    if (this.decided !== null || !this.batches.every(b => b.m.outcome !== null)) return out
    const failed = this.batches.find(b => b.m.outcome!.type === 'failed')
    this.decided = failed === undefined ? { type: 'succeeded' } : { type: 'failed', error: (failed.m.outcome as { error: ScratchBirdError }).error }
    out.push(this.decided)
    return out
  }

  private report (b: BatchState, error: ScratchBirdError): WriteFailureReport {
    const { m, sent, failed } = b
    const acked = [...m.acked, ...m.pendingAcked]
    // Replicas that did not acknowledge: down by gossip (nothing sent), failed, or silent.
    const missing = m.replicas.filter(id => !acked.includes(id) && (sent.has(id) || !this.alive(id))).map(id => {
      if (!sent.has(id)) return `Node ${id} offline`
      const why = failed.get(id)
      return why === undefined ? `Node ${id} no answer` : `Node ${id} failed: ${why}`
    })
    return { shard: m.batch.shard, w: m.w, replicas: m.replicas, acked, missing, error }
  }
}

/** The seed's line: "Quorum write failed: Shard 001, W=3, ACKs=2 (Node 3 offline)". */
export function writeFailureLine (r: WriteFailureReport): string {
  return `Quorum write failed: Shard ${String(r.shard).padStart(3, '0')}, W=${r.w}, ACKs=${r.acked.length}${r.missing.length > 0 ? ` (${r.missing.join(', ')})` : ''}`
}

// ---- point reads ---------------------------------------------------------------------------------

export type PointReadEffect =
  /** Send one REPLICA_READ of pks[indexes] to `to`; answer onReply / onFail with the same indexes. */
  | { readonly type: 'read', readonly to: NodeId, readonly indexes: readonly number[] }
  /** The client's answer: per pk the newest row, null when absent or deleted. */
  | { readonly type: 'answered', readonly rows: Array<Uint8Array | null> }
  /** The client's answer: the first key's SB_QUORUM_NOT_ACHIEVED. */
  | { readonly type: 'failed', readonly error: ScratchBirdError }
  /** Read repair: apply `write` (the newest version of one key) on `to`; nobody waits for it. */
  | { readonly type: 'repair', readonly to: NodeId, readonly write: ReplicaWrite }

export interface PointReadOptions {
  readonly tableId: number
  readonly pks: readonly Tuple[]
  /**
   * The replicas that count toward R: the first N nodes of the shard's preference list, less the
   * ones still being bootstrapped (catalog/replica-bootstrap.ts countedReplicas) — those are never
   * asked, so a read never answers "no row" from a replica not yet filled.
   */
  readonly replicas: readonly NodeId[]
  readonly r: number
  readonly alive: (nodeId: NodeId) => boolean
  readonly nowMs: number
  /** replication.read_timeout_ms. */
  readonly timeoutMs: number
  readonly nextReqId: () => number
}

export class PointRead {
  readonly deadlineMs: number
  readonly tableId: number
  readonly pks: readonly Tuple[]
  private readonly machines: Array<QuorumRead<number>>
  private readonly rows: Array<Uint8Array | null | undefined>
  private open: number
  private decided: (PointReadEffect & { type: 'answered' | 'failed' }) | null = null

  /** SB_BAD_ARGUMENT beyond MAX_READ_KEYS keys; SB_QUORUM_NOT_ACHIEVED when R exceeds the replicas. */
  constructor (o: PointReadOptions) {
    if (o.pks.length > MAX_READ_KEYS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `a quorum read reads at most ${MAX_READ_KEYS} keys of one shard`, { keys: o.pks.length })
    // R above the replicas that count (newer ones still bootstrapping): as with R replicas down.
    if (o.r > o.replicas.length) throw quorumNotAchieved('read', o.r, o.replicas.filter(id => o.alive(id)).length, 'not_enough_alive')
    this.deadlineMs = o.nowMs + o.timeoutMs
    this.tableId = o.tableId
    this.pks = o.pks
    const alive: AliveView = id => o.alive(id)
    this.machines = o.pks.map((_, i) => new QuorumRead<number>({ reqId: o.nextReqId(), query: i, replicas: o.replicas, r: o.r, alive, deadlineMs: this.deadlineMs }))
    this.rows = o.pks.map(() => undefined)
    this.open = o.pks.length
  }

  get outcome (): (PointReadEffect & { type: 'answered' | 'failed' }) | null { return this.decided }

  /** Nothing more will come out (every key's machine finished: answered, failed, repairs done). */
  get finished (): boolean { return this.machines.every(m => m.finished) }

  start (now: number): PointReadEffect[] {
    const out: PointReadEffect[] = []
    if (this.machines.length === 0) return this.decide({ type: 'answered', rows: [] }, out)
    // Group the machines' sends by replica: one request per replica, the keys by position.
    const asks = new Map<NodeId, number[]>()
    for (const m of this.machines) {
      for (const o of m.start(now)) {
        if (o.type === 'send') {
          const keys = asks.get(o.to)
          if (keys === undefined) asks.set(o.to, [o.msg.query])
          else keys.push(o.msg.query)
        } else {
          this.take(m, [o], out)
        }
      }
    }
    for (const [to, indexes] of asks) out.push({ type: 'read', to, indexes })
    return out
  }

  /**
   * Replica `to` answered the read of pks[indexes] with one version per key (null: no such key).
   * A reply of the wrong shape is that replica failing (bad input from a peer, nothing changed).
   */
  onReply (to: NodeId, indexes: readonly number[], versions: ReadonlyArray<VersionedRow | null | undefined>, now: number): PointReadEffect[] {
    if (!Array.isArray(versions) || versions.length !== indexes.length) return this.onFail(to, indexes, now)
    const out: PointReadEffect[] = []
    indexes.forEach((i, j) => {
      const m = this.machines[i]
      const v = versions[j]
      if (m !== undefined) this.take(m, m.onReply(to, v === null || v === undefined ? null : { versionId: v.versionId, row: v.row }, now), out)
    })
    return answerFirst(out)
  }

  /** The read of pks[indexes] from `to` failed (error, timeout, refused reply). */
  onFail (to: NodeId, indexes: readonly number[], now: number): PointReadEffect[] {
    const out: PointReadEffect[] = []
    for (const i of indexes) {
      const m = this.machines[i]
      if (m !== undefined) this.take(m, m.onFail(to, now), out)
    }
    return answerFirst(out)
  }

  /** Deadline check; the shell calls it at deadlineMs (extra calls are harmless). */
  tick (now: number): PointReadEffect[] {
    const out: PointReadEffect[] = []
    for (const m of this.machines) this.take(m, m.tick(now), out)
    return answerFirst(out)
  }

  private take (m: QuorumRead<number>, outs: ReturnType<QuorumRead<number>['tick']>, out: PointReadEffect[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send': break // only start() sends, grouped there
        case 'succeeded':
          this.rows[m.query] = o.row
          if (--this.open === 0) this.decide({ type: 'answered', rows: this.rows as Array<Uint8Array | null> }, out)
          break
        case 'failed': this.decide({ type: 'failed', error: o.error }, out); break
        case 'repair': out.push({ type: 'repair', to: o.to, write: repairWrite(this.tableId, this.pks[m.query]!, o.version) }); break
      }
    }
  }

  private decide (e: PointReadEffect & { type: 'answered' | 'failed' }, out: PointReadEffect[]): PointReadEffect[] {
    if (this.decided === null) {
      this.decided = e
      out.push(e)
    }
    return out
  }
}

/** The client's answer before any repair decided in the same step (repairs never delay it). */
function answerFirst (out: PointReadEffect[]): PointReadEffect[] {
  const i = out.findIndex(e => e.type === 'answered' || e.type === 'failed')
  if (i <= 0) return out
  return [out[i]!, ...out.slice(0, i), ...out.slice(i + 1)]
}

function repairWrite (tableId: number, pk: Tuple, v: Versioned): ReplicaWrite {
  return { tableId, pk, versionId: v.versionId, row: v.row }
}
