import type { Logger } from 'pino'
import type { TableInfo } from '../catalog/catalog'
import { countedReplicas } from '../catalog/replica-bootstrap'
import { HintDelivery, DELIVERY_TICK_MS } from '../cluster/hints/delivery'
import { hintsOf } from '../cluster/hints/batches'
import { HintDeliveryRunner, type HintRunnerEvent } from '../cluster/hints/runner'
import type { HintLog } from '../cluster/hints/hint-log'
import { UnstoredHints } from '../cluster/hints/unstored'
import type { Hint } from '../storage/hint-store'
import { PointRead, StatementWrite, writeFailureLine, type PointReadEffect, type ShardWrite, type StatementWriteEffect } from '../cluster/quorum/coordinator'
import { observeRemoteHlc } from '../cluster/hlc-observe'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import { describe, isScratchBirdError, messageOf, ScratchBirdError } from '../core/errors'
import type { Hlc } from '../core/hlc'
import { nodeIdLabel, nodeLabel, shardLabel, type NodeMetrics } from '../ops/metrics'
import type { ReplicaWrite, VersionedRow } from '../storage/engine'
import type { Tuple } from '../storage/keys'
import type { VersionScanRow } from '../storage/version-scan'
import type { Xid } from '../storage/types'
import type { QuorumBatch } from '../exec/env'
import { RPC_MAX_BODY_BYTES } from '../net/rpc/wire'
import { nextHlcTs } from '../storage/hlc-ts'
import type { HlcTs } from '../storage/types'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import type { ShardRequester } from './shard-router'
import { staleReplica } from './cluster'
import { LIMITS } from '../core/limits'
import type { NodeId, ShardId } from '../core/ids'
import type { TracePort } from '../core/trace-context'

/** Room a REPLICA_APPLY needs beyond its rows: op, shard, XID, HLC, counts, RPC message header. */
const REPLICA_APPLY_ENVELOPE_BYTES = LIMITS.rpcEnvelopeBytes
/** How often a write waiting for the layout to be heard after a start looks again (layoutHeard). */
const LAYOUT_POLL_MS = 25

// The leaderless quorum I/O shell (DESIGN §6 "Mode 3"; issue 6): carries out the effects of the
// sans-I/O coordinator (src/cluster/quorum/coordinator.ts: StatementWrite for a statement's or a
// COMMIT's shard batches, PointRead for the keys of one shard) with shard requests —
// REPLICA_APPLY / REPLICA_READ to this node's own workers when it holds a replica, over cluster
// RPC (SHARD_QUERY) otherwise — and a timer at each deadline; keeps the hints they ask for in the
// hint log — the shard workers' stores, through the rings (src/cluster/hints/sharded-log.ts;
// records from src/cluster/hints/batches.ts) — and delivers them with HintDeliveryRunner
// (src/cluster/hints/runner.ts, on the HintDelivery scheduler), ticked every DELIVERY_TICK_MS. Nothing here decides
// what to send, to whom, or what the client is answered: that is the machines' (and simulated in
// tests/sim/quorum.sim.test.ts with the same code).
//
// A replica receiving REPLICA_APPLY from a peer first runs hlc.update on every version (cluster.ts
// onShardQuery); a version further ahead than max_clock_offset_ms fails the request with
// SB_CLOCK_OFFSET_EXCEEDED, which the coordinator sees as that replica failing (a hint is kept and
// delivered again later, when the clocks agree or an operator intervenes).

