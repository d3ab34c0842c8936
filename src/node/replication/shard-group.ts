import type { Clock } from '../../core/clock'
import { isScratchBirdError, messageOf, ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import type { Rng } from '../../core/rng'
import { LandingTimes, type ReplicaLag } from '../../cluster/replication/lag'
import { ReplicationMachine } from '../../cluster/replication/machine'
import type {
  DurableState, HardState, Lsn, ReadAnswer, Ready, ReplEntry, ReplEvent, ReplInput, ReplMessage, Role, SyncReplicas
} from '../../cluster/replication/types'
import type { ShardRequester } from '../shard-router'
import type { ReplConfig, ReplRole } from '../../storage/repl-state'
import { mutationsSize, type RawLogEntry } from '../../storage/commit-log'
import { checkAppend, toRawEntry, toReplEntry } from './entry-payload'
import { pacedBootstrap } from '../../cluster/membership/rebalance-throttle'
import type { SnapshotChunkReply, SnapshotChunkRequest } from '../../net/rpc/payloads'
import type { StreamedSnapshot } from './snapshot-stream'
import { lagWarnings } from '../../cluster/replication/lag-warning'
import type { GroupView } from '../../cluster/replication/replica-state'

// The I/O shell of one shard's Mode 1 replication group on this node (issue 14, DESIGN §6): a
// ReplicationMachine in engineLog mode (its log IS the shard's commit log) and the shard ops that
// carry its Readys out, in the order types.ts documents — hard state and role (REPL_STATE_SET,
// fsynced), truncation (REPL_TRUNCATE), entries (REPL_APPLY), the machine's control entries
// (REPL_CONTROL_APPEND), then messages, then client acknowledgements. Readys are carried out one
// at a time, in order; a step that arrives while they run is queued behind them (bounded: peer
// messages beyond MAX_QUEUED_READYS are dropped — Raft tolerates loss — ticks and the engine's own
// log are never dropped).
//
// The primary's commits land in the engine first (MGA commit, the engine allocates the LSN); the
// shell reads the log tail from the machine's last LSN and steps it as 'logged', and the client
// waits (commitLanded) until the machine acknowledges that LSN under replication.sync_replicas.
//
// Whenever the machine and the engine disagree (Ready.diverged, REPL_APPLY refusing a gap or a
// conflicting entry) or a shard op fails, the shell drops the queued Readys, fails the waiting
// commits with SB_COMMIT_OUTCOME_UNKNOWN and rebuilds the machine from the engine's durable state,
// exactly as after a restart — the machine's safety rests only on what was made durable.
//
// Bootstrap (issue 14 item 4): the machine's Ready.snapshots are streamed by the manager's
// SnapshotStreams (snapshot-stream.ts); once the replica installed the last chunk, the header
// (InstallSnapshot) follows through the ordinary message path. On the replica, chunks arrive
// through installSnapshotChunk: the first one takes the machine down (the engine serves nothing
// while it installs), the last one rebuilds it from the installed state — it then replies to the
// header and to appends as a replica whose log starts at the snapshot's LSN. Until then it neither
// votes nor acknowledges: a learner in effect. While its machine is down it answers appends with a
// refusal at LSN 0, which makes a primary that did not start the bootstrap (a new one after a
// failover) start its own.

/** Readys waiting for their I/O before peer messages are dropped. */
export const MAX_QUEUED_READYS = 1_024
/** Commits waiting for their acknowledgement per shard (beyond: SB_REPLICATION_BACKLOG_FULL). */
export const MAX_COMMIT_WAITERS = 10_000
/** Entries one log-tail read brings at most. */
const TAIL_READ_ENTRIES = 1_000
/**
 * Bytes one log read brings at most — and never more than half storage.max_message_bytes (its
 * reply is one ring message; the size is an estimate, hence the half, as for a snapshot chunk).
 * Bounded by 4 MiB alone, a log of large entries (multi-row INSERTs) could not be read: the
 * reply exceeded the ring's limit, so the group could not load its state at a start or rejoin
 * and retried that read forever (the rebalance bench's old replicas after a move).
 */
const TAIL_READ_BYTES = 4 * 1024 * 1024
/** Entries loaded into the machine at start beyond the ones after the committed LSN. */
const START_ENTRIES = 2_000
/**
 * How often, at most, the committed LSN is persisted (REPL_STATE_SET, an fsynced write that also
 * holds the group's Readys back while it runs). It only bounds truncation and where a restart
 * loads the log from — Raft does not persist it at all — so a stale value costs nothing but a
 * longer load; once per tick would be an fsync per tick per busy shard on every replica, about as
 * many as the commits themselves. (The tick used to try and never could: its own Ready kept the
 * pump busy, so the LSN stayed 0 and a restart loaded the whole retained log.)
 */
export const COMMIT_PERSIST_INTERVAL_MS = 1_000
/** Group commit on a replica: entries one REPL_APPLY takes at most from Readys queued together, and their bytes. */
export const APPLY_BATCH_ENTRIES = 1_024
const APPLY_BATCH_BYTES = 1024 * 1024

/** An entry's size as the batch bound counts it. */
const entryBytes = (e: ReplEntry): number => e.kind === 'data' ? e.payload.length + 32 : 32

export type GroupLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, details?: Record<string, unknown>) => void

