// The executor's ports (src/exec/env.ts) built from the node's parts, in one place: the shards
// (local workers, or the placement router in a cluster), the generators, two-phase commit I/O,
// the catalog and DDL, the cluster view, and — in a cluster — quorum replication and its hints.
// A single node answers the cluster questions about itself.
import { newBearerToken } from '../security/bearer-token'
import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import type { Hlc } from '../core/hlc'
import type { Rng } from '../core/rng'
import { UuidV7Generator } from '../core/uuid'
import type { AntiEntropyPort, ReplicationLagRow, ReplicationPort, ClusterView, DdlPort, ExecEnv, ExecStatementReport, Generators, QuorumIo, QuorumPort, ShardMapRow, TableFenceIo } from '../exec/env'
import type { ShardCountSource } from '../cluster/shard-count'
import type { ClusterShell } from './cluster'
import { nextHlcTs } from '../storage/hlc-ts'
import type { QuorumShell } from './quorum'
import type { AntiEntropyShell } from './anti-entropy'
import type { ShardRequester } from './shard-router'
import type { SnapshotRegistry } from '../exec/snapshots'
import type { LiveTxns } from '../exec/live-txns'
import type { CatalogPins } from '../exec/catalog-pins'
import { PlanCache } from '../exec/plan-cache'
import { shardTwoPhaseIo } from './twopc-io'
import { tracedQuorum, tracedTwoPhase } from './tracing-wiring'
import type { TracePort } from '../core/trace-context'
import type { TwoPhaseIo } from '../cluster/twopc'
import { asNodeId, shardIds, type ShardId } from '../core/ids'
import { transactionsHorizon, type AnnouncingMember } from '../cluster/snapshot-horizon'
import { announceLagMs } from './sweeper'
import { encodeVerifier, newScramVerifier } from '../security/scram-verifier'
import { formatStatement } from '../sql/format'

export interface ExecParts {
  config: Config
  hlc: Hlc
  shards: ShardRequester
  /** The shard count, read at each use (a split raises it: cluster/shard-count.ts); absent: storage.shards, fixed. */
  shardCount?: ShardCountSource | undefined
  /** This node's own shard workers (what SHOW MERKLE FOREST SIZE reports on); absent: nothing to show. */
  localShards?: ShardRequester | undefined
  /** null on a single node. */
  cluster: ClusterShell | null
  /** null on a single node. */
  quorum: QuorumShell | null
  listenAddress: () => string
  catalog: () => Catalog
  installCatalog: (c: Catalog) => void
  /** The node's open snapshot transactions (the sweeper reads it too). */
  snapshots: SnapshotRegistry
  liveTxns?: LiveTxns
  /** Anti-entropy repair rounds (a cluster with anti_entropy.enabled); null or absent otherwise. */
  antiEntropy?: AntiEntropyShell | null
  /** Mode 1 replication lag of the shards this node is primary of; null: no replication groups here (absent: a single node). */
  replicationLag?: () => ReplicationLagRow[] | null
  /** SHOW SHARD MAP's Mode 1 columns of a shard (node/replication/manager.ts shardState); absent or undefined: no group. */
  replicationShard?: (shard: ShardId) => ShardMapRow['mode1']
  /** ClusterView.awaitPrimaries (Mode 1 groups on this node). */
  awaitPrimaries?: () => Promise<ShardId[]>
  /** EXPLAIN under read_from = replica (node/replication/manager.ts replicaReadView). */
  replicaReadView?: ReplicationPort['replicaReadView']
  /** SHOW SHARD MAP's leaderless_bootstrap column of a shard (node/leaderless-bootstrap.ts shardState). */
  leaderlessBootstrap?: (shard: ShardId) => string | undefined
  /** DDL write fences (node/table-fences.ts). */
  fences: TableFenceIo
  catalogPins: CatalogPins
  log: Logger
  /** SQL now(), UUIDv7 timestamps, statement durations. */
  clock: Clock
  /** UUIDv7 random bits. */
  rng: Rng
  /** Every statement the executor ran (the slow-query log). */
  statementDone?: (r: ExecStatementReport) => void
  /** Tracing (issue 18 item 8); null or absent: off. */
  tracer?: TracePort | null
}

export function execEnv (p: ExecParts): ExecEnv {
  const count = countOf(p)
  const env: Omit<ExecEnv, 'shards'> = {
    request: (op, req, routedBy) => p.shards.request(op, req, routedBy),
    ...generators(p),
    twoPhase: traced2pc(shardTwoPhaseIo(p.shards, count, () => p.hlc.generate(), () => nextHlcTs(p.hlc)), p.tracer),
    snapshots: p.snapshots,
    ...(p.liveTxns === undefined ? {} : { liveTxns: p.liveTxns }),
    fences: p.fences,
    catalogPins: p.catalogPins,
    catalog: p.catalog,
    selfNode: p.config.node.id,
    ...ddlPort(p),
    ...clusterView(p),
    ...quorumPort(p),
    ...antiEntropyPort(p),
    ...(p.replicationLag === undefined ? {} : { replicationLag: p.replicationLag }),
    ...(p.replicaReadView === undefined ? {} : { replicaReadView: p.replicaReadView }),
    statementDone: p.statementDone,
    tracer: p.tracer ?? null,
    planCache: new PlanCache(),
    // statement_timeout (the session setting): the node's own timers, which keep no process alive.
    statementTimer: (ms, fire) => { const t = setTimeout(fire, ms); t.unref(); return () => clearTimeout(t) },
    // The bound on a session's temporary tables, read at each statement (a SIGHUP reload changes it).
    tempTableBytesPerSession: () => p.config.node.temp_table_bytes_per_session,
    // CREATE/ALTER USER: the password's verifier with a fresh salt (it goes no further than this node).
    verifierOf: (password) => encodeVerifier(newScramVerifier(password, p.rng)),
    // CREATE TOKEN: a fresh secret (shown once) and its hash (what travels and is stored).
    newToken: () => newBearerToken(p.rng)
  }
  // A getter, not a copy: each statement routes with the count of the layout in force when it
  // reads it (a spread of the env, as a DDL statement makes, keeps that statement's count).
  return Object.defineProperty(env, 'shards', { get: () => count.shards, enumerable: true }) as ExecEnv
}

