import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../core/clock'
import { showValue, type Config } from '../core/config/load'
import { applyLive, planReload } from '../core/config/reload'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import { initHashing } from '../core/hash'
import type { Hlc } from '../core/hlc'
import { HlcPersistence, hlcReserveMs, restartWaitMs } from '../core/hlc-persist'
import { setTimeout as delay } from 'node:timers/promises'
import { cryptoRng, type Rng } from '../core/rng'
import { closeServer, createHttpServer, listen, type Routes } from '../net/http-server'
import { clientListenerRoutes, rpcListenerRoutes } from '../net/listeners'
import { StallWatch } from '../net/stall-guard'
import { TlsShell } from '../net/tls-shell'
import { tlsFiles } from '../net/tls-material'
import { rpcPeerCheck } from '../net/tls-peer'
import { createLoggers, type Loggers } from '../ops/log'
import { createMetrics, nodeIdLabel, nodeLabel, shardLabel, type NodeMetrics } from '../ops/metrics'
import { slowQueryRecord } from '../ops/slow-query'
import { VERSION } from '../version'
import { CpuPool } from './cpu-pool'
import { lockDataDir, type DataDirLock } from './data-dir-lock'
import { checkNodeIdentity } from './node-identity'
import { checkDataFormat } from './data-format'
import { checkClusterLayout, layoutOfConfig, readDecree, readRemovedMembers, recordClusterLayout, recordDecree, recordRemovedMembers } from './cluster-layout'
import { layoutChangesRefused, splitFromCount, staleShardsWarning, type ClusterLayout } from '../cluster/layout'
import { LiveShardCount } from '../cluster/shard-count'
import { assignShards } from './shard-assignment'
import { ShardWorkers } from './shard-workers'
import { announceLagMs, Sweeper, tombstonePurgeTables } from './sweeper'
import { homeShardOf, SplitCleanup } from './split-cleanup'
import { adoptSplitCount } from './split-adopt'
import type { SplitRunner } from './split-runner'
import type { ShardGroup } from './replication/shard-group'
import { splitRunnerFor, splitSwitchFor } from './split-wiring'
import { droppedRelationIds } from '../catalog/dropped-relations'
import { MerkleSealer, merkleForestConfig } from './merkle-sealer'
import { SnapshotRegistry } from '../exec/snapshots'
import { LiveTxns } from '../exec/live-txns'
import { OrphanResolver } from './orphan-txns'
import { CatalogPins } from '../exec/catalog-pins'
import { oldestOf } from '../cluster/snapshot-horizon'
import { nextHlcTs } from '../storage/hlc-ts'
import { shardTwoPhaseIo } from './twopc-io'
import { LimboAges } from './limbo-ages'
import { recoverLimbo } from '../cluster/twopc'
import { loadCatalog, saveCatalog } from '../catalog/store'
import type { ExecEnv, StatementReport } from '../exec/env'
import { TRACING_OFF, createTracing, tracingShutdownBudgetMs, type Tracing } from '../ops/tracing'
import { tracedLocalShards } from './tracing-wiring'
import { execEnv } from './exec-wiring'
import { SqlApi } from '../net/sql-api'
import { PgServer, type PgTls } from '../net/pgwire/server'
import { Catalog } from '../catalog/catalog'
import type { TwoPhaseIo } from '../cluster/twopc'
import { RpcClient, type RpcClientOptions } from '../net/rpc/client'
import { RpcMethods, rpcRoutes } from '../net/rpc/server'
import { PerClientLimit } from '../net/client-limit'
import { LoginThrottle } from '../net/login-throttle'
import { RequestLimiter } from '../net/request-limit'
import { limitedRoutes } from '../net/http-limits'
import { applyDdl } from '../exec/executor'
import { ClusterShell } from './cluster'
import { ReplicationShell } from './replication/manager'
import { ReplicatedWorkers } from './replication/replicated-workers'
import { ShardRouter, type ShardRequester } from './shard-router'
import { levelKvOptions } from '../storage/lsm-options'
import { ShardedHintLog } from '../cluster/hints/sharded-log'
import { legacyHintsDir, upgradeLegacyHints } from './hint-upgrade'
import { SharedXidCounter } from '../storage/xid-shared'
import { makeXid } from '../storage/xid'
import { QuorumShell } from './quorum'
import { LeaderlessBootstrap } from './leaderless-bootstrap'
import { LeaderlessMoveShell } from './leaderless-moves'
import { TableMoveShell } from './table-moves'
import { runMove } from '../exec/table-move'
import type { DdlStatement } from '../sql/ast'
import type { StatementResult } from '../exec/result'
import { codecOf } from '../shard/protocol/ops'
import { TableFenceShell } from './table-fences'
import { AntiEntropyShell } from './anti-entropy'
import { Mode1Verifier } from './anti-entropy-mode1'
import { AuditShell } from './audit'
import { ShardTraffic } from './shard-traffic'
import { MEMBER_STATES } from '../cluster/gossip/types'
import { REPLICATION_MODE_RULES, type ReplicationMode } from '../core/replication-modes'
import { tombstoneGraceMs } from '../cluster/anti-entropy/purge-rules'
import { loadRepairRecords, saveRepairRecords } from './repair-records'
import { asHlcTs, type NodeId, type ShardId, shardIds } from '../core/ids'
import { hlcCounter, hlcMs } from '../storage/types'
import { BACKUP_CLOCK_PATH, BACKUP_CUT_PATH, BACKUP_DONE_PATH, BACKUP_PATH, BackupSource, backupClockHandler, backupCutHandler, backupDoneHandler, backupHandler, readLastBackup } from './backup-source'
import { Authenticator } from '../security/authenticator'
import { adminRoutes, authenticatedRoutes } from '../net/http-auth'
import { authStartPlan, bootstrapAdmin } from './auth-setup'
import { BootstrapAdminShell } from './bootstrap-admin'

/** The states scratchbird_cluster_members always reports (gossip's, plus the shell's unknown and refused). */
const MEMBER_GAUGE_STATES: readonly string[] = [...MEMBER_STATES, 'unknown', 'refused']

/** Limbo transactions whose decision record was unreachable are retried this often. */
const LIMBO_RETRY_MS = 10_000
/** Retry of a new primary's limbo recovery (recoverPrimaryLimbo). */
const PRIMARY_LIMBO_RETRY_MS = 2_000
/**
 * How often a primary looks again for prepared transactions nobody decides: a coordinator whose
 * decision did not reach the shard (the primary changed or its lease lapsed in between; the client
 * got an unknown outcome) leaves its rows locked in limbo until a recovery decides them.
 */
const PRIMARY_LIMBO_SWEEP_MS = 10_000

// One ScratchBird node = one process (DESIGN §2). This is the I/O shell that owns everything the
// process runs — data-dir lock, loggers, HLC, CPU pool, shard workers, HTTP listeners — and starts
// and stops them in order. Any start failure undoes what was started and rethrows.

export type NodeState = 'starting' | 'ready' | 'stopping' | 'stopped'

/** A stop step taking this long is logged (WARNING) with its duration. */
const SLOW_STOP_STEP_MS = 500

export function loggingSettings (config: Config): Parameters<typeof createLoggers>[0] {
  const l = config.logging
  return {
    level: l.level,
    dir: resolve(l.dir),
    console: l.console,
    files: {
      main: l.files.main,
      replication: l.files.replication,
      anti_entropy: l.files.anti_entropy,
      slow_query: l.files.slow_query
    }
  }
}

/** A config value in a log line: strings bare (logging.level changed: INFO -> DEBUG), the rest as JSON. */
function shown (v: unknown, path = ''): string {
  const w = secretOr(v, path)
  return typeof w === 'string' ? w : showValue(w)
}

/** A secret (security.cluster_secret, security.pg_password) never reaches a log line. */
function secretOr (v: unknown, path: string): unknown {
  return /secret|password/.test(path) && v !== undefined ? '(hidden)' : v
}

/** One step of start(): what it starts, and what undoes it (nothing to undo: no stop). */
interface StartStep {
  readonly name: string
  readonly start: () => Promise<void> | void
  readonly stop?: () => Promise<void> | void
}

/** The longest a table DDL waits for its node's replication groups to elect primaries (ClusterView.awaitPrimaries). */
const AWAIT_PRIMARIES_MAX_MS = 5_000

/**
 * How long a stopping node waits for its shards' primary roles to be handed over: two election
 * timeouts (a transfer that needs longer steps down anyway), within a quarter of
 * node.shutdown_timeout_ms so the rest of the stop keeps its time.
 */
function handOverBudgetMs (config: Config): number {
  return Math.min(2 * config.replication.election_timeout_ms, Math.floor(config.node.shutdown_timeout_ms / 4))
}

