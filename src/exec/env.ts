// What the SQL executors need of the node, as small ports: each module takes only the ports it
// reads (a scan needs ShardPort, a program Generators, DDL the CatalogPort …). ExecEnv is all of
// them together; the node builds one in its wiring module (src/node/exec-wiring.ts). Nothing in
// src/exec reaches for process-wide state.
import type { TransactionsHorizon } from '../cluster/snapshot-horizon'
import type { Catalog, TableInfo } from '../catalog/catalog'
import type { TableDefaults } from '../catalog/replication-options'
import type { Clock } from '../core/clock'
import type { Hlc } from '../core/hlc'
import type { UuidV7Generator } from '../core/uuid'
import type { TwoPhaseIo } from '../cluster/twopc'
import type { FenceRelease } from '../cluster/table-fences'
import type { ShardOpName, ShardReplies, ShardRequests } from '../shard/protocol/ops'
import type { MerkleStatsMessage } from '../shard/protocol/messages'
import type { ReplicaWrite } from '../storage/engine'
import type { Tuple } from '../storage/keys'
import type { VersionScanRow } from '../storage/version-scan'
import type { DdlStatement, AlterClusterStatement, DrainNodeStatement, Statement } from '../sql/ast'
import type { StatementResult } from './result'
import type { SnapshotRegistry } from './snapshots'
import type { LiveTxns } from './live-txns'
import type { CatalogPins } from './catalog-pins'
import type { PlanCache } from './plan-cache'
import type { StatementReport } from '../core/statement-report'
import type { NodeId, ShardId } from '../core/ids'
import type { TracePort } from '../core/trace-context'

/** A row of SHOW CLUSTER MEMBERS. */
export interface MemberRow {
  nodeId: NodeId
  address: string
  datacenter: string
  state: string
  heartbeatAgeMs: number | null
  clockOffsetMs: number | null
  shardReplicas: number
}

/**
 * A row of SHOW SHARD MAP: the shard's preference list, its replicas (every node holding a copy)
 * and which of those are live; for a shard with a Mode 1 group on this node (issue 14) its primary
 * as this node knows it (null: none known), generation and each replica's state ("2:in sync,…").
 */
export interface ShardMapRow {
  shard: ShardId
  preference: NodeId[]
  replicas: NodeId[]
  live: NodeId[]
  mode1?: { primary: NodeId | null, generation: number, replicaStates: string } | undefined
  /** The shard's replicas move (a membership change): "to {…} from {…}"; absent: not moving as far as this node knows. */
  moving?: string | undefined
  /** Leaderless replicas of the shard still being filled, per table (node/leaderless-bootstrap.ts shardState). */
  leaderlessBootstrap?: string | undefined
}

/**
 * Leaderless quorum replication (DESIGN §6 "Mode 3"), present on a node in a cluster
 * (src/node/quorum.ts); the leaderless access (access/lww.ts) is its only user. Without it (a
 * single node) leaderless tables are written and read like any other table on the one replica
 * there is.
 */
export interface QuorumIo {
  /** Writes one autocommit statement's versions (per shard) to W of N replicas each; SB_QUORUM_NOT_ACHIEVED otherwise. */
  write (table: TableInfo, writes: ReadonlyMap<ShardId, ReplicaWrite[]>): Promise<void>
  /**
   * Ships a transaction's buffered writes at COMMIT (access/lww-buffer.ts): one XID for all
   * batches, each batch one QuorumWrite (one REPLICA_APPLY per replica); resolves when every batch
   * reached its W, else rejects with SB_QUORUM_NOT_ACHIEVED (the batches that did reach W stand).
   */
  writeBatches (batches: readonly QuorumBatch[]): Promise<void>
  /** The largest shard batch (estimated bytes of keys and rows) a replica accepts in one REPLICA_APPLY. */
  readonly maxBatchBytes: number
  /** Point reads on one shard from R of N replicas: per pk the newest row, null when absent or deleted. */
  read (table: TableInfo, shard: ShardId, pks: readonly Tuple[]): Promise<(Uint8Array | null)[]>
  /** The replicas of `shard` for replication factor `n` (EXPLAIN). */
  replicas (shard: ShardId, n: number): number[]
  /**
   * A page of `table`'s keys on `shard` after `after` from each of its replicas (REPLICA_VERSION_SCAN,
   * tombstones and commit HLCs included), one array per replica that answered: what a move reads
   * of a populated leaderless table (exec/table-move-source.ts merges them by version). Every
   * replica counted toward R and W is asked; fewer than N − W + 1 answers fail it with
   * SB_QUORUM_NOT_ACHIEVED — that many always include one replica of every acknowledged write.
   */
  scanReplicas (table: TableInfo, shard: ShardId, after: Tuple | null, limit: number): Promise<VersionScanRow[][]>
}

