import type { Logger } from 'pino'
import type { ReplicaReadView } from '../../exec/env'
import { replicaReadFacts, replicaReadRefusal } from './replica-read'
import type { Clock } from '../../core/clock'
import { isScratchBirdError, messageOf, ScratchBirdError } from '../../core/errors'
import { asShardId, type NodeId, type ShardId } from '../../core/ids'
import type { Rng } from '../../core/rng'
import { replEnvelopeCodec } from '../../cluster/replication/codec'
import { countCodecRefusal, type NodeMetrics } from '../../ops/metrics'
import type { ReplicaLag } from '../../cluster/replication/lag'
import type { ReplMessage, SyncReplicas } from '../../cluster/replication/types'
import { MAX_REPL_BATCH, type ReplBatch, type SnapshotChunkRequest } from '../../net/rpc/payloads'
import type { RpcMethods } from '../../net/rpc/server'
import type { RpcClient } from '../../net/rpc/client'
import type { ShardRequester } from '../shard-router'
import { ShardGroup } from './shard-group'
import { SnapshotStreams } from './snapshot-stream'
import { replicaStates } from '../../cluster/replication/replica-state'
import { isContact, preVoteFromDisk, startsOnContact } from '../../cluster/replication/rules'
import { TokenBucket } from '../../cluster/membership/rebalance-throttle'
import { groupAction, keptOnContact, keptWhileVoter, leavingPrimaryHandsOver, singleCopyHandsOver } from '../../cluster/membership/moves'
import { moveProgressText } from '../../cluster/membership/move-progress'
import type { ShardCountSource } from '../../cluster/shard-count'

// Mode 1 replication in the node (issue 14): one ShardGroup per shard this node holds a copy of
// while some primary_replica table needs more than one copy (N = the largest replication_factor
// of the primary_replica tables, capped at the members; voters = the first N of the shard's
// preference list — every primary_replica table on the shard then has N copies, the shard having
// one log). With no such table nothing runs here and the single-copy path is untouched.
//
// Transport: messages to a peer are batched per event-loop turn into one REPL_MESSAGE RPC
// (opcode 0x40), each a replEnvelopeCodec frame; at most MAX_OUTBOX frames wait per peer (more
// are dropped: the machine resends) and MAX_INFLIGHT calls run per peer. Received frames are
// decoded one by one (a bad frame is logged and dropped alone) and must come from the peer that
// sent the call. Bootstrap snapshots travel apart, one chunk per REPL_SNAPSHOT_CHUNK call (opcode
// 0x41; snapshot-stream.ts), so a large chunk never waits behind, or delays, the heartbeats.
// REPL_MESSAGE calls go through a client of their own (messageRpc: its own connections), sent
// idempotent (pipelined; a resend is harmless — the machine takes duplicates, as Raft does): on
// the node's shared client one shared a POST, and its reply, with whatever else left for that
// peer in the same turn — a client's statement forwarded to a primary, answered only once its
// commit is replicated, or a snapshot chunk — and waited for a connection behind them, so the
// appends and acknowledgements that commit waited for queued behind it (issue 14's profile).

/** Frames waiting for one peer before new ones are dropped. */
const MAX_OUTBOX = 4 * MAX_REPL_BATCH
/** REPL_MESSAGE calls in flight to one peer. */
const MAX_INFLIGHT = 4
const CALL_TIMEOUT_MS = 5_000
/** A chunk's install on the replica is one fsynced batch of up to storage.max_message_bytes / 2. */
const CHUNK_TIMEOUT_MS = 30_000

