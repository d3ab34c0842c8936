import type { ScratchBirdError } from '../../core/errors'
import type { NodeId } from '../../core/ids'

// Mode 1 replication (DESIGN §6 "Mode 1 — primary_replica", issue 14): the values and messages of
// one shard's replicated commit log, in the shape of Raft (generation = term, primary = leader,
// LSN = log index). The state machine (machine.ts) takes Inputs and returns a Ready; the shell
// (node wiring, later) carries the Ready out in the order documented on `Ready` and feeds
// replies, ticks, client commits and storage completions back. Plain data only: codec.ts puts
// the messages on the wire, the shard workers (storage side, branch replstore) persist entries,
// the hard state and snapshots through the interface these types define.

/** Log sequence number of the shard's commit log: per shard, starts at 1, contiguous (storage/commit-log.ts). */
export type Lsn = bigint
/** Raft's term: a new primary takes generation g + 1; every message carries the sender's. */
export type Generation = number

/** Roles (issue 14 item 3, 4): a learner is bootstrapping / catching up, does not vote and does not count toward acknowledgements. */
export type Role = 'primary' | 'replica' | 'candidate' | 'learner'

/** One entry of the replicated log. `data` is a committed transaction (row images, TIP state, XID, commit HLC) the machine never opens. */
export type ReplEntry =
  | { lsn: Lsn, generation: Generation, kind: 'data', payload: Uint8Array }
  /** Appended by a new primary: committing it commits every earlier entry (Raft §5.4.2) and opens reads. */
  | { lsn: Lsn, generation: Generation, kind: 'noop' }
  /** The voting replicas from this LSN on, effective as soon as it is in a log (single-server change, Raft thesis §4.1). */
  | { lsn: Lsn, generation: Generation, kind: 'config', voters: NodeId[] }

export const ENTRY_KINDS = ['data', 'noop', 'config'] as const

/**
 * What must be durable before any message the Ready carries is sent: the generation this node is
 * in and whom it voted for in it. Losing it would let a node vote twice in a generation.
 */
export interface HardState {
  generation: Generation
  /** 0 = no vote in this generation. */
  votedFor: NodeId | 0
}

/**
 * Where the retained log starts: the last entry covered by a snapshot or removed by compaction,
 * its generation, and the voters in effect there. A fresh group starts at lsn 0 with its initial
 * voters; a new replica at lsn 0 with none (it learns them from the primary).
 */
export interface LogBase {
  lsn: Lsn
  generation: Generation
  voters: NodeId[]
}

/** What a node restarts from: exactly what earlier Readys told the shell to persist, and its engine's applied LSN. */
export interface DurableState {
  hard: HardState
  base: LogBase
  /** The retained entries, base.lsn + 1 … contiguous. */
  entries: ReplEntry[]
  /** The highest LSN whose entry the shard's engine holds (≥ base.lsn). */
  appliedLsn: Lsn
}

// ---- messages (one shard's group; the envelope in codec.ts adds the shard id) ----

/**
 * Primary → replica/learner: the entries after (prevLsn, prevGeneration), and the primary's commit
 * LSN. Empty = heartbeat. `stamp` is the primary's monotonic send time, echoed in the reply: the
 * lease is measured from it (never from the replica's clock).
 */
export interface AppendEntries {
  type: 'append'
  generation: Generation
  from: NodeId
  prevLsn: Lsn
  prevGeneration: Generation
  entries: ReplEntry[]
  leaderCommit: Lsn
  stamp: number
}

/**
 * Replica → primary. ok: the replica's log holds the primary's log up to matchLsn durably.
 * Refused: hintLsn/hintGeneration tell the primary where the logs may agree (the largest LSN ≤ the
 * probed one whose generation is ≤ the probed generation, etcd raft's findConflictByTerm), or
 * the generation is newer than the primary's (fencing: it steps down).
 */
