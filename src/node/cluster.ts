import type { Logger } from 'pino'
import { Catalog } from '../catalog/catalog'
import { countedReplicas } from '../catalog/replica-bootstrap'
import { CatalogSync, type CatalogSyncOutput, type DdlOutcome } from '../cluster/catalog-sync/machine'
import { checkProvidable } from '../cluster/catalog-sync/providable'
import { sameDocument } from '../cluster/catalog-sync/same'
import { countedMembers, holdingMembers, keepSplitHistory, layoutMemberState, placedMembers, placementKey, type ClusterLayout } from '../cluster/layout'
import { admitLayout, decider, joinedLayout } from '../cluster/membership/epochs'
import { decreeVoters, type DecreeRecord } from '../cluster/membership/epoch-decree'
import { DecreeShell, DECREE_TIMEOUT_MS, type DecreeResult } from './membership-decree'
import { ReleaseClock, releasedRelations } from '../cluster/membership/leaderless-release'
import { fillTargets, isLeaderless, layoutConfirmed, leaderlessGroups, leaderlessMovingText, leaderlessShardsStillMoving, quorumReplicas, type FillMark, type MoveView } from '../cluster/membership/leaderless-moves'
import { membershipBlocker, shardMoving, shardReplicasHere, singleCopyReplicas, singleCopyTables } from '../cluster/membership/moves'
import { forcedWitnesses, goneVoters, removedAcross } from '../cluster/membership/forced-removal'
import { leftLayout, lostShards, membershipOpLayout, shardsStillMoving, singleCopyShardsStillMoving, type MembershipOp } from '../cluster/membership/drain'
import { preferenceList } from '../cluster/placement'
import { GossipMachine, isAlive, type MemberView } from '../cluster/gossip/machine'
import { formatOldestSnapshot, peerSnapshotFloor, type AnnouncingMember } from '../cluster/snapshot-horizon'
import type { HlcTs } from '../storage/types'
import { encodeHlcText, observeRemoteHlc, type RemoteStamp } from '../cluster/hlc-observe'
import { knownAlive, liveMemberCount, primaryReplicaCount, routable, scanNode, shardAssignmentLine, shardMapRow, shardOwner, shardReplicaCount } from '../cluster/routing'
import type { GossipAck, GossipOutput, GossipPing, GossipTarget, MemberState } from '../cluster/gossip/types'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import { classifyIoError, isScratchBirdError, ScratchBirdError, describe, messageOf } from '../core/errors'
import type { Hlc } from '../core/hlc'
import type { Rng } from '../core/rng'
import type { RpcClient } from '../net/rpc/client'
import type { CatalogDoc, CatalogFetchReply, DdlReply, MembershipStatus, ShardQuery, TableFenceRequest } from '../net/rpc/payloads'
import type { RpcMethods } from '../net/rpc/server'
import { nodeIdLabel, type NodeMetrics } from '../ops/metrics'
import type { DdlStatement } from '../sql/ast'
import { formatStatement } from '../sql/format'
import { parse } from '../sql/parser'
import { commandResult, type StatementResult } from '../exec/result'
import { nextHlcTs } from '../storage/hlc-ts'
import { codecOf, type ShardOpName, type ShardRequests } from '../shard/protocol/ops'
import type { RawShardRequester, ShardRouting } from './shard-router'
import { asNodeId, asShardId, type NodeId, type ShardId, shardIds, type Xid } from '../core/ids'
import { REPLICATION_MODE_RULES } from '../core/replication-modes'
import type { HeldShard } from '../cluster/anti-entropy/scheduler'
import type { LiveShardCount } from '../cluster/shard-count'
import { checkShardCount, routedShardCount, wireShardCount } from '../cluster/shard-count-guard'
import type { SplitParentReport } from '../cluster/split-progress'
import type { SplitReports } from '../cluster/split-run'
import { ClusterSplit } from './cluster-split'
import { splitDdlRefusal, splitStartBlockers } from '../cluster/split-ddl-guard'
import { ddlSplit, heldByRecordOnly, SPLIT_DECREE_SEND_MS, splitDdlQuorum, SplitDdlLock, type DdlSplitView, type ReportedHold, type SplitHold, type SplitLockOutcome, type SplitLockReply, type SplitLockRequest } from '../cluster/split-ddl-lock'
import type { SplitBlocker } from '../cluster/shard-split'
import { splitCatalogFacts } from '../exec/shard-split-statement'

// The cluster I/O shell (DESIGN §6 "Placement", §7; issue 5): drives the sans-I/O gossip machine
// (cluster/gossip) and catalog-sync machine (cluster/catalog-sync) with a timer and cluster RPC
// (failure detection on the monotonic clock, so an NTP step cannot mark the cluster down; clock
// offsets from wall-clock samples), routes shard requests by the pure rules of cluster/routing
// (placement by rendezvous hashing over the configured members) and forwards them, and observes
// every peer's HLC through cluster/hlc-observe. The decisions live in those modules; this file
// holds the timers, the RPC calls and registrations, persisting and logging.
//
// Placement uses the members of the cluster layout (cluster/layout.ts), not whoever gossip has
// seen: a shard's data lives where the placement put it, so ownership moves only with a new
// membership epoch (cluster/membership/epochs.ts) — adopted from a peer, or decided here when a
// node asks to join — which this shell persists (deps.persistLayout) before it places anything by
// it. Mode 1 groups then move add-before-remove (cluster/membership/moves.ts).

/** Gossip RPCs wait at most this long: a slower answer says nothing a later round won't. */
const GOSSIP_CALL_TIMEOUT_MS = 2_000
/** A forwarded shard request may scan a whole shard; the HTTP server bounds requests at 60 s. */
const SHARD_CALL_TIMEOUT_MS = 50_000
/** The decider asks the members how a drain's shards move at most this often. */
const DRAIN_STATUS_EVERY_MS = 1_000
/** A join this node refuses (SB_MEMBERSHIP_REFUSED) is logged again at most this often per node. */
const JOIN_REFUSAL_LOG_EVERY_MS = 60_000
/** Catalog pushes, fetches and forwarded DDL. */
const CATALOG_CALL_TIMEOUT_MS = 10_000
const DDL_KINDS = new Set(['create_table', 'alter_table', 'drop_table', 'create_index', 'drop_index', 'alter_index', 'create_user', 'alter_user', 'drop_user', 'grant', 'revoke', 'create_domain', 'alter_domain', 'drop_domain', 'create_view', 'drop_view', 'create_token', 'drop_token'])
/** Shard ops that place rows a peer chose the shard of (checked against the layout floor). */
const PLACED_WRITES: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['AUTOCOMMIT', 'WRITE', 'WRITE_READ', 'MODIFY_ROW', 'REPLICA_APPLY', 'AE_APPLY'])
/** Leaderless replica traffic a stale replica refuses (a repair round's AE_READ / AE_APPLY it serves). */
const QUORUM_REPLICA_OPS: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['REPLICA_READ', 'REPLICA_APPLY', 'REPLICA_VERSION_SCAN'])

type SyncOutput = CatalogSyncOutput<Catalog, DdlStatement, StatementResult>

export interface ClusterDeps {
  readonly config: Config
  /**
   * The node's live shard count (cluster/shard-count.ts): placement covers its shards, and a
   * layout adopted at a later epoch with a split's doubled count raises it (before placing by it).
   * Absent: storage.shards, fixed.
   */
  readonly shardCount?: LiveShardCount | undefined
  /**
   * Whether this node's workers serve shards 0..shards-1; when not, starts opening the missing ones
   * (SHARD_OPEN) and answers false. A layout with more shards (a split) is adopted only once true.
   */
  readonly shardsOpen?: ((shards: number) => boolean) | undefined
  readonly hlc: Hlc
  readonly log: Logger
  readonly metrics: NodeMetrics
  readonly rpc: RpcClient
  readonly workers: RawShardRequester
  readonly catalog: () => Catalog
  /** Persist and use `c` (a newer version from the coordinator or a peer). */
  readonly installCatalog: (c: Catalog) => void
  /**
   * Checks a DDL statement against this node's catalog and builds the next version (null: the
   * statement changes nothing), without installing it: the catalog sync pushes it first.
   */
  readonly runDdl: (s: DdlStatement) => { result: StatementResult, catalog: Catalog | null }
  /** This node cannot go on (its node id is owned by another live process). */
  readonly onFatal: (reason: string) => void
  /** Mode 1: the primary of a replicated shard this node's group knows (0: none, or no group here). */
  readonly primaryOf?: (shard: ShardId) => NodeId | 0
  /** Start HLC of this node's oldest open snapshot transaction (gossiped: DESIGN §6). */
  readonly oldestSnapshot: () => HlcTs | undefined
  /** The catalog version this node places rows by (exec/catalog-pins.ts): sent with its shard writes. */
  readonly placingVersion: () => number
  /** The cluster layout recorded in the data directory at start: gossip judges peers by it. */
  readonly layout: ClusterLayout
  /** Records a newer layout in the data directory (atomically); throws when it cannot. */
  readonly persistLayout: (layout: ClusterLayout) => Promise<void> | void
  /** The removed members recorded in the data directory at start (forced-removal.ts; none when absent). */
  readonly removed?: readonly NodeId[] | undefined
  /** Records the removed members in the data directory (atomically); throws when it cannot. Absent: kept in memory only. */
  readonly persistRemoved?: ((removed: readonly NodeId[]) => void) | undefined
  /** The acceptor record of the next epoch's membership decree found in the data directory at start (node/cluster-layout.ts readDecree; none when absent). */
  readonly decree?: DecreeRecord | null | undefined
  /** Records the acceptor record in the data directory (atomically, fsync) before an answer leaves; throws when it cannot. Absent: kept in memory only. */
  readonly persistDecree?: ((r: DecreeRecord) => Promise<void> | void) | undefined
  /** The layout changed (after it was persisted): the node's own copy. */
  readonly onLayout?: ((layout: ClusterLayout) => void) | undefined
  /** Mode 1: the voters this node's group of the shard holds in its log (empty: no group here). */
  readonly mode1Voters?: ((shard: ShardId) => NodeId[]) | undefined
  /** Mode 1: the voters in effect at its committed LSN (machine.ts committedVoters). */
  readonly mode1CommittedVoters?: ((shard: ShardId) => NodeId[]) | undefined
  /** Mode 1: the shards this node's groups lead, each with the voters its log holds (MEMBERSHIP_STATUS). */
  readonly mode1Primaries?: (() => Array<{ shard: number, voters: NodeId[] }>) | undefined
  /** Mode 1: did this node stop its group of the shard because its copy moved away (since this process started)? */
  readonly mode1Retired?: ((shard: ShardId) => boolean) | undefined
  /** Mode 1: the bootstraps of the shard this node streams now, as SHOW SHARD MAP says them (null: none). */
  readonly bootstrapProgress?: ((shard: ShardId) => string | null) | undefined
  /** The leaderless fills this node finished for the move under way (node/leaderless-moves.ts; MEMBERSHIP_STATUS). */
  readonly leaderlessFills?: (() => FillMark[]) | undefined
  /** The leaderless fill of the shard this node runs now, as SHOW SHARD MAP says it (null: none). */
  readonly leaderlessFillProgress?: ((shard: ShardId) => string | null) | undefined
  /** Does this node's replica of the shard not serve it (anti-entropy: stale after a long outage)? */
  readonly replicaStale?: (shard: ShardId) => boolean
  /** Gossip timing and the wall clock compared with peers'. */
  readonly clock: Clock
  /** Gossip peer choice and this process's boot id. */
  readonly rng: Rng
  /** A peer's membership state changed as gossip sees it (the audit log's TOPOLOGY events). */
  readonly onTopology?: ((change: TopologyChange) => void) | undefined
}

export interface TopologyChange {
  readonly nodeId: NodeId
  readonly address: string
  readonly from: MemberState | null
  readonly to: MemberState
  /** The log line's text, e.g. "Node 2 joined cluster (gossip)". */
  readonly text: string
}

/**
 * A quorum read or write (or a hint, a read repair) of a shard this node's replica does not serve:
 * the coordinator counts it as a failed replica (DESIGN §6 "Tombstones (leaderless)").
 */