export interface ReplicationShellDeps {
  readonly self: NodeId
  /** Read at each sync: a split's new shards get groups from its switch on (cluster/shard-count.ts). */
  readonly shardCount: ShardCountSource
  readonly syncReplicas: SyncReplicas
  readonly electionTimeoutMs: number
  readonly heartbeatMs: number
  /** replication.log_retention_bytes: the log each primary keeps for lagging replicas. */
  readonly maxRetainedBytes: number
  /** replication.lag_warning_ms. */
  readonly lagWarningMs: number
  /** storage.max_message_bytes: bounds a bootstrap chunk. */
  readonly maxMessageBytes: number
  /** cluster.rebalance_rate_bytes_per_s (0: unlimited; default 0). */
  readonly rebalanceRateBytesPerS?: number
  /** cluster.rebalance_max_concurrent_shards (default snapshot-stream.ts MAX_STREAMS). */
  readonly rebalanceMaxConcurrentShards?: number
  /** cluster.rebalance_max_busy_share (default 1: streams are not paced). */
  readonly rebalanceMaxBusyShare?: number
  /** The shard's replicas needed now (first N of its preference list; empty: no group). */
  readonly replicasOf: (shard: ShardId) => NodeId[]
  /** The catalog's leaderless_quorum table ids: a snapshot leaves their rows out, an install and a truncation keep them (storage/kept-tables.ts). */
  readonly leaderlessTables?: () => readonly number[]
  /** A single copy moving (cluster.ts singleCopyMove): its old and new owner; null or absent: none. */
  readonly singleCopyMove?: (shard: ShardId) => { before: NodeId, target: NodeId } | null
  /** Of a group's voters, those removed from the cluster for good (cluster/membership/forced-removal.ts goneVoters); default none. */
  readonly goneVoters?: (voters: readonly NodeId[]) => NodeId[]
  /** The live members a campaign must also hear from while a voter is forced out (forced-removal.ts forcedWitnesses); default none. */
  readonly forcedWitnesses?: () => NodeId[]
  readonly addressOf: (node: NodeId) => string
  readonly workers: ShardRequester
  /** Snapshot chunks (REPL_SNAPSHOT_CHUNK). */
  readonly rpc: RpcClient
  /** REPL_MESSAGE calls: a client used for nothing else (see the transport note above); default rpc. */
  readonly messageRpc?: RpcClient
  readonly clock: Clock
  readonly rng: Rng
  /** The replication.log stream. */
  readonly log: Logger
  /** This node became a shard's primary (its engine takes commits now): limbo recovery. */
  readonly onPrimary?: (shard: ShardId) => void
  /** Where peers' messages refused for a newer codec version are counted (absent: not counted). */
  readonly metrics?: Pick<NodeMetrics, 'codecVersionRefused'>
}

interface Outbox { frames: Uint8Array[], inflight: number, scheduled: boolean }

/**
 * Election timeouts a group started on contact is kept after the last contact: a candidate asks
 * again within two (each timeout is drawn in [t, 2t)), a primary sends heartbeats far more often.
 */
const CONTACT_KEEP_TIMEOUTS = 2

/** How often awaitPrimaries looks again. */
const AWAIT_PRIMARIES_POLL_MS = 25

export class ReplicationShell {
  private readonly groups = new Map<ShardId, ShardGroup>()
  private readonly outboxes = new Map<NodeId, Outbox>()
  private timer: NodeJS.Timeout | null = null
  private dropped = 0
  private readonly streams: SnapshotStreams
  /** Shards whose group this node stopped because it left their replicas (ReplicatedWorkers refuses their client ops). */
  private readonly retiredShards = new Set<ShardId>()
  /** Of those, the primary the group knew when it stopped (another node): named in their refusals, so a client's request goes there. */
  private readonly retiredPrimaries = new Map<ShardId, NodeId>()
  /** Shards whose pre-vote is being answered from disk (answerWithoutGroup). */
  private readonly diskAnswers = new Set<ShardId>()
  /** Per shard without a running group: the voters its replication state recorded (votersOf). */
  private readonly diskVoters = new Map<ShardId, NodeId[]>()
  /**
   * Shards whose group started because a peer contacted this node (rules.ts startsOnContact):
   * when one last sent a vote request or an append (monotonic ms). The group is kept while that
   * is within CONTACT_KEEP_TIMEOUTS election timeouts (moves.ts keptOnContact).
   */
  private readonly contacted = new Map<ShardId, number>()
  /** Shards whose running group started that way (kept after the contact expired: moves.ts groupAction `onContact`). */
  private readonly startedOnContact = new Set<ShardId>()