export interface AppendReply {
  type: 'append-reply'
  generation: Generation
  from: NodeId
  ok: boolean
  matchLsn: Lsn
  hintLsn: Lsn
  hintGeneration: Generation
  stamp: number
}

/**
 * Candidate → voters. preVote: "would you vote for me in `generation`?" — changes nothing on the
 * receiver. transfer: the candidate campaigns because the primary of its generation handed the
 * role over (TimeoutNow): voters set aside leader stickiness for it (Raft thesis §3.10); absent
 * on every other campaign (and in codec version 1).
 */
export interface VoteRequest {
  type: 'vote'
  generation: Generation
  from: NodeId
  lastLsn: Lsn
  lastGeneration: Generation
  preVote: boolean
  transfer?: true
}

/** generation: the one asked about when granted, the voter's own when refused. */
export interface VoteReply {
  type: 'vote-reply'
  generation: Generation
  from: NodeId
  granted: boolean
  preVote: boolean
}

/**
 * Primary → replica behind the retained log start: the header of a snapshot of the shard at
 * `base` (streamed in bounded chunks by the storage side). The receiving shell stages the chunks
 * and steps this message once all are there; Ready.installSnapshot says whether to swap it in.
 */
export interface InstallSnapshot {
  type: 'snapshot'
  generation: Generation
  from: NodeId
  base: LogBase
}

/**
 * Primary handing its role over (leadership transfer, Raft thesis §3.10; the 'transfer' input) →
 * the replica it chose once that replica's log matches its own: campaign now, without pre-vote,
 * in generation + 1. Sent only by the primary of `generation`, which takes no commits and serves
 * no reads from the moment it started the transfer.
 */
export interface TimeoutNow {
  type: 'timeout-now'
  generation: Generation
  from: NodeId
}

export type ReplMessage = AppendEntries | AppendReply | VoteRequest | VoteReply | InstallSnapshot | TimeoutNow
export const MESSAGE_TYPES = ['append', 'append-reply', 'vote', 'vote-reply', 'snapshot', 'timeout-now'] as const

// ---- inputs and outputs of the machine ----

export type ReplInput =
  /** A message from a peer (decoded with codec.ts). */
  | { type: 'message', msg: ReplMessage }
  /** The shell's timer: every tickMs. The machine reads the time from its Clock. */
  | { type: 'tick' }
  /** A client commit to replicate (primary only). Not with engineLog: the engine logs commits (see 'logged'). */
  | { type: 'propose', payload: Uint8Array }
  /**
   * engineLog only: entries the shard's engine appended to this replica's log on its own — commits
   * that landed (the engine allocated their LSNs) and the control entries the shell appended for a
   * Ready's `control` — read from the log tail, in LSN order. `epoch` is logEpoch when the shell
   * started that read: a read begun before a truncation or snapshot install is stale and ignored.
   */
  | { type: 'logged', entries: ReplEntry[], epoch: number }
  /** May the primary serve a read now (lease), and after which LSN is applied? */
  | { type: 'read' }
  /** Primary: the snapshot stream to `to` failed (RPC error or timeout): it is offered again at the next heartbeat. */
  | { type: 'snapshot-failed', to: NodeId }
  /** Primary: wipe replica `to`'s copy and bootstrap it again by snapshot (anti-entropy found versions no log entry fixes); only if rebootstrapRefusal allows. */
  | { type: 'rebootstrap', to: NodeId }
  /** Primary: the snapshot stream to `to` finished (the replica installed every chunk); sent just before its header. */
  | { type: 'snapshot-streamed', to: NodeId }
  /** The shard's preference list changed (placement from gossip): the replicas it should have. */
  | { type: 'preference', nodes: NodeId[] }
  /**
   * Voters gone for good (REMOVE NODE: no longer members, not alive; cluster/membership/
   * forced-removal.ts): left out of every majority until a config entry removes them, their
   * messages ignored. The full set each time (empty: none). `witnesses`: the other live members
   * of the cluster, whose pre-votes a campaign needs too while a voter is forced out (machine.ts
   * setGone: this node's voters may be stale).
   */
  | { type: 'gone', nodes: NodeId[], witnesses?: NodeId[] }
  /**
   * Primary: hand the role over before this node stops (a graceful stop, issue 20 item 4). It
   * stops taking commits and serving reads, brings the most caught-up voter to its last LSN and
   * sends it TimeoutNow; if no new primary shows up within the election timeout it steps down.
   * Anything but a primary, or a group with no other voter, ignores it.
   */
  | { type: 'transfer' }

