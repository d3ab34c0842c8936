// What the SQL executors need of the node: shard workers, the node's HLC and UUID generators, the
// catalog (with its persistence) and two-phase commit I/O. The node (src/server/node.ts) builds
// one; nothing in src/sql/exec reaches for process-wide state.
import type { Catalog } from '../../catalog/catalog'
import type { Clock } from '../../core/clock'
import type { Hlc } from '../../core/hlc'
import type { UuidV7Generator } from '../../core/uuid'
import type { TwoPhaseIo } from '../../cluster/twopc'
import type { ShardOpName, ShardReplies, ShardRequests } from '../../server/shard-ops'
import type { DdlStatement } from '../ast'
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
}