  constructor (private readonly d: ReplicationShellDeps) {
    this.streams = new SnapshotStreams({
      self: d.self,
      workers: d.workers,
      maxMessageBytes: d.maxMessageBytes,
      sendChunk: async (to, chunk) => await d.rpc.call(d.addressOf(to), 'REPL_SNAPSHOT_CHUNK', chunk, { timeoutMs: CHUNK_TIMEOUT_MS }),
      log: (level, message, details) => { d.log[level](details ?? {}, message) },
      now: () => d.clock.monotonic(),
      maxStreams: d.rebalanceMaxConcurrentShards,
      throttle: new TokenBucket(d.rebalanceRateBytesPerS ?? 0, d.clock),
      sleep: async (ms) => await new Promise(resolve => setTimeout(resolve, ms)),
      busyShare: d.rebalanceMaxBusyShare,
      votersAt: (shard, lsn) => this.groups.get(shard)?.votersAt(lsn) ?? null,
      skipTables: d.leaderlessTables
    })
  }

  register (methods: RpcMethods): void {
    methods.register('REPL_MESSAGE', (p, ctx) => { this.onBatch(p, ctx.from); return null })
    methods.register('REPL_SNAPSHOT_CHUNK', async (p, ctx) => await this.onSnapshotChunk(p, ctx.from))
  }

  /** Starts groups for the shards that need one now, and the timer. */
  start (): void {
    // The voters each shard's replication state recorded (storage/repl-state.ts config), for the
    // shards whose group does not run here: whether this node must start one is decided on them
    // (membership/moves.ts groupReplicas). Until they are read, the layout's guess decides, which
    // at worst starts a group that then loads its real voters and retires.
    void this.readDiskVoters().then(() => { if (this.timer !== null) this.sync() })
    this.sync()
    this.timer = setInterval(() => {
      this.sync()
      for (const g of this.groups.values()) g.tick()
    }, Math.max(1, Math.floor(this.d.heartbeatMs / 2)))
    this.timer.unref()
  }

  /**
   * A graceful stop (SIGTERM; issue 20 item 4): every shard this node is primary of is handed
   * over to a caught-up replica (leadership transfer), so its writes pause for about one round
   * trip instead of an election timeout. Resolves once each of those shards has another primary,
   * or after `timeoutMs` with how many did not (their replicas elect one once this node is silent).
   */
  async handOver (timeoutMs: number): Promise<{ primaries: number, notHandedOver: number }> {
    const mine = [...this.groups.values()].filter(g => g.handOver())
    const deadline = this.d.clock.monotonic() + timeoutMs
    const pending = (): number => mine.filter(g => g.role === 'primary' || g.primary === 0 || g.primary === this.d.self).length
    while (pending() > 0 && this.d.clock.monotonic() < deadline) {
      await new Promise(resolve => setTimeout(resolve, AWAIT_PRIMARIES_POLL_MS))
    }
    const notHandedOver = pending()
    if (mine.length > 0) {
      this.d.log[notHandedOver === 0 ? 'info' : 'warn']({ primaries: mine.length, not_handed_over: notHandedOver },
        `Replication: handed ${mine.length - notHandedOver} of ${mine.length} primary role(s) over before stopping${notHandedOver > 0 ? ` (${notHandedOver} left to an election once this node is silent)` : ''}`)
    }
    return { primaries: mine.length, notHandedOver }
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    for (const g of this.groups.values()) g.stop()
  }

  /**
   * Resolves once every group on this node knows its shard's primary, or after `timeoutMs` with
   * the shards still without one. A CREATE or ALTER TABLE that starts groups (the first table with
   * replication_factor ≥ 2, or N raised) waits here, so its client's first writes find primaries
   * instead of SB_NOT_PRIMARY while the elections run (about election_timeout_ms).
   */
  async awaitPrimaries (timeoutMs: number): Promise<ShardId[]> {
    const deadline = this.d.clock.monotonic() + timeoutMs
    for (;;) {
      this.sync()
      const without = [...this.groups.values()].filter(g => g.primary === 0).map(g => g.shard)
      if (without.length === 0 || this.d.clock.monotonic() >= deadline || this.timer === null) return without
      await new Promise(resolve => setTimeout(resolve, AWAIT_PRIMARIES_POLL_MS))
    }
  }

