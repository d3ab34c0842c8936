// What the SQL executors need of the node: shard workers, the node's HLC and UUID generators, the
// catalog (with its persistence) and two-phase commit I/O. The node (src/node/node.ts) builds
// one; nothing in src/exec reaches for process-wide state.
import type { Catalog, TableInfo } from '../catalog/catalog'
import type { Clock } from '../core/clock'
import type { Hlc } from '../core/hlc'
import type { UuidV7Generator } from '../core/uuid'
import type { TwoPhaseIo } from '../cluster/twopc'
import type { ShardOpName, ShardReplies, ShardRequests } from '../shard/protocol/ops'
import type { ReplicaWrite } from '../storage/engine'
import type { Tuple } from '../storage/keys'
import type { DdlStatement } from '../sql/ast'
import type { StatementResult } from './result'

/** A row of SHOW CLUSTER MEMBERS. */
export interface MemberRow {
  nodeId: number
  address: string
  datacenter: string
  state: string
  heartbeatAgeMs: number | null
  clockOffsetMs: number | null
  shardReplicas: number
}

/** A row of SHOW SHARD MAP: the shard's preference list and which of its replicas are live. */
export interface ShardMapRow { shard: number, preference: number[], live: number[] }

/**
 * Leaderless quorum replication (DESIGN §6 "Mode 3"), present on a node in a cluster
 * (src/node/quorum.ts). Without it (a single node) leaderless tables are written and read like
 * any other table on the one replica there is.
 */
export interface QuorumIo {
  /** Writes one autocommit statement's versions (per shard) to W of N replicas each; SB_QUORUM_NOT_ACHIEVED otherwise. */
  write (table: TableInfo, writes: ReadonlyMap<number, ReplicaWrite[]>): Promise<void>
  /**
   * Ships a transaction's buffered writes at COMMIT (quorum-txn.ts): one XID for all batches, each
   * batch one QuorumWrite (one REPLICA_APPLY per replica); resolves when every batch reached its W,
   * else rejects with SB_QUORUM_NOT_ACHIEVED (the batches that did reach W stand).
   */
  writeBatches (batches: readonly QuorumBatch[]): Promise<void>
  /** The largest shard batch (estimated bytes of keys and rows) a replica accepts in one REPLICA_APPLY. */
  readonly maxBatchBytes: number
  /** Point reads on one shard from R of N replicas: per pk the newest row, null when absent or deleted. */
  read (table: TableInfo, shard: number, pks: readonly Tuple[]): Promise<(Uint8Array | null)[]>
  /** DELIVER HINTS TO NODE n. */
  deliverHints (node: number): Promise<{ target: number, delivered: number, remaining: number }>
  /** Hints this node keeps, per target node (sys_hints). */
  hintStats (): { target: number, count: number, bytes: number }[]
  /** The replicas of `shard` for replication factor `n` (EXPLAIN). */
  replicas (shard: number, n: number): number[]
}

/** One shard's writes of a transaction, for the replicas of that shard under (N, W). */
export interface QuorumBatch {
  readonly shard: number
  readonly replicationFactor: number
  readonly writeQuorum: number
  readonly writes: ReplicaWrite[]
}

export interface ExecEnv {
  readonly nodeId: number
  readonly listenAddress: () => string
  readonly shards: number
  request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]>
  readonly hlc: Hlc
  readonly uuidV7: UuidV7Generator
  readonly clock: Clock
  readonly twoPhase: TwoPhaseIo
  /** Live nodes of the cluster (bounds replication_factor). */
  readonly liveNodes: () => number
  catalog: () => Catalog
  /** Persists and installs a new catalog version (the DDL statement's commit point). */
  setCatalog: (c: Catalog) => void
  warn: (message: string, details: Record<string, unknown>) => void
  /** Membership as this node sees it (SHOW CLUSTER MEMBERS). */
  members: () => MemberRow[]
  /** Shard placement (SHOW SHARD MAP). */
  shardMap: () => ShardMapRow[]
  /** In a cluster, DDL goes through the catalog coordinator; alone, the executor applies it here. */
  runDdl?: ((s: DdlStatement) => Promise<StatementResult>) | undefined
  /** Leaderless quorum replication; undefined on a single node. */
  quorum?: QuorumIo | undefined
}