export interface ShardGroupOptions {
  readonly shard: ShardId
  readonly self: NodeId
  /** storage.max_message_bytes (a log read's reply is one ring message); default: no bound but TAIL_READ_BYTES. */
  readonly maxMessageBytes?: number
  /** The shard's replicas: the first N of its preference list (the voters of a fresh group). */
  readonly replicas: readonly NodeId[]
  readonly syncReplicas: SyncReplicas
  readonly electionTimeoutMs: number
  readonly heartbeatMs: number
  readonly maxRetainedBytes: number
  /** replication.lag_warning_ms. */
  readonly lagWarningMs: number
  /** Streams a snapshot of this shard to `to` (snapshot-stream.ts); null when it did not complete. */
  readonly streamSnapshot: (to: NodeId, generation: number, paced: boolean) => Promise<StreamedSnapshot | null>
  /** This node's shard workers (local ops). */
  readonly workers: ShardRequester
  /** Hands a message to the transport (batched per peer). */
  readonly send: (to: NodeId, msg: ReplMessage) => void
  readonly clock: Clock
  readonly rng: Rng
  readonly log: GroupLog
  /** A peer's message was dropped for `e` on receipt (the manager counts SB_CODEC_VERSION). */
  readonly onRefused?: ((e: unknown) => void) | undefined
  /**
   * Called once this node's engine holds the primary role of the shard (after the Ready that made
   * it primary was carried out): the prepared transactions it took over from the log are decided
   * by limbo recovery there (their coordinator's COMMIT/ABORT PREPARED may have failed over).
   */
  readonly onPrimary?: ((shard: ShardId) => void) | undefined
  /** Tables a truncation and a snapshot install leave alone (the catalog's leaderless ones: storage/kept-tables.ts). */
  readonly keepTables?: (() => readonly number[]) | undefined
}

interface Waiter { resolve: () => void, reject: (e: ScratchBirdError) => void }
/** A read answered by the engine: `after` is the first log-tail read begun after it; `target` the log end that read found. */
interface ReadWaiter extends Waiter { after: number, target: Lsn | null }

const STORAGE_ROLE: Record<Role, ReplRole> = { primary: 'primary', replica: 'replica', candidate: 'candidate', learner: 'replica' }

export class ShardGroup {
  private machine: ReplicationMachine | null = null
  /** Bumped by every rebuild: I/O begun for an older machine is ignored. */
  private life = 0
  private readonly queue: Ready[] = []
  private pumping = false
  private hard: HardState = { generation: 0, votedFor: 0 }
  /** The role the engine holds (after the Readys carried out so far). */
  private engineRole: ReplRole = 'none'
  private persistedCommit: Lsn = 0n
  /**
   * The machine's base voters at load are the replica list the shell passed, not a record (a log
   * kept before voters were recorded, or a replica that has not received its first entries): they
   * are not written down as the group's (persistCommit) until a config entry above the base sets
   * them. A fresh group (nothing logged, never elected) starts from the list: that IS its config.
   */
  private votersGuessed = false
  /** The machine's base LSN when the log was loaded. */
  private loadedBaseLsn: Lsn = 0n
  /** When (monotonic) the committed LSN was last persisted (COMMIT_PERSIST_INTERVAL_MS). */
  private persistedCommitAt = -Infinity
  private tailBusy = false
  private tailAgain = false
  /** Log-tail reads begun, and the last of them that reached the end of the engine's log then. */
  private tailStarted = 0
  private tailReached = 0
  /** Primary reads whose answer waits until what they may have seen is acknowledged (readSettled). */
  private readonly readWaiters: ReadWaiter[] = []
  private readonly waiters = new Map<Lsn, Waiter>()
  /** Acknowledgements come in LSN order: every LSN up to here was acknowledged in this life. */
  private ackedThrough: Lsn = 0n
  /** Replicas a snapshot is streaming to from here. */
  private readonly streaming = new Set<NodeId>()
  /** Replicas whose lag was over replication.lag_warning_ms at the last check (lag-warning.ts). */
  private lagOver: ReadonlySet<NodeId> = new Set()
  /** This replica is installing a snapshot (its machine is down meanwhile). */
  private bootstrapping = false
  /** The last load failed (a worker restarting, …): retried at the next tick. */
  private loadFailed = false
  private loading = false
  private readonly snapshotRetries: NodeId[] = []
  private stopped = false
  /** When each entry not yet held by every replica landed in this node's log (replication lag). */
  private readonly landing = new LandingTimes()

  /** The shard's replicas now (the preference list's first N): changes with the catalog's N. */
  private replicas: NodeId[]
  /** Voters gone for good (REMOVE NODE; cluster/membership/forced-removal.ts), given to every machine this group builds. */
  private gone: NodeId[] = []
  /** The live members a campaign must also hear from while a voter is forced out (the gone input's witnesses). */
  private witnesses: NodeId[] = []

  /** Bytes one REPL_LOG_READ asks for (TAIL_READ_BYTES within half a ring message). */
  private get readBytes (): number {
    const max = this.o.maxMessageBytes
    return max === undefined ? TAIL_READ_BYTES : Math.max(1, Math.min(TAIL_READ_BYTES, Math.floor(max / 2)))
  }

  constructor (private readonly o: ShardGroupOptions) {
    this.replicas = [...o.replicas]
  }

  /**
   * N changed (ALTER TABLE … SET replication_factor, issue 14 item 4): the machine replicates to
   * the new replicas as learners (bootstrapping them by snapshot), promotes each to voter by a
   * config entry once it holds the committed log, and removes by one the voters no longer listed.
   */
  setReplicas (nodes: readonly NodeId[]): void {
    if (nodes.length === this.replicas.length && nodes.every((n, i) => n === this.replicas[i])) return
    this.replicas = [...nodes]
    this.o.log('info', `Replication: shard ${String(this.o.shard).padStart(3, '0')} replicas now {${nodes.map(id => `Node ${id}`).join(', ')}}`, { shard: this.o.shard })
    this.step({ type: 'preference', nodes: [...nodes] })
  }