  /** The group of `shard` on this node, if it is replicated and this node holds a copy. */
  group (shard: ShardId): ShardGroup | undefined { return this.groups.get(shard) }

  /**
   * The voters of `shard` this node knows: its running group's (latest config entry in its log),
   * else the ones its disk recorded — the replication state's config, or what the group had when
   * it retired (empty: none known; cluster.ts mode1Voters).
   */
  votersOf (shard: ShardId): NodeId[] {
    const g = this.groups.get(shard)
    return g?.running === true ? g.voters : [...this.diskVoters.get(shard) ?? []]
  }

  /** The voters in effect at the committed LSN, with the same fallback (cluster.ts mode1CommittedVoters). */
  committedVotersOf (shard: ShardId): NodeId[] {
    const g = this.groups.get(shard)
    return g?.running === true ? g.committedVoters : [...this.diskVoters.get(shard) ?? []]
  }

  private async readDiskVoters (): Promise<void> {
    for (let s = 0; s < this.d.shardCount.shards; s++) {
      const shard = asShardId(s)
      try {
        const st = await this.d.workers.request('REPL_STATE_GET', { shard })
        if (st.config !== null && st.config !== undefined && !this.diskVoters.has(shard)) this.diskVoters.set(shard, [...st.config.voters])
      } catch (e) {
        this.d.log.warn({ shard, err: messageOf(e) }, `Replication: shard ${shard}: its recorded voters could not be read (the layout decides whether a group starts here)`)
      }
    }
  }

  /** Did this node stop its group of `shard` because it is no longer one of its replicas (since this process started)? */
  retired (shard: ShardId): boolean { return this.retiredShards.has(shard) }

  /** The primary the group of a retired shard knew when it stopped (0: none known, or not retired). */
  retiredPrimary (shard: ShardId): NodeId | 0 { return this.retiredPrimaries.get(shard) ?? 0 }

  /** Is `shard` replicated by a group here (its requests go to the primary)? */
  replicated (shard: ShardId): boolean { return this.groups.has(shard) }

  /** SHOW REPLICATION LAG / scratchbird_replication_lag_ms: each replica's lag, for the shards this node is primary of. */
  lagRows (): Array<ReplicaLag & { shard: ShardId, generation: number }> {
    const out: Array<ReplicaLag & { shard: ShardId, generation: number }> = []
    for (const g of this.groups.values()) for (const r of g.lag()) out.push({ ...r, shard: g.shard, generation: g.generation })
    return out.sort((a, b) => a.shard - b.shard || a.replica - b.replica)
  }

  /**
   * Log retention (issue 14 item 5): per shard replicated here, the first LSN its group still
   * holds in its log — on a primary the next entry of its slowest in-sync replica, never further
   * back than replication.log_retention_bytes allows (the machine compacts past a replica beyond
   * that, which then gets a snapshot); 1 (keep everything) while the group is loading or its
   * replica bootstrapping. The sweep's front truncation keeps what any of these needs.
   */
  logNeeds (): Map<ShardId, bigint> {
    const out = new Map<ShardId, bigint>()
    for (const [shard, g] of this.groups) out.set(shard, g.logNeedsFrom())
    return out
  }

  /**
   * SHOW SHARD MAP of a shard replicated here: its primary as this node knows it (null: none
   * known), the generation, and each replica's state (replica-state.ts); undefined: no group.
   */
  shardState (shard: ShardId): { primary: NodeId | null, generation: number, replicaStates: string } | undefined {
    const g = this.groups.get(shard)
    if (g === undefined) return undefined
    const states = replicaStates(g.replicaList, g.view())
    return { primary: g.primary === 0 ? null : g.primary, generation: g.generation, replicaStates: states.map(r => `${r.node}:${r.state}`).join(',') }
  }