function countOf (p: ExecParts): ShardCountSource {
  return p.shardCount ?? { shards: p.config.storage.shards }
}

function antiEntropyPort (p: ExecParts): AntiEntropyPort {
  const { localShards, antiEntropy } = p
  if (localShards === undefined) return {}
  return {
    ...(antiEntropy == null ? {} : { antiEntropyStatus: () => antiEntropy.statusRows(), repairNow: (shards) => antiEntropy.repairNow(shards) }),
    merkleForestSize: () => Promise.all(shardIds(countOf(p).shards).map(async shard => {
      const r = await localShards.request('MERKLE_STATS', { shard })
      return { shard, windows: r.windows, sealed: r.sealed, activeLeaves: r.activeLeaves, bytesInMemory: r.bytesInMemory, bytesOnDisk: r.bytesOnDisk, reseals: r.reseals, rebuilds: r.rebuilds }
    }))
  }
}

function generators ({ hlc, clock, rng }: ExecParts): Generators {
  return { hlc, uuidV7: new UuidV7Generator(clock, rng), clock }
}

function ddlPort ({ cluster, config, installCatalog, log }: ExecParts): DdlPort {
  const r = config.replication
  return {
    liveNodes: () => cluster?.liveNodes() ?? 1,
    tableDefaults: { replication_mode: r.default_mode, replication_factor: r.default_factor, write_quorum: r.write_quorum, read_quorum: r.read_quorum },
    setCatalog: (c) => {
      cluster?.checkProvidable(c)
      installCatalog(c)
    },
    warn: (message, details) => log.warn(details, message),
    runDdl: cluster === null ? undefined : (s) => cluster.ddl(s)
  }
}

function clusterView (p: ExecParts): ClusterView {
  const { cluster, config, listenAddress, snapshots, hlc, replicationShard, leaderlessBootstrap, awaitPrimaries } = p
  const { id, datacenter } = config.node
  const count = countOf(p)
  const alone: AnnouncingMember[] = [{ nodeId: id, isSelf: true, state: 'normal', oldestActiveHlc: '' }]
  return {
    transactionsHorizon: () => transactionsHorizon(cluster?.announcingMembers() ?? alone, snapshots.oldest(), nextHlcTs(hlc), announceLagMs(config, cluster !== null)),
    members: () => cluster?.members() ?? [{ nodeId: id, address: listenAddress(), datacenter, state: 'normal', heartbeatAgeMs: 0, clockOffsetMs: 0, shardReplicas: count.shards }],
    membershipOp: cluster === null ? undefined : async (s) => await cluster.membershipOp({ kind: s.op ?? 'drain', node: asNodeId(s.node), force: s.force === true }, formatStatement(s)),
    splitOp: cluster === null ? undefined : async (s) => await cluster.splitOp(s.shards, formatStatement(s)),
    syncLayoutWith: cluster === null ? undefined : async (node) => await cluster.syncLayoutWith(node),
    awaitPrimaries,
    shardMap: () => (cluster?.shardMap() ?? shardIds(count.shards).map(s => ({ shard: s, preference: [id], replicas: [id], live: [id] })))
      .map(r => { const mode1 = replicationShard?.(r.shard); return mode1 === undefined ? r : { ...r, mode1 } })
      .map(r => { const boot = leaderlessBootstrap?.(r.shard); return boot === undefined ? r : { ...r, leaderlessBootstrap: boot } })
  }
}

function traced2pc (io: TwoPhaseIo, tracer: TracePort | null | undefined): TwoPhaseIo {
  return tracer == null ? io : tracedTwoPhase(io, tracer)
}

function quorumPort ({ quorum, cluster, tracer }: ExecParts): QuorumPort {
  if (quorum === null || cluster === null) return {}
  const io: QuorumIo = {
    write: (t, w) => quorum.write(t, w),
    writeBatches: (b) => quorum.writeBatches(b),
    maxBatchBytes: quorum.maxBatchBytes,
    read: (t, shard, pks) => quorum.read(t, shard, pks),
    replicas: (shard, n) => cluster.replicasOf(shard, n),
    scanReplicas: (t, shard, after, limit) => quorum.scanReplicas(t, shard, after, limit)
  }
  return {
    quorum: tracer == null ? io : tracedQuorum(io, tracer),
    hints: {
      deliver: (n) => quorum.deliverNow(asNodeId(n)),
      stats: () => quorum.hintStats()
    }
  }
}