export interface QuorumDeps {
  readonly config: Config
  readonly selfId: NodeId
  readonly hlc: Hlc
  /** The replication log stream. */
  readonly log: Logger
  readonly metrics: NodeMetrics
  /** This node's shard workers. */
  readonly local: ShardRequester
  /** Sends an encoded shard request to node `nodeId` (cluster RPC); resolves with the encoded reply. */
  readonly forward: (nodeId: NodeId, op: ShardOpName, shard: ShardId, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
  /** The first n nodes of the shard's preference list (during a join or drain: the old ones, then the new ones: ClusterShell.replicasOf). */
  readonly replicas: (shard: ShardId, n: number) => NodeId[]
  /** The replicas being filled by a join or drain, each of which must acknowledge a write (ClusterShell.pendingOf); absent: none. */
  readonly pending?: (shard: ShardId, n: number) => readonly NodeId[]
  /** Has this node heard the cluster's layout from a peer since it started (ClusterShell.layoutConfirmed)? Absent: always. */
  readonly layoutConfirmed?: () => boolean
  /** Gossip liveness. */
  readonly alive: (nodeId: NodeId) => boolean
  /** The shard a row's encoded key belongs in now: hints stored before a split are delivered there (split-cleanup.ts homeShardOf); absent: the stored shard. */
  readonly homeShard?: ((tableId: number, key: Uint8Array) => ShardId | undefined) | undefined
  /** Is `nodeId` a configured member? */
  readonly isMember: (nodeId: NodeId) => boolean
  /** A fresh node-wide XID (one per autocommit statement or transaction COMMIT). */
  readonly xid: () => Xid
  /** The hint log (the shard workers' stores, src/cluster/hints/sharded-log.ts). */
  readonly hints: HintLog
  /** Deadlines, hint ages and delivery pacing. */
  readonly clock: Clock
  /** Does this node's replica of the shard not serve it (anti-entropy: stale after a long outage)? */
  readonly replicaStale?: (shard: ShardId) => boolean
  /** Tracing (issue 18 item 8): each replica round trip of a traced statement is a span; null or absent: off. */
  readonly tracer?: TracePort | null
}

export interface HintTargetRow { target: NodeId, count: number, bytes: number }

export interface DeliverHintsResult { target: NodeId, delivered: number, remaining: number }

export class QuorumShell {
  private seq = 0
  private readonly delivery: HintDelivery
  private timer: NodeJS.Timeout | null = null
  private readonly inFlight = new Set<Promise<unknown>>()
  private readonly runner: HintDeliveryRunner
  /** Hints the log refused (its disk full): held in memory, stored again on a short back-off (cluster/hints/unstored.ts). */
  private readonly unstored = new UnstoredHints()

  constructor (private readonly d: QuorumDeps) {
    const r = d.config.replication
    this.delivery = new HintDelivery({ intervalMs: r.hint_delivery_interval_ms, ratePerSecond: r.hint_delivery_rate, expirationDays: r.hint_expiration_days })
    this.runner = new HintDeliveryRunner({
      store: d.hints,
      scheduler: this.delivery,
      // async: a timestamp that cannot be taken (SB_DISK_FULL) is a failed delivery, not a throw.
      send: async (target, g) => { await this.call(target, 'REPLICA_APPLY', { shard: g.shard, xid: g.xid, commitHlc: nextHlcTs(d.hlc), writes: [...g.writes] }, r.write_timeout_ms) },
      alive: id => d.alive(id),
      homeShard: d.homeShard,
      clock: d.clock,
      onEvent: e => this.onHintEvent(e)
    })
  }

  start (): void {
    // A tick still running (a batch waits up to write_timeout_ms) makes the next ones skip.
    this.timer = setInterval(() => {
      void this.retryUnstored()
      if (!this.runner.busy) void this.deliveryTick()
    }, DELIVERY_TICK_MS)
    this.timer.unref()
  }

  /** Stops delivery and waits for what is in flight (hint writes included); the node closes the store after. */
  async stop (): Promise<void> {
    this.runner.stop()
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await Promise.allSettled([...this.inFlight])
  }

  private track<T> (p: Promise<T>): Promise<T> {
    this.inFlight.add(p)
    void p.finally(() => this.inFlight.delete(p)).catch(() => {})
    return p
  }

  // ---- replica requests -------------------------------------------------------------------------