  /**
   * EXPLAIN under read_from = replica: who answers a replica read of `shard` from this node —
   * its own replica when it serves (at its applied LSN: the last entry its engine holds), else
   * the primary this node knows; undefined: no group here.
   */
  replicaReadView (shard: ShardId): ReplicaReadView | undefined {
    const g = this.groups.get(shard)
    if (g === undefined) return undefined
    if (replicaReadRefusal(replicaReadFacts(g)) === null) {
      return { node: this.d.self, self: true, appliedLsn: g.lastLsn, commitLsn: g.commitLsn, lag: g.role === 'primary' ? { lsns: 0n, ms: 0 } : null }
    }
    return { node: g.primary === 0 ? null : g.primary, self: false, appliedLsn: null, commitLsn: g.commitLsn, lag: null }
  }

  /**
   * SHOW SHARD MAP's progress of the bootstraps of `shard` this node streams now (keys and bytes
   * sent, rate, ETA; cluster/membership/move-progress.ts); null when none runs here.
   */
  bootstrapProgress (shard: ShardId): string | null {
    const running = this.streams.progress(shard)
    if (running.length === 0) return null
    const now = this.d.clock.monotonic()
    const expected = this.streams.expectedBytes()
    return running.map(p => moveProgressText({ to: p.to, keys: p.rows, bytes: p.bytes, elapsedMs: now - p.startedAt }, expected)).join('; ')
  }

  /** The shard's primary as this node's group knows it (0: none known, or no group here). */
  primaryOf (shard: ShardId): NodeId | 0 { return this.groups.get(shard)?.primary ?? 0 }

  /**
   * A catalog was installed: start the groups it calls for NOW, before any statement under it
   * reaches this node's workers. Left to the timer, a write in that gap would commit as a single
   * copy (engine role 'none') at generation 0; the group then elected among the other replicas
   * with their empty logs would truncate it — an acknowledged row lost.
   */
  catalogChanged (): void {
    if (this.timer !== null) this.sync()
  }

  /**
   * Starts a group for every shard that needs one and has none, gives running groups the replicas
   * the catalog now calls for (N raised or lowered), and stops the group of a shard this node is
   * no longer a replica of (its primary removes it from the voters; until a later raise, this
   * node's copy of the shard stays as it was and serves nothing of it).
   */
  private sync (): void {
    for (let s = 0; s < this.d.shardCount.shards; s++) {
      const shard = asShardId(s)
      const running = this.groups.get(shard)
      const contacted = keptOnContact(this.d.self, this.d.replicasOf(shard), this.contactedAgo(shard), CONTACT_KEEP_TIMEOUTS * this.d.electionTimeoutMs)
      const replicas = running === undefined ? contacted : keptWhileVoter(this.d.self, contacted, running.voters, running.followsPrimary())
      const action = groupAction(this.d.self, replicas, running !== undefined, this.startedOnContact.has(shard))
      if (action === 'update') {
        running!.setReplicas(replicas)
        // After the replicas: the primary the survivors elect then has the replacement as a peer.
        if (this.d.goneVoters !== undefined) running!.setGone(this.d.goneVoters(running!.voters), this.d.forcedWitnesses?.() ?? [])
        this.maybeHandOver(running!)
      } else if (action === 'retire' && leavingPrimaryHandsOver(this.d.self, running!.role === 'primary', running!.voters, replicas)) {
        // Kept until another voter leads (moves.ts leavingPrimaryHandsOver); the new list makes
        // the transfer go to one of its voters (a transfer already running is left alone).
        running!.setReplicas(replicas)
        running!.handOver()
      } else if (action === 'retire') {
        // What its log said last stays this node's view of the shard's voters (votersOf).
        if (running!.running) this.diskVoters.set(shard, running!.voters)
        const primary = running!.primary
        if (primary !== 0 && primary !== this.d.self) this.retiredPrimaries.set(shard, primary)
        running!.stop()
        this.groups.delete(shard)
        this.contacted.delete(shard)
        this.startedOnContact.delete(shard)
        this.retiredShards.add(shard)
        this.d.log.info({ shard }, `Replication: shard ${String(shard).padStart(3, '0')} no longer has a replica on this node`)
      }
      if (action === 'start') this.startGroup(shard, replicas)
    }
  }