export interface Outbound { to: NodeId, msg: ReplMessage }

/** Primary: stream a snapshot of the engine at `base` (its applied LSN) to `to`, then send the InstallSnapshot header. */
export interface SnapshotSend { to: NodeId, base: LogBase, generation: Generation }

/** The answer to a 'read' input. */
export type ReadAnswer =
  | {
    granted: true
    /** Serve the read once the engine has applied this LSN (the primary's commit LSN at grant time). */
    readLsn: Lsn
    /** Monotonic time (the machine's Clock) until which the lease holds. */
    leaseUntil: number
  }
  /** SB_NOT_PRIMARY: not the primary, or no lease from a majority right now. */
  | { granted: false, error: ScratchBirdError }

export type ReplEvent =
  | { type: 'became-primary', generation: Generation, lastLsn: Lsn }
  | { type: 'became-replica', generation: Generation, primary: NodeId | 0, reason: string }
  | { type: 'campaign', generation: Generation, preVote: boolean }
  | { type: 'voted', generation: Generation, candidate: NodeId, granted: boolean, reason: string }
  | { type: 'truncated', afterLsn: Lsn, removed: number }
  | { type: 'snapshot-sent', to: NodeId, lsn: Lsn }
  | { type: 'snapshot-installed', lsn: Lsn, from: NodeId }
  | { type: 'membership', change: 'promote' | 'remove', node: NodeId, lsn: Lsn }
  | { type: 'refused', from: NodeId, reason: string }
  /** The forced change of a 'gone' input: `nodes` no longer count; `voters` are the ones that do. */
  | { type: 'forced-removal', nodes: NodeId[], voters: NodeId[] }
  /**
   * Leadership transfer ('transfer' input): started (the engine stops taking commits: the shell
   * sets its storage role to replica), TimeoutNow sent to `to`, or given up after the election
   * timeout (the primary stepped down instead).
   */
  | { type: 'transfer', phase: 'started' | 'sent' | 'abandoned', to: NodeId, generation: Generation }

/**
 * What one step asks of the shell, to carry out IN THIS ORDER (the machine's safety rests on it):
 *  1. hardState, then installSnapshot (swap the staged snapshot in), truncateAfter, entries — all
 *     durable before anything below; then (engineLog) control: ask the engine to append it. The machine already counts them durable in this Ready (its
 *     vote, its own match LSN toward commit and acks): this order is what makes that true.
 *  2. messages: send (after 1: a reply promises what 1 persisted).
 *  3. committed: apply in LSN order into the engine (on the primary the commit already ran in MGA:
 *     only noop/config entries and the applied LSN need recording).
 *  4. compactThrough: then, and only then, may delete log entries ≤ it (lazily; a crash before is
 *     harmless) — it may cover entries `committed` just handed over.
 *  5. acks / failed: answer the clients waiting on those LSNs.
 *  6. snapshots: start streaming; read: the answer to a 'read' input; events: replication.log.
 */