  /**
   * Primary: wipe replica `to`'s copy of the shard and bootstrap it again from a snapshot (issue 15
   * item 6: anti-entropy found versions missing or extra there, which no log entry would fix).
   * Null when started, else why not (machine.ts rebootstrapRefusal: never when it could lose an
   * acknowledged commit).
   */
  rebootstrap (to: NodeId): string | null {
    const m = this.machine
    if (m === null) return 'its replication group is not running on this node'
    const why = m.rebootstrapRefusal(to)
    if (why !== null) return why
    this.o.log('warn', `Replication: shard ${String(this.o.shard).padStart(3, '0')} re-bootstraps node ${to} from a snapshot (its copy differs from the primary's)`, { shard: this.o.shard, replica: to })
    this.step({ type: 'rebootstrap', to })
    return null
  }

  /**
   * REMOVE NODE of a node gone for good: the voters of this group's log that no longer count
   * toward its majorities (cluster/membership/forced-removal.ts goneVoters). The full set each time.
   */
  setGone (nodes: readonly NodeId[], witnesses: readonly NodeId[] = []): void {
    const same = (a: readonly NodeId[], b: readonly NodeId[]): boolean => a.length === b.length && a.every(n => b.includes(n))
    if (same(nodes, this.gone) && same(witnesses, this.witnesses)) return
    this.gone = [...nodes]
    this.witnesses = [...witnesses]
    this.step({ type: 'gone', nodes: [...nodes], witnesses: [...witnesses] })
  }

  /**
   * Graceful stop (issue 20 item 4): as primary, hand the role over to a caught-up replica
   * (machine.ts leadership transfer); the engine stops taking commits at once. True if this node
   * was the primary and started it.
   */
  handOver (): boolean {
    if (this.machine?.role !== 'primary') return false
    this.step({ type: 'transfer' })
    return true
  }

  get shard (): ShardId { return this.o.shard }
  get role (): Role | 'starting' { return this.machine?.role ?? 'starting' }
  get primary (): NodeId | 0 { return this.machine?.primary ?? 0 }
  /** Does this node's group follow a primary that still sends to it (machine.ts followsPrimary)? */
  followsPrimary (): boolean { return this.machine?.followsPrimary(this.o.clock.monotonic()) ?? false }
  get generation (): number { return this.machine?.generation ?? this.hard.generation }
  get commitLsn (): Lsn { return this.machine?.commitLsn ?? 0n }
  get lastLsn (): Lsn { return this.machine?.lastLsn ?? 0n }
  /** The first LSN the machine's log still holds (the sweep keeps the engine's log from there): 1 while it is down. */
  logNeedsFrom (): Lsn { return this.machine === null ? 1n : this.machine.logBase + 1n }
  /** The voting replicas in effect in this node's log (empty while the machine is down). */
  get voters (): NodeId[] { return this.machine?.voters ?? [] }
  /** Is the machine up (its voters are the log's, not unknown)? */
  get running (): boolean { return this.machine !== null }
  /**
   * The voters in effect at `lsn` as this node's log knows them (a snapshot sent from it names
   * them); null when its log does not reach back there or they rest on the layout's guess.
   */
  votersAt (lsn: Lsn): NodeId[] | null {
    const c = this.machine?.configAt(lsn) ?? null
    return c === null || !this.configKnown(c.lsn) ? null : c.voters
  }

  /** Are the voters set at `configLsn` the group's (not the layout's guess the machine started from)? */
  private configKnown (configLsn: Lsn): boolean {
    return !this.votersGuessed || configLsn > this.loadedBaseLsn
  }

  /** The voters in effect at the committed LSN (machine.ts committedVoters; empty while the machine is down). */
  get committedVoters (): NodeId[] { return this.machine?.committedVoters ?? [] }
  /** The last LSN the machine no longer holds in its log (a replica behind it needs a snapshot). */
  logBase (): Lsn { return this.machine?.logBase ?? 0n }
  progress (): ReturnType<ReplicationMachine['progress']> { return this.machine?.progress() ?? [] }

  /**
   * While this node is the shard's primary: each other replica's lag in LSNs and milliseconds
   * (cluster/replication/lag.ts); empty otherwise (lag is measured on the primary).
   */
  lag (): ReplicaLag[] {
    const m = this.machine
    if (m === null || m.role !== 'primary') return []
    const now = this.o.clock.monotonic()
    const rows = m.progress().filter(p => p.node !== this.o.self).map(p => this.landing.lagOf(p.node, p.match, m.lastLsn, now))
    if (rows.length > 0) this.landing.forgetThrough(rows.reduce((min, r) => r.matchLsn < min ? r.matchLsn : min, rows[0]!.matchLsn))
    return rows
  }

  /**
   * May this node serve a client's read of the shard now: only as primary, within the lease a
   * majority granted (machine.ts readGrant); otherwise the refusal (SB_NOT_PRIMARY) to answer.
   */
  readGrant (): ReadAnswer {
    const m = this.machine
    if (m !== null) return m.readGrant()
    return { granted: false, error: new ScratchBirdError('SB_NOT_PRIMARY', `shard ${this.o.shard}: its replication group is starting on this node; retry`, { shard: this.o.shard }) }
  }

  /** Loads the durable state and starts the machine. */
  async start (): Promise<void> {
    await this.rebuild(null)
  }

  stop (): void {
    this.stopped = true
    this.machine = null
    this.failWaiters('this node is stopping')
  }

  /** The shell's timer (every tick interval). */
  tick (): void {
    if (this.machine === null) {
      if (this.loadFailed && !this.loading && !this.stopped) void this.rebuild(null)
      return
    }
    for (const to of this.snapshotRetries.splice(0)) this.step({ type: 'snapshot-failed', to })
    this.step({ type: 'tick' })
    this.checkLag()
    // A Ready is queued now, so the pump runs and persists the committed LSN when it is due.
  }