  /**
   * A single copy moving off this node (its old owner): once this node leads the group and the
   * new owner is a voter in sync, the primary role goes to it (moves.ts singleCopyHandsOver), which
   * then removes this node; a transfer already running is left alone (machine.ts startTransfer).
   */
  private maybeHandOver (g: ShardGroup): void {
    const move = this.d.singleCopyMove?.(g.shard) ?? null
    if (move === null) return
    const primary = g.role === 'primary'
    const inSync = primary && replicaStates([move.target], g.view())[0]?.state === 'in sync'
    if (singleCopyHandsOver(this.d.self, move.before, move.target, primary, inSync)) g.handOver()
  }

  /** Ms since a peer last contacted the group of `shard` started on contact (null: none, or expired — then forgotten). */
  private contactedAgo (shard: ShardId): number | null {
    const at = this.contacted.get(shard)
    if (at === undefined) return null
    const ago = this.d.clock.monotonic() - at
    if (ago <= CONTACT_KEEP_TIMEOUTS * this.d.electionTimeoutMs) return ago
    this.contacted.delete(shard)
    return null
  }

  private startGroup (shard: ShardId, replicas: NodeId[]): void {
    this.startedOnContact.delete(shard)
    this.retiredShards.delete(shard)
    this.retiredPrimaries.delete(shard)
    const g = new ShardGroup({
      shard,
      self: this.d.self,
      replicas,
      syncReplicas: this.d.syncReplicas,
      electionTimeoutMs: this.d.electionTimeoutMs,
      heartbeatMs: this.d.heartbeatMs,
      maxRetainedBytes: this.d.maxRetainedBytes,
      lagWarningMs: this.d.lagWarningMs,
      maxMessageBytes: this.d.maxMessageBytes,
      workers: this.d.workers,
      streamSnapshot: async (to, generation, paced) => await this.streams.stream(shard, to, generation, paced),
      send: (to, msg) => { this.send(shard, to, msg) },
      clock: this.d.clock,
      rng: this.d.rng,
      log: (level, message, details) => { this.d.log[level](details ?? {}, message) },
      onRefused: (e) => { this.countRefusal(e) },
      onPrimary: this.d.onPrimary,
      keepTables: this.d.leaderlessTables
    })
    this.groups.set(shard, g)
    this.d.log.info({ shard, replicas }, `Replication: shard ${String(shard).padStart(3, '0')} replicated on {${replicas.map(id => `Node ${id}`).join(', ')}}`)
    g.start().catch((e: unknown) => this.d.log.error({ shard, err: messageOf(e) }, `Replication: shard ${shard} group did not start`))
  }

  private send (shard: ShardId, to: NodeId, msg: ReplMessage): void {
    let o = this.outboxes.get(to)
    if (o === undefined) { o = { frames: [], inflight: 0, scheduled: false }; this.outboxes.set(to, o) }
    if (o.frames.length >= MAX_OUTBOX) { this.dropped++; return }
    o.frames.push(replEnvelopeCodec.encode({ shard, msg }))
    if (!o.scheduled) {
      o.scheduled = true
      setImmediate(() => { o.scheduled = false; this.flush(to, o) })
    }
  }

  private flush (to: NodeId, o: Outbox): void {
    while (o.frames.length > 0 && o.inflight < MAX_INFLIGHT) {
      const batch: ReplBatch = { messages: o.frames.splice(0, MAX_REPL_BATCH) }
      let address: string
      try { address = this.d.addressOf(to) } catch { return }
      o.inflight++
      ;(this.d.messageRpc ?? this.d.rpc).call(address, 'REPL_MESSAGE', batch, { timeoutMs: CALL_TIMEOUT_MS, idempotent: true }).then(
        () => {},
        (e: unknown) => { this.d.log.debug({ peer: to, err: isScratchBirdError(e) ? e.code : messageOf(e) }, 'replication batch not delivered') }
      ).finally(() => { o.inflight--; if (o.frames.length > 0) this.flush(to, o) })
    }
  }