  private call<K extends 'REPLICA_APPLY' | 'REPLICA_READ' | 'SCAN' | 'REPLICA_VERSION_SCAN'> (to: NodeId, op: K, req: ShardRequests[K], timeoutMs: number): Promise<ShardReplies[K]> {
    const tracer = this.d.tracer
    if (tracer == null) return this.callReplica(to, op, req, timeoutMs)
    return tracer.span('quorum replica', { 'scratchbird.shard': req.shard, 'scratchbird.op': op, 'scratchbird.to_node': to, 'scratchbird.via': to === this.d.selfId ? 'local' : 'rpc' },
      () => this.callReplica(to, op, req, timeoutMs))
  }

  private async callReplica<K extends 'REPLICA_APPLY' | 'REPLICA_READ' | 'SCAN' | 'REPLICA_VERSION_SCAN'> (to: NodeId, op: K, req: ShardRequests[K], timeoutMs: number): Promise<ShardReplies[K]> {
    if (to === this.d.selfId) {
      // This node's own replica, stale: failed like a peer's would (the coordinator moves on, a write keeps a hint).
      if (this.d.replicaStale?.(req.shard) === true) throw staleReplica(op, req.shard)
      return await this.d.local.request(op, req)
    }
    const codec = codecOf(op)
    return codec.decodeReply(await this.d.forward(to, op, req.shard, codec.encodeRequest(req), timeoutMs))
  }

  // ---- writes -----------------------------------------------------------------------------------

  /**
   * Quorum-writes one autocommit statement's versions of a leaderless table (one XID for all).
   * Resolves when every shard batch reached W; rejects with SB_QUORUM_NOT_ACHIEVED otherwise.
   */
  async write (table: TableInfo, writes: ReadonlyMap<ShardId, ReplicaWrite[]>): Promise<void> {
    const { replication_factor: n, write_quorum: w } = table.replication
    await this.writeBatches([...writes].map(([shard, batch]) => ({ shard, replicationFactor: n, writeQuorum: w, countedReplicas: countedReplicas(n, table.bootstrap, shard), writes: batch })))
  }

  /**
   * Quorum-writes batches under one XID and commit HLC: an autocommit statement's shard batches, or
   * a transaction's buffered writes at COMMIT (src/exec/quorum-txn.ts). The policy is
   * StatementWrite's (src/cluster/quorum/coordinator.ts); this carries out its effects.
   */
  /**
   * Right after a start, waits (until `deadline`, monotonic) for the layout to be heard from a peer:
   * a join or drain may have begun while this node was down, and a write placed by the layout from
   * before it could be acknowledged without a replica being filled (cluster/membership/
   * leaderless-moves.ts layoutConfirmed). Normally one gossip round; refused, writing nothing,
   * when no peer is heard by then.
   */
  private async layoutHeard (deadline: number): Promise<void> {
    const confirmed = this.d.layoutConfirmed
    if (confirmed === undefined) return
    while (!confirmed()) {
      if (this.d.clock.monotonic() >= deadline) {
        throw new ScratchBirdError('SB_QUORUM_NOT_ACHIEVED',
          `node ${this.d.selfId} has not heard the cluster layout from any peer since it started, so it cannot tell whether a join or drain is moving the replicas of the shard; the write was refused and changed nothing — retry once peers are reachable`,
          { node: this.d.selfId, reason: 'layout_unconfirmed' })
      }
      await new Promise(resolve => setTimeout(resolve, LAYOUT_POLL_MS))
    }
  }