export interface Ready {
  hardState: HardState | null
  /** Swap the staged snapshot in: the engine becomes its state, the log restarts empty after base.lsn. */
  installSnapshot: LogBase | null
  /**
   * Remove every log entry above this LSN before appending `entries` — a divergent suffix from an
   * older generation, never a committed entry. On a returning old primary the engine already ran
   * those transactions: the storage side makes their XIDs dead in the TIP (MGA undo).
   */
  truncateAfter: Lsn | null
  entries: ReplEntry[]
  compactThrough: Lsn | null
  messages: Outbound[]
  committed: ReplEntry[]
  /** LSNs of this primary's proposals now acknowledged under replication.sync_replicas. */
  acks: Lsn[]
  /** Proposals refused or of unknown outcome, with the coded error for the client. */
  failed: Array<{ lsn: Lsn | null, error: ScratchBirdError }>
  /** The LSN assigned to a 'propose' input of this step, null if refused (see failed). */
  proposed: Lsn | null
  /**
   * engineLog only, after 1: append this control entry (a new primary's noop, a membership
   * change) to the engine's log at the next LSN, at `generation` (REPL_CONTROL_APPEND); the machine
   * learns its LSN through a 'logged' input. A refusal (the generation moved on) needs no answer.
   */
  control: { generation: Generation, entry: { kind: 'noop' } | { kind: 'config', voters: NodeId[] } } | null
  /**
   * engineLog only: this machine's log and the engine's disagree (a 'logged' entry that does not
   * continue the log, e.g. a commit that landed after this node stopped being primary). The shell
   * drops the rest of this Ready and rebuilds the machine from the engine's durable state, as
   * after a restart (always safe: the durable state is what the machine's safety rests on).
   */
  diverged: string | null
  snapshots: SnapshotSend[]
  read: ReadAnswer | null
  /** Primary: the lowest LSN some replica still needs (log retention input, issue 14 item 5). */
  replicasNeedFrom: Lsn | null
  events: ReplEvent[]
}

/** replication.sync_replicas: 'majority', or the number of replicas besides the primary. */
export type SyncReplicas = 'majority' | number

export interface ReplicationConfig {
  /** This node. */
  self: NodeId
  /** The shard's preference list (placement): the nodes that should hold it, voters once caught up. */
  preference: NodeId[]
  syncReplicas: SyncReplicas
  /** Shortest election timeout; each one is drawn in [min, 2 × min) from the Rng. */
  electionTimeoutMs: number
  /** The primary's heartbeat period (also how often lagging replicas get entries resent). */
  heartbeatMs: number
  /**
   * How long a majority's acknowledgement lets the primary serve reads. Must stay below
   * electionTimeoutMs × (1 − 2 × MAX_CLOCK_DRIFT) so it lapses before any replica that gave it
   * can help elect another primary.
   */
  leaseMs: number
  /** Retained log size bound (payload bytes) beyond which entries are compacted even if a replica still needs them (it is re-bootstrapped). */
  maxRetainedBytes: number
  /**
   * The machine's log is the shard's commit log and the ENGINE allocates LSNs (issue 14): the
   * primary's commits land in MGA first and come in through 'logged'; the noop and config entries
   * the machine needs are asked of the shell (Ready.control), not appended here. Default false:
   * the machine allocates LSNs itself ('propose'), as in the simulation's first mode.
   */
  engineLog?: boolean
}

/** Largest rate difference assumed between two nodes' monotonic clocks (the lease's margin). */
export const MAX_CLOCK_DRIFT = 0.01
/** Entries in one AppendEntries (bounded messages). */
export const MAX_ENTRIES_PER_APPEND = 64
/** Entry bytes (entryBytes, log.ts) in one AppendEntries beyond its first entry: appends stay well inside one RPC body. */
export const MAX_APPEND_BYTES = 4 * 1024 * 1024
/** Appends in flight to one replica before waiting for replies (pipelining window). */
export const MAX_INFLIGHT_APPENDS = 8
/** Proposals waiting for their acknowledgement before new ones are refused (backpressure). */
export const MAX_PENDING_PROPOSALS = 10_000
/** Voters in one group (a config entry's list; the codec refuses longer). */
export const MAX_VOTERS = 16
/** A snapshot not acknowledged within this many election timeouts is offered again. */
export const SNAPSHOT_RETRY_ELECTIONS = 10