  /** A bootstrap chunk from a shard's primary: installed by this node's group of the shard. */
  private async onSnapshotChunk (c: SnapshotChunkRequest, from: NodeId): Promise<{ installedKeys: number, lastKey: Uint8Array | null, complete: boolean }> {
    if (c.from !== from) throw new ScratchBirdError('SB_RPC_MALFORMED', `a snapshot chunk claims to come from node ${c.from}`)
    const g = this.groups.get(c.shard)
    if (g === undefined) {
      throw new ScratchBirdError('SB_REPL_SNAPSHOT_REFUSED', `shard ${c.shard}: node ${this.d.self} holds no replication group of it`, { shard: c.shard, generation: 0, sender_generation: c.generation })
    }
    return await g.installSnapshotChunk(c)
  }

  private countRefusal (e: unknown): void {
    if (this.d.metrics !== undefined) countCodecRefusal(this.d.metrics, e)
  }

  private onBatch (p: ReplBatch, from: NodeId): void {
    for (const frame of p.messages) {
      let env
      try {
        env = replEnvelopeCodec.decode(frame)
        if (env.msg.from !== from) throw new ScratchBirdError('SB_RPC_MALFORMED', `a replication message claims to come from node ${env.msg.from}`)
      } catch (e) {
        this.countRefusal(e)
        this.d.log.warn({ peer: from, err: isScratchBirdError(e) ? e.code : messageOf(e) }, `Replication: a message from node ${from} dropped: ${messageOf(e)}`)
        continue
      }
      const g = this.groups.get(env.shard)
      if (g !== undefined) {
        if (this.contacted.has(env.shard) && isContact(env.msg)) this.contacted.set(env.shard, this.d.clock.monotonic())
        g.receive(env.msg)
      } else if ((env.msg.type === 'vote' && env.msg.preVote) || isContact(env.msg)) this.answerWithoutGroup(env.shard, env.msg)
    }
  }

  /**
   * A message for a shard this node runs no group of, judged on what its disk holds of the shard.
   * A pre-vote: a forced campaign asks every live member (machine.ts setGone), so it is answered
   * (rules.ts preVoteFromDisk). A vote request or an append that says this node is one of the
   * group, or a pre-vote while the recorded voters list it (rules.ts startsOnContact): its group
   * starts, kept while contacted (a real vote or an append is dropped: the sender repeats it). At most one read per shard at a time; a message arriving
   * meanwhile goes unanswered (the candidate asks again at its next election timeout).
   */
  private answerWithoutGroup (shard: ShardId, msg: ReplMessage): void {
    if (this.diskAnswers.has(shard) || this.diskAnswers.size >= this.d.shardCount.shards) return
    this.diskAnswers.add(shard)
    this.d.workers.request('REPL_STATE_GET', { shard }).then(st => {
      if (this.groups.has(shard) || this.timer === null) return
      const disk = { generation: Number(st.generation), lastGeneration: Number(st.lastGeneration), lastLsn: st.lastLsn }
      const reply = preVoteFromDisk(this.d.self, msg, disk)
      if (reply !== null) this.send(shard, msg.from, reply)
      const removed = this.retiredShards.has(shard) && this.diskVoters.has(shard) && !this.diskVoters.get(shard)!.includes(this.d.self)
      if (startsOnContact(this.d.self, msg, disk, st.config?.voters ?? [], removed)) {
        this.contacted.set(shard, this.d.clock.monotonic())
        const replicas = keptOnContact(this.d.self, this.d.replicasOf(shard), 0, 1)
        this.d.log.info({ shard, peer: msg.from }, `Replication: shard ${String(shard).padStart(3, '0')}: node ${msg.from} asks this node as one of its group (${msg.type}): its group starts here`)
        if (groupAction(this.d.self, replicas, false) === 'start') {
          this.startGroup(shard, replicas)
          this.startedOnContact.add(shard)
        }
      }
    }, (e: unknown) => {
      this.d.log.debug({ shard, err: messageOf(e) }, 'Replication: a pre-vote for a shard without a group here went unanswered')
    }).finally(() => { this.diskAnswers.delete(shard) })
  }
}