  /** A message from a peer (decoded with codec.ts; payloads checked here). */
  receive (msg: ReplMessage): void {
    if (this.machine === null) {
      if (this.bootstrapping) this.refuseWhileBootstrapping(msg)
      return
    }
    if (this.queue.length >= MAX_QUEUED_READYS) return
    try {
      checkAppend(msg)
    } catch (e) {
      this.o.onRefused?.(e)
      this.o.log('warn', `replication message from node ${msg.from} for shard ${this.o.shard} dropped: ${messageOf(e)}`, { shard: this.o.shard, peer: msg.from })
      return
    }
    this.step({ type: 'message', msg })
  }

  /**
   * A local commit landed in the engine at `lsn`: resolves once the machine acknowledges it under
   * replication.sync_replicas; SB_COMMIT_OUTCOME_UNKNOWN if this node loses the primary role
   * first (the commit may or may not survive), SB_REPLICATION_BACKLOG_FULL beyond the bound.
   */
  commitLanded (lsn: Lsn): Promise<void> {
    if (lsn <= this.ackedThrough) return Promise.resolve()
    if (this.waiters.size >= MAX_COMMIT_WAITERS) {
      return Promise.reject(new ScratchBirdError('SB_REPLICATION_BACKLOG_FULL', `shard ${this.o.shard}: ${this.waiters.size} commits already wait for their replicas`, { pending: this.waiters.size }))
    }
    const p = new Promise<void>((resolve, reject) => { this.waiters.set(lsn, { resolve, reject }) })
    this.readTail()
    return p
  }

  /**
   * Has the group committed `lsn` — held by a majority of its voters at this primary's generation
   * (the machine's commit LSN), whatever replication.sync_replicas acknowledges commits under? A
   * split's switch entry needs this (node/split-switch.ts): under sync_replicas 0 an acknowledged
   * entry may sit on the primary alone, and a failover could cut it back after the holders were
   * told the parent switched. Never waits: asks the log tail when the machine has not seen `lsn`
   * yet, so the caller asks again later. SB_NOT_PRIMARY when this node is not the primary.
   */
  majorityCommitted (lsn: Lsn): boolean {
    const m = this.machine
    if (m === null || m.role !== 'primary') {
      throw new ScratchBirdError('SB_NOT_PRIMARY', `shard ${this.o.shard}: this node is not its primary (its commit of LSN ${lsn} is not this node's to tell)`, { shard: this.o.shard, primary: m?.primary ?? 0, generation: this.generation })
    }
    if (m.lastLsn < lsn) this.readTail()
    return m.commitLsn >= lsn
  }

  /**
   * A client's read of the shard was just answered by this node's engine as primary (issue 14 item
   * 3): resolves once every commit that had landed in the engine by then — all the read can have
   * seen — is acknowledged under replication.sync_replicas, so no answer shows a commit a failover
   * can still lose; SB_NOT_PRIMARY (retry at the new primary) if this node stops being primary
   * first. The commits themselves are visible to the engine's readers as soon as they land: it is
   * the answer that waits, as a commit's own answer does. `seen`: the engine's last logged LSN
   * when the answer came back (ShardWorkers.loggedLsn, published before a batch's commits become
   * visible) — the common case, everything acknowledged already, answers at once; without it the
   * log end is learnt from a log-tail read begun after the call (one serves every read and commit
   * waiting meanwhile).
   */
  readSettled (seen?: Lsn): Promise<void> {
    const m = this.machine
    if (seen !== undefined && m !== null && m.role === 'primary' && seen <= m.acknowledgedLsn) return Promise.resolve()
    if (this.readWaiters.length >= MAX_COMMIT_WAITERS) {
      return Promise.reject(new ScratchBirdError('SB_REPLICATION_BACKLOG_FULL', `shard ${this.o.shard}: ${this.readWaiters.length} reads already wait for the commits they saw to be acknowledged`, { pending: this.readWaiters.length }))
    }
    const p = new Promise<void>((resolve, reject) => { this.readWaiters.push({ resolve, reject, after: this.tailStarted + 1, target: seen ?? null }) })
    // The machine must learn of the entries up to the target before it can count them acknowledged.
    if (seen === undefined || m === null || seen > m.lastLsn) this.readTail()
    this.releaseReads()
    return p
  }

  /** Answers the reads whose commits are acknowledged; refuses them all once this node is not primary. */
  private releaseReads (): void {
    if (this.readWaiters.length === 0) return
    const m = this.machine
    if (m === null || m.role !== 'primary') {
      this.failReads(m === null ? 'its replication group is reloading on this node' : 'this node stopped being its primary')
      return
    }
    const acked = m.acknowledgedLsn
    for (let i = 0; i < this.readWaiters.length;) {
      const w = this.readWaiters[i]!
      if (w.target === null && this.tailReached >= w.after) w.target = m.lastLsn
      if (w.target !== null && w.target <= acked) {
        this.readWaiters.splice(i, 1)
        w.resolve()
      } else i++
    }
  }

  private failReads (why: string): void {
    for (const w of this.readWaiters.splice(0)) {
      w.reject(new ScratchBirdError('SB_NOT_PRIMARY', `shard ${this.o.shard}: ${why} before the commits a read saw were acknowledged by its replicas; retry`, { shard: this.o.shard, primary: this.machine?.primary ?? 0, generation: this.generation }))
    }
  }

  // ---- the machine and its Readys ----------------------------------------------------------------

  private step (input: ReplInput): void {
    const m = this.machine
    if (m === null) return
    this.queue.push(m.step(input))
    this.releaseReads()
    void this.pump()
  }