export function staleReplica (op: ShardOpName, shard: ShardId): ScratchBirdError {
  return new ScratchBirdError('SB_REPLICA_STALE',
    `${op} refused: this node's replica of shard ${shard} has not completed a repair round within replication.tombstone_gc_grace_days; it serves the shard again once a round with every other replica completes`,
    { shard, op })
}

/** A statement's catalog fetch round as split-ddl-lock.ts rules 3 and 4 read it: since when, who answered with which catalog version, the holds reported. */
interface FetchRound { readonly op: number, readonly since: number, readonly answered: Map<NodeId, number>, readonly holds: ReportedHold[] }

/** The voters of the decree of the epoch after `l`'s, as a log line lists them. */
function decreeVotersText (l: ClusterLayout): string {
  return decreeVoters(l).join(', ')
}

/** A fresh id per process start, so peers tell a restart from a slow heartbeat. */
function bootId (rng: Rng): string {
  const b = new Uint8Array(8)
  rng.fill(b)
  return Buffer.from(b).toString('hex')
}

export interface MemberRow {
  nodeId: NodeId
  address: string
  datacenter: string
  /** 'refused': a process announcing another cluster layout (never routed to). */
  state: MemberState | 'unknown' | 'refused'
  heartbeatAgeMs: number | null
  clockOffsetMs: number | null
  shardReplicas: number
}

/** `moving`: the shard's replicas are moving (a membership change): to which nodes, from which (null: not moving as far as this node knows). */
export interface ShardMapRow { shard: ShardId, preference: NodeId[], replicas: NodeId[], live: NodeId[], moving?: string | undefined }

const encodeHlc = (h: Hlc): string => encodeHlcText(h.state())

/** A failed call as a coded error (RPC errors are coded; anything else is wrapped, not lost). */
function coded (e: unknown): ScratchBirdError {
  return isScratchBirdError(e) ? e : classifyIoError(e) ?? new ScratchBirdError('SB_INTERNAL', String(e), {}, { cause: e })
}