export class ScratchBirdNode {
  state: NodeState = 'starting'
  readonly startedAt: number
  readonly log: Logger
  readonly loggers: Loggers
  readonly metrics: NodeMetrics
  hlc: Hlc | null = null
  listenAddress = ''
  metricsAddress = ''
  /** The PostgreSQL-protocol address, '' when node.pg_listen is off. */
  pgAddress = ''
  /** Where the cluster RPC is served: node.rpc_listen's address, node.listen's when it is not set, '' alone. */
  rpcAddress = ''
  private lock: DataDirLock | null = null
  private cpu: CpuPool | null = null
  private workers: ShardWorkers | null = null
  private sweeper: Sweeper | null = null
  /** A split's CLEANUP on this node (split-cleanup.ts); armed once the node follows a split layout. */
  private splitCleanup: SplitCleanup | null = null
  private splitCleanupArmed = false
  /** A split's run on this node (split-runner.ts), started with the cluster. */
  private splitRunner: SplitRunner | null = null
  private homeShards: { of: Catalog, shards: number, home: (tableId: number, key: Uint8Array) => ShardId | undefined } | undefined
  private dropped: { of: Catalog, ids: ReadonlySet<number> } | undefined
  private sealer: MerkleSealer | null = null
  /** The hash-chained audit log (audit.enabled). */
  private audit: AuditShell | null = null
  private http: Server | null = null
  /** The cluster RPC's own listener (node.rpc_listen). */
  private rpcHttp: Server | null = null
  private sqlApi: SqlApi | null = null
  private pg: PgServer | null = null
  /** Who clients are (security.auth, users; issue 18 item 2). */
  private auth: Authenticator | null = null
  /** Failed-login throttling of both client listeners (security.login_failures_max). */
  private loginThrottle: LoginThrottle | null = null
  private requestLimiter: RequestLimiter | null = null
  /** Creates security.bootstrap_admin while the catalog has no user. */
  private bootstrap: BootstrapAdminShell | null = null
  private metricsHttp: Server | null = null
  private stalls: StallWatch | null = null
  /** security.tls_enabled: the certificates of every listener and of the RPC client. */
  private tls: TlsShell | null = null
  /** OpenTelemetry tracing (ops/tracing.ts); its port is null when tracing.otlp_endpoint is empty. */
  private tracing: Tracing = TRACING_OFF
  private stopping: Promise<void> | null = null
  private cluster: ClusterShell | null = null
  /** Mode 1 replication groups (a cluster with a primary_replica table of more than one copy). */
  private replication: ReplicationShell | null = null
  private replicatedWorkers: ReplicatedWorkers | null = null
  private rpc: RpcClient | null = null
  /** Mode 1's replication messages only (node/replication/manager.ts: never behind other calls). */
  private replicationRpc: RpcClient | null = null
  private env: ExecEnv | null = null
  private catalog: Catalog
  private limboTimer: NodeJS.Timeout | null = null
  private readonly primaryLimboTimers = new Map<ShardId, NodeJS.Timeout>()
  /** When this node first saw each prepared transaction of its primaries' shards in limbo. */
  private readonly limboAges = new LimboAges(() => this.io.clock.monotonic())
  private primaryLimboSweep: NodeJS.Timeout | null = null
  private hints: ShardedHintLog | null = null
  private quorum: QuorumShell | null = null
  /** Fills new leaderless replicas (a raised replication_factor) before they count toward W and R. */
  private leaderlessBootstrap: LeaderlessBootstrap | null = null
  /** Fills of leaderless replicas in joins and drains (node/leaderless-moves.ts). */
  private leaderlessMoves: LeaderlessMoveShell | null = null
  /** Resumes moves of populated tables (node/table-moves.ts). */
  private moves: TableMoveShell | null = null
  /** DDL write fences on this node's shards (issue 13). */
  private fences: TableFenceShell | null = null
  /** Anti-entropy repair rounds (a cluster with anti_entropy.enabled). */
  private antiEntropy: AntiEntropyShell | null = null
  /** The cluster layout recorded in the data directory (checked against the configuration at start). */
  private layout: ClusterLayout | null = null
  /**
   * The shard count the node routes with now (cluster/shard-count.ts): the recorded layout's at
   * start, raised by a split's switch. Components read it at each use; storage.shards is kept equal
   * to it for the readers that still take it from the configuration.
   */
  private shardCount: LiveShardCount | null = null
  private workerCount = 0
  /** This node's open snapshot transactions: the sweep horizon, here and (gossiped) on peers. */
  private readonly snapshots = new SnapshotRegistry()
  /** The transactions this node coordinates (TXN_STATUS answers from it; node/orphan-txns.ts). */
  private readonly liveTxns: LiveTxns
  private routed: ShardRequester | undefined
  /** Catalog versions this node's running writes were planned with (the DDL write fence). */
  private readonly catalogPins = new CatalogPins()
  private readonly rpcMethods = new RpcMethods()
  /** Per-shard reads and writes of this node's replicas (scratchbird_write_tps, _read_latency_p99_ms …). */
  private readonly traffic: ShardTraffic
  /** Table id -> replication mode of the catalog version `modesVersion` (the traffic metrics' lookup). */
  private modes = new Map<number, ReplicationMode>()
  private modesVersion = -1
  /** leaderlessTableIds() of a catalog version (asked with every replicated append). */
  private leaderlessIds: { version: number, ids: readonly number[] } = { version: -1, ids: [] }
  /** Open TCP connections per listener (scratchbird_connections). */
  private readonly openConnections = { client: 0, rpc: 0 }
  /** What stop() undoes, in start order: the steps that ran. */
  private readonly undo: Array<{ name: string, stop: () => Promise<void> | void }> = []

  /**
   * `io` is where the node reads time and randomness: the system's in production; everything the
   * node builds gets them from here (the composition root), never from a global.
   */
  constructor (
    public config: Config,
    private readonly onFatalReason: (reason: string) => void = () => {},
    private readonly io: { clock: Clock, rng: Rng } = { clock: systemClock, rng: cryptoRng }
  ) {
    this.startedAt = io.clock.monotonic()
    this.loggers = createLoggers(loggingSettings(config), { node: config.node.id })
    this.log = this.loggers.main
    this.liveTxns = new LiveTxns(config.node.id)
    this.metrics = createMetrics()
    this.catalog = new Catalog()
    const clock = io.clock
    this.traffic = new ShardTraffic(this.metrics, (id) => this.modeOfTable(id), () => clock.monotonic())
  }

  private modeOfTable (id: number): ReplicationMode | undefined {
    if (this.modesVersion !== this.catalog.version) {
      this.modes = new Map(this.catalog.tables.map(t => [t.id, t.replication.replication_mode]))
      this.modesVersion = this.catalog.version
    }
    return this.modes.get(id)
  }

  /** The catalog's leaderless_quorum tables: a Mode 1 group's snapshot and truncation leave their rows alone (storage/kept-tables.ts). */
  private leaderlessTableIds (): readonly number[] {
    if (this.leaderlessIds.version !== this.catalog.version) {
      this.leaderlessIds = { version: this.catalog.version, ids: this.catalog.tables.filter(t => t.replication.replication_mode === 'leaderless_quorum').map(t => t.id) }
    }
    return this.leaderlessIds.ids
  }

  /** Counts a listener's open connections into openConnections[name]. */
  private countConnections (server: Server, name: keyof ScratchBirdNode['openConnections']): void {
    server.on('connection', (socket: Socket) => {
      this.openConnections[name]++
      socket.once('close', () => { this.openConnections[name]-- })
    })
  }

  /** Something this node cannot survive: stop cleanly (only once serving; start() fails otherwise). */
  private onFatal (reason: string): void {
    if (this.state === 'ready') this.onFatalReason(reason)
  }

  get dataDir (): string { return resolve(this.config.node.data_dir) }

