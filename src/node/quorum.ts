import type { Logger } from 'pino'
import type { TableInfo } from '../catalog/catalog'
import { HintDelivery, DELIVERY_TICK_MS, type HintDeliveryAction } from '../cluster/hints/delivery'
import { observeRemoteHlc } from '../cluster/hlc-observe'
import type { HintStore, StoredHint } from '../cluster/hints/store'
import { QuorumRead, type ReadOutput } from '../cluster/quorum/read'
import { QuorumWrite, type WriteOutput } from '../cluster/quorum/write'
import { systemClock } from '../core/clock'
import type { Config } from '../core/config/load'
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { Hlc } from '../core/hlc'
import type { NodeMetrics } from '../ops/metrics'
import type { ReplicaWrite, VersionedRow } from '../storage/engine'
import { decodeTuple, encodeTuple, type Tuple } from '../storage/keys'
import type { Xid } from '../storage/types'
import type { QuorumBatch } from '../exec/env'
import { RPC_MAX_BODY_BYTES } from '../net/rpc/wire'
import { nextHlcTs } from './hlc-ts'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import type { ShardRequester } from './shard-router'

// The leaderless quorum I/O shell (DESIGN §6 "Mode 3"; issue 6): drives the sans-I/O QuorumWrite /
// QuorumRead machines (src/cluster/quorum) with shard requests — REPLICA_APPLY / REPLICA_READ to
// this node's own workers when it holds a replica, over cluster RPC (SHARD_QUERY) otherwise — and a
// timer at each deadline; keeps the hints the write machines ask for in the HintStore and delivers
// them with the HintDelivery scheduler (src/cluster/hints), ticked every DELIVERY_TICK_MS.
//
// Units of work:
//  - A statement's writes are grouped by shard; each shard batch is one QuorumWrite (one
//    REPLICA_APPLY per replica carrying the whole batch, W acks of that request = W acks of every
//    row in it). All rows of a statement share one XID; each row has its own version id. A
//    statement touching several shards succeeds when every batch reached W; it is not atomic
//    across shards (a failed batch has an unknown outcome, as in Cassandra; the others stand).
//    A transaction's buffered writes are shipped the same way at COMMIT (writeBatches), one XID
//    for the whole transaction.
//  - A point read is one QuorumRead per key; the keys of one shard share one REPLICA_READ per
//    replica. Read repair (the machine's 'repair' outputs) is sent after the client's answer and
//    never awaited.
//  - Hints: one per (replica that did not ack, row). Delivery groups a batch by (shard, xid) into
//    REPLICA_APPLY requests; applying is idempotent (same version = ack), so a batch that fails
//    halfway is simply delivered again.
//
// A replica receiving REPLICA_APPLY from a peer first runs hlc.update on every version (cluster.ts
// onShardQuery); a version further ahead than max_clock_offset_ms fails the request with
// SB_CLOCK_OFFSET_EXCEEDED, which the coordinator sees as that replica failing (a hint is kept and
// delivered again later, when the clocks agree or an operator intervenes).

/** Node-side bound on rows of one quorum point read per shard (REPLICA_READ reads at most 10 000). */
const MAX_READ_KEYS = 1000

export interface QuorumDeps {
  readonly config: Config
  readonly selfId: number
  readonly hlc: Hlc
  /** The replication log stream. */
  readonly log: Logger
  readonly metrics: NodeMetrics
  /** This node's shard workers. */
  readonly local: ShardRequester
  /** Sends an encoded shard request to node `nodeId` (cluster RPC); resolves with the encoded reply. */
  readonly forward: (nodeId: number, op: ShardOpName, shard: number, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
  /** The first n nodes of the shard's preference list. */
  readonly replicas: (shard: number, n: number) => number[]
  /** Gossip liveness. */
  readonly alive: (nodeId: number) => boolean
  /** Is `nodeId` a configured member? */
  readonly isMember: (nodeId: number) => boolean
  /** A fresh node-wide XID (one per autocommit statement or transaction COMMIT). */
  readonly xid: () => Xid
  readonly hints: HintStore
}

export interface HintTargetRow { target: number, count: number, bytes: number }

export interface DeliverHintsResult { target: number, delivered: number, remaining: number }

export class QuorumShell {
  private seq = 0
  private readonly delivery: HintDelivery
  private timer: NodeJS.Timeout | null = null
  private readonly inFlight = new Set<Promise<unknown>>()
  private stopped = false