/**
 * Write fences of a DDL that needs an empty table (node/table-fences.ts; the shard side:
 * storage/table-fence.ts): while fenced, a table's writes are refused on every replica, so "no
 * replica holds a row" stays true until the catalog has changed.
 */
export interface TableFenceIo {
  /**
   * Fences `table` on every replica of every shard under `token` and answers whether any replica
   * holds a row (committed, or of a prepared transaction). SB_QUORUM_NOT_ACHIEVED when a replica
   * is down or cannot be fenced; what was fenced is then released.
   */
  fence (table: TableInfo, token: string): Promise<boolean>
  /** Tells every replica's node how the DDL ended; each lifts its fence by the rules of cluster/table-fences.ts. Never throws. */
  release (table: TableInfo, token: string, how: FenceRelease): Promise<void>
}

/** DDL write fences (every node has them, alone or in a cluster) and the catalog versions running writes were planned with. */
export interface FencePort {
  readonly fences: TableFenceIo
  readonly catalogPins: CatalogPins
}

/** One shard's writes of a transaction, for the replicas of that shard under (N, W). */
export interface QuorumBatch {
  readonly shard: ShardId
  readonly replicationFactor: number
  readonly writeQuorum: number
  /** How many of the first replicas count toward W (catalog/replica-bootstrap.ts countedReplicas). */
  readonly countedReplicas: number
  readonly writes: ReplicaWrite[]
}

/** The hints this node keeps for other nodes (a cluster with leaderless tables). */
export interface HintsIo {
  /** DELIVER HINTS TO NODE n. */
  deliver (node: number): Promise<{ target: NodeId, delivered: number, remaining: number }>
  /** Hints this node keeps, per target node (sys_hints). */
  stats (): { target: NodeId, count: number, bytes: number }[]
}

/** The shards: how many there are, and requests to their workers (local, or routed in a cluster). */
export interface ShardPort {
  readonly shards: number
  /** `routedBy`: the shard count the request was routed by (a statement's: exec/shard-count-retry.ts); refused when not the count in force. */
  request<K extends ShardOpName> (op: K, req: ShardRequests[K], routedBy?: number): Promise<ShardReplies[K]>
}

/** What SBLR programs and version ids draw on: the node's HLC, its UUIDv7 generator, its clock. */
export interface Generators {
  readonly hlc: Hlc
  readonly uuidV7: UuidV7Generator
  readonly clock: Clock
}

/** Two-phase commit I/O (transactions writing several shards). */
export interface TwoPhasePort {
  readonly twoPhase: TwoPhaseIo
}

/** The node's open snapshot transactions (the sweep's horizon never passes the oldest one). */
export interface SnapshotPort {
  readonly snapshots: SnapshotRegistry
  /** The transactions this node coordinates (live-txns.ts); absent in tools and some tests. */
  readonly liveTxns?: LiveTxns
}

/** The catalog this node uses now. */
export interface CatalogPort {
  catalog: () => Catalog
}