function malformed (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${what}`)
}

export class ClusterShell implements ShardRouting {
  readonly selfId: NodeId
  private readonly machine: GossipMachine
  /** Configured members: id → address (the addresses this node dials, e.g. through a proxy). */
  private readonly addresses = new Map<NodeId, string>()
  /**
   * The members placement gives replicas to (neither leaving nor left: layout.ts placedMembers)
   * and each shard's preference list over them; `heldPrefs`: the lists over the members that may
   * still hold copies (leaving ones too), which differ from `prefs` only while a drain runs.
   * Recomputed by place().
   */
  private ids: NodeId[] = []
  private prefs: NodeId[][] = []
  private heldPrefs: NodeId[][] = []
  /**
   * The lists over the members whose leaderless replicas count (layout.ts countedMembers): the
   * placement before a join or drain under way (`prefs` itself when nothing moves).
   */
  private countPrefs: NodeId[][] = []
  private layout: ClusterLayout
  /** The membership decrees: this node's acceptor record and its proposals as the decider (node/membership-decree.ts). */
  private readonly decrees: DecreeShell
  /** A peer told this node (a joiner) that its cluster has not admitted it yet. */
  private awaitingAdmission = false
  /** An adoption is recording its layout (adoptLayout: one at a time). */
  private adopting = false
  /** A decree of this node under way, or a layout being recorded: the next change waits (one at a time). */
  private get changingLayout (): boolean { return this.decrees.proposing || this.adopting }
  /** The decider's drain status round: one in flight, when the last began, the shards it found still moving. */
  private drainPoll = false
  private drainPolledAt = -Infinity
  private drainMoving: number[] = []
  /** The shards the decider's last status round found with leaderless fills still missing (null: no round yet for this move). */
  private leaderlessMoving: number[] | null = null
  /**
   * Nodes this node saw removed from the layout (REMOVE NODE), recorded in its data directory
   * before the layout removing them and reloaded at start: their Mode 1 votes stop counting
   * (forced-removal.ts).
   */
  private readonly removedMembers: Set<NodeId>
  /** Joins refused here (SB_MEMBERSHIP_REFUSED), by node: when last logged. */
  private readonly joinRefusedAt = new Map<NodeId, number>()
  private timer: NodeJS.Timeout | null = null
  private stateCache: Map<NodeId, MemberState> | null = null
  /** Member addresses by id, rebuilt like stateCache: addressOf runs for every RPC to a member the configuration does not list (a joined node: every snapshot chunk and replication batch sent to it). */
  private addressCache: Map<NodeId, string> | null = null
  private readonly sync: CatalogSync<Catalog, DdlStatement, StatementResult>
  /** DDL statements in the catalog-sync machine, by op: their callers' promises. */
  private readonly ddlOps = new Map<number, { resolve: (r: StatementResult) => void, reject: (e: unknown) => void }>()
  private nextOp = 1
  /** Replicas per shard the last placement log lines listed. */
  private loggedReplicas = 0
  private announcedSnapshot = ''
  /** Since when the layout and catalog have been settled for a release of old leaderless copies (leaderless-release.ts). */
  private readonly releaseClock = new ReleaseClock()

  constructor (private readonly d: ClusterDeps, listenAddress: string) {
    const { config } = d
    this.selfId = config.node.id
    for (const n of config.cluster.nodes) this.addresses.set(n.id, n.address)
    if (!this.addresses.has(this.selfId)) this.addresses.set(this.selfId, listenAddress)
    this.layout = d.layout
    this.removedMembers = new Set((d.removed ?? []).filter(id => !d.layout.members.includes(id)))
    this.machine = new GossipMachine(
      { nodeId: this.selfId, address: this.addresses.get(this.selfId)!, datacenter: config.node.datacenter, bootId: bootId(d.rng), layout: d.layout },
      config.cluster.nodes.map(n => ({ nodeId: n.id, address: n.address })),
      { intervalMs: config.gossip.interval_ms, fanout: config.gossip.fanout, heartbeatTimeoutMs: config.gossip.heartbeat_timeout_ms },
      d.rng)
    this.place()
    this.machine.setLocal({ catalogVersion: d.catalog().version, shardReplicas: this.ownReplicas() })
    this.machine.setRemoved(this.removedMembers)
    this.sync = new CatalogSync({ selfId: this.selfId, members: this.catalogMembers(), catalog: d.catalog(), same: (a, b) => sameDocument(a.toJSON(), b.toJSON()) })
    this.decrees = new DecreeShell({ selfId: this.selfId, rpc: d.rpc, addressOf: id => this.addressOf(id), runs: () => this.layout.epoch, record: d.decree ?? null, persist: async r => { await d.persistDecree?.(r) }, now: () => d.clock.monotonic(), catalogVersion: () => d.catalog().version })
    this.split = new ClusterSplit({
      layout: () => this.layout,
      isDecider: () => decider(this.layout, knownAlive(this.states(), this.selfId)) === this.selfId,
      proposing: () => this.changingLayout,
      decide: async (next, why, notAfter, judgedAt) => await this.decide(next, why, notAfter, judgedAt),
      now: () => d.clock.monotonic(),
      votersText: () => decreeVotersText(this.layout),
      holdersOf: p => this.splitHoldersOf(p),
      reports: () => this.splitReports(),
      startBlockers: () => this.splitStartBlockers(),
      lockSplit: async req => await this.lockSplit(req),
      releaseSplit: async (req, at) => { await this.callSplitLock(at, req) },
      log: d.log
    })
  }

  /** The split lock this node holds as catalog coordinator (cluster/split-ddl-lock.ts). */
  private readonly splitLock = new SplitDdlLock()
  /** The fetch round of the statement being coordinated here: since when, who answered, the split holds they reported. */
  private fetchRound: FetchRound | null = null
  /** A DDL was refused for a split intent only a member's decree record holds (completeReportedIntent). */
  private intentReported = false
  /** The round of the statement being built now (set around runDdl, read by checkProvidable). */
  private building: FetchRound | null = null
  /** What this node last announced as its groups changing voters (JSON; null: nothing yet). */
  private announcedVotersChanging: string | null = null

  /** SPLIT_LOCK at `at` (this node: answered here, no RPC). */
  private async callSplitLock (at: NodeId, req: SplitLockRequest): Promise<SplitLockReply> {
    if (at === this.selfId) return this.onSplitLock(req, this.selfId)
    return await this.d.rpc.call(this.addressOf(at), 'SPLIT_LOCK', req, { timeoutMs: CATALOG_CALL_TIMEOUT_MS })
  }

  /** A decider's SPLIT_LOCK: taken or refused by this node's own view as catalog coordinator. */
  private onSplitLock (req: SplitLockRequest, from: NodeId): SplitLockReply {
    const reply = this.splitLock.request(from, req, {
      now: this.d.clock.monotonic(),
      isCoordinator: this.sync.coordinator() === this.selfId,
      ddlRunning: this.sync.coordinating,
      layoutEpoch: this.layout.epoch,
      catalogVersion: this.d.catalog().version
    })
    if (req.take && reply.granted) this.d.log.info({ node: from, epoch: req.epoch }, `split lock taken by node ${from} (a split of ${req.shards} shards into ${req.to} being decided): DDL the split depends on is refused here until that layout is adopted or the lock released`)
    return reply
  }

  /**
   * The split lock for an intent this node proposes because a promise carried it (another
   * decider's, not chosen yet): taken before its acceptances are sent, like a start's
   * (cluster/split-ddl-lock.ts rule 2); the bound of the window, or null when not granted.
   */
  private async lockFound (current: ClusterLayout, l: ClusterLayout): Promise<number | null> {
    if (l.split === undefined) return null
    const asked = this.d.clock.monotonic()
    const { reply, coordinator } = await this.lockSplit({ take: true, epoch: current.epoch, shards: l.shards, to: l.split.to })
    if ('error' in reply || !reply.granted) {
      this.d.log.warn({ epoch: l.epoch, coordinator }, `membership epoch ${l.epoch} not proposed: it completes a split's start, and the catalog coordinator (node ${coordinator}) did not take the split lock for it (${'error' in reply ? reply.error : reply.refusal}); retried`)
      return null
    }
    return asked + SPLIT_DECREE_SEND_MS
  }

  /** The decider's side of the lock: asked of the catalog coordinator in this node's view, with the catalog versions the live members announce. */
  private async lockSplit (req: SplitLockRequest): Promise<SplitLockOutcome> {
    const coordinator = this.sync.coordinator()
    let reply: SplitLockOutcome['reply']
    try {
      reply = await this.callSplitLock(coordinator, req)
    } catch (e) {
      reply = { error: messageOf(e) }
    }
    const behind: Array<{ node: NodeId, version: number }> = []
    for (const m of this.machine.members(this.d.clock.monotonic())) {
      if (!m.isSelf && isAlive(m.state) && this.layout.members.includes(m.nodeId)) behind.push({ node: m.nodeId, version: m.catalogVersion })
    }
    return { reply, coordinator, ownCatalogVersion: this.d.catalog().version, behind }
  }

  /** A split's run at the cluster level (node/cluster-split.ts): the statement, the final layout, SHOW SHARD MAP's text. */
  private readonly split: ClusterSplit

  /** The nodes holding a copy of split parent `parent`: the first N of its preference list (N = 1 for a single copy). */
  splitHoldersOf (parent: ShardId): NodeId[] {
    return (this.prefs[parent] ?? []).slice(0, Math.max(1, this.mode1Replicas()))
  }

  /**
   * This node's Mode 1 groups whose voters, committed or not, are not the placement's first N by
   * its catalog (a raised or lowered replication_factor still being carried out). Only shards this
   * node holds a copy of by placement: for another, votersOf answers what its log said last when it
   * held one (before a move), which is no pending change.
   */
  private ownVotersChanging (): ShardId[] {
    const n = this.mode1Replicas()
    if (n <= 1) return []
    return shardIds(this.prefs.length).filter(p => {
      const target = this.prefs[p]!.slice(0, n)
      if (!target.includes(this.selfId)) return false
      return shardMoving(target, this.countedVoters(p)) || shardMoving(target, this.countedVoters(p, true))
    })
  }

  /** Does this node's group of `parent` have the split's holders as its voters, committed and latest (a switch waits until it does)? */
  splitVotersSettled (parent: ShardId): boolean {
    const n = this.mode1Replicas()
    if (n <= 1) return true
    const holders = this.splitHoldersOf(parent)
    return !shardMoving(holders, this.countedVoters(parent)) && !shardMoving(holders, this.countedVoters(parent, true))
  }

  /**
   * Puts this node's groups changing voters in its gossip record when they changed. Also called
   * as the catalog changes, in the same turn as the catalog version is announced, so a record
   * announcing a catalog version reports the groups as that catalog places them.
   */
  private announceVotersChanging (): void {
    const changing = this.ownVotersChanging()
    const text = JSON.stringify(changing)
    if (text === this.announcedVotersChanging) return
    this.announcedVotersChanging = text
    this.machine.setLocal({ votersChanging: changing })
  }

  /**
   * What this node, deciding a split's start, sees in the way besides the statement's checks
   * (exec/shard-split-statement.ts) and the split lock: a DDL statement it is coordinating now (its
   * catalog, not yet installed, may change the copies Mode 1 keeps: cluster/split-ddl-guard.ts),
   * and Mode 1 groups whose voters are not the placement's first N yet — its own, read now, and
   * every live member's as its gossip record reports them.
   */
  private splitStartBlockers (): SplitBlocker[] {
    const changing: Array<{ node: NodeId, shards: ShardId[] }> = [{ node: this.selfId, shards: this.ownVotersChanging() }]
    for (const m of this.machine.members(this.d.clock.monotonic())) {
      if (!m.isSelf && isAlive(m.state) && m.votersChanging !== undefined) changing.push({ node: m.nodeId, shards: m.votersChanging })
    }
    return splitStartBlockers({ ddlRunning: this.sync.coordinating, votersChanging: changing })
  }

  /** Every member's split reports as gossip carries them (this node's own included). */
  splitReports (): SplitReports {
    const out = new Map<NodeId, SplitParentReport[]>()
    for (const m of this.machine.members(this.d.clock.monotonic())) if (m.split !== undefined) out.set(m.nodeId, m.split)
    return out
  }

  /** Puts this node's split reports in its gossip record when they changed (node/split-runner.ts). */
  publishSplit (reports: SplitParentReport[]): void {
    const self = this.machine.members(this.d.clock.monotonic()).find(m => m.isSelf)
    if (JSON.stringify(self?.split ?? []) === JSON.stringify(reports)) return
    this.machine.setLocal({ split: reports })
  }

  /**
   * ALTER CLUSTER SET shards = n from a client of this node, once its checks passed
   * (exec/shard-split-statement.ts): decided at the decider like DRAIN NODE (sent there when it
   * is another node); answers once the intent (or its cancel) is recorded and adopted there.
   */
  async splitOp (requested: number, sql: string): Promise<StatementResult> {
    const at = decider(this.layout, knownAlive(this.states(), this.selfId))
    if (at === this.selfId || at === null) return await this.split.op(requested)
    const reply = await this.d.rpc.call(this.addressOf(at), 'CATALOG_DDL', { sql }, { timeoutMs: CATALOG_CALL_TIMEOUT_MS })
    return commandResult(reply.command, 0, reply.warnings)
  }

  /**
   * The preference lists over the layout's members. A member's datacenter comes from
   * cluster.nodes, else from its gossip record (a node admitted at run time: placed again when its
   * record first arrives), else this node's own: every node places alike once it knows the
   * member's record (always, with one datacenter). The layout does not carry datacenters yet.
   */
  private place (): void {
    const { config } = this.d
    this.ids = placedMembers(this.layout)
    const holding = holdingMembers(this.layout)
    const view = holding.some(id => !this.addresses.has(id)) ? this.view() : new Map<NodeId, MemberView>()
    const datacenterOf = (id: NodeId): string => config.cluster.nodes.find(n => n.id === id)?.datacenter ?? view.get(id)?.datacenter ?? config.node.datacenter
    const shards = this.d.shardCount?.shards ?? config.storage.shards
    this.prefs = shardIds(shards).map(s => preferenceList(placementKey(this.layout, s), this.ids, this.ids.length, datacenterOf))
    this.heldPrefs = holding.length === this.ids.length ? this.prefs : shardIds(shards).map(s => preferenceList(placementKey(this.layout, s), holding, holding.length, datacenterOf))
    const counted = countedMembers(this.layout)
    this.countPrefs = counted.length === this.ids.length && counted.every(id => this.ids.includes(id))
      ? this.prefs
      : shardIds(shards).map(s => preferenceList(placementKey(this.layout, s), counted, counted.length, datacenterOf))
    this.leaderlessMoving = null
  }

  /**
   * Has every live member that may hold copies announced this node's membership epoch (or a later
   * one) in gossip? Until then one may still coordinate writes by the layout before the move,
   * which do not reach the new replicas (node/leaderless-moves.ts waits for it before a fill).
   */
  layoutSettled (): boolean {
    const alive = knownAlive(this.states(), this.selfId)
    return holdingMembers(this.layout).every(id => id === this.selfId || !alive(id) || (this.machine.peerEpoch(id) ?? 0) >= this.layout.epoch)
  }

  /** Has this node heard the layout from a peer since it started (cluster/membership/leaderless-moves.ts layoutConfirmed)? */
  layoutConfirmed (): boolean {
    const others = holdingMembers(this.layout).filter(id => id !== this.selfId)
    return layoutConfirmed(this.layout.epoch, others.map(id => this.machine.peerEpoch(id)), others.length === 0)
  }

  /**
   * The leaderless relations this node may delete on `shard` now: it replicates the shard under no
   * factor of any table by the layout in force, no move is under way, and every live member has
   * run by this layout and catalog for the longest quorum timeout plus a gossip round
   * (cluster/membership/leaderless-release.ts says why). The sweeper deletes them.
   */
  releasableRelations (shard: ShardId): number[] {
    const { replication, gossip } = this.d.config
    const catalog = this.d.catalog()
    const delayMs = Math.max(replication.write_timeout_ms, replication.read_timeout_ms) + gossip.interval_ms
    const ready = this.layoutSettled() && this.layoutConfirmed()
    if (!this.releaseClock.open(`${this.layout.epoch}/${catalog.version}`, ready, this.d.clock.monotonic(), delayMs)) return []
    return releasedRelations({ moving: this.countPrefs !== this.prefs, prefs: this.prefs, tables: catalog.tables }, this.selfId, shard)
  }

  /**
   * The leaderless move under way (cluster/membership/leaderless-moves.ts), null when none: no
   * member joining or leaving, or no leaderless table.
   */
  leaderlessMoveView (): MoveView | null {
    if (this.countPrefs === this.prefs) return null
    const groups = leaderlessGroups(this.d.catalog().userTables)
    return groups.length === 0 ? null : { groups, countedPrefs: this.countPrefs, placedPrefs: this.prefs }
  }

  /**
   * The members catalog sync counts (a DDL statement is answered once a majority of them holds
   * it): all but the left ones — a drained node may be stopped, and must not count against the
   * majority — and this node itself.
   */
  private catalogMembers (): NodeId[] {
    return [...new Set([...holdingMembers(this.layout), this.selfId])]
  }

  /** The cluster layout this node runs with now. */
  currentLayout (): ClusterLayout { return this.layout }

  /**
   * Runs with `next`, a later epoch (adopted from a peer, or decided here): recorded in the data
   * directory first, then announced, then placed by. False when it was not newer or could not be
   * recorded (the next gossip message offers it again).
   */
  private async adoptLayout (adopted: ClusterLayout, why: string): Promise<boolean> {
    // One adoption at a time (its record is written off the event loop: an fsync under a busy disk
    // blocked every statement of the node for 100 ms and more at each membership change); one
    // offered meanwhile is offered again by the next gossip message, and a decided one is the
    // same layout of the same epoch (one decree per epoch).
    if (this.adopting) return false
    this.adopting = true
    try {
      return await this.adoptLayoutNow(adopted, why)
    } finally {
      this.adopting = false
    }
  }

  private async adoptLayoutNow (adopted: ClusterLayout, why: string): Promise<boolean> {
    if (adopted.epoch <= this.layout.epoch || !adopted.members.includes(this.selfId)) return false
    // Gossip does not carry the split history: cluster.json keeps ours (cluster/layout.ts).
    const next = keepSplitHistory(this.layout, adopted)
    // REMOVE NODE: what a Mode 1 group may stop counting (cluster/membership/forced-removal.ts),
    // recorded before the layout that removes them, so a restart in between still forces them.
    const removed = removedAcross([...this.removedMembers], this.layout.members, next.members)
    // A split's shards are opened here before the layout routing to them is recorded: the next
    // gossip message offers the layout again, and it is adopted once they are open.
    if (next.shards > (this.d.shardCount?.shards ?? next.shards) && this.d.shardsOpen?.(next.shards) === false) {
      this.d.log.info({ epoch: next.epoch, shards: next.shards }, `cluster layout of membership epoch ${next.epoch} has ${next.shards} shards (a split): opening the new shards here before adopting it`)
      return false
    }
    try {
      // A shard count the live count cannot follow (anything but a split's doubling) is never recorded.
      this.d.shardCount?.check(next.shards, next.epoch)
      if (removed.before.length !== this.removedMembers.size) this.d.persistRemoved?.(removed.before)
      await this.d.persistLayout(next)
    } catch (e) {
      this.d.log.error({ epoch: next.epoch, err: describe(e) }, `cluster layout of membership epoch ${next.epoch} not recorded, so not adopted (retried at the next gossip message): ${messageOf(e)}`)
      return false
    }
    this.machine.setLayout(next)
    if (removed.after.length !== removed.before.length) {
      // A removed node admitted again (a new node reusing the id): forgetting it may wait for the next change.
      try { this.d.persistRemoved?.(removed.after) } catch (e) {
        this.d.log.warn({ err: describe(e) }, `removed-members record not updated (node(s) admitted again stay listed until the next membership change; harmless: a member is never left out): ${messageOf(e)}`)
      }
    }
    this.removedMembers.clear()
    for (const id of removed.after) this.removedMembers.add(id)
    this.machine.setRemoved(this.removedMembers)
    this.layout = next
    this.awaitingAdmission = false
    this.stateCache = null
    this.addressCache = null
    // Recorded: routing and placement follow its shard count from now on (one step, before placing).
    this.d.shardCount?.follow(next.shards, next.epoch)
    this.place()
    this.sync.setMembers(this.catalogMembers())
    const states = `${next.joining === undefined ? '' : `, joining {${next.joining.join(', ')}}`}${next.leaving === undefined ? '' : `, leaving {${next.leaving.join(', ')}}`}${next.left === undefined ? '' : `, left {${next.left.join(', ')}}`}${next.split === undefined ? '' : `, ${next.shards} shards splitting into ${next.split.to}`}`
    this.d.log.info({ epoch: next.epoch, members: next.members, joining: next.joining, leaving: next.leaving, left: next.left }, `Cluster layout: membership epoch ${next.epoch}, members {${next.members.join(', ')}}${states} (${why})`)
    this.machine.setLocal({ shardReplicas: this.ownReplicas() })
    this.logPlacement()
    this.d.onLayout?.(next)
    return true
  }

  /** This node decides membership and `nodeId` asks to join: admitted at epoch + 1, or refused (logged). */
  private admit (nodeId: NodeId, address: string): void {
    const tables = this.d.catalog().userTables
    const leaderless = leaderlessGroups(tables).length > 0
    // Leaderless replicas count by the placement before the move (layout.ts countedMembers): one move at a time.
    // Joins and drains with leaderless tables are on again (issue 20): a write during the move is
    // acknowledged only with W old acks and every replica being filled (pendingOf,
    // cluster/quorum/ack-rule.ts), so the new replica never counts without an acknowledged write.
    // Single-copy shards move too (moves.ts singleCopyReplicas): from their owner in the placement
    // before the join — which the joiner's 'joining' state keeps (layout.ts countedMembers) — until
    // the decider sees every one moved (finishMoves).
    const singleCopy = this.singleCopyMoves()
    const moving = [...(this.layout.joining ?? []), ...(this.layout.leaving ?? [])]
    const what = leaderless ? 'leaderless_quorum tables' : 'single-copy primary_replica tables'
    const blocker = membershipBlocker(tables) ??
      (this.layout.split !== undefined ? `a split of ${this.layout.shards} shards into ${this.layout.split.to} is under way; it is admitted once the split is done or cancelled` : null) ??
      ((leaderless || singleCopy) && moving.length > 0 ? `node(s) {${moving.join(', ')}} are joining or leaving while ${what} exist; one move at a time — it is admitted once they are normal or left` : null)
    if (blocker !== null) {
      const now = this.d.clock.monotonic()
      const last = this.joinRefusedAt.get(nodeId)
      if (last !== undefined && now - last < JOIN_REFUSAL_LOG_EVERY_MS) return
      this.joinRefusedAt.set(nodeId, now)
      const err = new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `node ${nodeId} (${address}) asks to join cluster ${this.layout.cluster} and is not admitted: ${blocker}`, { node: nodeId, epoch: this.layout.epoch })
      this.d.log.error({ peer: nodeId, address, err: err.toJSON() }, `${err.message} (${err.code})`)
      return
    }
    this.joinRefusedAt.delete(nodeId)
    if (this.changingLayout) return // asked again at its next gossip message
    const why = leaderless ? ' (joining: its leaderless_quorum replicas count once they are filled)' : singleCopy ? ' (joining: the single copies placement now gives it move to it, then it is normal)' : ''
    void this.decide(admitLayout(this.layout, nodeId, leaderless || singleCopy), `node ${nodeId} at ${address} admitted by this node${why}`)
  }

  /**
   * Decides `next` (epoch + 1) as the decree of its epoch among the voters of this layout
   * (cluster/membership/epoch-decree.ts) and adopts what was chosen — `next`, or another
   * proposer's layout found accepted, which must win. Never adopts anything not chosen.
   */
  private async decide (next: ClusterLayout, why: string, notAfter?: number, judgedAt?: number, completeOnly = false): Promise<{ result: DecreeResult, adopted: boolean }> {
    const current = this.layout
    const result = await this.decrees.propose(current, next, { notAfter, judgedAt, guard: async value => await this.lockFound(current, value.layout), completeOnly })
    let adopted = false
    if (result.kind === 'chosen' && this.layout.epoch === current.epoch) {
      adopted = await this.adoptLayout(result.layout, result.own ? why : `membership epoch ${result.layout.epoch} was decided by an earlier proposal, completed by this node; not: ${why}`)
    } else if (result.kind === 'undecided') {
      this.d.log.warn({ epoch: next.epoch, missing: result.missing }, `membership epoch ${next.epoch} not decided (${why}): no majority of members {${decreeVotersText(current)}} answered within ${DECREE_TIMEOUT_MS} ms; no answer from {${result.missing.join(', ')}}`)
    } else if (result.kind === 'none') {
      this.d.log.debug({ epoch: next.epoch }, `membership epoch ${next.epoch}: nothing to complete (${why}): no member of a majority accepted a layout for it`)
    } else if (result.kind === 'stale') {
      this.d.log.warn({ epoch: next.epoch, catalogVersion: result.catalogVersion }, `membership epoch ${next.epoch} not decided (${why}): a majority of members refused a split's start judged against catalog version ${String(result.value.judgedAt)}, older than theirs (${result.catalogVersion}); it can never be chosen`)
    } else if (result.kind === 'unrecorded') {
      this.d.log.error({ epoch: next.epoch }, `membership epoch ${next.epoch} not proposed (${why}): this node's decree record could not be written: ${result.message}`)
    }
    return { result, adopted }
  }

  /**
   * The decider completes a split's intent a DDL's fetch round reported accepted by another member
   * (its decider stopped, undecided): until the epoch is decided, that DDL is refused
   * (cluster/split-ddl-lock.ts rule 3). Only a value a voter accepted is proposed, under the lock.
   */
  private completeReportedIntent (): void {
    if (!this.intentReported || this.changingLayout || this.awaitingAdmission) return
    if (decider(this.layout, knownAlive(this.states(), this.selfId)) !== this.selfId) return
    this.intentReported = false
    const l = this.layout
    void this.decide({ ...l, epoch: l.epoch + 1 }, `completes a split's start of membership epoch ${l.epoch + 1} that a member accepted from a decider that did not finish`, undefined, undefined, true)
  }

  /** The decider completes a decree this node accepted that nobody adopted (its proposer stopped). */
  private completeDecree (): void {
    const accepted = this.decrees.acceptedNext()
    if (accepted === null || this.changingLayout || this.awaitingAdmission) return
    if (decider(this.layout, knownAlive(this.states(), this.selfId)) !== this.selfId) return
    // With the catalog version a split's intent was judged against: acceptors check it (epoch-decree.ts).
    void this.decide(accepted.layout, `completes membership epoch ${accepted.layout.epoch}, which this node accepted from a proposer that did not finish`, undefined, accepted.judgedAt)
  }

  /**
   * DRAIN NODE n [CANCEL] / REMOVE NODE n from a client of this node: decided here when this node
   * is the decider (cluster/membership/epochs.ts), else sent to it (CATALOG_DDL carries the
   * statement; onDdl runs it there). Answers once the next layout is recorded and adopted by the
   * decider; the moves follow (SHOW SHARD MAP, SHOW CLUSTER MEMBERS).
   */
  async membershipOp (op: MembershipOp, sql: string): Promise<StatementResult> {
    if (this.awaitingAdmission) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `node ${this.selfId} waits to be admitted to cluster ${this.layout.cluster}; send the statement to a member`, { node: this.selfId, epoch: this.layout.epoch })
    }
    const at = decider(this.layout, knownAlive(this.states(), this.selfId))
    if (at === this.selfId || at === null) return await this.runMembershipOp(op)
    const reply = await this.d.rpc.call(this.addressOf(at), 'CATALOG_DDL', { sql }, { timeoutMs: CATALOG_CALL_TIMEOUT_MS })
    return commandResult(reply.command, 0, reply.warnings)
  }

  /** Runs a membership operation at the decider (this node): the next layout recorded and adopted, or a coded error. */
  private async runMembershipOp (op: MembershipOp): Promise<StatementResult> {
    const alive = knownAlive(this.states(), this.selfId)
    const at = decider(this.layout, alive)
    if (at !== this.selfId) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `node ${this.selfId} does not decide membership changes: node ${String(at)} does (the lowest live member); retry`, { node: this.selfId, decider: at })
    }
    if (this.changingLayout) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `node ${this.selfId} is deciding membership epoch ${this.layout.epoch + 1} already (an admission or the end of a move); nothing was changed: retry`, { node: this.selfId, epoch: this.layout.epoch })
    }
    if (this.layout.split !== undefined) {
      // One layout change at a time: the split's holders are the placement's, which a move would change.
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `node ${op.node} not moved: a split of ${this.layout.shards} shards into ${this.layout.split.to} is under way (SHOW SHARD MAP); retry once it is done, or cancel it (ALTER CLUSTER SET shards = ${this.layout.shards}); nothing was changed`, { node: op.node, epoch: this.layout.epoch })
    }
    const tables = this.d.catalog().userTables
    const maxFactor = tables.reduce((m, t) => Math.max(m, t.replication.replication_factor), 0)
    const blocker = membershipBlocker(tables, { singleCopy: op.kind !== 'remove' })
    const single = singleCopyTables(tables).map(t => t.name)
    const lost = op.kind === 'remove' ? lostShards(this.heldPrefs, op.node, single.length) : []
    const leaderlessTables = tables.filter(t => isLeaderless(t.replication))
    const leaderless = { tables: leaderlessTables.map(t => t.name), lossy: leaderlessTables.filter(t => t.replication.write_quorum < 2).map(t => t.name) }
    const next = membershipOpLayout(op, { layout: this.layout, maxFactor, blocker, alive, singleCopy: this.singleCopyMoves(), lost: { tables: single, shards: lost }, leaderless })
    // REMOVE NODE with leaderless tables: n leaving while the survivors fill its replicas (drain.ts).
    const refilling = op.kind === 'remove' && next.members.includes(op.node)
    const warnings: string[] = []
    const command = op.kind === 'remove' ? 'REMOVE NODE' : 'DRAIN NODE'
    if (op.kind === 'remove') {
      // REMOVE NODE n FORCE: rows of single-copy tables whose shard lived on the removed node are gone with it: said loudly.
      if (lost.length > 0) {
        const text = `REMOVE NODE ${op.node} FORCE: shard(s) ${lost.join(', ')} of table(s) ${single.join(', ')} had their only copy on node ${op.node}; their rows are LOST (restore them from a backup)`
        this.d.log.error({ node: op.node, shards: lost, tables: single }, text)
        warnings.push(text)
      }
      if (!refilling && leaderless.lossy.length > 0 && layoutMemberState(this.layout, op.node) !== 'joining' && layoutMemberState(this.layout, op.node) !== 'left') {
        const text = `REMOVE NODE ${op.node} FORCE: writes to leaderless_quorum table(s) ${leaderless.lossy.join(', ')} acknowledged by node ${op.node} alone are LOST; their new replicas start empty and count at once (read repair and anti-entropy fill them: REPAIR TABLE)`
        this.d.log.error({ node: op.node, tables: leaderless.lossy }, text)
        warnings.push(text)
      }
    }
    const why = refilling ? `REMOVE NODE ${op.node}: node ${op.node} leaving, its leaderless_quorum replicas re-replicated from the survivors (then left)` : op.kind === 'drain' ? `DRAIN NODE ${op.node}: node ${op.node} leaving` : op.kind === 'cancel' ? `DRAIN NODE ${op.node} CANCEL: node ${op.node} normal again` : `REMOVE NODE ${op.node}: node ${op.node} removed`
    const { result, adopted } = await this.decide(next, why)
    if (result.kind === 'undecided') {
      throw new ScratchBirdError('SB_MEMBERSHIP_NO_MAJORITY', `${command} ${op.node} not done: membership epoch ${next.epoch} needs answers from a majority of members {${decreeVotersText(this.layout)}} within ${DECREE_TIMEOUT_MS} ms; no answer from node(s) {${result.missing.join(', ')}}; ${result.maybe ? 'voters that answered may hold it, so the decider may still complete it (SHOW CLUSTER MEMBERS tells)' : 'nothing was changed'}: retry once they are reachable`,
        { node: op.node, epoch: next.epoch, missing: result.missing })
    }
    if (result.kind === 'chosen' && !result.own) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `${command} ${op.node} not done: membership epoch ${next.epoch} was already decided by an earlier proposal (members {${result.layout.members.join(', ')}}), which this node completed; retry against the new layout`, { node: op.node, epoch: next.epoch })
    }
    if (result.kind !== 'chosen') {
      const why = result.kind === 'unrecorded' ? `this node's decree record could not be written (${result.message})` : result.kind === 'stale' ? 'a split\'s start other voters accepted was refused as judged against an older catalog, more often than this node retries' : result.kind === 'behind' ? `another node decided membership epoch ${next.epoch} first` : 'another node is deciding it at the same time'
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `${command} ${op.node} not done: membership epoch ${next.epoch} not decided here: ${why}; nothing was changed: retry`, { node: op.node, epoch: next.epoch })
    }
    if (!adopted) {
      throw new ScratchBirdError('SB_DRAIN_REFUSED', `${command} ${op.node}: membership epoch ${next.epoch} is decided but could not be recorded in this node's data directory yet (its log says why); it is recorded and takes effect at the next try of the decider`, { node: op.node, epoch: next.epoch })
    }
    return commandResult(command, 0, warnings)
  }

  /**
   * At the decider, while a drain or a join with leaderless tables runs (at most one status round
   * in flight, one per DRAIN_STATUS_EVERY_MS): asks every live member that may hold copies which
   * Mode 1 shards it leads and with which voters, and which leaderless fills it finished
   * (MEMBERSHIP_STATUS; this node answers itself). A drain ends (the leaving node left, epoch + 1)
   * once every shard runs on its target without it (cluster/membership/drain.ts
   * shardsStillMoving) and every leaderless fill has its marks (leaderless-moves.ts); a join ends
   * (the joining nodes normal, epoch + 1) on the latter. The shards still moving are kept for SHOW
   * SHARD MAP.
   */
  private finishMoves (): void {
    const node = (this.layout.leaving ?? [])[0]
    const joining = this.layout.joining ?? []
    if (node === undefined) this.drainMoving = []
    if ((node === undefined && joining.length === 0) || this.drainPoll) return
    const alive = knownAlive(this.states(), this.selfId)
    if (decider(this.layout, alive) !== this.selfId) return
    const now = this.d.clock.monotonic()
    if (now - this.drainPolledAt < DRAIN_STATUS_EVERY_MS) return
    this.drainPolledAt = now
    this.drainPoll = true
    const epoch = this.layout.epoch
    const asked = holdingMembers(this.layout).filter(alive)
    void Promise.all(asked.map(async id => {
      if (id === this.selfId) return { id, status: this.onMembershipStatus() }
      try {
        return { id, status: await this.d.rpc.call(this.addressOf(id), 'MEMBERSHIP_STATUS', {}, { timeoutMs: GOSSIP_CALL_TIMEOUT_MS, idempotent: true }) }
      } catch { return { id, status: { primaries: [] } } }
    })).then(answers => {
      if (this.layout.epoch !== epoch) return
      const reports = new Map<number, NodeId[][]>()
      const fills = new Map<NodeId, FillMark[]>()
      for (const { id, status } of answers) {
        for (const p of status.primaries) reports.set(p.shard, [...(reports.get(p.shard) ?? []), p.voters])
        fills.set(id, status.fills ?? [])
      }
      const view = this.leaderlessMoveView()
      const leaderless = view === null ? [] : leaderlessShardsStillMoving(view, fills)
      this.leaderlessMoving = leaderless
      // Single-copy shards: moved once their new owner leads their group without the old one.
      const single = this.singleCopyMoves() ? singleCopyShardsStillMoving(this.countPrefs.map(p => p[0]!), this.prefs.map(p => p[0]!), reports) : []
      if (node !== undefined) {
        const n = this.mode1Replicas()
        const targets = this.prefs.map(p => n > 1 ? p.slice(0, n) : [])
        const moving = [...new Set([...shardsStillMoving(node, targets, reports), ...single])].sort((a, b) => a - b)
        this.drainMoving = moving
        if (moving.length === 0 && leaderless.length === 0 && !this.changingLayout) {
          // A node REMOVE NODE made leaving (down, its replicas filled from the survivors) ends the same way.
          const gone = alive(node) ? '' : ` (down: re-replicated from the survivors; REMOVE NODE ${node} takes it out of the layout)`
          void this.decide(leftLayout(this.layout, node), `drain of node ${node} finished: every shard runs on its new replicas, node ${node} left; it holds nothing and may be stopped${gone}`)
        }
      } else if (leaderless.length === 0 && single.length === 0 && !this.changingLayout) {
        void this.decide(joinedLayout(this.layout), `node(s) ${joining.join(', ')} joined: their leaderless_quorum replicas are filled and count toward W and R, and the single copies placed on them moved, from now on`)
      }
    }).finally(() => { this.drainPoll = false })
  }

  /** TXN_STATUS to node `id`: does it still run transaction `xid` (node/orphan-txns.ts)? */
  async txnStatus (id: NodeId, xid: Xid): Promise<boolean> {
    return (await this.d.rpc.call(this.addressOf(id), 'TXN_STATUS', { xid }, { timeoutMs: GOSSIP_CALL_TIMEOUT_MS, idempotent: true })).live
  }

  /** MEMBERSHIP_STATUS: the Mode 1 shards this node leads, with their voters; the leaderless fills it finished. */
  private onMembershipStatus (): MembershipStatus {
    const fills = this.d.leaderlessFills?.() ?? []
    return { primaries: this.d.mode1Primaries?.() ?? [], ...(fills.length > 0 ? { fills: fills.map(f => ({ ...f, targets: [...f.targets] })) } : {}) }
  }

  /** More than one configured member: placement, forwarding and cluster DDL apply. */
  static enabled (config: Config): boolean {
    return config.cluster.nodes.some(n => n.id !== config.node.id)
  }

  register (methods: RpcMethods): void {
    methods
      .register('PING', p => p)
      .register('GOSSIP_SYNC', (p, ctx) => this.onGossip(p, ctx.from))
      .register('SHARD_QUERY', p => this.onShardQuery(p))
      .register('CATALOG_FETCH', (_p, ctx) => this.onCatalogFetch(ctx.from))
      .register('CATALOG_APPLY', (p, ctx) => this.onCatalogApply(p, ctx.from))
      .register('CATALOG_DDL', (p, ctx) => this.onDdl(p, ctx.from))
      .register('MEMBERSHIP_STATUS', () => this.onMembershipStatus())
      .register('MEMBERSHIP_DECREE', p => this.decrees.answer(p))
      .register('SPLIT_LOCK', (p, ctx) => this.onSplitLock(p, ctx.from))
  }

  start (): void {
    const round = (): void => {
      this.stateCache = null
      this.addressCache = null
      this.announceOldestSnapshot()
      this.announceHeldReplicas()
      this.announceVotersChanging()
      this.handle(this.machine.tick(this.d.clock.monotonic()))
      this.finishMoves()
      this.split.finish()
      this.completeDecree()
      this.completeReportedIntent()
      this.step(m => m.tick())
    }
    this.logPlacement()
    round()
    this.step(m => m.start())
    this.timer = setInterval(round, this.d.config.gossip.interval_ms)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  // ---- membership -------------------------------------------------------------------------------

  /** Puts this node's oldest open snapshot start in its gossip record when it changed. */
  private announceOldestSnapshot (): void {
    const text = formatOldestSnapshot(this.d.oldestSnapshot())
    if (text === this.announcedSnapshot) return
    this.announcedSnapshot = text
    this.machine.setLocal({ oldestActiveHlc: text })
  }

  /** While this node is leaving: what it still holds, in its gossip record when it changed (the decider ends the drain on 0). */
  private announceHeldReplicas (): void {
    if (layoutMemberState(this.layout, this.selfId) !== 'leaving') return
    const held = this.ownReplicas()
    if (this.machine.members(this.d.clock.monotonic()).find(m => m.isSelf)?.shardReplicas !== held) this.machine.setLocal({ shardReplicas: held })
  }

  /** Every member's oldest-snapshot announcement with its gossip state (the sweep horizon's cluster part). */
  announcingMembers (): AnnouncingMember[] {
    return this.machine.members(this.d.clock.monotonic()).map(m => ({ nodeId: m.nodeId, isSelf: m.isSelf, state: m.state, oldestActiveHlc: m.oldestActiveHlc }))
  }

  /** The oldest snapshot start the peers holding the horizon announce (snapshot-horizon.ts says which). */
  peerSnapshotFloor (): HlcTs | undefined {
    const { floor, malformed } = peerSnapshotFloor(this.announcingMembers())
    if (malformed.length > 0) this.d.log.warn({ nodes: malformed }, `Ignoring a malformed oldest-snapshot announcement from node(s) ${malformed.join(', ')} in the sweep horizon`)
    return floor
  }

  private view (): Map<NodeId, MemberView> {
    return new Map(this.machine.members(this.d.clock.monotonic()).map(m => [m.nodeId, m]))
  }

  /**
   * Member states by id, for the per-request liveness checks (routing, quorums): rebuilt only
   * after the gossip machine ran (a tick or a received message can change a state; nothing else
   * can), not on every shard request.
   */
  private states (): Map<NodeId, MemberState> {
    if (this.stateCache === null) {
      const states = new Map(this.machine.memberStates().map(m => [m.nodeId, m.state]))
      // A refused process (another cluster layout) answers at that node id now: down, never routed
      // to, even while the record of the id's previous process still looks fresh.
      for (const r of this.machine.refusedPeers()) states.set(r.nodeId, 'down')
      this.stateCache = states
    }
    return this.stateCache
  }

  liveNodes (): number {
    return liveMemberCount(this.ids, knownAlive(this.states(), this.selfId))
  }

  members (): MemberRow[] {
    const view = this.view()
    const n = this.replicaCount()
    const replicas = (id: NodeId): number => this.prefs.filter(p => p.slice(0, n).includes(id)).length
    const refused = new Set(this.machine.refusedPeers().map(r => r.nodeId))
    const rows: MemberRow[] = this.layout.members.map(id => {
      const m = view.get(id)
      const gossiped = refused.has(id) ? 'refused' : m?.state ?? 'unknown'
      // The layout's drain states rule over gossip's, but for a leaving node that is not running
      // (its drain waits for it): gossip's verdict says so.
      const inLayout = layoutMemberState(this.layout, id)
      const state = inLayout === 'left' || ((inLayout === 'leaving' || inLayout === 'joining') && (gossiped === 'normal' || gossiped === 'joining')) ? inLayout : gossiped
      return {
        nodeId: id,
        address: m?.address ?? this.addresses.get(id) ?? '',
        datacenter: m?.datacenter ?? this.d.config.cluster.nodes.find(n => n.id === id)?.datacenter ?? this.d.config.node.datacenter,
        state,
        heartbeatAgeMs: m === undefined ? null : Math.max(0, Math.round(m.heartbeatAgeMs)),
        clockOffsetMs: m?.clockOffsetMs === null || m === undefined ? null : Math.round(m.clockOffsetMs),
        // A leaving node: what it announces it still holds (placement gives it none).
        shardReplicas: inLayout === 'leaving' ? (id === this.selfId ? this.ownReplicas() : m?.shardReplicas ?? 0) : replicas(id)
      }
    })
    // Nodes gossip knows that are not members (a joiner; they hold no shards here). One gossip
    // shows down is no joiner: a node REMOVE NODE took out (its record lingers), not listed.
    for (const m of view.values()) {
      if (this.layout.members.includes(m.nodeId) || !isAlive(m.state)) continue
      rows.push({ nodeId: m.nodeId, address: m.address, datacenter: m.datacenter, state: m.state, heartbeatAgeMs: Math.round(m.heartbeatAgeMs), clockOffsetMs: m.clockOffsetMs === null ? null : Math.round(m.clockOffsetMs), shardReplicas: 0 })
    }
    return rows
  }

  shardMap (): ShardMapRow[] {
    const alive = routable(this.states(), this.selfId)
    const n = this.replicaCount()
    return shardIds(this.prefs.length).map(shard => {
      const row = this.shardMapMoving(shard, alive, n)
      // A bootstrap this node streams (the shard's primary): keys and bytes sent, rate, ETA.
      const progress = [this.leaderlessMovingText(shard), this.d.bootstrapProgress?.(shard) ?? null, this.d.leaderlessFillProgress?.(shard) ?? null, this.split.progressText(shard)].filter(x => x !== null)
      if (progress.length === 0) return row
      return { ...row, moving: [...(row.moving === undefined ? [] : [row.moving]), ...progress].join('; ') }
    })
  }

  /** The leaderless fills of `shard` a move still needs (null: none, or the decider's last round found them done). */
  private leaderlessMovingText (shard: ShardId): string | null {
    const view = this.leaderlessMoveView()
    if (view === null || (this.leaderlessMoving !== null && !this.leaderlessMoving.includes(shard))) return null
    return leaderlessMovingText(view, shard) ?? null
  }

  /** SHOW SHARD MAP's row of `shard` with the moves this node knows of. */
  private shardMapMoving (shard: ShardId, alive: (id: NodeId) => boolean, n: number): ShardMapRow {
    const row = shardMapRow(shard, this.prefs[shard]!, n, alive)
    // A Mode 1 shard still moving holds copies on its old voters too (membership/moves.ts).
    const moving = this.mode1ReplicasOf(shard).filter(id => !row.replicas.includes(id))
    if (moving.length === 0) {
      // The decider's last status round saw this shard still on a leaving node (this node holds no copy of it).
      const leaving = (this.layout.leaving ?? [])[0]
      return leaving !== undefined && this.drainMoving.includes(shard) ? { ...row, moving: `to {${row.replicas.join(', ')}} from {${leaving}}` } : row
    }
    const text = `to {${this.prefs[shard]!.slice(0, this.mode1Replicas()).join(', ')}} from {${moving.join(', ')}}`
    return { ...row, replicas: [...row.replicas, ...moving], live: [...row.live, ...moving.filter(alive)], moving: text }
  }

  /**
   * Shards this node holds a replica of (announced in gossip). While it is leaving: the Mode 1
   * copies it still has to hand over (its groups that still count it), which the decider reads to
   * end the drain (cluster/membership/drain.ts).
   */
  private ownReplicas (): number {
    if (layoutMemberState(this.layout, this.selfId) === 'leaving') {
      return shardIds(this.prefs.length).filter(s => this.mode1ReplicasOf(s).includes(this.selfId)).length
    }
    const n = this.replicaCount()
    return this.prefs.filter(p => p.slice(0, n).includes(this.selfId)).length
  }

  /** Copies of each shard the catalog's tables need (routing.ts shardReplicaCount). */
  private replicaCount (): number {
    return shardReplicaCount(this.d.catalog().tables, this.ids.length)
  }

  // ---- routing (cluster/routing.ts) -------------------------------------------------------------

  placedOwner (shard: ShardId): NodeId { return this.prefs[shard]![0]! }

  ownerOf (shard: ShardId, servedBy: NodeId | 0 = 0): NodeId | null {
    const alive = routable(this.states(), this.selfId)
    // The primary this node's own group knows, else the node that answered last (ShardRouter).
    const known = this.d.primaryOf?.(shard) ?? 0
    const primary = known !== 0 ? known : servedBy
    // A single copy moving: its group's primary when this node knows it, else the old owner — the
    // only node holding the rows until it hands over; after that it refuses naming the new one
    // (SB_NOT_PRIMARY, retried there). Never the new owner before it leads: it may lack rows.
    const move = this.singleCopyMove(shard)
    if (move !== null) return shardOwner([move.before], alive, 2, primary)
    return shardOwner(this.prefs[shard]!, alive, this.mode1Replicas(), primary)
  }

  /**
   * The single-copy move of `shard` under way (moves.ts singleCopyReplicas): the node holding its
   * copy before the join or drain (first over the members whose copies count) and the one the
   * placement gives it now; null when they are the same, no join or drain runs, or not every
   * primary_replica table keeps one copy (groups of N ≥ 2 move by their own lists).
   */
  singleCopyMove (shard: ShardId): { before: NodeId, target: NodeId } | null {
    if (this.countPrefs === this.prefs) return null
    const before = this.countPrefs[shard]?.[0]
    const target = this.prefs[shard]?.[0]
    if (before === undefined || target === undefined || before === target || !this.singleCopyMoves()) return null
    return { before, target }
  }

  /** Do the shards' copies move as single copies (some primary_replica table, each with N = 1)? */
  private singleCopyMoves (): boolean {
    return this.mode1Replicas() <= 1 && this.d.catalog().userTables.some(t => t.replication.replication_mode === 'primary_replica')
  }

  /** Copies of each shard Mode 1 keeps now (routing.ts primaryReplicaCount). */
  mode1Replicas (): number {
    return primaryReplicaCount(this.d.catalog().tables, this.ids.length)
  }

  /**
   * Mode 1: the replicas of `shard` when the tables need more than one copy: the first N of its
   * preference list, plus the old voters while it moves (membership/moves.ts). With one copy, none
   * but while a join or drain moves it (moves.ts singleCopyReplicas: old and new owner).
   */
  mode1ReplicasOf (shard: ShardId): NodeId[] {
    const n = this.mode1Replicas()
    if (n <= 1) {
      const move = this.singleCopyMove(shard)
      return move === null ? [] : singleCopyReplicas(this.selfId, move.before, move.target, this.d.primaryOf?.(shard) ?? 0, this.countedVoters(shard), this.d.mode1Retired?.(shard) === true)
    }
    return shardReplicasHere(this.selfId, n, this.prefs[shard]!.slice(0, n), this.heldPrefs[shard]!.slice(0, n), n <= 1 ? [] : this.countedVoters(shard),
      this.d.mode1Retired?.(shard) === true, layoutMemberState(this.layout, this.selfId) === 'left', n <= 1 ? [] : this.countedVoters(shard, true))
  }

  /** Mode 1: is `shard` still moving to its placement, as this node's group of it sees (membership/moves.ts)? */
  mode1Moving (shard: ShardId): boolean {
    const n = this.mode1Replicas()
    return n > 1 && shardMoving(this.prefs[shard]!.slice(0, n), this.countedVoters(shard))
  }

  /**
   * Of a Mode 1 group's voters, those removed from the cluster for good (REMOVE NODE: no member of
   * this node's layout, or one it marks removing; not alive in its gossip): the group stops counting them
   * (cluster/membership/forced-removal.ts).
   */
  goneVoters (voters: readonly NodeId[]): NodeId[] {
    return goneVoters({ self: this.selfId, voters, members: this.layout.members, removed: [...this.removedMembers], removing: this.layout.removing, alive: knownAlive(this.states(), this.selfId) })
  }

  /** The live members a forced campaign must also hear from (forced-removal.ts forcedWitnesses). */
  forcedWitnesses (): NodeId[] {
    return forcedWitnesses({ self: this.selfId, members: this.layout.members, alive: knownAlive(this.states(), this.selfId) })
  }

  /** The voters of this node's group of `shard` that still count (gone ones left out: a replacement takes their place). */
  private countedVoters (shard: ShardId, committed = false): NodeId[] {
    const voters = (committed ? this.d.mode1CommittedVoters : this.d.mode1Voters)?.(shard) ?? []
    const gone = this.goneVoters(voters)
    return gone.length === 0 ? voters : voters.filter(id => !gone.includes(id))
  }

  scanNodeOf (shard: ShardId, tableId: number, avoid: ReadonlySet<NodeId> = new Set()): NodeId | null | undefined {
    const t = this.d.catalog().tableById(tableId)
    if (t === undefined) return undefined
    const selfStale = this.d.replicaStale?.(shard) === true
    // While leaderless replicas move, the counted ones (the placement before the move) are scanned.
    const node = scanNode(t.replication, this.countPrefs[shard]!, this.selfId, routable(this.states(), this.selfId),
      id => avoid.has(id) || (selfStale && id === this.selfId), countedReplicas(t.replication.replication_factor, t.bootstrap, shard))
    // Only this node's own (stale) replica is left: refused as a peer's would be.
    if (node === null && selfStale && avoid.size === 0 && this.countPrefs[shard]!.slice(0, t.replication.replication_factor).includes(this.selfId)) throw staleReplica('QUERY', shard)
    return node
  }

  /**
   * A scan or join reading a leaderless_quorum table of a shard this node's replica does not serve
   * (stale, issue 15): refused like a quorum read, so no coordinator reads rows that may lack
   * deletes from it. null: served.
   */
  staleLocalRead (op: ShardOpName, req: ShardRequests[ShardOpName]): ScratchBirdError | null {
    if (op !== 'QUERY' && op !== 'JOIN_QUERY') return null
    if (this.d.replicaStale?.(req.shard) !== true) return null
    const tables = op === 'QUERY' ? [(req as ShardRequests['QUERY']).tableId] : (req as ShardRequests['JOIN_QUERY']).sides.map(s => s.tableId)
    const catalog = this.d.catalog()
    const leaderless = tables.some(id => {
      const t = catalog.tableById(id)
      return t !== undefined && REPLICATION_MODE_RULES[t.replication.replication_mode].scanAnyReplica
    })
    return leaderless ? staleReplica(op, req.shard) : null
  }

  /**
   * `routedBy`: the shard count the request was routed by (a statement's, node/shard-router.ts);
   * absent: routed just now, by the live count (quorum writes, hints, anti-entropy).
   */
  async forward (nodeId: NodeId, op: ShardOpName, shard: ShardId, payload: Uint8Array, timeoutMs = SHARD_CALL_TIMEOUT_MS, routedBy?: number): Promise<Uint8Array> {
    const shards = wireShardCount(this.layout, routedBy ?? this.liveShards)
    const reply = await this.d.rpc.call(this.addressOf(nodeId), 'SHARD_QUERY', { op, shard, catalogVersion: this.d.placingVersion(), shards, payload }, { timeoutMs })
    return reply.payload
  }

  /** The shard count this node runs with now (a split raises it: cluster/shard-count.ts). */
  get liveShards (): number {
    return this.d.shardCount?.shards ?? this.d.config.storage.shards
  }

  private async onShardQuery (q: ShardQuery): Promise<{ payload: Uint8Array }> {
    const { op, shard } = q
    // Before anything else: a request routed by another shard count (a split adopted here and not
    // yet there, or the reverse) is refused, retryable, whatever its shard id (cluster/shard-count-guard.ts).
    const live = this.liveShards
    checkShardCount(op, shard, routedShardCount(q.shards, this.layout, live), live, this.selfId)
    if (shard >= this.prefs.length) throw malformed(`SHARD_QUERY (no shard ${shard})`)
    this.refuseBehindCatalog(q)
    if (PLACED_WRITES.has(op)) this.refuseStalePlacement(q)
    if (QUORUM_REPLICA_OPS.has(op) && this.d.replicaStale?.(shard) === true) throw staleReplica(op, shard)
    if ((op === 'QUERY' || op === 'JOIN_QUERY') && this.d.replicaStale?.(shard) === true) {
      // Decoded only when the replica is stale (rare): a read of a leaderless table is refused.
      const refused = this.staleLocalRead(op, codecOf(op).decodeRequest(q.payload))
      if (refused !== null) throw refused
    }
    // Served here whatever this node's own view says: the sender routed by the same placement,
    // and re-forwarding could bounce a request between two nodes with different views.
    let payload = q.payload
    if (op === 'REPLICA_APPLY' || op === 'AE_APPLY') payload = this.observeReplicaApply(payload, op)
    return { payload: await this.d.workers.requestRaw(op, shard, payload) }
  }

  /**
   * A request placed by a peer holding a newer catalog than this node: this node cannot know how
   * the shard's tables are replicated yet (a node just admitted by a membership change has no
   * catalog until it fetches one, and no replication group until then), so serving it would
   * commit a single copy its shard's group never sees, or read a shard it holds none of. Refused,
   * changing nothing; catalog sync fetches the newer version on the next gossip round.
   */
  private refuseBehindCatalog (q: ShardQuery): void {
    const mine = this.d.catalog().version
    if (q.catalogVersion <= mine) return
    throw new ScratchBirdError('SB_CATALOG_STALE',
      `a ${q.op} for shard ${q.shard} was placed by catalog version ${q.catalogVersion}, and node ${this.selfId} holds version ${mine}; retry once it caught up`,
      { shard: q.shard, sender_catalog_version: q.catalogVersion, catalog_version: mine })
  }

  /**
   * A write placed by a peer whose catalog predates the last re-layout of a table (Catalog
   * layoutFloor) may put rows where the new layout does not look: refused, changing nothing, so
   * its client retries once that peer caught up (catalog-sync fetches on the next gossip round).
   * Cluster-wide rather than per table on purpose: it costs a retry only around a layout change.
   */
  private refuseStalePlacement (q: ShardQuery): void {
    const floor = this.d.catalog().layoutFloor
    if (q.catalogVersion >= floor) return
    throw new ScratchBirdError('SB_CATALOG_STALE',
      `a ${q.op} for shard ${q.shard} was placed by catalog version ${q.catalogVersion}, older than version ${floor} which changed a table's layout; retry when the sending node has caught up`,
      { shard: q.shard, sender_catalog_version: q.catalogVersion, layout_floor: floor })
  }

  /**
   * A quorum write, hint or read repair from a peer (DESIGN §3): every version updates this node's
   * HLC before anything is applied; one more than max_clock_offset_ms ahead refuses the whole
   * request (SB_CLOCK_OFFSET_EXCEEDED, counted). The versions are then committed at a commit HLC of
   * this node (above its snapshots' start points), not the coordinator's.
   */
  private observeReplicaApply (payload: Uint8Array, op: 'REPLICA_APPLY' | 'AE_APPLY'): Uint8Array {
    const codec = codecOf(op)
    const req = codec.decodeRequest(payload)
    const refused = this.observeHlc(req.writes.map(w => w.versionId))
    if (refused !== null) {
      this.d.log.warn({ shard: req.shard, err: refused.toJSON() }, `replica write refused: ${refused.message}`)
      throw refused
    }
    return codec.encodeRequest({ ...req, commitHlc: nextHlcTs(this.d.hlc) })
  }

  /** A member's RPC address (SB_NODE_UNREACHABLE for an unknown id). */
  peerAddress (nodeId: NodeId): string { return this.addressOf(nodeId) }

  private addressOf (nodeId: NodeId): string {
    this.addressCache ??= new Map(this.machine.memberStates().map(m => [m.nodeId, m.address]))
    const a = this.addresses.get(nodeId) ?? this.addressCache.get(nodeId)
    if (a === undefined) throw new ScratchBirdError('SB_NODE_UNREACHABLE', `node ${nodeId} is not a known cluster member`, { node: nodeId })
    return a
  }

  // ---- gossip -----------------------------------------------------------------------------------

  private resolve (to: GossipTarget): string {
    return (to.nodeId !== undefined ? this.addresses.get(to.nodeId) : undefined) ?? to.address
  }

  /** Feeds a peer's stamps to this node's HLC (cluster/hlc-observe.ts); a refusal is counted and returned. */
  private observeHlc (stamps: Iterable<RemoteStamp>): ScratchBirdError | null {
    const refused = observeRemoteHlc(this.d.hlc, stamps)
    if (refused !== null) this.d.metrics.hlcRemoteRejections.inc({ node_id: nodeIdLabel(this.selfId) })
    return refused
  }

  /** Every gossip message updates the HLC (DESIGN §3); one too far ahead is refused whole. */
  private observeGossipHlc (text: string, from: NodeId): boolean {
    const refused = this.observeHlc([text])
    if (refused === null) return true
    this.d.log.warn({ peer: from, err: refused.toJSON() }, `gossip from node ${from} refused: ${refused.message}`)
    return false
  }

  private onGossip (msg: GossipPing, from: NodeId): GossipAck | null {
    if (!this.observeGossipHlc(msg.hlc, from)) throw new ScratchBirdError('SB_CLOCK_OFFSET_EXCEEDED', `node ${this.selfId} refuses gossip from node ${msg.from}: its clock is too far ahead`)
    this.stateCache = null
    this.addressCache = null
    const out = this.machine.receive(this.addresses.get(msg.from) ?? '', msg, this.d.clock.monotonic(), this.d.clock.now())
    let ack: GossipAck | null = null
    for (const o of out) {
      if (o.type === 'send' && o.msg.type === 'ack' && o.msg.from === this.selfId && ack === null) ack = { ...o.msg, hlc: encodeHlc(this.d.hlc) }
    }
    this.handle(out.filter(o => !(o.type === 'send' && o.msg.type === 'ack')))
    return ack
  }

  private handle (outputs: GossipOutput[]): void {
    for (const o of outputs) {
      switch (o.type) {
        case 'send': if (o.msg.type === 'ping') this.sendPing(o.to, { ...o.msg, hlc: encodeHlc(this.d.hlc) }); break
        case 'member-state': this.onMemberState(o.nodeId, o.address, o.from, o.to); break
        case 'member-restarted': this.d.log.info({ peer: o.nodeId, address: o.address }, `Node ${o.nodeId} restarted (${o.address})`); break
        case 'clock-skew': {
          const ms = Math.round(Math.abs(o.offsetMs))
          this.d.log.warn({ peer: o.nodeId, offsetMs: Math.round(o.offsetMs), rttMs: Math.round(o.rttMs) },
            `Clock skew detected: Node ${o.nodeId} clock ${ms}ms ${o.offsetMs < 0 ? 'behind' : 'ahead of'} Node ${this.selfId}`)
          break
        }
        case 'catalog-behind': this.step(m => m.behind(o.nodeId)); break
        case 'id-conflict':
          this.d.log.error({ peer: o.nodeId, address: o.address }, `node id ${o.nodeId} is already in use by a live node at ${o.address}; refusing to run as a second node ${o.nodeId}`)
          this.d.onFatal(`node id ${o.nodeId} is already alive at ${o.address}`)
          break
        case 'id-contested':
          this.d.log.warn({ peer: o.nodeId, address: o.address }, `another process at ${o.address} tried to take node id ${o.nodeId}; this node keeps it`)
          break
        case 'layout-refused':
          this.d.log.error({ peer: o.nodeId, address: o.address, reason: o.reason },
            `Node ${o.nodeId} (${o.address}) refused: its cluster layout differs (${o.reason}); not a member, nothing is routed to it (SB_LAYOUT_MISMATCH)`)
          break
        case 'layout-newer': void this.adoptLayout(o.layout, `from node ${o.nodeId}`); break
        case 'join-request': this.admit(o.nodeId, o.address); break
        case 'awaiting-admission':
          this.awaitingAdmission = true
          this.d.log.info({ peer: o.nodeId, address: o.address, epoch: o.epoch },
            `Waiting to be admitted to cluster ${this.layout.cluster}: node ${o.nodeId} (${o.address}) runs membership epoch ${o.epoch} without this node; the lowest live member admits it`)
          break
        case 'left': break
        case 'paused':
          this.d.log.warn({ stalledMs: Math.round(o.stalledMs) }, `This node stalled for ${Math.round(o.stalledMs)} ms (paused process, GC or VM); peers' silence during the stall is not held against them`)
          break
      }
    }
  }

  private sendPing (to: GossipTarget, msg: GossipPing): void {
    void this.exchange(to, msg)
  }

  /** One gossip exchange: the ping sent, its ack taken in; settles when it is (never rejects). */
  private async exchange (to: GossipTarget, msg: GossipPing): Promise<void> {
    await this.d.rpc.call(this.resolve(to), 'GOSSIP_SYNC', msg, { timeoutMs: GOSSIP_CALL_TIMEOUT_MS, idempotent: true }).then(ack => {
      if (ack === null) return
      if (!this.observeGossipHlc(ack.hlc, ack.from)) return
      this.stateCache = null
      this.addressCache = null
      this.handle(this.machine.receive(this.resolve(to), ack, this.d.clock.monotonic(), this.d.clock.now()))
    }, (e: unknown) => {
      // Silence is what the failure detector measures; the error itself adds nothing.
      this.d.log.debug({ to, err: isScratchBirdError(e) ? e.code : messageOf(e) }, 'gossip exchange failed')
    })
  }

  /**
   * Exchanges layouts with `peer` now (a gossip ping outside the rounds, awaited): a statement a
   * peer refused for its shard count (SB_SHARD_COUNT_STALE) learns the newer layout — or hands
   * ours to the peer — without waiting for gossip to pick that peer (exec/shard-count-retry.ts).
   * A layout whose new shards are not open here yet is adopted at the next offer (adoptLayout).
   */
  async syncLayoutWith (peer: NodeId): Promise<void> {
    // Statements refused together by one peer share one exchange.
    const running = this.layoutSyncs.get(peer)
    if (running !== undefined) return await running
    const out = this.machine.pingTo(peer, this.d.clock.monotonic())
    const done = Promise.all(out.map(async o => { if (o.type === 'send' && o.msg.type === 'ping') await this.exchange(o.to, { ...o.msg, hlc: encodeHlc(this.d.hlc) }) }))
      .then(() => {}).finally(() => this.layoutSyncs.delete(peer))
    this.layoutSyncs.set(peer, done)
    await done
  }

  /** syncLayoutWith's exchanges in flight, per peer. */
  private readonly layoutSyncs = new Map<NodeId, Promise<void>>()

  // Lines as in the seed's "Example Log Entries": joins at INFO, node failures at ERROR (the seed's
  // level for them), suspicion at WARNING.
  private onMemberState (nodeId: NodeId, address: string, from: MemberState | null, to: MemberState): void {
    // A member cluster.nodes does not list (admitted at run time): its datacenter is known now.
    if (from === null && this.layout.members.includes(nodeId) && !this.addresses.has(nodeId)) this.place()
    if (nodeId === this.selfId) {
      this.d.log.info({ state: to }, `this node is ${to} in cluster ${this.d.config.cluster.name}`)
      return
    }
    const fields = { peer: nodeId, address, from, to }
    let text: string
    if (to === 'normal' && from !== 'suspect' && from !== 'normal') this.d.log.info(fields, text = `Node ${nodeId} joined cluster (gossip)`)
    else if (to === 'down') this.d.log.error(fields, text = `Node ${nodeId} is down: silent for ${this.d.config.gossip.heartbeat_timeout_ms} ms`)
    else if (to === 'suspect') this.d.log.warn(fields, text = `Node ${nodeId} is suspect: no heartbeat for ${this.d.config.gossip.heartbeat_timeout_ms / 2} ms`)
    else this.d.log.info(fields, text = `Node ${nodeId} is ${to}${from === null ? '' : ` (was ${from})`}`)
    this.d.onTopology?.({ nodeId, address, from, to, text })
  }

  /**
   * The placement ("Shard 001 assigned to {Node 1, Node 2, Node 3}": every replica), at start and
   * again when a catalog change changes how many copies of each shard the tables need.
   */
  private logPlacement (): void {
    const n = this.replicaCount()
    this.loggedReplicas = n
    shardIds(this.prefs.length).forEach(shard => {
      const p = this.prefs[shard]!
      const replicas = p.slice(0, n)
      this.d.log.info({ shard, owner: p[0], replicas, preference: p }, shardAssignmentLine(shard, replicas))
    })
  }

  // ---- catalog (cluster/catalog-sync) ----------------------------------------------------------

  /** The node that serialises DDL: the lowest configured id alive in this node's view. */
  coordinator (): number {
    this.observeCatalogs()
    return this.sync.coordinator()
  }

  /** Called whenever this node's catalog changes: gossip announces the version. */
  noteCatalog (c: Catalog): void {
    this.sync.installed(c)
    this.machine.setLocal({ catalogVersion: c.version })
    this.announceVotersChanging()
    if (this.replicaCount() !== this.loggedReplicas) {
      this.machine.setLocal({ shardReplicas: this.ownReplicas() })
      this.logPlacement()
    }
  }

  /**
   * Refuses tables whose replication the cluster cannot provide (cluster/catalog-sync/providable.ts),
   * and, while a split runs or is being decided here, a catalog change it depends on
   * (cluster/split-ddl-guard.ts): checked on the coordinator as it builds the next version from `s`.
   */
  checkProvidable (c: Catalog, s?: DdlStatement): void {
    checkProvidable(c, this.ids.length)
    // A split recorded, being decided here or by a decider holding our split lock (held at any
    // time since the statement's fetch round began), or held by a member that answered that round.
    const now = this.d.clock.monotonic()
    const round = this.building
    const since = round?.since ?? now
    const l = this.layout
    const view: DdlSplitView = {
      layoutEpoch: l.epoch,
      recorded: l.split !== undefined ? { shards: l.shards, to: l.split.to } : null,
      deciding: this.split.starting(),
      lock: this.splitLock.heldSince(since, now, l.epoch),
      accepted: this.decrees.acceptedSplit(),
      roundSince: since,
      reported: round?.holds ?? [],
      catalogs: round === null ? undefined : { voters: decreeVoters(l), self: this.selfId, own: this.d.catalog().version, answered: round.answered }
    }
    const split = ddlSplit(view)
    const before = splitCatalogFacts(this.d.catalog(), this.ids.length)
    const after = splitCatalogFacts(c, this.ids.length)
    const label = s === undefined ? 'this DDL statement' : ddlLabel(s)
    const refused = splitDdlRefusal(split, before, after, label)
    // Held back only by an intent accepted somewhere: the decider completes it (completeReportedIntent).
    if (refused !== null && heldByRecordOnly(view)) this.intentReported = true
    if (refused !== null) throw refused
    // One the split would refuse needs a majority of the decree's voters in its fetch round (rule 4).
    if (round !== null && splitDdlRefusal({ shards: l.shards, to: l.shards * 2 }, before, after, label) !== null) {
      const short = splitDdlQuorum(decreeVoters(l), this.selfId, round.answered, label)
      if (short !== null) throw short
    }
  }

  /** What a statement's fetch round reported (split-ddl-lock.ts rules 3, 4), by the op of the statement. */
  private noteRoundReply (op: number, from: NodeId, catalogVersion: number, holds: readonly SplitHold[]): void {
    const round = this.fetchRound
    if (round?.op !== op) return
    round.answered.set(from, catalogVersion)
    const receivedAt = this.d.clock.monotonic()
    for (const hold of holds) round.holds.push({ from, hold, receivedAt })
  }

  /**
   * The replicas of `shard` for a table of replication factor `n`: the first n of its preference
   * list; while a join or drain moves leaderless replicas, the first n of the list before the move
   * (those count toward W and R, and come first), then the new ones being filled
   * (cluster/membership/leaderless-moves.ts quorumReplicas).
   */
  replicasOf (shard: ShardId, n: number): NodeId[] {
    // Only while a move runs with leaderless tables (Mode 1 moves keep their own lists: moves.ts).
    if (this.countPrefs === this.prefs || this.leaderlessMoveView() === null) return this.prefs[shard]!.slice(0, n)
    return quorumReplicas(this.countPrefs[shard]!, this.prefs[shard]!, n)
  }

  /**
   * The replicas of `shard` for a table of replication factor `n` being filled by the join or
   * drain under way (leaderless-moves.ts fillTargets; none when nothing moves): a quorum write
   * needs each one's ack besides W of the old ones (cluster/quorum/ack-rule.ts).
   */
  pendingOf (shard: ShardId, n: number): NodeId[] {
    if (this.countPrefs === this.prefs || this.leaderlessMoveView() === null) return []
    return fillTargets(this.countPrefs[shard]!, this.prefs[shard]!, n)
  }

  /**
   * The shards this node holds a leaderless replica of (the first N of the preference list, N the
   * largest of the leaderless tables'), each with its other replicas: what anti-entropy repairs.
   */
  leaderlessShards (): HeldShard[] {
    let n = 0
    for (const t of this.d.catalog().tables) {
      if (REPLICATION_MODE_RULES[t.replication.replication_mode].scanAnyReplica) n = Math.max(n, t.replication.replication_factor)
    }
    const out: HeldShard[] = []
    if (n === 0) return out
    this.prefs.forEach((_pref, shard) => {
      const replicas = this.replicasOf(asShardId(shard), n)
      if (replicas.includes(this.selfId)) out.push({ shard: asShardId(shard), peers: replicas.filter(id => id !== this.selfId) })
    })
    return out
  }

  /** A TABLE_FENCE RPC to a peer (node/table-fences.ts). */
  async callFence (to: NodeId, req: TableFenceRequest, timeoutMs: number): Promise<{ rows: boolean }> {
    return await this.d.rpc.call(this.addressOf(to), 'TABLE_FENCE', req, { timeoutMs })
  }

  /** The highest catalog version gossip shows a live member holding, ours included. */
  newestCatalogSeen (): number {
    let v = this.d.catalog().version
    for (const m of this.view().values()) if (isAlive(m.state) && m.catalogVersion > v) v = m.catalogVersion
    return v
  }

  /** Is `id` alive in this node's gossip view (self always; a member never heard of counts as alive)? */
  /** Is `id` in the recorded layout (a node admitted at run time too, which cluster.nodes need not list)? */
  isLayoutMember (id: NodeId): boolean {
    return this.layout.members.includes(id)
  }

  isAlive (id: NodeId): boolean {
    return routable(this.states(), this.selfId)(id)
  }

  /** A DDL statement from a client of this node: run here when coordinator, else forwarded. */
  async ddl (s: DdlStatement): Promise<StatementResult> {
    // A joiner not admitted yet sees no member but itself: it would coordinate a catalog of its own.
    if (this.awaitingAdmission) {
      throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `node ${this.selfId} waits to be admitted to cluster ${this.layout.cluster} (its log says why); it runs no DDL until then: retry, or send the statement to a member`, { node: this.selfId, epoch: this.layout.epoch })
    }
    return await this.runOp(op => this.step(m => m.submit(op, s)))
  }

  /** Our catalog, and whether we are running a statement (a lower id that fetches waits for it). */
  private onCatalogFetch (from: NodeId): CatalogFetchReply {
    this.sync.contact(from)
    return { catalog: this.d.catalog().toJSON(), coordinating: this.sync.coordinating, holds: this.splitHolds() }
  }

  /** The splits this node holds, as its CATALOG_FETCH reply reports them (cluster/split-ddl-lock.ts rule 3). */
  private splitHolds (): SplitHold[] {
    const l = this.layout
    const holds: SplitHold[] = []
    if (l.split !== undefined) holds.push({ kind: 'recorded', epoch: l.epoch, shards: l.shards, to: l.split.to, lapsedMs: 0 })
    const accepted = this.decrees.acceptedSplit()
    if (accepted !== null) holds.push(accepted)
    const lock = this.splitLock.hold(this.d.clock.monotonic(), l.epoch)
    if (lock !== null) holds.push(lock)
    return holds
  }

  private async onDdl (p: { sql: string }, from: NodeId): Promise<DdlReply> {
    this.sync.contact(from)
    const statements = parse(p.sql)
    const s = statements[0]
    if (statements.length === 1 && s?.kind === 'drain_node') {
      // A membership operation sent to the decider (membershipOp).
      const result = await this.runMembershipOp({ kind: s.op ?? 'drain', node: asNodeId(s.node), force: s.force === true })
      return { command: result.command, warnings: result.warnings, catalog: this.d.catalog().toJSON() }
    }
    if (statements.length === 1 && s?.kind === 'alter_cluster') {
      // A split's intent or cancel sent to the decider (splitOp); the sender checked the blockers.
      const result = await this.split.op(s.shards)
      return { command: result.command, warnings: result.warnings, catalog: this.d.catalog().toJSON() }
    }
    if (statements.length !== 1 || s === undefined || !DDL_KINDS.has(s.kind)) throw malformed('CATALOG_DDL (one CREATE, ALTER or DROP TABLE or INDEX, user or grant statement expected)')
    const result = await this.runOp(op => this.step(m => m.coordinate(op, s as DdlStatement)))
    return { command: result.command, warnings: result.warnings, catalog: this.d.catalog().toJSON() }
  }

  private onCatalogApply (p: CatalogDoc, from: NodeId): { version: number } {
    this.sync.contact(from)
    const c = this.readCatalog(p.catalog, from)
    this.step(m => m.onPush(from, c))
    return { version: this.d.catalog().version }
  }

  /** A catalog document from a peer, checked (SB_RPC_MALFORMED when it is not one). */
  private readCatalog (doc: unknown, from: NodeId): Catalog {
    try { return Catalog.fromJSON(doc) } catch (e) {
      if (isScratchBirdError(e)) throw malformed(`catalog from node ${from}: ${e.message}`)
      throw e
    }
  }

  /** A DDL op in the machine, as a promise settled by its 'ddl-done' / 'ddl-failed' output. */
  private async runOp (begin: (op: number) => void): Promise<StatementResult> {
    const op = this.nextOp++
    return await new Promise<StatementResult>((resolve, reject) => {
      this.ddlOps.set(op, { resolve, reject })
      begin(op)
    })
  }

  private observeCatalogs (): void {
    this.sync.observe(this.view().values())
  }

  /** One input to the catalog-sync machine, against gossip's current view, and its outputs carried out. */
  private step (input: (m: CatalogSync<Catalog, DdlStatement, StatementResult>) => SyncOutput[]): void {
    this.observeCatalogs()
    for (const o of input(this.sync)) this.carryOut(o)
  }

  private carryOut (o: SyncOutput): void {
    switch (o.type) {
      case 'fetch':
        if (o.op !== undefined && this.fetchRound?.op !== o.op) this.fetchRound = { op: o.op, since: this.d.clock.monotonic(), answered: new Map(), holds: [] }
        // Through a promise: a member whose address is not known yet (admitted at run time, its
        // gossip record not heard since this start) fails like an unreachable one, not the caller.
        Promise.resolve().then(async () => await this.d.rpc.call(this.addressOf(o.to), 'CATALOG_FETCH', {}, { timeoutMs: CATALOG_CALL_TIMEOUT_MS, idempotent: true })).then(reply => {
          let c: Catalog
          try { c = this.readCatalog(reply.catalog, o.to) } catch (e) { this.step(m => m.onCallFailed(o.call, coded(e))); return }
          if (o.op !== undefined) this.noteRoundReply(o.op, o.to, c.version, reply.holds ?? [])
          this.step(m => m.onFetched(o.call, c, reply.coordinating))
        }, (e: unknown) => this.step(m => m.onCallFailed(o.call, coded(e))))
        break
      case 'push':
        Promise.resolve().then(async () => await this.d.rpc.call(this.addressOf(o.to), 'CATALOG_APPLY', { catalog: o.catalog.toJSON() }, { timeoutMs: CATALOG_CALL_TIMEOUT_MS, idempotent: true }))
          .then(r => this.step(m => m.onPushed(o.call, r.version)), (e: unknown) => this.step(m => m.onCallFailed(o.call, coded(e))))
        break
      case 'forward':
        // secrets: a user statement's PASSWORD is a verifier by now (exec/executor.ts), never a password.
        Promise.resolve().then(async () => await this.d.rpc.call(this.addressOf(o.to), 'CATALOG_DDL', { sql: formatStatement(o.statement, { secrets: true }) }, { timeoutMs: CATALOG_CALL_TIMEOUT_MS })).then(reply => {
          let c: Catalog
          try { c = this.readCatalog(reply.catalog, o.to) } catch (e) { this.step(m => m.onCallFailed(o.call, coded(e))); return }
          const result = commandResult(reply.command, 0, reply.warnings)
          this.step(m => m.onForwarded(o.call, result, c))
        }, (e: unknown) => this.step(m => m.onCallFailed(o.call, coded(e))))
        break
      case 'run-ddl': {
        // runDdl validates and checks what the cluster can provide, or throws; it installs nothing.
        let outcome: DdlOutcome<Catalog, StatementResult>
        // checkProvidable judges the statement against what its fetch round reported (split-ddl-lock.ts rules 3, 4).
        const round = this.fetchRound?.op === o.op ? this.fetchRound : { op: o.op, since: this.d.clock.monotonic(), answered: new Map<NodeId, number>(), holds: [] }
        this.fetchRound = null
        this.building = round
        try { outcome = { ok: true, ...this.d.runDdl(o.statement) } } catch (e) { outcome = { ok: false, error: coded(e) } } finally { this.building = null }
        this.step(m => m.ddlRan(o.op, outcome))
        break
      }
      case 'install':
        // A failure to persist is the statement's own failure on a single node too; here the
        // peers already hold the version, so this node catches up from them once it can write.
        try { this.d.installCatalog(o.catalog) } catch (e) {
          this.sync.installed(this.d.catalog())
          this.d.log.error({ version: o.catalog.version, err: describe(e) }, `catalog version ${o.catalog.version} could not be installed here`)
        }
        break
      case 'adopt':
        try {
          this.d.installCatalog(o.catalog)
          this.d.log.info({ version: o.catalog.version, from: o.from }, `catalog version ${o.catalog.version} installed from node ${o.from}`)
        } catch (e) {
          this.sync.installed(this.d.catalog()) // not persisted: the machine goes on from what this node holds
          this.d.log.error({ version: o.catalog.version, from: o.from, err: describe(e) }, `catalog version ${o.catalog.version} from node ${o.from} could not be installed`)
        }
        break
      case 'ddl-done': this.settleOp(o.op, op => op.resolve(o.result)); break
      case 'ddl-failed': this.settleOp(o.op, op => op.reject(o.error)); break
      case 'push-failed':
        // The peer catches up from gossip (it sees the higher version and fetches).
        this.d.log.warn({ peer: o.to, err: o.error.code }, `catalog version ${o.version} not delivered to node ${o.to} yet`)
        break
      case 'fetch-failed':
        this.d.log.warn({ peer: o.to, err: o.error.code }, `catalog fetch from node ${o.to} failed; retried when gossip next shows a newer version`)
        break
    }
  }

  private settleOp (op: number, settle: (p: { resolve: (r: StatementResult) => void, reject: (e: unknown) => void }) => void): void {
    const p = this.ddlOps.get(op)
    if (p === undefined) return
    this.ddlOps.delete(op)
    settle(p)
  }
}

/** A DDL statement as a refusal names it: its kind and the relation it names ("ALTER TABLE m"). */
function ddlLabel (s: DdlStatement): string {
  const kind = s.kind.split('_').join(' ').toUpperCase()
  const name = s.kind === 'alter_table' || s.kind === 'create_index' ? s.table : 'name' in s && typeof s.name === 'string' ? s.name : null
  return name === null ? kind : `${kind} ${name}`
}