  constructor (private readonly d: QuorumDeps) {
    const r = d.config.replication
    this.delivery = new HintDelivery({ intervalMs: r.hint_delivery_interval_ms, ratePerSecond: r.hint_delivery_rate, expirationDays: r.hint_expiration_days })
  }

  start (): void {
    // A tick still running (a batch waits up to write_timeout_ms) makes the next ones skip.
    this.timer = setInterval(() => { if (this.ticking === null) void this.deliveryTick() }, DELIVERY_TICK_MS)
    this.timer.unref()
  }

  /** Stops delivery and waits for what is in flight (hint writes included); the node closes the store after. */
  async stop (): Promise<void> {
    this.stopped = true
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

  private async call<K extends 'REPLICA_APPLY' | 'REPLICA_READ'> (to: number, op: K, req: ShardRequests[K], timeoutMs: number): Promise<ShardReplies[K]> {
    if (to === this.d.selfId) return await this.d.local.request(op, req)
    const codec = codecOf(op)
    return codec.decodeReply(await this.d.forward(to, op, req.shard, codec.encodeRequest(req), timeoutMs))
  }

  // ---- writes -----------------------------------------------------------------------------------

  /**
   * Quorum-writes one autocommit statement's versions of a leaderless table (one XID for all).
   * Resolves when every shard batch reached W; rejects with SB_QUORUM_NOT_ACHIEVED otherwise.
   */
  async write (table: TableInfo, writes: ReadonlyMap<number, ReplicaWrite[]>): Promise<void> {
    const { replication_factor: n, write_quorum: w } = table.replication
    await this.writeBatches([...writes].map(([shard, batch]) => ({ shard, replicationFactor: n, writeQuorum: w, writes: batch })))
  }

  /**
   * Quorum-writes batches under one XID and commit HLC: an autocommit statement's shard batches, or
   * a transaction's buffered writes at COMMIT (src/exec/quorum-txn.ts). Each batch is one
   * QuorumWrite (one REPLICA_APPLY per replica); resolves when every batch reached its W, rejects
   * with the first batch's SB_QUORUM_NOT_ACHIEVED otherwise (the other batches stand).
   */
  async writeBatches (batches: readonly QuorumBatch[]): Promise<void> {
    const nonEmpty = batches.filter(b => b.writes.length > 0)
    if (nonEmpty.length === 0) return
    const xid = this.d.xid()
    const commitHlc = nextHlcTs(this.d.hlc)
    const results = await Promise.allSettled(nonEmpty.map(b => this.writeShard(b.replicationFactor, b.writeQuorum, b.shard, b.writes, xid, commitHlc)))
    const failed = results.find(r => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }

  /** The largest shard batch one REPLICA_APPLY may carry: a worker ring message, and a cluster RPC body (base64). */
  get maxBatchBytes (): number {
    return Math.min(this.d.config.storage.max_message_bytes, Math.floor(RPC_MAX_BODY_BYTES * 0.7)) - 4096
  }

  private writeShard (n: number, w: number, shard: number, batch: ReplicaWrite[], xid: Xid, commitHlc: bigint): Promise<void> {
    const timeoutMs = this.d.config.replication.write_timeout_ms
    const replicas = this.d.replicas(shard, n)
    const now = (): number => systemClock.monotonic()
    const m = new QuorumWrite({
      reqId: ++this.seq,
      key: new Uint8Array(0), // the batch is the unit: key and version only label the machine's outputs
      version: { versionId: batch[0]!.versionId, row: null },
      replicas,
      w,
      alive: id => this.d.alive(id),
      deadlineMs: now() + timeoutMs
    })
    const failedReplicas = new Map<number, string>()
    const sent = new Set<number>()
    return this.track(new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const handle = (outs: WriteOutput[]): void => {
        const hinted: number[] = []
        for (const o of outs) {
          switch (o.type) {
            case 'send':
              sent.add(o.to)
              this.call(o.to, 'REPLICA_APPLY', { shard, writes: batch, commitHlc, xid }, timeoutMs).then(
                () => handle(m.onAck(o.to, now())),
                (e: unknown) => {
                  failedReplicas.set(o.to, isScratchBirdError(e) ? e.code : String(e))
                  this.d.log.debug({ shard, replica: o.to, err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `replica write to node ${o.to} failed (shard ${shard})`)
                  handle(m.onFail(o.to, now()))
                })
              break
            case 'hint': hinted.push(o.to); break
            case 'succeeded': resolve(); break
            case 'failed':
              this.logWriteFailure(shard, w, replicas, m.acked, sent, failedReplicas, o.error)
              reject(o.error)
              break
          }
        }
        if (hinted.length > 0) void this.storeHints(hinted, shard, batch, xid)
        if (m.finished && timer !== undefined) clearTimeout(timer)
      }
      handle(m.start(now()))
      if (!m.finished) timer = setTimeout(() => handle(m.tick(now())), Math.max(0, m.deadlineMs - now()) + 1)
    }))
  }

  // The seed's line: "[ERROR] Quorum write failed: Shard 001, W=3, ACKs=2 (Node 3 offline)".
  private logWriteFailure (shard: number, w: number, replicas: readonly number[], acked: readonly number[], sent: ReadonlySet<number>, failed: ReadonlyMap<number, string>, error: ScratchBirdError): void {
    this.d.metrics.quorumWriteFailures.inc({ shard_id: String(shard) })
    // Replicas that did not acknowledge: down by gossip (nothing sent), failed, or silent.
    const missing = replicas.filter(id => !acked.includes(id) && (sent.has(id) || !this.d.alive(id))).map(id => {
      if (!sent.has(id)) return `Node ${id} offline`
      const why = failed.get(id)
      return why === undefined ? `Node ${id} no answer` : `Node ${id} failed: ${why}`
    })
    this.d.log.error({ shard, w, acks: acked.length, replicas, err: error.toJSON() },
      `Quorum write failed: Shard ${String(shard).padStart(3, '0')}, W=${w}, ACKs=${acked.length}${missing.length > 0 ? ` (${missing.join(', ')})` : ''}`)
  }

  private async storeHints (targets: readonly number[], shard: number, batch: readonly ReplicaWrite[], xid: Xid): Promise<void> {
    const createdAtMs = Math.floor(systemClock.now())
    for (const target of targets) {
      const hints = batch.map(w => ({ target, shard, tableId: w.tableId, key: w.pkBytes ?? encodeTuple(w.pk), xid, versionId: w.versionId, row: w.row, createdAtMs }))
      try {
        await this.track(this.d.hints.add(hints))
        this.d.log.debug({ target, shard, hints: hints.length }, `stored ${hints.length} hint(s) for node ${target} (shard ${shard})`)
      } catch (e) {
        // Hints never count toward W: a lost hint leaves the replica to read repair / anti-entropy.
        this.d.log.warn({ target, shard, err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `hint for node ${target} not stored: ${(e as Error).message}`)
      }
    }
  }

  // ---- reads ------------------------------------------------------------------------------------

  /**
   * Quorum point read of `pks` on one shard: per key, the row of the highest version among the
   * first R answers (null: no replica had it, or the winner is a tombstone). Stale replicas are
   * repaired in the background.
   */
  read (table: TableInfo, shard: number, pks: readonly Tuple[]): Promise<(Uint8Array | null)[]> {
    if (pks.length === 0) return Promise.resolve([])
    if (pks.length > MAX_READ_KEYS) return Promise.reject(new ScratchBirdError('SB_BAD_ARGUMENT', `a quorum read reads at most ${MAX_READ_KEYS} keys of one shard`, { keys: pks.length }))
    const { replication_factor: n, read_quorum: r } = table.replication
    const timeoutMs = this.d.config.replication.read_timeout_ms
    const replicas = this.d.replicas(shard, n)
    const now = (): number => systemClock.monotonic()
    const deadlineMs = now() + timeoutMs
    const machines = pks.map(pk => new QuorumRead({ reqId: ++this.seq, key: encodeTuple(pk), replicas, r, alive: id => this.d.alive(id), deadlineMs }))
    return this.track(new Promise<(Uint8Array | null)[]>((resolve, reject) => {
      const answers: (Uint8Array | null | undefined)[] = pks.map(() => undefined)
      let open = machines.length
      let settled = false
      let timer: NodeJS.Timeout | undefined
      const handle = (i: number, outs: ReadOutput[]): void => {
        for (const o of outs) {
          switch (o.type) {
            case 'send': break // sent once per replica for all keys below
            case 'succeeded':
              answers[i] = o.row
              if (--open === 0 && !settled) { settled = true; resolve(answers as (Uint8Array | null)[]) }
              break
            case 'failed':
              if (!settled) {
                settled = true
                this.d.metrics.quorumReadFailures.inc({ shard_id: String(shard) })
                this.d.log.warn({ shard, r, err: o.error.toJSON() }, `Quorum read failed: Shard ${String(shard).padStart(3, '0')}, R=${r}: ${o.error.message}`)
                reject(o.error)
              }
              break
            case 'repair': this.repair(table, shard, pks[i]!, o.to, o.msg.version); break
          }
        }
        if (machines.every(m => m.finished) && timer !== undefined) clearTimeout(timer)
      }
      const starts = machines.map((m, i) => { const outs = m.start(now()); return { i, outs } })
      const targets = starts[0]!.outs.filter(o => o.type === 'send').map(o => (o as { to: number }).to)
      for (const { i, outs } of starts) handle(i, outs)
      for (const to of targets) {
        this.call(to, 'REPLICA_READ', { shard, tableId: table.id, pks: [...pks] }, timeoutMs).then(reply => {
          const bad = this.observeVersions(reply.versions, to)
          machines.forEach((m, i) => handle(i, bad ? m.onFail(to, now()) : m.onReply(to, asVersion(reply.versions[i]), now())))
        }, (e: unknown) => {
          this.d.log.debug({ shard, replica: to, err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `replica read from node ${to} failed (shard ${shard})`)
          machines.forEach((m, i) => handle(i, m.onFail(to, now())))
        })
      }
      if (!machines.every(m => m.finished)) timer = setTimeout(() => machines.forEach((m, i) => handle(i, m.tick(now()))), Math.max(0, deadlineMs - now()) + 1)
    }))
  }

  /** Every version a peer sends updates this node's HLC; true when one is too far ahead (reply refused). */
  private observeVersions (versions: readonly (VersionedRow | null)[], from: number): boolean {
    if (from === this.d.selfId) return false
    const refused = observeRemoteHlc(this.d.hlc, versions.map(v => v?.versionId))
    if (refused === null) return false
    this.d.metrics.hlcRemoteRejections.inc({ node_id: String(this.d.selfId) })
    this.d.log.warn({ peer: from, err: refused.toJSON() }, `read reply from node ${from} refused: ${refused.message}`)
    return true
  }

  private repair (table: TableInfo, shard: number, pk: Tuple, to: number, version: { versionId: Uint8Array, row: Uint8Array | null }): void {
    this.d.metrics.readRepairs.inc({ shard_id: String(shard) })
    this.d.log.debug({ shard, replica: to }, `read repair: writing the newest version to node ${to} (shard ${shard})`)
    const req = { shard, writes: [{ tableId: table.id, pk, versionId: version.versionId, row: version.row }], commitHlc: nextHlcTs(this.d.hlc) }
    void this.track(this.call(to, 'REPLICA_APPLY', req, this.d.config.replication.write_timeout_ms)).catch((e: unknown) => {
      this.d.log.warn({ shard, replica: to, err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `read repair of node ${to} (shard ${shard}) failed; anti-entropy will repair it`)
    })
  }

  // ---- hints ------------------------------------------------------------------------------------

  hintStats (): HintTargetRow[] {
    return [...this.d.hints.stats()].sort((a, b) => a[0] - b[0]).map(([target, s]) => ({ target, count: s.count, bytes: s.bytes }))
  }

  /** `DELIVER HINTS TO NODE n`: one delivery round now (rate-limited as always); the rest follows every second. */
  async deliverNow (target: number): Promise<DeliverHintsResult> {
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

  private ticking: Promise<number> | null = null

  /** One scheduler tick; resolves when its batches are done with how many hints reached `target`. */
  private async deliveryTick (target?: number): Promise<number> {
    // One tick at a time: the scheduler must see the store after the previous tick's removals.
    while (this.ticking !== null) await this.ticking.catch(() => 0)
    if (this.stopped) return 0
    const run = (async () => {
      const actions = this.delivery.tick(systemClock.monotonic(), id => this.d.alive(id), this.d.hints.stats())
      const counts = await Promise.all(actions.map(a => this.act(a)))
      return actions.reduce((n, a, i) => a.type === 'deliver' && a.target === target ? n + counts[i]! : n, 0)
    })()
    this.ticking = run
    try { return await this.track(run) } finally { this.ticking = null }
  }

  private async act (a: HintDeliveryAction): Promise<number> {
    if (a.type === 'expire') {
      try {
        const n = await this.d.hints.expire(systemClock.now(), a.maxAgeMs)
        if (n > 0) this.d.log.warn({ expired: n }, `${n} hint(s) expired (older than replication.hint_expiration_days); anti-entropy repairs what they carried`)
      } catch (e) {
        this.d.log.error({ err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `hint expiry failed: ${(e as Error).message}`)
      }
      return 0
    }
    const { target, batch } = a
    let hints: StoredHint[]
    try {
      hints = await this.d.hints.list(target, a.maxHints, { maxBytes: a.maxBytes })
    } catch (e) {
      if (isScratchBirdError(e, 'SB_STORAGE_CORRUPT')) {
        const dropped = await this.d.hints.dropCorrupt(target).catch(() => 0)
        this.d.log.error({ target, dropped, err: e.toJSON() }, `dropped ${dropped} corrupt hint(s) for node ${target}`)
      } else {
        this.d.log.error({ target, err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `reading hints for node ${target} failed`)
      }
      this.delivery.onFailed(target, batch, systemClock.monotonic())
      return 0
    }
    try {
      // One REPLICA_APPLY per (shard, xid): the replica records each coordinator xid committed.
      const groups = new Map<string, StoredHint[]>()
      for (const h of hints) {
        const k = `${h.shard}/${h.xid}`
        const g = groups.get(k)
        if (g === undefined) groups.set(k, [h])
        else g.push(h)
      }
      const timeoutMs = this.d.config.replication.write_timeout_ms
      await Promise.all([...groups.values()].map(g => this.call(target, 'REPLICA_APPLY', {
        shard: g[0]!.shard,
        xid: g[0]!.xid,
        commitHlc: nextHlcTs(this.d.hlc),
        writes: g.map(h => ({ tableId: h.tableId, pk: decodeTuple(h.key), pkBytes: h.key, versionId: h.versionId, row: h.row }))
      }, timeoutMs)))
      await this.d.hints.remove(hints.map(h => h.id))
      this.d.metrics.hintsDelivered.inc({ target_node: String(target) }, hints.length)
      this.delivery.onDelivered(target, batch, hints.length)
      if (hints.length > 0) this.d.log.info({ target, hints: hints.length }, `Delivered ${hints.length} hint(s) to Node ${target}`)
      return hints.length
    } catch (e) {
      this.delivery.onFailed(target, batch, systemClock.monotonic())
      this.d.log.warn({ target, err: isScratchBirdError(e) ? e.toJSON() : String(e) }, `Hint delivery to Node ${target} failed: ${(e as Error).message}; retrying in ${this.delivery.intervalMs} ms`)
      return 0
    }
  }

  /** Gauges of the hint log per configured target (0 for targets without hints). */
  refreshGauges (targets: readonly number[]): void {
    const stats = this.d.hints.stats()
    for (const t of new Set([...targets, ...stats.keys()])) {
      const s = stats.get(t)
      this.d.metrics.hintCount.set({ target_node: String(t) }, s?.count ?? 0)
      this.d.metrics.hintLogSizeBytes.set({ target_node: String(t) }, s?.bytes ?? 0)
    }
  }
}

function asVersion (v: VersionedRow | null | undefined): { versionId: Uint8Array, row: Uint8Array | null } | null {
  return v === null || v === undefined ? null : { versionId: v.versionId, row: v.row }
}