  /**
   * Starts the node as a list of steps, each with what undoes it. A failing step undoes the steps
   * that ran, newest first, and start() rethrows; stop() undoes them all in the same order.
   */
  async start (): Promise<void> {
    const { log } = this
    try {
      for (const step of this.steps()) {
        // Recorded before it runs: a step that fails half-way is undone too (every stop is safe
        // on what its start did not get to).
        if (step.stop !== undefined) this.undo.push({ name: step.name, stop: step.stop })
        await step.start()
      }
      this.state = 'ready'
      log.info({ listen: this.listenAddress, rpc: this.rpcAddress, metrics: this.metricsAddress, pg: this.pgAddress, workers: this.workerCount, shards: this.config.storage.shards, dataDir: this.dataDir, version: VERSION },
        `ready: node ${this.config.node.id} listening on ${this.listenAddress}`)
    } catch (e) {
      log.error({ err: describe(e) }, `start failed: ${messageOf(e)}`)
      await this.stop()
      if (e instanceof ScratchBirdError) throw e
      const err = e as NodeJS.ErrnoException
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        throw new ScratchBirdError('SB_BAD_ARGUMENT', `cannot listen: ${err.message}`, { code: err.code }, { cause: e })
      }
      throw e
    }
  }

  /** The start steps in order; `stop` undoes `start` (run newest first by stop()). */
  private steps (): StartStep[] {
    const { config, log } = this
    const clustered = ClusterShell.enabled(config)
    return [
      // First: unusable certificates stop the start before anything is created.
      { name: 'TLS certificates', start: () => this.startTls(), stop: () => { this.tls?.stop() } },
      {
        name: 'data directory',
        start: () => {
          this.lock = lockDataDir(this.dataDir)
          checkDataFormat(this.dataDir)
          checkNodeIdentity(this.dataDir, { nodeId: config.node.id, cluster: config.cluster.name })
          this.layout = checkClusterLayout(this.dataDir, layoutOfConfig(config))
          if (this.layout.shards !== config.storage.shards) {
            // A split recorded in cluster.json (startLayoutCheck allows only that): the recorded
            // count wins, before anything below reads storage.shards.
            log.warn({ configured: config.storage.shards, recorded: this.layout.shards }, staleShardsWarning(this.layout, config.storage.shards, `data directory ${this.dataDir}`))
            config.storage.shards = this.layout.shards
          }
          this.shardCount = new LiveShardCount(this.layout.shards, this.layout.epoch)
          this.shardCount.onChange((shards, previous, epoch) => {
            config.storage.shards = shards
            log.info({ shards, previous, epoch }, `shard count: ${previous} -> ${shards} at layout epoch ${epoch} (split); rows are routed by hash mod ${shards} from now on`)
          })
        },
        stop: () => this.lock?.release()
      },
      // Stopped late (steps stop newest first): the spans of the last requests are ended by then.
      { name: 'tracing', start: () => this.startTracing(), stop: async () => { await this.tracing.shutdown(tracingShutdownBudgetMs(config.node.shutdown_timeout_ms)) } },
      { name: 'clock', start: () => this.startHlc() },
      { name: 'catalog', start: async () => { await initHashing(); this.catalog = loadCatalog(this.dataDir) } },
      { name: 'client authentication', start: () => this.setupAuth() },
      { name: 'audit log', start: () => this.openAudit(), stop: () => { this.audit?.close() } },
      {
        name: 'cpu pool',
        start: async () => { this.cpu = new CpuPool(Math.max(1, Math.min(2, availableParallelism() - 1))); await this.cpu.selfTest() },
        stop: async () => { await this.cpu?.close() }
      },
      {
        name: 'shard workers',
        start: () => this.startWorkers(),
        stop: async () => { await this.workers?.stop(); log.debug('shard workers stopped, shard databases closed') }
      },
      // Alone, every decision record is on a local shard: limbo transactions of a crash between
      // PREPARE and COMMIT PREPARED are finished (or aborted, presumed abort) before serving.
      { name: 'hint log upgrade', start: () => this.upgradeHints() },
      ...(clustered ? [] : [{ name: '2PC recovery', start: async () => { await this.recoverLimbo(this.localTwoPhaseIo(), shardIds(config.storage.shards), true) } }]),
      { name: 'sweeper', start: () => this.startSweeper(), stop: async () => { await this.sweeper?.stop() } },
      { name: 'split cleanup', start: () => this.startSplitCleanup(), stop: async () => { await this.splitCleanup?.stop() } },
      { name: 'Merkle sealer', start: () => this.startSealer(), stop: async () => { await this.sealer?.stop() } },
      ...(clustered
        ? [
            { name: 'cluster RPC', start: () => this.startRpc(), stop: async () => { await this.rpc?.close(); await this.replicationRpc?.close() } },
            { name: 'hint log', start: () => this.loadHints() }
          ]
        : []),
      { name: 'SQL API', start: () => this.startSqlApi(clustered), stop: () => { this.bootstrap?.stop(); this.moves?.stop(); this.sqlApi?.stop(); this.fences?.stop() } },
      { name: 'HTTP listener', start: () => this.listenHttp(clustered), stop: async () => { await this.closeListeners(); log.debug('listeners closed') } },
      // After the SQL API (its sessions and executor), stopped before it: connections end first.
      { name: 'PostgreSQL listener', start: () => this.listenPg(), stop: async () => { if (this.pg) await this.pg.close(); log.debug('PostgreSQL listener closed') } },
      { name: 'metrics listener', start: () => this.listenMetrics(), stop: async () => { if (this.metricsHttp) await closeServer(this.metricsHttp); this.stalls?.stop() } },
      ...(clustered
        ? [{
            name: 'cluster',
            start: () => { this.cluster!.start(); this.replication?.start(); this.quorum?.start(); this.leaderlessBootstrap?.start(); this.leaderlessMoves?.start(); this.moves?.start(); this.antiEntropy?.start(); this.recoverClusterLimbo(this.hlc!); this.sweepPrimaryLimbo(); void this.bootstrap?.start() },
            // First of all on a graceful stop: the shards this node is primary of get another
            // primary while it still answers (leadership transfer), not an election after it went silent.
            stop: async () => { await this.replication?.handOver(handOverBudgetMs(config)); this.antiEntropy?.stop(); await this.leaderlessMoves?.stop(); await this.leaderlessBootstrap?.stop(); this.replication?.stop(); this.cluster?.stop(); await this.quorum?.stop(); if (this.limboTimer) clearTimeout(this.limboTimer); for (const t of this.primaryLimboTimers.values()) clearTimeout(t); this.primaryLimboTimers.clear(); if (this.primaryLimboSweep) clearInterval(this.primaryLimboSweep) }
          },
          // A split's run on this node (split-wiring.ts): after the cluster, stopped before it.
          { name: 'split run', start: () => this.startSplitRun(), stop: () => { this.splitRunner?.stop() } }]
        : [])
    ]
  }

  /**
   * security.auth against the listeners (node/auth-setup.ts: refuses a node that would be open to
   * other hosts), the bootstrap administrator, and the authenticator both listeners ask.
   */
  private setupAuth (): void {
    const { config, log } = this
    const admin = bootstrapAdmin(config, process.env)
    const plan = authStartPlan(config, this.catalog.users.length > 0, admin)
    for (const w of plan.warnings) log.warn({ auth: config.security.auth }, w)
    this.auth = new Authenticator({
      mode: () => config.security.auth,
      catalog: () => this.catalog,
      bootstrap: admin,
      // Read at each connection: a SIGHUP reload changes it for the next ones.
      pgPassword: () => this.config.security.pg_password,
      openAllowed: plan.openAllowed,
      clock: this.io.clock,
      rng: this.io.rng
    })
    // One count per node for both listeners: a guesser switching protocol keeps its failures.
    this.loginThrottle = new LoginThrottle({
      settings: () => ({ maxFailures: this.config.security.login_failures_max, lockoutMs: this.config.security.login_lockout_ms }),
      now: () => this.io.clock.monotonic()
    })
    // Per-client request limits, one table for both listeners (the keys are live: read per request).
    this.requestLimiter = new RequestLimiter({
      settings: () => ({ maxInFlight: this.config.node.max_requests_in_flight_per_client, perSecond: this.config.node.max_requests_per_second_per_client, burst: this.config.node.request_burst_per_client }),
      now: () => this.io.clock.monotonic()
    })
    if (admin !== null && this.catalog.users.length === 0) {
      this.bootstrap = new BootstrapAdminShell({ admin, catalog: () => this.catalog, run: (s) => this.env!.runDdl !== undefined ? this.env!.runDdl(s) : applyDdl(this.env!, s), rng: this.io.rng, log })
    }
  }

  /** audit.enabled: the audit log, its chain continued from the file's last line. */
  private openAudit (): void {
    if (!this.config.audit.enabled) return
    const clock = this.io.clock
    this.audit = new AuditShell({ config: { ...this.config, audit: { ...this.config.audit, log_file: resolve(this.config.audit.log_file) } }, log: this.log, metrics: this.metrics, now: () => clock.now() })
    this.audit.open()
  }

  /** The HLC, resumed above its persisted high-water mark (waiting when restarted within its reserve). */
  private async startHlc (): Promise<void> {
    const { config, log } = this
    const nodeId = config.node.id
    const hlcFile = new HlcPersistence(join(this.dataDir, 'hlc.hwm'), { reserveMs: hlcReserveMs(config.node.max_clock_offset_ms) })
    const wait = restartWaitMs(hlcFile.read(), this.io.clock.now(), config.node.max_clock_offset_ms)
    if (wait > 0) {
      // Restarted within its HLC reserve: resuming now would run ahead of every peer's clock.
      log.info({ waitMs: wait }, `waiting ${wait} ms for the clock to reach the persisted HLC high-water mark`)
      await delay(wait)
    }
    this.hlc = hlcFile.startHlc({
      clock: this.io.clock,
      rng: this.io.rng,
      nodeId,
      maxClockOffsetMs: config.node.max_clock_offset_ms,
      onWarning: (kind, details) => {
        this.metrics.hlcWarnings.inc({ node_id: nodeIdLabel(nodeId), kind })
        log.warn(details, `HLC warning: ${kind}`)
      }
    })
  }

  private async startWorkers (): Promise<void> {
    const { config, log } = this
    this.workerCount = config.storage.workers === 'auto' ? availableParallelism() : config.storage.workers
    const assignment = assignShards(config.storage.shards, this.workerCount, config.storage.shard_workers ?? {})
    this.workers = new ShardWorkers({
      dataDir: this.dataDir,
      nodeId: config.node.id,
      durability: config.node.durability,
      ringBytes: config.storage.ring_bytes,
      maxMessageBytes: config.storage.max_message_bytes,
      lsm: levelKvOptions(config.lsm),
      txnIdleTimeoutMs: config.storage.txn_idle_timeout_ms,
      merkle: merkleForestConfig(config.anti_entropy),
      clock: this.io.clock,
      traffic: this.traffic
    }, log, (reason) => {
      // A worker that cannot be kept alive: stop cleanly rather than serve with shards missing.
      this.onFatal(reason)
    })
    await this.workers.start(assignment)
  }

  private localTwoPhaseIo (): TwoPhaseIo {
    const hlc = this.hlc!
    return shardTwoPhaseIo(this.workers!, this.shardCount!, () => hlc.generate(), () => nextHlcTs(hlc))
  }

  /** The catalog's dropped relation ids (catalog/dropped-relations.ts), derived once per installed catalog. */
  private droppedRelations (): ReadonlySet<number> {
    const c = this.catalog
    if (this.dropped?.of !== c) this.dropped = { of: c, ids: new Set(droppedRelationIds(c.state)) }
    return this.dropped.ids
  }

  /**
   * The background CLEANUP of a split (cluster/shard-split.ts step 4): at start when cluster.json
   * records a split, at every change of the shard count, and again after each sweep (a pass that
   * failed is retried; a shard already cleaned answers at once).
   */
  private async startSplitCleanup (): Promise<void> {
    const cleanup = this.splitCleanup = new SplitCleanup({
      workers: this.workers!,
      shardCount: this.shardCount!,
      catalog: () => this.catalog,
      log: this.log,
      onDeleted: (rows, back) => { this.metrics.splitCleanup.inc({ kind: 'row' }, rows); this.metrics.splitCleanup.inc({ kind: 'back' }, back) }
    })
    // The scan filters armed and the fences lifted first (split-adopt.ts), then the deletes.
    const adopt = (): Promise<void> => adoptSplitCount({
      workers: this.workers!,
      shardCount: this.shardCount!,
      cleanup,
      // The cluster starts after this step: read at each use.
      settled: () => this.cluster?.layoutSettled() ?? !ClusterShell.enabled(this.config),
      settleCheckMs: this.config.gossip.interval_ms,
      stopped: () => this.stopping !== null,
      log: this.log
    })
    const kick = (): void => { if (this.splitCleanupArmed) void adopt().then(() => cleanup.kick()) }
    this.splitCleanupArmed = (this.layout?.splitFrom?.length ?? 0) > 0
    // In the listener itself: the filters' requests reach the workers before any routed by the new count.
    this.shardCount!.onChange(() => { this.splitCleanupArmed = true; kick() })
    // At start, before anything serves: a crash between recording the layout and arming is covered
    // (the fences are lifted by the kick, once the peers are heard).
    if (this.splitCleanupArmed) await cleanup.arm()
    kick()
  }

  /** A split's RUN and SWITCH on this node (split-wiring.ts): derives, reports, the switch on a parent's primary. */
  private startSplitRun (): void {
    const replication = this.replication
    const group = (shard: ShardId): ShardGroup | undefined => replication?.group(shard)
    this.splitRunner = splitRunnerFor({
      cluster: this.cluster!,
      workers: this.workers!,
      catalog: () => this.catalog,
      hooks: splitSwitchFor(this.workers!, () => this.catalog, this.shardCount!, group),
      primaryOf: (shard) => replication?.primaryOf(shard) ?? 0,
      dataDir: this.dataDir,
      log: this.log
    })
    this.splitRunner.start(this.config.gossip.interval_ms)
  }

  /** After a split, the shard a row's key belongs in now (hints stored under a parent); undefined before any split. */
  private splitHomeShard (tableId: number, key: Uint8Array): ShardId | undefined {
    if (!this.splitCleanupArmed) return undefined
    const shards = this.shardCount!.shards
    if (this.homeShards?.of !== this.catalog || this.homeShards.shards !== shards) this.homeShards = { of: this.catalog, shards, home: homeShardOf(this.catalog, shards) }
    return this.homeShards.home(tableId, key)
  }

  private startSweeper (): void {
    this.sweeper = new Sweeper({
      workers: this.workers!,
      shardCount: this.shardCount!,
      hlc: this.hlc!,
      clock: systemClock,
      log: this.log,
      // The cluster starts after the sweeper: read at each run.
      oldestSnapshot: () => oldestOf(this.snapshots.oldest(), this.cluster?.peerSnapshotFloor()),
      announceLagMs: announceLagMs(this.config, ClusterShell.enabled(this.config)),
      tombstonePurgeTables: () => tombstonePurgeTables(this.catalog),
      leaderlessTombstonePurge: (shard, nowMs) => this.leaderlessTombstonePurge(shard, nowMs),
      commitLogRetentionHours: this.config.storage.commit_log_retention_hours,
      backupNeeds: () => {
        const last = readLastBackup(this.dataDir, this.config.storage.shards)
        return last === null ? undefined : new Map(last.lsns.map((lsn, shard) => [shard as ShardId, BigInt(lsn) + 1n]))
      },
      replicationNeeds: () => this.replication?.logNeeds(),
      onSwept: (t) => {
        this.metrics.sweepRuns.inc()
        this.metrics.sweepRemoved.inc({ kind: 'back' }, t.backVersionsRemoved)
        this.metrics.sweepRemoved.inc({ kind: 'dead' }, t.deadVersionsRemoved)
        this.metrics.sweepRemoved.inc({ kind: 'tombstone' }, t.tombstonesPurged)
        this.metrics.droppedRelationPurged.inc({ kind: 'row' }, t.droppedRows)
        this.metrics.droppedRelationPurged.inc({ kind: 'back' }, t.droppedBackVersions)
        this.metrics.droppedRelationPurged.inc({ kind: 'leaf' }, t.droppedLeaves)
        this.metrics.leaderlessReleased.inc({ kind: 'row' }, t.releasedRows)
        this.metrics.leaderlessReleased.inc({ kind: 'back' }, t.releasedBackVersions)
        this.metrics.leaderlessReleased.inc({ kind: 'leaf' }, t.releasedLeaves)
        if (this.splitCleanupArmed) void this.splitCleanup?.kick()
      },
      droppedRelations: () => [...this.droppedRelations()],
      // The cluster starts after the sweeper: read at each run.
      releasedRelations: (shard) => this.cluster?.releasableRelations(shard) ?? []
    })
    this.sweeper.start(this.config.storage.sweep_schedule)
  }

  /**
   * Leaderless tombstones a sweep of `shard` may purge (issue 15 item 5): older than
   * tombstone_gc_grace_days and, in a cluster, verified on every other replica by a repair round;
   * alone, this node holds the only replica, so age is enough.
   */
  private leaderlessTombstonePurge (shard: ShardId, nowMs: number): { tables: number[], cutoffMs: number } | undefined {
    const tables = this.catalog.tables.filter(t => t.replication.replication_mode === 'leaderless_quorum').map(t => t.id)
    if (tables.length === 0) return undefined
    const graceMs = tombstoneGraceMs(this.config.replication.tombstone_gc_grace_days)
    if (this.cluster === null) return { tables, cutoffMs: nowMs - graceMs }
    const cutoffMs = this.antiEntropy?.purgeCutoff(shard, nowMs, graceMs) ?? null
    return cutoffMs === null ? undefined : { tables, cutoffMs }
  }

  /** anti_entropy.enabled: the shards keep a Merkle forest, whose windows are sealed on time. */
  private startSealer (): void {
    const forest = merkleForestConfig(this.config.anti_entropy)
    if (forest === null) return
    this.sealer = new MerkleSealer({ workers: this.workers!, shardCount: this.shardCount!, forest, clock: this.io.clock, log: this.log })
    this.sealer.start()
  }

  /** security.tls_enabled: loads the certificates (a bad set stops the start), watches them and their expiry. */
  private startTls (): void {
    if (!this.config.security.tls_enabled) return
    this.tls = new TlsShell({ files: tlsFiles(this.config.security), clock: this.io.clock, log: this.log, metrics: this.metrics })
    this.tls.start()
    const leaf = this.tls.material.expiries[0]!
    this.log.info({ cert: leaf.file, subject: leaf.subject, notAfter: new Date(leaf.notAfterMs).toISOString() }, `TLS on every listener; certificate ${leaf.file} (${leaf.subject})`)
  }

  private startTracing (): void {
    const t = this.config.tracing
    this.tracing = createTracing(t, { id: this.config.node.id }, this.metrics, undefined, (msg) => { this.log.warn({ endpoint: t.otlp_endpoint }, msg) })
    if (this.tracing.port !== null) this.log.info({ endpoint: t.otlp_endpoint, sampleRatio: t.sample_ratio, service: t.service_name }, `tracing: exporting spans to ${t.otlp_endpoint} (sample ratio ${t.sample_ratio})`)
  }

  private startRpc (): void {
    const { config } = this
    if (config.security.cluster_secret === undefined && this.tls === null) {
      this.log.warn('security.cluster_secret is not set: cluster RPC accepts any peer that names this cluster; set a shared secret on every node')
    }
    this.rpc = new RpcClient(this.rpcClientOptions())
    this.replicationRpc = new RpcClient(this.rpcClientOptions())
  }

  private rpcClientOptions (): RpcClientOptions {
    const { config } = this
    const tls = this.tls
    const nodeAt = new Map(config.cluster.nodes.map(n => [n.address, n.id]))
    const tracer = this.tracing.port
    return {
      cluster: config.cluster.name,
      nodeId: config.node.id,
      secret: config.security.cluster_secret,
      metrics: this.metrics,
      clock: this.io.clock,
      ...(tracer === null ? {} : { traceparent: () => tracer.current() }),
      ...(tls === null
        ? {}
        : {
            tls: {
              context: () => tls.context,
              nodeAt: (address) => nodeAt.get(address),
              onRefused: (address, why) => tls.failures.report('rpc_client', 'wrong_node', address, `its certificate: ${why}`)
            }
          })
    }
  }

  /** A data directory of a release that kept hints in `<data_dir>/hints`: copy them into the shard stores. */
  private async upgradeHints (): Promise<void> {
    const workers = this.workers!
    const { storage } = this.config
    const report = await upgradeLegacyHints(this.dataDir, storage.shards, storage.max_message_bytes, (op, req) => workers.request(op, req))
    if (report !== null) {
      this.log.info(report, `hint log upgraded: ${report.copied} of ${report.read} hint(s) from ${legacyHintsDir(this.dataDir)} copied into the shard stores` +
        (report.dropped > 0 ? `, ${report.dropped} unreadable one(s) dropped (anti-entropy repairs what they carried)` : '') + '; the old directory is deleted')
    }
  }

  /** The hint log: hints live in the shard workers' stores; here only their figures, loaded now. */
  private async loadHints (): Promise<void> {
    const workers = this.workers!
    const { storage } = this.config
    this.hints = new ShardedHintLog({ shardCount: this.shardCount!, maxMessageBytes: storage.max_message_bytes, request: (op, req) => workers.request(op, req) })
    await this.hints.load()
  }

  /** The cluster shells (in a cluster) and the SQL API over them. */
  private async startSqlApi (clustered: boolean): Promise<void> {
    const hlc = this.hlc!
    if (clustered) {
      // Mode 1 (issue 14): commits on a replicated shard wait for their replicas, its requests
      // go to its primary (node/replication/).
      this.replicatedWorkers = new ReplicatedWorkers(this.workers!, () => this.replication, (tableId) => {
        const t = this.catalog.tableById(tableId)
        return t !== undefined && REPLICATION_MODE_RULES[t.replication.replication_mode].scanAnyReplica
      })
      this.cluster = this.createCluster(hlc, this.rpc!)
      this.cluster.register(this.rpcMethods)
      this.rpcMethods.register('TXN_STATUS', p => ({ live: this.liveTxns.has(p.xid) }))
      this.replication = this.createReplication(this.cluster, this.rpc!, this.replicationRpc!)
      this.replication.register(this.rpcMethods)
      this.quorum = this.createQuorum(hlc, this.cluster, this.hints!)
      this.leaderlessBootstrap = this.createLeaderlessBootstrap(hlc, this.cluster, this.quorum)
      this.leaderlessMoves = this.createLeaderlessMoves(this.cluster, this.leaderlessBootstrap)
      if (this.config.anti_entropy.enabled) this.antiEntropy = this.createAntiEntropy(hlc, this.cluster)
    }
    this.fences = this.createFences()
    if (clustered) this.fences.register(this.rpcMethods)
    await this.fences.load()
    this.fences.start()
    this.sqlApi = this.createSqlApi(hlc)
    this.moves = this.createMoves()
    // Alone: now (this node runs every move); in a cluster: with the cluster (the 'cluster' step).
    if (!clustered) { this.moves.start(); this.moves.check() }
    // Alone, the bootstrap administrator is installed before the node serves; in a cluster it
    // goes to the catalog coordinator once the cluster runs (the 'cluster' step).
    if (!clustered) await this.bootstrap?.start()
  }

  /** The node's one StallWatch (net/stall-guard.ts), started with the first listener that uses it. */
  private stallWatch (): StallWatch {
    if (this.stalls === null) {
      this.stalls = new StallWatch(this.io.clock)
      this.stalls.start()
    }
    return this.stalls
  }

  /**
   * The client API on node.listen; the cluster RPC (in a cluster) on node.rpc_listen when set,
   * else beside the client API on node.listen (src/net/listeners.ts).
   */
  /**
   * The client and RPC listeners, closed together within half of node.shutdown_timeout_ms: the
   * requests still running then lose their connections, and the rest of the stop (workers,
   * cluster) keeps the other half.
   */
  private async closeListeners (): Promise<void> {
    const grace = Math.max(100, Math.floor(this.config.node.shutdown_timeout_ms / 2))
    await Promise.all([this.http, this.rpcHttp].map(s => s === undefined || s === null ? undefined : closeServer(s, grace)))
  }

  private async listenHttp (clustered: boolean): Promise<void> {
    const { config, log } = this
    // Every client route but /v1/health needs credentials (http-auth.ts); backups need admin rights.
    const refusals = this.metrics.clientRefusals
    // Request limits before authentication: a flood of bad credentials is bounded too.
    const client: Routes = limitedRoutes(authenticatedRoutes({ '/v1/health': { GET: () => this.health() }, ...adminRoutes(this.backupRoutes(), () => this.catalog), ...this.sqlApi!.routes() }, {
      auth: this.auth!,
      throttle: this.loginThrottle!,
      onFailure: (f) => {
        if (f.user !== '') log.warn({ user: f.user, client: f.address }, `HTTP authentication failed for user "${f.user}"`)
        if (f.outcome === 'SB_LOGIN_THROTTLED') refusals.inc({ listener: 'client', reason: 'login_throttled' })
        this.audit?.login({ user: f.user, database: '', address: f.address, outcome: f.outcome }, 'http')
      }
    }, ['/v1/health']), this.requestLimiter!, ['/v1/health'], (reason) => refusals.inc({ listener: 'client', reason }))
    const separate = clustered && config.node.rpc_listen !== undefined
    const tls = this.tls
    const rpc: Routes = clustered
      ? rpcRoutes({
        cluster: config.cluster.name,
        secret: config.security.cluster_secret,
        methods: this.rpcMethods,
        metrics: this.metrics,
        onInternalError: (e) => log.error({ err: e }, 'internal error in a cluster RPC method'),
        tracer: this.tracing.port,
        ...(tls === null ? {} : { authenticatePeer: rpcPeerCheck(tls.failures, separate ? 'rpc' : 'client') })
      })
      : {}
    // node.listen serving the RPC too asks for a client certificate without requiring one
    // (clients have none; the RPC route checks it); the RPC's own listener refuses a peer
    // without one in the handshake; a client-only listener asks for none.
    this.http = createHttpServer(separate ? clientListenerRoutes(client, Object.keys(rpc)) : { ...client, ...rpc },
      (e) => log.error({ err: e }, 'internal error in HTTP handler'), this.stallWatch(), tls?.serverOptions(clustered && !separate ? 'request' : 'none'),
      new PerClientLimit(config.node.max_connections_per_client, () => refusals.inc({ listener: 'client', reason: 'max_connections' })))
    if (tls !== null) tls.attach(this.http, 'client')
    this.countConnections(this.http, 'client')
    const addr = await listen(this.http, config.node.listen)
    this.listenAddress = `${addr.address}:${addr.port}`
    if (separate) {
      this.rpcHttp = createHttpServer(rpcListenerRoutes(rpc, Object.keys(client)), (e) => log.error({ err: e }, 'internal error in the cluster RPC listener'), this.stallWatch(), tls?.serverOptions('require'))
      if (tls !== null) tls.attach(this.rpcHttp, 'rpc')
      this.countConnections(this.rpcHttp, 'rpc')
      const raddr = await listen(this.rpcHttp, config.node.rpc_listen!)
      this.rpcAddress = `${raddr.address}:${raddr.port}`
    } else if (clustered) {
      this.rpcAddress = this.listenAddress
    }
  }

  /** GET /v1/admin/backup and POST …/done: backups of this node (scratchbird_backup; backup-source.ts). */
  private backupRoutes (): Routes {
    const hlc = this.hlc!
    const source = new BackupSource({
      workers: this.workers!,
      shards: this.shardCount!,
      dataDir: this.dataDir,
      maxMessageBytes: this.config.storage.max_message_bytes,
      nodeId: this.config.node.id,
      cluster: this.config.cluster.name,
      clock: this.io.clock,
      hlcNow: () => nextHlcTs(hlc),
      // A cluster backup's cut (scratchbird_backup --cluster): the HLC as a received timestamp.
      observeHlc: (t) => { hlc.update({ ts: hlcMs(asHlcTs(t)), counter: hlcCounter(asHlcTs(t)) }) },
      log: this.log
    })
    return {
      [BACKUP_PATH]: { GET: backupHandler(source, this.log) },
      [BACKUP_DONE_PATH]: { POST: backupDoneHandler(source) },
      [BACKUP_CLOCK_PATH]: { GET: backupClockHandler({ nodeId: this.config.node.id, cluster: this.config.cluster.name, hlcNow: () => nextHlcTs(hlc) }) },
      [BACKUP_CUT_PATH]: { POST: backupCutHandler(source) }
    }
  }

  /** node.pg_listen: the PostgreSQL wire protocol over the SQL API's executor and sessions. */
  private async listenPg (): Promise<void> {
    const { config, log } = this
    if (config.node.pg_listen === 'off') return
    const api = this.sqlApi!
    this.pg = new PgServer({
      env: this.env!,
      sessions: api.sessions,
      clock: this.io.clock,
      rng: this.io.rng,
      log,
      maxMessageBytes: config.http.max_body_bytes,
      authTimeoutMs: config.node.pg_auth_timeout_ms,
      serverVersion: `15.0 (ScratchBird ${VERSION})`,
      auth: (user) => this.auth!.pg(user),
      throttle: this.loginThrottle!,
      onLogin: (l) => {
        if (l.outcome === 'SB_LOGIN_THROTTLED') this.metrics.clientRefusals.inc({ listener: 'pg', reason: 'login_throttled' })
        this.audit?.login(l, 'pg')
      },
      perClient: new PerClientLimit(config.node.max_connections_per_client, () => this.metrics.clientRefusals.inc({ listener: 'pg', reason: 'max_connections' })),
      requests: this.requestLimiter!,
      onRequestRefused: (reason) => this.metrics.clientRefusals.inc({ listener: 'pg', reason }),
      ...(this.tls === null ? {} : { tls: this.pgTls(this.tls) })
    })
    const addr = await this.pg.listen(config.node.pg_listen)
    this.pgAddress = `${addr.address}:${addr.port}`
  }

  private pgTls (tls: TlsShell): PgTls {
    return { context: () => tls.context, refused: (peer, reason, detail) => tls.failures.report('pg', reason, peer, detail) }
  }

  private async listenMetrics (): Promise<void> {
    this.metricsHttp = createHttpServer({
      '/metrics': {
        GET: async (_req, res) => {
          this.refreshGauges()
          const text = await this.metrics.registry.metrics()
          res.writeHead(200, { 'content-type': this.metrics.registry.contentType })
          res.end(text)
        }
      }
    }, (e) => this.log.error({ err: e }, 'internal error in metrics handler'), this.stallWatch())
    const maddr = await listen(this.metricsHttp, this.config.node.metrics_listen)
    this.metricsAddress = `${maddr.address}:${maddr.port}`
    this.metrics.buildInfo.set({ version: VERSION, node_id: nodeIdLabel(this.config.node.id) }, 1)
  }

  private createFences (): TableFenceShell {
    const cluster = this.cluster
    return new TableFenceShell({
      selfId: this.config.node.id,
      shardCount: this.shardCount!,
      local: this.workers!,
      cluster: cluster === null
        ? null
        : {
            replicasOf: (shard, n) => cluster.replicasOf(shard, n),
            isAlive: (id) => cluster.isAlive(id),
            callFence: (to, req, timeoutMs) => cluster.callFence(to, req, timeoutMs),
            newestCatalogSeen: () => cluster.newestCatalogSeen()
          },
      catalogVersion: () => this.catalogPins.placing(this.catalog.version),
      clock: this.io.clock,
      log: this.log
    })
  }

  private createAntiEntropy (hlc: Hlc, cluster: ClusterShell): AntiEntropyShell {
    const m = this.metrics
    const loaded = loadRepairRecords(this.dataDir, this.config.storage.shards)
    if (loaded.problem !== null) this.loggers.anti_entropy.warn(`Anti-entropy: ${loaded.problem}; repair records start empty (tombstones wait for new rounds, shard replicas serve once repaired)`)
    // A first start: the records begin now (written at once, so a later start knows how long ago).
    const sinceMs = loaded.sinceMs ?? Math.floor(this.io.clock.now())
    if (loaded.sinceMs === null) saveRepairRecords(this.dataDir, loaded.records, sinceMs)
    return new AntiEntropyShell({
      records: { initial: loaded.records, save: (r) => saveRepairRecords(this.dataDir, r, sinceMs) },
      graceMs: () => tombstoneGraceMs(this.config.replication.tombstone_gc_grace_days),
      currentSinceMs: sinceMs,
      onServing: (shard, serving) => m.antiEntropyReplicaServing.set({ shard_id: shardLabel(shard) }, serving ? 1 : 0),
      intervalMs: this.config.anti_entropy.interval_ms,
      local: this.workers!,
      cluster: {
        heldShards: () => cluster.leaderlessShards(),
        isAlive: (id) => cluster.isAlive(id),
        forward: (to, op, shard, payload, timeoutMs) => cluster.forward(to, op, shard, payload, timeoutMs)
      },
      hlc,
      clock: this.io.clock,
      rng: this.io.rng,
      log: this.loggers.anti_entropy,
      onRound: (r) => {
        m.antiEntropyRounds.inc({ shard_id: shardLabel(r.shard), outcome: r.outcome })
        m.antiEntropyDivergences.inc({ shard_id: shardLabel(r.shard) }, r.windowsDiverged)
        m.antiEntropyRowsRepaired.inc({ shard_id: shardLabel(r.shard) }, r.rowsRepaired)
      },
      onCpu: (shard, percent, seconds) => {
        m.antiEntropyCpuPercent.set({ shard_id: shardLabel(shard) }, percent)
        m.antiEntropyCpuSeconds.inc({ shard_id: shardLabel(shard) }, seconds)
      },
      isDropped: (id) => this.droppedRelations().has(id),
      mode1: new Mode1Verifier({
        self: cluster.selfId,
        shardCount: this.shardCount!,
        intervalMs: this.config.anti_entropy.interval_ms,
        group: (shard) => this.replication?.group(shard),
        tables: () => this.catalog.tables.filter(t => t.replication.replication_mode === 'primary_replica').map(t => t.id),
        isAlive: (id) => cluster.isAlive(id),
        local: this.workers!,
        forward: (to, op, shard, payload, timeoutMs) => cluster.forward(to, op, shard, payload, timeoutMs),
        clock: this.io.clock,
        log: this.loggers.anti_entropy,
        onRound: (r) => {
          m.antiEntropyRounds.inc({ shard_id: shardLabel(r.shard), outcome: r.outcome })
          if (r.rowsDiverged > 0) m.antiEntropyDivergences.inc({ shard_id: shardLabel(r.shard) })
          m.antiEntropyRowsRepaired.inc({ shard_id: shardLabel(r.shard) }, r.rowsRepaired)
        }
      })
    })
  }

  /** The SQL layer: catalog from <data_dir>/catalog.json, executors over this node's shard workers. */
  private createSqlApi (hlc: Hlc): SqlApi {
    const { config, log } = this
    const env = execEnv({
      config,
      hlc,
      shards: this.shardRequester(),
      shardCount: this.shardCount!,
      localShards: this.workers!,
      cluster: this.cluster,
      quorum: this.quorum,
      listenAddress: () => this.listenAddress,
      catalog: () => this.catalog,
      installCatalog: (c) => this.installCatalog(c),
      snapshots: this.snapshots,
      liveTxns: this.liveTxns,
      fences: this.fences!,
      catalogPins: this.catalogPins,
      antiEntropy: this.antiEntropy,
      replicationLag: () => this.replication?.lagRows() ?? null,
      replicationShard: (shard) => this.replication?.shardState(shard),
      // Three election timeouts (an election normally ends within two: each wait is drawn up to
      // twice the timeout), at most AWAIT_PRIMARIES_MAX_MS — a DDL must not outwait its client.
      awaitPrimaries: async () => await this.replication?.awaitPrimaries(Math.min(3 * config.replication.election_timeout_ms, AWAIT_PRIMARIES_MAX_MS)) ?? [],
      replicaReadView: (shard) => this.replication?.replicaReadView(shard),
      leaderlessBootstrap: (shard) => this.leaderlessBootstrap?.shardState(shard),
      log,
      clock: this.io.clock,
      rng: this.io.rng,
      statementDone: (r) => { this.logSlowQuery(r); this.audit?.statement(r); this.countStatement(r) },
      tracer: this.tracing.port
    })
    this.env = env
    const api = new SqlApi(env, { maxBodyBytes: config.http.max_body_bytes, sessionIdleTimeoutMs: config.http.session_idle_timeout_ms }, log, this.io.clock, this.io.rng)
    api.start()
    return api
  }

  /** scratchbird_statement_duration_seconds{kind, protocol} and the error counter. */
  private countStatement (r: StatementReport): void {
    const labels = { kind: r.kind, protocol: r.client?.protocol ?? 'internal' }
    this.metrics.statementSeconds.observe(labels, r.durationMs / 1000)
    if (r.error !== undefined) this.metrics.statementErrors.inc({ ...labels, code: r.error })
  }

  /** logging.slow_query_ms is read at each statement, so a SIGHUP reload changes it live. */
  private logSlowQuery (r: StatementReport): void {
    const record = slowQueryRecord(r, this.config.logging.slow_query_ms)
    if (record !== null) this.loggers.slow_query.warn(record.fields, record.msg)
  }

  private installCatalog (c: Catalog): void {
    saveCatalog(this.dataDir, c)
    this.catalog = c
    this.cluster?.noteCatalog(c)
    this.replication?.catalogChanged()
  }

  /** Shard requests go to the local workers, or in a cluster through the placement router. */
  private shardRequester (): ShardRequester {
    const workers = this.workers!
    const tracer = this.tracing.port
    if (this.cluster === null) return tracer === null ? workers : tracedLocalShards(workers, tracer, this.config.node.id)
    const cluster = this.cluster
    // One resolver for the node: its memory of which holders have blocked writers for how long.
    this.routed ??= new OrphanResolver(new ShardRouter(this.replicatedWorkers ?? workers, cluster, tracer), {
      selfId: this.config.node.id,
      live: this.liveTxns,
      isAlive: id => cluster.isAlive(id),
      askPeer: (id, xid) => cluster.txnStatus(id, xid),
      clock: this.io.clock,
      log: this.log
    })
    return this.routed
  }

  private createReplication (cluster: ClusterShell, rpc: RpcClient, messageRpc: RpcClient): ReplicationShell {
    const { config } = this
    return new ReplicationShell({
      self: config.node.id,
      shardCount: this.shardCount!,
      syncReplicas: config.replication.sync_replicas,
      electionTimeoutMs: config.replication.election_timeout_ms,
      heartbeatMs: config.replication.heartbeat_ms,
      maxRetainedBytes: config.replication.log_retention_bytes,
      lagWarningMs: config.replication.lag_warning_ms,
      maxMessageBytes: config.storage.max_message_bytes,
      rebalanceRateBytesPerS: config.cluster.rebalance_rate_bytes_per_s,
      rebalanceMaxConcurrentShards: config.cluster.rebalance_max_concurrent_shards,
      rebalanceMaxBusyShare: config.cluster.rebalance_max_busy_share,
      replicasOf: (shard) => cluster.mode1ReplicasOf(shard),
      leaderlessTables: () => this.leaderlessTableIds(),
      singleCopyMove: (shard) => cluster.singleCopyMove(shard),
      goneVoters: (voters) => cluster.goneVoters(voters),
      forcedWitnesses: () => cluster.forcedWitnesses(),
      addressOf: (node) => cluster.peerAddress(node),
      workers: this.workers!,
      rpc,
      messageRpc,
      clock: this.io.clock,
      rng: this.io.rng,
      log: this.loggers.replication,
      metrics: this.metrics,
      onPrimary: (shard) => { this.recoverPrimaryLimbo(shard) }
    })
  }

  /** Whether the workers serve shards 0..shards-1; else starts opening the missing ones (ClusterDeps.shardsOpen). */
  private shardsOpen (shards: number): boolean {
    const workers = this.workers!
    const missing = shardIds(shards).filter(s => !workers.serves(s))
    if (missing.length === 0) return true
    Promise.all(missing.map(s => workers.openShard(s))).catch((e: unknown) => {
      this.log.error({ err: describe(e), shards: missing }, `opening shards ${missing.join(',')} failed (retried at the next layout offer): ${messageOf(e)}`)
    })
    return false
  }

  private createCluster (hlc: Hlc, rpc: RpcClient): ClusterShell {
    const { config } = this
    const self = config.cluster.nodes.find(n => n.id === config.node.id)
    return new ClusterShell({
      shardCount: this.shardCount!,
      shardsOpen: (shards) => this.shardsOpen(shards),
      config,
      hlc,
      log: this.log,
      metrics: this.metrics,
      rpc,
      workers: this.replicatedWorkers ?? this.workers!,
      primaryOf: (shard) => this.replication?.primaryOf(shard) ?? 0,
      catalog: () => this.catalog,
      installCatalog: (c) => this.installCatalog(c),
      // The cluster pushes a new catalog version to its peers before installing it here.
      runDdl: (s) => {
        let next: Catalog | null = null
        const result = applyDdl({ ...this.env!, setCatalog: (c) => { this.cluster!.checkProvidable(c, s); next = c } }, s)
        return { result, catalog: next }
      },
      onFatal: (reason) => this.onFatal(reason),
      clock: this.io.clock,
      rng: this.io.rng,
      layout: this.layout!,
      persistLayout: async (l) => { await recordClusterLayout(this.dataDir, l) },
      removed: readRemovedMembers(this.dataDir, this.layout!),
      persistRemoved: (ids) => { recordRemovedMembers(this.dataDir, ids) },
      decree: readDecree(this.dataDir),
      persistDecree: async (r) => { await recordDecree(this.dataDir, r) },
      // Placement changed: the replication groups follow now, not at their next timer tick.
      onLayout: (l) => { this.layout = l; this.replication?.catalogChanged() },
      mode1Voters: (shard) => this.replication?.votersOf(shard) ?? [],
      mode1CommittedVoters: (shard) => this.replication?.committedVotersOf(shard) ?? [],
      mode1Retired: (shard) => this.replication?.retired(shard) ?? false,
      bootstrapProgress: (shard) => this.replication?.bootstrapProgress(shard) ?? null,
      leaderlessFills: () => this.leaderlessMoves?.finished() ?? [],
      leaderlessFillProgress: (shard) => this.leaderlessMoves?.progress(shard) ?? null,
      mode1Primaries: () => {
        const out: Array<{ shard: number, voters: NodeId[] }> = []
        for (const shard of shardIds(this.config.storage.shards)) {
          const g = this.replication?.group(shard)
          if (g?.role === 'primary') out.push({ shard, voters: g.voters })
        }
        return out
      },
      oldestSnapshot: () => this.snapshots.oldest(),
      placingVersion: () => this.catalogPins.placing(this.catalog.version),
      replicaStale: (shard) => this.antiEntropy?.isStale(shard) ?? false,
      onTopology: (c) => this.audit?.topology(c)
    }, self?.address ?? config.node.listen)
  }

  /** The shell resuming table moves, over the node's executor env (its runs join the executor's). */
  private createMoves (): TableMoveShell {
    const env = this.env!
    const cluster = this.cluster
    const self = this.config.node.id
    const pos = { line: 1, column: 1, offset: 0 }
    const ddl = async (s: DdlStatement): Promise<StatementResult> => env.runDdl !== undefined ? await env.runDdl(s) : applyDdl(env, s)
    return new TableMoveShell({
      selfId: self,
      catalog: () => this.catalog,
      live: () => cluster === null ? [self] : env.members().filter(m => m.state !== 'down' && m.state !== 'left').map(m => m.nodeId),
      catalogCurrent: () => cluster === null || this.catalog.version >= cluster.newestCatalogSeen(),
      run: async (table, progress) => { await runMove(env, table, pos, ddl, progress) },
      takeOver: async (table, node) => { await ddl({ kind: 'alter_table', pos, table, action: { kind: 'move', pos, step: { kind: 'take_over', node } } }) },
      log: this.log
    })
  }

  private createLeaderlessMoves (cluster: ClusterShell, bootstrap: LeaderlessBootstrap): LeaderlessMoveShell {
    return new LeaderlessMoveShell({
      selfId: this.config.node.id,
      dataDir: this.dataDir,
      view: () => cluster.leaderlessMoveView(),
      alive: (id) => cluster.isAlive(id),
      fill: async (req) => await bootstrap.fillShard(req),
      epoch: () => cluster.currentLayout().epoch,
      settled: () => cluster.layoutSettled(),
      settleMs: () => this.config.replication.write_timeout_ms,
      clock: this.io.clock,
      log: this.loggers.replication
    })
  }

  private createLeaderlessBootstrap (hlc: Hlc, cluster: ClusterShell, quorum: QuorumShell): LeaderlessBootstrap {
    const { config } = this
    const codec = codecOf('REPLICA_APPLY')
    return new LeaderlessBootstrap({
      selfId: config.node.id,
      shards: config.storage.shards,
      workers: this.workers!,
      catalog: () => this.catalog,
      replicas: (shard, n) => cluster.replicasOf(shard, n),
      alive: (id) => cluster.isAlive(id),
      apply: async (to, req) => {
        if (to === config.node.id) await this.workers!.request('REPLICA_APPLY', req)
        else codec.decodeReply(await cluster.forward(to, 'REPLICA_APPLY', req.shard, codec.encodeRequest(req), config.replication.write_timeout_ms))
      },
      ddl: async (s) => await cluster.ddl(s),
      hlc,
      maxMessageBytes: config.storage.max_message_bytes,
      maxBatchBytes: quorum.maxBatchBytes,
      log: this.loggers.replication,
      clock: this.io.clock
    })
  }

  private createQuorum (hlc: Hlc, cluster: ClusterShell, hints: ShardedHintLog): QuorumShell {
    const { config } = this
    const xids = new SharedXidCounter(this.workers!.xidCounter)
    const members = new Set([...config.cluster.nodes.map(n => n.id), config.node.id])
    return new QuorumShell({
      config,
      selfId: config.node.id,
      hlc,
      log: this.loggers.replication,
      metrics: this.metrics,
      local: this.workers!,
      forward: (id, op, shard, payload, timeoutMs) => cluster.forward(id, op, shard, payload, timeoutMs),
      replicas: (shard, n) => cluster.replicasOf(shard, n),
      pending: (shard, n) => cluster.pendingOf(shard, n),
      layoutConfirmed: () => cluster.layoutConfirmed(),
      alive: (id) => cluster.isAlive(id),
      homeShard: (tableId, key) => this.splitHomeShard(tableId, key),
      // A node admitted at run time is in the layout, not necessarily in this node's cluster.nodes.
      isMember: (id) => members.has(id) || cluster.isLayoutMember(id),
      xid: () => makeXid(config.node.id, xids.take()),
      hints,
      clock: this.io.clock,
      replicaStale: (shard) => this.antiEntropy?.isStale(shard) ?? false,
      tracer: this.tracing.port
    })
  }

  /** `alone`: not clustered (see RecoverLimboOptions). Returns the entries left for another round. */
  private async recoverLimbo (io: TwoPhaseIo, shards: ShardId[], alone: boolean): Promise<number> {
    const recovered = await recoverLimbo(io, shards, { alone })
    if (recovered.committed + recovered.aborted + recovered.failed + recovered.pending > 0) {
      this.log[recovered.failed > 0 ? 'error' : 'info'](recovered, `2PC recovery: committed ${recovered.committed}, aborted ${recovered.aborted}, failed ${recovered.failed}, left to a running coordinator ${recovered.pending} limbo transaction(s)`)
    }
    return recovered.failed + recovered.pending
  }

  // In a cluster a limbo transaction's decision record may live on another node's shard, which
  // may not be up yet: recover in the background and retry what could not be decided (a limbo
  // version stays invisible meanwhile; it is never guessed aborted while its record is unreadable).
  private recoverClusterLimbo (hlc: Hlc): void {
    const cluster = this.cluster!
    const io = shardTwoPhaseIo(this.shardRequester(), this.shardCount!, () => hlc.generate(), () => nextHlcTs(hlc))
    const attempt = (): void => {
      if (this.state === 'stopping' || this.state === 'stopped') return
      // Listed at each attempt: a split raises the shard count (config.storage.shards follows it).
      const owned = shardIds(this.config.storage.shards).filter(s => cluster.placedOwner(s) === cluster.selfId)
      this.recoverLimbo(io, owned, false).then(failed => {
        if (failed > 0) this.limboTimer = setTimeout(attempt, LIMBO_RETRY_MS).unref()
      }, (e: unknown) => {
        this.log.error({ err: describe(e) }, `2PC recovery failed: ${messageOf(e)}; retrying`)
        this.limboTimer = setTimeout(attempt, LIMBO_RETRY_MS).unref()
      })
    }
    attempt()
  }

  // A node that becomes a replicated shard's primary takes over the prepared transactions of its
  // log (PREPARE is a log entry): their coordinator's decision may have gone to the old primary
  // and failed, so recovery decides them here, retried while some stay undecided and this node is
  // still the primary. Shorter than LIMBO_RETRY_MS: their rows stay locked until decided.
  private sweepPrimaryLimbo (): void {
    if (this.replication === null) return
    this.primaryLimboSweep = setInterval(() => {
      for (const shard of shardIds(this.config.storage.shards)) {
        if (this.decidesLimboOf(shard)) this.recoverPrimaryLimbo(shard)
      }
    }, PRIMARY_LIMBO_SWEEP_MS).unref()
  }

  /**
   * Whether this node's sweep looks after the prepared transactions of `shard`: it is the shard's
   * Mode 1 primary, or — the shard replicated by no group (a single copy) — its placed owner. A
   * coordinator's abort or commit that failed to reach a single-copy participant (a timeout under
   * load, the participant's node restarting) left its rows locked until the coordinator's node
   * restarted: the start-up recovery had long finished, and the sweep covered only primaries (a
   * table move retried against such a limbo row for minutes in CI: repartition.test.ts).
   */
  private decidesLimboOf (shard: ShardId): boolean {
    const self = this.config.node.id
    const primary = this.replication?.primaryOf(shard) ?? 0
    if (primary === self) return true
    const cluster = this.cluster
    return primary === 0 && cluster !== null && cluster.placedOwner(shard) === self && cluster.mode1ReplicasOf(shard).length === 0
  }

  private recoverPrimaryLimbo (shard: ShardId): void {
    const hlc = this.hlc
    if (hlc === null || this.primaryLimboTimers.has(shard)) return
    const all = shardTwoPhaseIo(this.shardRequester(), this.shardCount!, () => hlc.generate(), () => nextHlcTs(hlc))
    // Only transactions in limbo for a while: a young one's coordinator is deciding it (limbo-ages.ts).
    const io: TwoPhaseIo = { ...all, listLimbo: async (s) => this.limboAges.old(s, await all.listLimbo(s)) }
    const attempt = (): void => {
      this.primaryLimboTimers.delete(shard)
      if (this.state === 'stopping' || this.state === 'stopped') return
      if (!this.decidesLimboOf(shard)) return
      const again = (): void => { this.primaryLimboTimers.set(shard, setTimeout(attempt, PRIMARY_LIMBO_RETRY_MS).unref()) }
      this.recoverLimbo(io, [shard], false).then(left => { if (left > 0 || this.limboAges.young(shard) > 0) again() }, (e: unknown) => {
        this.log.error({ err: describe(e), shard }, `2PC recovery of shard ${shard} failed: ${messageOf(e)}; retrying`)
        again()
      })
    }
    this.primaryLimboTimers.set(shard, setTimeout(attempt, 0).unref())
  }

  health (): Record<string, unknown> {
    return {
      nodeId: this.config.node.id,
      version: VERSION,
      uptimeMs: Math.round(this.io.clock.monotonic() - this.startedAt),
      state: this.state,
      shardWorkers: this.workers?.count ?? 0,
      shardsOpen: this.workers?.shardsOpen() ?? 0
    }
  }

  private refreshGauges (): void {
    if (this.hlc) this.metrics.hlcCounter.set({ node_id: nodeIdLabel(this.config.node.id) }, this.hlc.state().counter)
    this.metrics.shardWorkers.set(this.workers?.count ?? 0)
    this.metrics.shardsOpen.set(this.workers?.shardsOpen() ?? 0)
    this.metrics.shardWorkerRestarts.set(this.workers?.restartsTotal ?? 0)
    this.quorum?.refreshGauges(this.config.cluster.nodes.map(n => n.id).filter(id => id !== this.config.node.id))
    this.traffic.refresh()
    const m = this.metrics
    for (const r of this.workers?.ringStats() ?? []) {
      m.ringUsedBytes.set({ worker: String(r.worker), direction: 'request' }, r.requestUsedBytes)
      m.ringUsedBytes.set({ worker: String(r.worker), direction: 'response' }, r.responseUsedBytes)
      m.ringInFlight.set({ worker: String(r.worker) }, r.inFlight)
    }
    m.ringCapacityBytes.set(this.config.storage.ring_bytes)
    // Only the shards this node is primary of now: a series of a shard it no longer leads goes.
    m.replicationLagMs.reset()
    m.replicationLagLsns.reset()
    for (const r of this.replication?.lagRows() ?? []) {
      m.replicationLagMs.set({ shard_id: shardLabel(r.shard), replica: nodeLabel(r.replica) }, r.lagMs)
      m.replicationLagLsns.set({ shard_id: shardLabel(r.shard), replica: nodeLabel(r.replica) }, Number(r.lagLsns))
    }
    m.sessions.set(this.sqlApi?.sessions.size ?? 0)
    let tempTables = 0
    let tempBytes = 0
    for (const s of this.sqlApi?.sessions.states() ?? []) { tempTables += s.temp.size; tempBytes += s.temp.bytes }
    m.tempTables.set(tempTables)
    m.tempTableBytes.set(tempBytes)
    this.tls?.refreshGauges()
    m.connections.set({ listener: 'client' }, this.openConnections.client)
    if (this.rpcHttp !== null) m.connections.set({ listener: 'rpc' }, this.openConnections.rpc)
    if (this.pg !== null) m.connections.set({ listener: 'pg' }, this.pg.size)
    // Every state is set (0 when none), so a node leaving a state drops its count rather than keeping the last one.
    const states = new Map<string, number>(MEMBER_GAUGE_STATES.map(s => [s, 0]))
    for (const row of this.cluster?.members() ?? [{ state: 'normal' }]) states.set(row.state, (states.get(row.state) ?? 0) + 1)
    for (const [state, count] of states) m.clusterMembers.set({ state }, count)
  }

  /**
   * SIGHUP with a valid file (server-main keeps the running configuration and logs an ERROR
   * otherwise): the log files are reopened (logrotate); live keys (config/reload.ts) take effect
   * now, each logged at INFO; every other changed key is named in a WARNING and keeps its
   * running value until a restart.
   */
  reload (next: Config): void {
    const plan = planReload(this.config, next)
    // The layout (storage.shards, the member ids of cluster.nodes) never changes, not even by a
    // restart (refused): reported as an ERROR on its own, not as a change "after a restart".
    const nextLayout = layoutOfConfig(next)
    const refused = this.layout === null ? [] : layoutChangesRefused(this.layout, nextLayout)
    const sameMembers = !refused.some(line => line.startsWith('cluster.nodes'))
    // A file still saying a count the cluster was split from: warned about, never "needs a restart".
    const preSplit = this.layout !== null && splitFromCount(this.layout, next.storage.shards)
    if (preSplit) this.log.warn({ configured: next.storage.shards, recorded: this.layout!.shards }, staleShardsWarning(this.layout!, next.storage.shards, `data directory ${this.dataDir}`))
    const isRefused = (path: string): boolean => (path === 'storage.shards' && (preSplit || (refused.length > 0 && next.storage.shards !== this.config.storage.shards))) ||
      (!sameMembers && (path === 'cluster.nodes' || path.startsWith('cluster.nodes.')))
    const restart = plan.restart.filter(c => !isRefused(c.path))
    this.loggers.reopen()
    // The certificate files are read again (the same paths: a changed tls_* path needs a restart).
    this.tls?.reload('SIGHUP')
    applyLive(this.config, plan.live)
    // The loggers copied the level at start: the one live key that needs pushing.
    this.loggers.setLevel(this.config.logging.level)
    for (const c of plan.live) {
      this.log.info({ key: c.path, from: secretOr(c.running, c.path), to: secretOr(c.file, c.path) }, `${c.path} changed: ${shown(c.running, c.path)} -> ${shown(c.file, c.path)}, in effect now`)
    }
    for (const line of refused) this.log.error({ refused: line }, `configuration reload: ${line}`)
    for (const c of restart) {
      this.log.warn({ key: c.path, running: secretOr(c.running, c.path), file: secretOr(c.file, c.path) }, `${c.path} changed in the file: needs a restart; the running value stays ${shown(c.running, c.path)}`)
    }
    this.log.info({ live: plan.live.map(c => c.path), restartNeeded: restart.map(c => c.path), refused },
      `configuration reloaded: ${plan.live.length} change(s) in effect, ${restart.length} waiting for a restart${refused.length > 0 ? `, ${refused.length} refused` : ''}`)
  }

  /** Idempotent; closes listeners, then workers (which close their databases), then the rest. */
  /** The stop step running now (named in the shutdown-timeout message); null when none. */
  stopStep: string | null = null

  stop (): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop (): Promise<void> {
    const wasReady = this.state === 'ready'
    this.state = 'stopping'
    if (wasReady) this.log.info('stopping')
    for (const step of this.undo.splice(0).reverse()) {
      this.stopStep = step.name
      const t0 = this.io.clock.monotonic()
      try { await step.stop() } catch (e) {
        this.log.error({ step: step.name, err: describe(e) }, `stopping ${step.name} failed: ${messageOf(e)}`)
      }
      // A slow step is what makes a stop overrun node.shutdown_timeout_ms: say which one it was.
      const ms = Math.round(this.io.clock.monotonic() - t0)
      if (ms >= SLOW_STOP_STEP_MS) this.log.warn({ step: step.name, ms }, `stopping ${step.name} took ${ms} ms`)
    }
    this.stopStep = null
    this.state = 'stopped'
    if (wasReady) this.log.info('stopped')
    this.loggers.close()
  }
}