/** The node's plan cache (plan-cache.ts); without one every statement is parsed and planned each time. */
export interface PlanCachePort {
  readonly planCache?: PlanCache
}

/** Applying DDL: validation context, the commit point, warnings, and the cluster's coordinator. */
export interface DdlPort {
  /** Live nodes of the cluster (bound replication_factor when a table is created or its N raised). */
  readonly liveNodes: () => number
  /** Replication options of new tables whose CREATE TABLE does not set them (config replication.default_*). */
  readonly tableDefaults: TableDefaults
  /** Persists and installs a new catalog version (the DDL statement's commit point). */
  setCatalog: (c: Catalog) => void
  warn: (message: string, details: Record<string, unknown>) => void
  /** In a cluster, DDL goes through the catalog coordinator; alone, the executor applies it here. */
  runDdl?: ((s: DdlStatement) => Promise<StatementResult>) | undefined
}

/** The cluster as this node sees it (SHOW CLUSTER MEMBERS, SHOW SHARD MAP, SHOW TRANSACTIONS HORIZON). */
export interface ClusterView {
  members: () => MemberRow[]
  shardMap: () => ShardMapRow[]
  /** The garbage-collection horizon the sweep would use now and each member's part in it (cluster/snapshot-horizon.ts). */
  transactionsHorizon: () => TransactionsHorizon
  /** DRAIN NODE [CANCEL] / REMOVE NODE (node/cluster.ts membershipOp); absent on a single node. */
  membershipOp?: ((s: DrainNodeStatement) => Promise<StatementResult>) | undefined
  /** ALTER CLUSTER SET shards = n decided at the decider (node/cluster.ts splitOp); absent on a single node. */
  splitOp?: ((s: AlterClusterStatement) => Promise<StatementResult>) | undefined
  /** Exchanges layouts with a peer now (node/cluster.ts syncLayoutWith; exec/shard-count-retry.ts); absent on a single node. */
  syncLayoutWith?: ((node: NodeId) => Promise<void>) | undefined
  /** Mode 1: waits (bounded) until every replication group on this node knows its primary; the shards still without one. Absent on a single node. */
  awaitPrimaries?: (() => Promise<ShardId[]>) | undefined
}

/** Leaderless replication and its hints; both undefined on a single node. */
export interface QuorumPort {
  quorum?: QuorumIo | undefined
  hints?: HintsIo | undefined
}

export type { StatementReport } from '../core/statement-report'

/** A row of SHOW MERKLE FOREST SIZE: one shard replica of this node (shard op MERKLE_STATS). */
export type MerkleForestRow = { shard: ShardId } & Omit<MerkleStatsMessage, 'enabled'>

/** One row of SHOW ANTI_ENTROPY STATUS: this node's last repair rounds of a shard with one peer. */
export interface AntiEntropyStatusRow {
  shard: ShardId
  peer: NodeId
  /** The last round's start (wall ms), its outcome ('completed', 'aborted', 'running') and why it stopped. */
  lastRoundAtMs: number | null
  outcome: string | null
  reason: string | null
  /** Of the last completed round. */
  windowsCompared: number | null
  windowsDiverged: number | null
  rowsRepaired: number | null
  /** Every version older than this was found held (or superseded) on both sides (tombstone purge reads it). */
  verifiedThroughMs: number | null
  /** Whether this replica serves the shard (false: stale, back from an outage longer than the grace; node/anti-entropy.ts). */
  serving: boolean
}

/** The Merkle forests of this node's shard replicas and its repair rounds (DESIGN §6 "Anti-entropy"); absent: none. */
export interface AntiEntropyPort {
  merkleForestSize?: (() => Promise<MerkleForestRow[]>) | undefined
  /** SHOW ANTI_ENTROPY STATUS; absent: no rounds run here (a single node, or anti_entropy.enabled false). */
  antiEntropyStatus?: (() => AntiEntropyStatusRow[]) | undefined
  /** REPAIR SHARD / TABLE: a round now for each shard this node holds a leaderless replica of; answers the shards started. */
  repairNow?: ((shards: readonly ShardId[]) => ShardId[]) | undefined
}