  private async pump (): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      do {
        while (this.queue.length > 0 && !this.stopped) {
          const r = this.queue.shift()!
          const life = this.life
          try {
            await this.carryOut(r)
          } catch (e) {
            if (life !== this.life) continue
            await this.rebuild(`a replication operation failed: ${isScratchBirdError(e) ? `${e.code}: ${e.message}` : messageOf(e)}`)
          }
        }
      } while (!this.stopped && await this.persistCommit())
    } finally {
      this.pumping = false
    }
  }

  /**
   * The committed LSN is persisted lazily — it only bounds truncation and where a restart loads
   * the log from — with the hard state it goes with, between Readys (the pump runs it: never
   * alongside a Ready's own REPL_STATE_SET), at most once per COMMIT_PERSIST_INTERVAL_MS. True
   * if it wrote (Readys may have queued meanwhile).
   */
  private async persistCommit (): Promise<boolean> {
    const m = this.machine
    const now = this.o.clock.monotonic()
    if (m === null || m.commitLsn <= this.persistedCommit || now - this.persistedCommitAt < COMMIT_PERSIST_INTERVAL_MS) return false
    const life = this.life
    const commitLsn = m.commitLsn
    this.persistedCommitAt = now
    // The voters in effect at that LSN go with it (storage/repl-state.ts config): whatever the log
    // loses below the committed LSN later, a restart starts from them.
    const c = m.configAt(commitLsn)
    const config = c !== null && this.configKnown(c.lsn) ? { lsn: c.lsn, voters: c.voters } : undefined
    try {
      await this.setState(this.engineRole, commitLsn, config)
      if (life === this.life) this.persistedCommit = commitLsn
    } catch (e) {
      this.o.log('warn', `replication state of shard ${this.o.shard} not persisted: ${messageOf(e)}`)
    }
    return true
  }

  private async carryOut (r: Ready): Promise<void> {
    const shard = this.o.shard
    if (r.diverged !== null) { await this.rebuild(r.diverged); return }
    // The storage side installed the snapshot chunk by chunk already (installSnapshotChunk); the
    // machine reset its log to it: start again from what the engine holds, which is that state.
    if (r.installSnapshot !== null) { await this.rebuild(null); return }
    // 1. durable state: the hard state and the role it goes with (the engine takes local commits
    // only as primary), then truncation and entries.
    const role = this.roleAfter(r.events)
    if (r.hardState !== null || role !== this.engineRole) {
      if (r.hardState !== null) this.hard = r.hardState
      await this.setState(role, this.persistedCommit)
      this.engineRole = role
    }
    if (r.truncateAfter !== null) {
      const t = await this.o.workers.request('REPL_TRUNCATE', { shard, afterLsn: r.truncateAfter, committedLsn: this.persistedCommit, keepTables: this.o.keepTables?.() ?? null })
      this.o.log('warn', `Replication: shard ${shard} truncated its log after LSN ${r.truncateAfter} (${t.entriesRemoved} entries the new primary lacks)`, { shard, after_lsn: String(r.truncateAfter), removed: t.entriesRemoved })
    }
    // Group commit: the Readys queued behind this one that only append (the appends that arrived
    // while the previous REPL_APPLY ran) go into the same durable batch — one fsync for them all
    // instead of one each, in LSN order since the machine stepped them in order — and their
    // messages and acknowledgements follow, each Ready's in turn, once the batch is durable.
    const batch = r.entries.length > 0 && r.control === null ? [r, ...this.takeAppendOnly(r.entries)] : [r]
    const entries = batch.length === 1 ? r.entries : batch.flatMap(b => b.entries)
    // In requests of at most readBytes (each is one ring message; appends of large entries, and
    // several appends taken together, can exceed one), in order: each is durable before the next.
    if (entries.length > 0) {
      const keepTables = this.o.keepTables?.() ?? null
      for (const part of bySize(entries.map(toRawEntry), this.readBytes)) await this.o.workers.request('REPL_APPLY', { shard, entries: part, keepTables })
    }
    if (r.control !== null) {
      const c = r.control
      const life = this.life
      try {
        await this.o.workers.request('REPL_CONTROL_APPEND', { shard, generation: BigInt(c.generation), control: c.entry })
      } catch (e) {
        // The generation moved on: the machine asks again if it still needs it.
        if (!isScratchBirdError(e, 'SB_REPL_CONTROL_REFUSED')) throw e
      }
      if (life === this.life) this.readTail()
    }
    for (const b of batch) this.afterDurable(b)
  }

  /**
   * The Readys at the head of the queue that can share `first`'s REPL_APPLY: nothing but entries,
   * messages, acknowledgements and events that keep the engine's role (no hard state, truncation,
   * control entry, snapshot or divergence — those keep their own turn), within the batch bounds.
   */
  private takeAppendOnly (first: readonly ReplEntry[]): Ready[] {
    let n = first.length
    let bytes = first.reduce((sum, e) => sum + entryBytes(e), 0)
    const out: Ready[] = []
    for (;;) {
      const q = this.queue[0]
      if (q === undefined || q.diverged !== null || q.installSnapshot !== null || q.hardState !== null || q.truncateAfter !== null ||
        q.control !== null || q.snapshots.length > 0 || this.roleAfter(q.events) !== this.engineRole) break
      const more = q.entries.reduce((sum, e) => sum + entryBytes(e), 0)
      if (n + q.entries.length > APPLY_BATCH_ENTRIES || bytes + more > APPLY_BATCH_BYTES) break
      n += q.entries.length
      bytes += more
      out.push(this.queue.shift()!)
    }
    return out
  }

  /** What a Ready does once its entries are durable. */
  private afterDurable (r: Ready): void {
    // 2. messages, after what they promise is durable.
    for (const o of r.messages) this.o.send(o.to, o.msg)
    // 5. the clients.
    for (const lsn of r.acks) {
      if (lsn > this.ackedThrough) this.ackedThrough = lsn
      const w = this.waiters.get(lsn)
      if (w !== undefined) { this.waiters.delete(lsn); w.resolve() }
    }
    for (const f of r.failed) {
      if (f.lsn === null) continue
      const w = this.waiters.get(f.lsn)
      if (w !== undefined) { this.waiters.delete(f.lsn); w.reject(f.error) }
    }
    // 6. snapshots, events.
    for (const s of r.snapshots) this.sendSnapshot(s.to, s.generation, s.base.voters)
    for (const e of r.events) this.logEvent(e)
  }

  /** The storage role once this Ready's role changes are carried out. */
  private roleAfter (events: readonly ReplEvent[]): ReplRole {
    let role = this.engineRole === 'none' ? STORAGE_ROLE[this.machine?.role ?? 'replica'] : this.engineRole
    for (const e of events) {
      if (e.type === 'became-primary') role = 'primary'
      else if (e.type === 'became-replica') role = 'replica'
      else if (e.type === 'campaign' && !e.preVote) role = 'candidate'
      // Handing over: no more local commits (the machine refuses reads itself); what landed
      // before comes in through the log tail and reaches the new primary before it campaigns.
      else if (e.type === 'transfer' && e.phase === 'started') role = 'replica'
    }
    return role
  }

  /** config: the voters at commitLsn; undefined keeps the recorded ones (their LSN is at or below the stored commitLsn). */
  private async setState (role: ReplRole, commitLsn: Lsn, config?: ReplConfig): Promise<void> {
    const h = this.hard
    await this.o.workers.request('REPL_STATE_SET', {
      shard: this.o.shard,
      state: { generation: BigInt(h.generation), votedFor: h.votedFor === 0 ? null : h.votedFor, commitLsn, role, ...(config !== undefined ? { config } : {}) }
    })
  }

  /** Steps the machine with what the engine logged past the machine's last LSN (one read at a time). */
  private readTail (): void {
    if (this.tailBusy) { this.tailAgain = true; return }
    const m = this.machine
    if (m === null) return
    this.tailBusy = true
    this.tailAgain = false
    const life = this.life
    const epoch = m.logEpoch
    const seq = ++this.tailStarted
    this.o.workers.request('REPL_LOG_READ', { shard: this.o.shard, fromLsn: m.lastLsn + 1n, limit: TAIL_READ_ENTRIES, maxBytes: this.readBytes }).then(
      ({ entries }) => {
        this.tailBusy = false
        if (life !== this.life) return
        if (entries.length > 0) {
          const at = this.o.clock.monotonic()
          for (const e of entries) this.landing.landed(e.lsn, at)
          this.step({ type: 'logged', entries: entries.map(toReplEntry), epoch })
        }
        // The machine's log now reaches what the engine had logged when this read began (unless
        // the read stopped at its size bound — the next one continues — or the machine did not
        // take the entries: it diverged and is rebuilt, failing the reads).
        const took = entries.length === 0 || (this.machine !== null && this.machine.lastLsn >= entries[entries.length - 1]!.lsn)
        if (entries.length < TAIL_READ_ENTRIES && took) {
          this.tailReached = seq
          this.releaseReads()
        }
        if (this.tailAgain || entries.length === TAIL_READ_ENTRIES) this.readTail()
      },
      (e: unknown) => {
        this.tailBusy = false
        if (life !== this.life) return
        void this.rebuild(`reading the log tail failed: ${messageOf(e)}`)
      })
  }

  // ---- start and rebuild ---------------------------------------------------------------------------

  /** (Re)builds the machine from the engine's durable state; `why` null at start. */
  private async rebuild (why: string | null): Promise<void> {
    this.life++
    const life = this.life
    this.machine = null
    this.queue.length = 0
    this.tailBusy = false
    this.ackedThrough = 0n
    this.landing.clear()
    if (why !== null) {
      this.o.log('warn', `Replication: shard ${this.o.shard} reloads its replication state from the engine: ${why}`, { shard: this.o.shard })
      this.failWaiters(why)
    }
    if (this.stopped) return
    let durable: DurableState
    this.loading = true
    try {
      durable = await this.load()
      this.loadFailed = false
    } catch (e) {
      if (isScratchBirdError(e, 'SB_REPL_BOOTSTRAPPING')) {
        // Restarted half-way through an install: the primary's stream resumes it (a chunk, not a tick, ends it).
        if (!this.bootstrapping) this.o.log('info', `Replication: shard ${this.o.shard} ${e.message}`, { shard: this.o.shard })
        this.bootstrapping = true
        return
      }
      this.loadFailed = true
      this.o.log('error', `Replication: shard ${this.o.shard} cannot load its replication state (retried): ${messageOf(e)}`, { shard: this.o.shard })
      return
    } finally {
      this.loading = false
    }
    if (life !== this.life || this.stopped) return
    this.machine = new ReplicationMachine({
      self: this.o.self,
      preference: [...this.replicas],
      syncReplicas: this.o.syncReplicas,
      electionTimeoutMs: this.o.electionTimeoutMs,
      heartbeatMs: this.o.heartbeatMs,
      leaseMs: Math.floor(this.o.electionTimeoutMs * 0.8),
      maxRetainedBytes: this.o.maxRetainedBytes,
      engineLog: true
    }, durable, this.o.clock, this.o.rng)
    // Entries loaded now count as landed now (their real landing time is not kept across a reload).
    const at = this.o.clock.monotonic()
    for (const e of durable.entries) this.landing.landed(e.lsn, at)
    if (this.gone.length > 0) this.step({ type: 'gone', nodes: [...this.gone], witnesses: [...this.witnesses] })
    // Whatever the engine logged past what was loaded (a commit landing meanwhile).
    this.readTail()
  }

  private async load (): Promise<DurableState> {
    const shard = this.o.shard
    const st = await this.o.workers.request('REPL_STATE_GET', { shard })
    if (st.bootstrap !== null) throw new ScratchBirdError('SB_REPL_BOOTSTRAPPING', `shard ${shard} is half-way through a snapshot bootstrap: it waits for the primary to resume it`, { shard })
    this.hard = { generation: Number(st.generation), votedFor: st.votedFor ?? 0 }
    this.engineRole = st.role
    const floor = st.firstAvailableLsn
    // The stored committed LSN never goes back (REPL_STATE_SET refuses it); the machine starts
    // from it, within the log the engine holds.
    this.persistedCommit = st.commitLsn
    let commit = st.commitLsn < st.lastLsn ? st.commitLsn : st.lastLsn
    if (commit < floor - 1n) commit = floor - 1n
    // The entries after the committed LSN (the machine needs them), plus some before it (so the
    // replicas a little behind need no snapshot); the base is the entry before the first loaded.
    let from = st.lastLsn - BigInt(START_ENTRIES) + 1n
    if (from > commit + 1n) from = commit + 1n
    if (from < floor) from = floor
    const entries: ReplEntry[] = []
    let baseGeneration = from - 1n === st.lastLsn ? Number(st.lastGeneration) : 0
    let next = from - 1n >= floor ? from - 1n : from
    while (next <= st.lastLsn) {
      const got = await this.o.workers.request('REPL_LOG_READ', { shard, fromLsn: next, limit: TAIL_READ_ENTRIES, maxBytes: this.readBytes })
      if (got.entries.length === 0) break
      for (const e of got.entries) {
        if (e.lsn > st.lastLsn) break
        if (e.lsn === from - 1n) baseGeneration = Number(e.generation)
        else entries.push(toReplEntry(e))
      }
      next = got.entries[got.entries.length - 1]!.lsn + 1n
    }
    // The base's voters: the ones recorded with the committed LSN — no config entry lies between
    // their LSN and the base (the base is at or below the recorded committed LSN, and such an
    // entry would have been recorded with it) — else, a group that recorded none yet, the list the
    // shell gives (the issue-20 data-loss path: after a join that list holds the new node).
    const fresh = st.lastLsn === 0n && st.generation === 0n
    this.votersGuessed = (st.config === null || st.config === undefined) && !fresh
    this.loadedBaseLsn = from - 1n
    const voters = st.config !== null && st.config !== undefined ? [...st.config.voters] : [...this.replicas]
    return {
      hard: { ...this.hard },
      base: { lsn: from - 1n, generation: baseGeneration, voters },
      entries,
      appliedLsn: commit
    }
  }

  // ---- bootstrap by snapshot -----------------------------------------------------------------------

  /** Primary: stream a snapshot to `to`, then send the header; offered again by the machine if it fails. */
  private sendSnapshot (to: NodeId, generation: number, voters: NodeId[]): void {
    if (this.streaming.has(to)) return
    this.streaming.add(to)
    const life = this.life
    // A copy added (a join, a drain) is paced; a recovery is not (rebalance-throttle.ts pacedBootstrap).
    this.o.streamSnapshot(to, generation, pacedBootstrap(to, this.voters, this.gone)).then(done => {
      this.streaming.delete(to)
      if (life !== this.life) return
      if (done === null) { this.snapshotRetries.push(to); return }
      this.step({ type: 'snapshot-streamed', to })
      this.o.send(to, { type: 'snapshot', generation, from: this.o.self, base: { lsn: done.lsn, generation: Number(done.generation), voters } })
    }, (e: unknown) => {
      this.streaming.delete(to)
      this.o.log('warn', `Replication: shard ${this.o.shard} snapshot to node ${to} failed: ${messageOf(e)}`, { shard: this.o.shard, replica: to })
      if (life === this.life) this.snapshotRetries.push(to)
    })
  }

  /**
   * Replica: install one chunk of the primary's snapshot. Only from a primary of a generation at
   * least ours (fencing: an old primary must not replace a newer copy), and never on a node that is
   * itself primary in that generation. The first chunk takes the machine down; the last one
   * rebuilds it from the installed state before the reply, so the header that follows finds it.
   */
  async installSnapshotChunk (c: SnapshotChunkRequest): Promise<SnapshotChunkReply> {
    const shard = this.o.shard
    const m = this.machine
    const generation = m?.generation ?? this.hard.generation
    if (c.generation < generation || (m !== null && m.role === 'primary' && c.generation === generation)) {
      throw new ScratchBirdError('SB_REPL_SNAPSHOT_REFUSED', `shard ${shard}: a snapshot from node ${c.from} of generation ${c.generation} refused: this replica is in generation ${generation}${m?.role === 'primary' ? ' as its primary' : ''}`,
        { shard, generation, sender_generation: c.generation })
    }
    if (this.stopped) throw new ScratchBirdError('SB_REPL_SNAPSHOT_REFUSED', `shard ${shard}: this node is stopping`, { shard, generation, sender_generation: c.generation })
    if (c.after === null) {
      if (!this.bootstrapping) this.o.log('info', `Replication: shard ${shard} bootstraps from a snapshot of node ${c.from} at LSN ${c.lsn} (generation ${c.generation})`, { shard, primary: c.from, lsn: String(c.lsn) })
      this.bootstrapping = true
      this.life++
      this.machine = null
      this.queue.length = 0
      this.tailBusy = false
      this.failWaiters('this replica started a snapshot bootstrap')
    }
    const r = await this.o.workers.request('REPL_SNAPSHOT_INSTALL', {
      shard, snapshotId: c.snapshotId, lsn: c.lsn, generation: c.snapshotGeneration, hlcHighWater: c.hlcHighWater, after: c.after, entries: c.entries, done: c.done, voters: c.voters ?? null, keepTables: this.o.keepTables?.() ?? null, split: c.split ?? null
    })
    if (r.complete) {
      this.o.log('info', `Replication: shard ${shard} bootstrap done: ${r.installedKeys} keys installed, log continues after LSN ${c.lsn}`, { shard, lsn: String(c.lsn), keys: r.installedKeys })
      this.bootstrapping = false
      await this.rebuild(null)
    }
    return r
  }

  /** Replica installing a snapshot: a primary's append is refused at LSN 0 (it cannot take entries now). */
  private refuseWhileBootstrapping (msg: ReplMessage): void {
    if (msg.type !== 'append') return
    this.o.send(msg.from, { type: 'append-reply', generation: Math.max(msg.generation, this.hard.generation), from: this.o.self, ok: false, matchLsn: 0n, hintLsn: 0n, hintGeneration: 0, stamp: msg.stamp })
  }

  get bootstrappingNow (): boolean { return this.bootstrapping }

  /** What SHOW SHARD MAP needs of this group (cluster/replication/replica-state.ts). */
  view (): GroupView {
    const m = this.machine
    return { self: this.o.self, role: m?.role ?? 'starting', bootstrapping: this.bootstrapping, commitLsn: m?.commitLsn ?? 0n, progress: m?.role === 'primary' ? m.progress() : [] }
  }

  /** The replicas this group replicates to now (the catalog's N). */
  get replicaList (): NodeId[] { return [...this.replicas] }

  /** Primary: replication.log warnings for replicas whose lag crosses replication.lag_warning_ms (and when they recover). */
  private checkLag (): void {
    if (this.machine?.role !== 'primary') { this.lagOver = new Set(); return }
    const s = String(this.o.shard).padStart(3, '0')
    const r = lagWarnings(this.lag(), this.lagOver, this.o.lagWarningMs)
    this.lagOver = r.over
    for (const w of r.warn) {
      this.o.log('warn', `Replication: shard ${s} replica node ${w.replica} lags ${w.lagMs} ms (${w.lagLsns} entries) behind the primary, over replication.lag_warning_ms (${this.o.lagWarningMs})`, { shard: this.o.shard, replica: w.replica, lag_ms: w.lagMs, lag_lsns: String(w.lagLsns) })
    }
    for (const w of r.recovered) {
      this.o.log('info', `Replication: shard ${s} replica node ${w.replica} is back within replication.lag_warning_ms (${w.lagMs} ms, ${w.lagLsns} entries behind)`, { shard: this.o.shard, replica: w.replica })
    }
  }

  private failWaiters (why: string): void {
    this.failReads(why)
    for (const [lsn, w] of this.waiters) {
      w.reject(new ScratchBirdError('SB_COMMIT_OUTCOME_UNKNOWN', `shard ${this.o.shard}: the commit at LSN ${lsn} was not acknowledged by its replicas before ${why}; it may or may not survive`, { lsn: String(lsn), shard: this.o.shard }))
    }
    this.waiters.clear()
  }

  private logEvent (e: ReplEvent): void {
    const shard = this.o.shard
    const s = String(shard).padStart(3, '0')
    switch (e.type) {
      case 'became-primary':
        this.o.log('info', `Replication: Node ${this.o.self} is primary of shard ${s} (generation ${e.generation}, last LSN ${e.lastLsn})`, { shard, generation: e.generation })
        this.o.onPrimary?.(shard)
        break
      case 'became-replica': this.o.log('info', `Replication: Node ${this.o.self} follows ${e.primary === 0 ? 'no primary yet' : `primary node ${e.primary}`} for shard ${s} (generation ${e.generation}): ${e.reason}`, { shard, generation: e.generation, primary: e.primary }); break
      case 'voted': this.o.log('debug', `Replication: shard ${s} vote for node ${e.candidate} in generation ${e.generation}: ${e.granted ? 'granted' : 'refused'} (${e.reason})`, { shard }); break
      case 'membership': this.o.log('info', `Replication: shard ${s} ${e.change === 'promote' ? 'promotes' : 'removes'} node ${e.node} as a voter at LSN ${e.lsn}`, { shard }); break
      case 'refused': this.o.log('warn', `Replication: shard ${s} refused a message from node ${e.from}: ${e.reason}`, { shard, peer: e.from }); break
      case 'transfer':
        this.o.log(e.phase === 'sent' ? 'debug' : 'info', e.phase === 'started'
          ? `Replication: Node ${this.o.self} hands shard ${s} over to node ${e.to} (generation ${e.generation}): it takes no more commits here`
          : e.phase === 'sent'
            ? `Replication: shard ${s} TimeoutNow sent to node ${e.to} (its log holds ours)`
            : `Replication: shard ${s} hand-over to node ${e.to} did not finish within the election timeout; stepping down`, { shard, to: e.to, generation: e.generation })
        break
      case 'forced-removal':
        this.o.log('warn', `Replication: shard ${s} forced configuration change: node(s) ${e.nodes.join(', ')} removed from the cluster for good no longer count as voters; majorities are now counted over {${e.voters.join(', ')}} until a config entry removes them`, { shard, gone: e.nodes, voters: e.voters })
        break
      default: break
    }
  }
}

/**
 * `entries` in consecutive runs of at most `maxBytes` each, estimated as the commit log estimates
 * a read (storage/commit-log.ts readCommitLogRaw); a run holds at least one entry.
 */
export function bySize (entries: readonly RawLogEntry[], maxBytes: number): RawLogEntry[][] {
  const out: RawLogEntry[][] = []
  let run: RawLogEntry[] = []
  let bytes = 0
  for (const e of entries) {
    const size = 40 + mutationsSize(e.mutations)
    if (run.length > 0 && bytes + size > maxBytes) { out.push(run); run = []; bytes = 0 }
    run.push(e)
    bytes += size
  }
  if (run.length > 0) out.push(run)
  return out
}