  async writeBatches (batches: readonly QuorumBatch[]): Promise<void> {
    const nonEmpty = batches.filter(b => b.writes.length > 0)
    if (nonEmpty.length === 0) return
    const now = (): number => this.d.clock.monotonic()
    const timeoutMs = this.d.config.replication.write_timeout_ms
    await this.layoutHeard(now() + timeoutMs)
    const sw = new StatementWrite({
      batches: nonEmpty,
      xid: this.d.xid(),
      commitHlc: nextHlcTs(this.d.hlc),
      replicas: (shard, n) => this.d.replicas(shard, n),
      pending: (shard, n) => this.d.pending?.(shard, n) ?? [],
      alive: id => this.d.alive(id),
      nowMs: now(),
      timeoutMs,
      nextReqId: () => ++this.seq
    })
    await this.track(new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const handle = (effects: StatementWriteEffect[]): void => {
        for (const e of effects) {
          switch (e.type) {
            case 'apply':
              this.call(e.to, 'REPLICA_APPLY', e.batch, timeoutMs).then(
                () => handle(sw.onAck(e.reqId, e.to, now())),
                (err: unknown) => {
                  this.d.log.debug({ shard: e.batch.shard, replica: e.to, err: isScratchBirdError(err) ? err.toJSON() : String(err) }, `replica write to node ${e.to} failed (shard ${e.batch.shard})`)
                  handle(sw.onFail(e.reqId, e.to, isScratchBirdError(err) ? err.code : String(err), now()))
                })
              break
            case 'hint': void this.storeHints(e.to, e.batch); break
            case 'batch-failed':
              this.d.metrics.quorumWriteFailures.inc({ shard_id: shardLabel(e.report.shard) })
              this.d.log.error({ shard: e.report.shard, w: e.report.w, acks: e.report.acked.length, replicas: e.report.replicas, err: e.report.error.toJSON() }, writeFailureLine(e.report))
              break
            case 'succeeded': resolve(); break
            case 'failed': reject(e.error); break
          }
        }
        if (sw.finished && timer !== undefined) clearTimeout(timer)
      }
      handle(sw.start(now()))
      if (!sw.finished) timer = setTimeout(() => handle(sw.tick(now())), Math.max(0, sw.deadlineMs - now()) + 1)
    }))
  }

  /**
   * The largest shard batch (estimated bytes of keys, rows and per-row fields) one REPLICA_APPLY
   * may carry: it must fit one worker ring message and one cluster RPC body, whose payloads are
   * raw bytes (binary codecs), less the request's own envelope.
   */
  get maxBatchBytes (): number {
    return Math.min(this.d.config.storage.max_message_bytes, RPC_MAX_BODY_BYTES) - REPLICA_APPLY_ENVELOPE_BYTES
  }

  private async storeHints (target: NodeId, batch: ShardWrite): Promise<void> {
    const hints = hintsOf(target, batch, Math.floor(this.d.clock.now()))
    try {
      await this.track(this.d.hints.add(hints))
      this.d.log.debug({ target, shard: batch.shard, hints: hints.length }, `stored ${hints.length} hint(s) for node ${target} (shard ${batch.shard})`)
    } catch (e) {
      // Hints never count toward W: a lost hint leaves the replica to read repair / anti-entropy.
      // Over the log's cap that is the rule (hint-store.ts); any other refusal — the shard store's
      // disk full, most often on a coordinator whose own replica refused the write for the same
      // reason — is held in memory and stored again once the store takes writes (unstored.ts).
      if (isScratchBirdError(e, 'SB_HINT_LOG_FULL')) {
        this.d.log.warn({ target, shard: batch.shard, err: describe(e) }, `hint for node ${target} not stored: ${messageOf(e)}`)
        return
      }
      this.d.log.warn({ target, shard: batch.shard, err: describe(e) }, `hint for node ${target} not stored yet (held in memory, stored again when the hint log takes it): ${messageOf(e)}`)
      this.noteUnstored(this.unstored.keep(hints, this.d.clock.monotonic()))
    }
  }

  /** The delivery timer's turn for held hints: every held batch offered to the log again once the back-off has passed. */
  private async retryUnstored (): Promise<void> {
    const batches = this.unstored.take(this.d.clock.monotonic())
    if (batches === null) return
    const failed: Array<readonly Hint[]> = []
    let stored = 0
    for (const [i, hints] of batches.entries()) {
      try {
        await this.track(this.d.hints.add(hints))
        stored += hints.length
      } catch (e) {
        if (isScratchBirdError(e, 'SB_HINT_LOG_FULL')) {
          this.d.log.warn({ target: hints[0]?.target, err: describe(e) }, `held hint(s) for node ${hints[0]?.target} not stored: ${messageOf(e)}`)
          continue
        }
        // Still refused (the disk is still full): the rest wait for the next try, in order.
        failed.push(...batches.slice(i))
        break
      }
    }
    this.noteUnstored(this.unstored.settled(failed, this.d.clock.monotonic()))
    if (stored > 0) this.d.log.info({ hints: stored, held: this.unstored.count }, `stored ${stored} held hint(s) in the hint log`)
  }

  private noteUnstored (dropped: number): void {
    this.d.metrics.hintsUnstored.set(this.unstored.count)
    if (dropped === 0) return
    this.d.metrics.hintsUnstoredDropped.inc(dropped)
    this.d.log.warn({ dropped, held: this.unstored.count }, `${dropped} refused hint(s) dropped: the in-memory hold is full; their replicas are left to read repair and anti-entropy`)
  }

  // ---- reads ------------------------------------------------------------------------------------

  /**
   * Quorum point read of `pks` on one shard: per key, the row of the highest version among the
   * first R answers (null: no replica had it, or the winner is a tombstone). Stale replicas are
   * repaired in the background. The policy is PointRead's (src/cluster/quorum/coordinator.ts).
   */
  read (table: TableInfo, shard: ShardId, pks: readonly Tuple[]): Promise<(Uint8Array | null)[]> {
    if (pks.length === 0) return Promise.resolve([])
    const { replication_factor: n, read_quorum: r } = table.replication
    const timeoutMs = this.d.config.replication.read_timeout_ms
    const now = (): number => this.d.clock.monotonic()
    let pr: PointRead
    try {
      // Replicas still being bootstrapped are not asked (catalog/replica-bootstrap.ts), nor the new
      // ones of a join or drain (listed after the counted ones: ClusterShell.replicasOf).
      const counted = countedReplicas(n, table.bootstrap, shard)
      pr = new PointRead({ tableId: table.id, pks, replicas: this.d.replicas(shard, counted).slice(0, counted), r, alive: id => this.d.alive(id), nowMs: now(), timeoutMs, nextReqId: () => ++this.seq })
    } catch (e) {
      return Promise.reject(e)
    }
    return this.track(new Promise<(Uint8Array | null)[]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const handle = (effects: PointReadEffect[]): void => {
        for (const e of effects) {
          switch (e.type) {
            case 'read': {
              const { to, indexes } = e
              this.call(to, 'REPLICA_READ', { shard, tableId: table.id, pks: indexes.map(i => pks[i]!) }, timeoutMs).then(reply => {
                // A throw here would be an unhandled rejection (the process's end): it fails the read instead.
                try {
                  handle(this.observeVersions(reply.versions, to) ? pr.onFail(to, indexes, now()) : pr.onReply(to, indexes, reply.versions, now()))
                } catch (e) {
                  if (timer !== undefined) clearTimeout(timer)
                  reject(e)
                }
              }, (err: unknown) => {
                this.d.log.debug({ shard, replica: to, err: isScratchBirdError(err) ? err.toJSON() : String(err) }, `replica read from node ${to} failed (shard ${shard})`)
                handle(pr.onFail(to, indexes, now()))
              })
              break
            }
            case 'answered': resolve(e.rows); break
            case 'failed':
              this.d.metrics.quorumReadFailures.inc({ shard_id: shardLabel(shard) })
              this.d.log.warn({ shard, r, err: e.error.toJSON() }, `Quorum read failed: Shard ${String(shard).padStart(3, '0')}, R=${r}: ${e.error.message}`)
              reject(e.error)
              break
            case 'repair': this.repair(shard, e.to, e.write); break
          }
        }
        if (pr.finished && timer !== undefined) clearTimeout(timer)
      }
      handle(pr.start(now()))
      if (!pr.finished) timer = setTimeout(() => handle(pr.tick(now())), Math.max(0, pr.deadlineMs - now()) + 1)
    }))
  }

  /**
   * A page of `table`'s keys on `shard` from each replica counted toward R and W (QuorumIo.scanReplicas):
   * all are asked at once, each within read_timeout_ms; the pages of those that answered, or
   * SB_QUORUM_NOT_ACHIEVED when fewer than N − W + 1 did (a page from fewer could miss the only
   * copies of an acknowledged write or of the tombstone that deleted a key).
   */
  async scanReplicas (table: TableInfo, shard: ShardId, after: Tuple | null, limit: number): Promise<VersionScanRow[][]> {
    const { replication_factor: n, write_quorum: w } = table.replication
    const counted = countedReplicas(n, table.bootstrap, shard)
    const replicas = this.d.replicas(shard, counted).slice(0, counted)
    const need = Math.max(1, n - w + 1)
    const timeoutMs = this.d.config.replication.read_timeout_ms
    const asked = await Promise.allSettled(replicas.map(async to => {
      const reply = await this.track(this.call(to, 'REPLICA_VERSION_SCAN', { shard, tableId: table.id, after, limit }, timeoutMs))
      if (this.observeVersions(reply.rows, to)) throw new ScratchBirdError('SB_CLOCK_OFFSET_EXCEEDED', `node ${to}'s versions are too far ahead of this node's clock`, { node: to })
      return reply.rows
    }))
    const pages: VersionScanRow[][] = []
    const failed: string[] = []
    asked.forEach((a, i) => {
      if (a.status === 'fulfilled') pages.push(a.value)
      else failed.push(`node ${replicas[i]}: ${messageOf(a.reason)}`)
    })
    if (pages.length < need) {
      throw new ScratchBirdError('SB_QUORUM_NOT_ACHIEVED', `a scan of every replica of table "${table.name}" on shard ${shard} got ${pages.length} answers, ${need} needed (N=${n}, W=${w}): ${failed.join('; ')}`,
        { table: table.name, shard, answered: pages.length, needed: need })
    }
    return pages
  }

  /** Every version a peer sends updates this node's HLC; true when one is too far ahead (reply refused). */
  private observeVersions (versions: ReadonlyArray<Pick<VersionedRow, 'versionId'> | null>, from: NodeId): boolean {
    if (from === this.d.selfId) return false
    const refused = observeRemoteHlc(this.d.hlc, versions.map(v => v?.versionId))
    if (refused === null) return false
    this.d.metrics.hlcRemoteRejections.inc({ node_id: nodeIdLabel(this.d.selfId) })
    this.d.log.warn({ peer: from, err: refused.toJSON() }, `read reply from node ${from} refused: ${refused.message}`)
    return true
  }

  private repair (shard: ShardId, to: NodeId, write: ReplicaWrite): void {
    this.d.metrics.readRepairs.inc({ shard_id: shardLabel(shard) })
    this.d.log.debug({ shard, replica: to }, `read repair: writing the newest version to node ${to} (shard ${shard})`)
    let commitHlc: HlcTs
    try {
      commitHlc = nextHlcTs(this.d.hlc)
    } catch (e) {
      // Best effort: a read repair that cannot take a timestamp (the HLC's persisted lease cannot be
      // renewed on a full disk: SB_DISK_FULL) is skipped, never thrown into the read's callbacks —
      // where it ended the process (chaos seed 5048, disk-full nemesis).
      this.d.log.warn({ shard, replica: to, err: describe(e) }, `read repair of node ${to} (shard ${shard}) skipped: ${e instanceof Error ? e.message : String(e)}; a later quorum read or an anti-entropy round repairs it`)
      return
    }
    const req = { shard, writes: [write], commitHlc }
    void this.track(this.call(to, 'REPLICA_APPLY', req, this.d.config.replication.write_timeout_ms)).catch((e: unknown) => {
      this.d.log.warn({ shard, replica: to, err: describe(e) }, `read repair of node ${to} (shard ${shard}) failed; that replica stays behind until a later quorum read of the key or an anti-entropy round repairs it`)
    })
  }

  // ---- hints ------------------------------------------------------------------------------------

  hintStats (): HintTargetRow[] {
    return [...this.d.hints.stats()].sort((a, b) => a[0] - b[0]).map(([target, s]) => ({ target, count: s.count, bytes: s.bytes }))
  }

  /** `DELIVER HINTS TO NODE n`: one delivery round now (rate-limited as always); the rest follows every second. */
  async deliverNow (target: NodeId): Promise<DeliverHintsResult> {
    if (!this.d.isMember(target) || target === this.d.selfId) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', target === this.d.selfId ? `node ${target} is this node: it keeps no hints for itself` : `node ${target} is not a member of this cluster`, { node: target })
    }
    const pending = this.d.hints.stats().get(target)?.count ?? 0
    const alive = this.d.alive(target)
    const forced = this.delivery.force(target, alive, pending)
    if (forced === 'not-alive') {
      throw new ScratchBirdError('SB_NODE_UNREACHABLE', `node ${target} is not alive: its ${pending} hint(s) stay stored and are delivered when it is back`, { node: target, hints: pending })
    }
    if (forced === 'no-hints') return { target, delivered: 0, remaining: 0 }
    const delivered = await this.deliveryTick(target)
    return { target, delivered, remaining: this.d.hints.stats().get(target)?.count ?? 0 }
  }

  /** One delivery tick (HintDeliveryRunner); resolves with how many hints reached `target`. */
  private deliveryTick (target?: NodeId): Promise<number> {
    // Read at use: a SIGHUP reload changes them live (config/reload.ts).
    const r = this.d.config.replication
    this.delivery.retune({ intervalMs: r.hint_delivery_interval_ms, ratePerSecond: r.hint_delivery_rate, expirationDays: r.hint_expiration_days })
    return this.track(this.runner.tick(target))
  }

  private onHintEvent (e: HintRunnerEvent): void {
    const err = (x: unknown): unknown => isScratchBirdError(x) ? x.toJSON() : String(x)
    switch (e.type) {
      case 'expired':
        this.d.log.warn({ expired: e.count }, `${e.count} hint(s) expired (older than replication.hint_expiration_days); the writes they carried stay missing on their target replicas until a quorum read of each key or an anti-entropy round repairs them`)
        break
      case 'expire-failed':
        this.d.log.error({ err: err(e.error) }, `hint expiry failed: ${(e.error as Error).message}`)
        break
      case 'read-failed':
        if (e.dropped !== undefined) this.d.log.error({ target: e.target, dropped: e.dropped, err: err(e.error) }, `dropped ${e.dropped} corrupt hint(s) for node ${e.target}`)
        else this.d.log.error({ target: e.target, err: err(e.error) }, `reading hints for node ${e.target} failed`)
        break
      case 'delivered':
        this.d.metrics.hintsDelivered.inc({ target_node: nodeLabel(e.target) }, e.count)
        if (e.count > 0) this.d.log.info({ target: e.target, hints: e.count }, `Delivered ${e.count} hint(s) to Node ${e.target}`)
        break
      case 'delivery-failed':
        this.d.log.warn({ target: e.target, err: err(e.error) }, `Hint delivery to Node ${e.target} failed: ${(e.error as Error).message}; retrying in ${e.retryInMs} ms`)
        break
    }
  }

  /** Gauges of the hint log per configured target (0 for targets without hints). */
  refreshGauges (targets: readonly NodeId[]): void {
    const stats = this.d.hints.stats()
    for (const t of new Set([...targets, ...stats.keys()])) {
      const s = stats.get(t)
      this.d.metrics.hintCount.set({ target_node: nodeLabel(t) }, s?.count ?? 0)
      this.d.metrics.hintLogSizeBytes.set({ target_node: nodeLabel(t) }, s?.bytes ?? 0)
    }
  }
}