/** A statement report with the parsed statement (the audit log classifies DDL by it). */
export interface ExecStatementReport extends StatementReport {
  readonly statement: Statement
}

/** One row of SHOW REPLICATION LAG (exec/replication-statements.ts). */
export interface ReplicationLagRow {
  readonly shard: ShardId
  readonly generation: number
  readonly replica: NodeId
  readonly matchLsn: bigint
  readonly lagLsns: bigint
  readonly lagMs: number
  /** lagMs is a lower bound (the replica is further behind than the primary tracks). */
  readonly atLeast: boolean
}

/** Where a read_from = replica read of a shard goes from this node, for EXPLAIN (exec/replica-reads.ts). */
export interface ReplicaReadView {
  /** The node that answers: this node's caught-up replica, else the shard's primary (null: none known). */
  readonly node: NodeId | null
  readonly self: boolean
  /** That replica's applied LSN, when this node holds it. */
  readonly appliedLsn: bigint | null
  /** The group's committed LSN as this node knows it. */
  readonly commitLsn: bigint | null
  /** How far behind the primary it is, when this node is the primary and measures it (null: not measured here). */
  readonly lag: { readonly lsns: bigint, readonly ms: number } | null
}

/** Mode 1 replication as this node sees it (SHOW REPLICATION LAG); absent: a single node. */
export interface ReplicationPort {
  /** EXPLAIN of a read_from = replica read: where a shard's read goes; absent or undefined: no group here. */
  replicaReadView?: ((shard: ShardId) => ReplicaReadView | undefined) | undefined
  /** Lag of each replica of the shards this node is primary of; null: this node runs no replication group. */
  replicationLag?: (() => ReplicationLagRow[] | null) | undefined
}

/** Statement reports; absent: nobody listens (tests, tools). */
export interface StatementLogPort {
  statementDone?: ((r: ExecStatementReport) => void) | undefined
  /** Tracing (issue 18 item 8, core/trace-context.ts); null or absent: off, and no span is made. */
  tracer?: TracePort | null | undefined
}

/** Users (issue 18 item 2): what CREATE/ALTER USER need of the node; absent (tests, tools): those statements are refused. */
export interface UsersPort {
  /** A password's SCRAM-SHA-256 verifier in its text form, with a fresh salt (the node's Rng). */
  verifierOf?: ((password: string) => string) | undefined
  /** A new bearer token and its SHA-256 (CREATE TOKEN; security/bearer-token.ts, the node's Rng). */
  newToken?: (() => { readonly token: string, readonly hash: string }) | undefined
}

/** Timers for statement_timeout (exec/statement-timeout.ts); absent: statements are never timed out (tools, tests). */
export interface TimerPort {
  /** Calls `fire` after `ms` milliseconds unless the returned function is called first. */
  statementTimer?: ((ms: number, fire: () => void) => () => void) | undefined
}

/** The bound on a session's temporary tables (exec/temp-tables.ts); absent: its default. */
export interface TempTablePort {
  /** node.temp_table_bytes_per_session, read at each statement (a reload changes it live). */
  tempTableBytesPerSession?: (() => number) | undefined
}

/** Moves of populated tables (exec/table-move.ts): the node a move names as its runner. */
export interface TableMovePort {
  /** This node's id; absent (tools, tests): 0. */
  readonly selfNode?: NodeId | undefined
}

/** Everything the executor needs, built by the node's wiring module. */
export type ExecEnv = ShardPort & Generators & TwoPhasePort & SnapshotPort & CatalogPort & DdlPort & ClusterView & QuorumPort & FencePort & StatementLogPort &
  AntiEntropyPort & ReplicationPort & PlanCachePort & UsersPort & TimerPort & TempTablePort & TableMovePort
