import type { Server } from 'node:http'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { systemClock } from '../core/clock'
import type { Config } from '../core/config/load'
import { ScratchBirdError } from '../core/errors'
import { initHashing } from '../core/hash'
import type { Hlc } from '../core/hlc'
import { HlcPersistence } from '../core/hlc-persist'
import { cryptoRng } from '../core/rng'
import { closeServer, createHttpServer, listen } from '../net/http-server'
import { createLoggers, type Loggers } from '../ops/log'
import { createMetrics, type NodeMetrics } from '../ops/metrics'
import { VERSION } from '../version'
import { CpuPool } from './cpu-pool'
import { lockDataDir, type DataDirLock } from './data-dir-lock'
import { checkNodeIdentity } from './node-identity'
import { assignShards } from './shard-assignment'
import { ShardWorkers } from './shard-workers'
import { Sweeper } from './sweeper'
import { nextHlcTs } from './hlc-ts'
import { shardTwoPhaseIo } from './twopc-io'
import { recoverLimbo } from '../cluster/twopc'
import { loadCatalog, saveCatalog } from '../catalog/store'
import { UuidV7Generator } from '../core/uuid'
import type { ExecEnv } from '../sql/exec/env'
import { SqlApi } from './sql-api'

// One ScratchBird node = one process (DESIGN §2). This is the I/O shell that owns everything the
// process runs — data-dir lock, loggers, HLC, CPU pool, shard workers, HTTP listeners — and starts
// and stops them in order. Any start failure undoes what was started and rethrows.

export type NodeState = 'starting' | 'ready' | 'stopping' | 'stopped'

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
      slow_query: l.files.slow_query,
      // The seed's audit section names the audit file; it exists only when auditing is on.
      audit: config.audit.enabled ? resolve(config.audit.log_file) : null
    }
  }
}

export class ScratchBirdNode {
  state: NodeState = 'starting'
  readonly startedAt = systemClock.monotonic()
  readonly log: Logger
  readonly loggers: Loggers
  readonly metrics: NodeMetrics
  hlc: Hlc | null = null
  listenAddress = ''
  metricsAddress = ''
  private lock: DataDirLock | null = null
  private cpu: CpuPool | null = null
  private workers: ShardWorkers | null = null
  private sweeper: Sweeper | null = null
  private http: Server | null = null
  private sqlApi: SqlApi | null = null
  private metricsHttp: Server | null = null
  private stopping: Promise<void> | null = null

  constructor (public config: Config, private readonly onFatal: (reason: string) => void = () => {}) {
    this.loggers = createLoggers(loggingSettings(config), { node: config.node.id })
    this.log = this.loggers.main
    this.metrics = createMetrics()
  }

  get dataDir (): string { return resolve(this.config.node.data_dir) }

  async start (): Promise<void> {
    const { config, log } = this
    const nodeId = config.node.id
    try {
      this.lock = lockDataDir(this.dataDir)
      checkNodeIdentity(this.dataDir, { nodeId, cluster: config.cluster.name })
      this.hlc = new HlcPersistence(join(this.dataDir, 'hlc.hwm')).startHlc({
        clock: systemClock,
        rng: cryptoRng,
        nodeId,
        maxClockOffsetMs: config.node.max_clock_offset_ms,
        onWarning: (kind, details) => {
          this.metrics.hlcWarnings.inc({ node_id: String(nodeId), kind })
          log.warn(details, `HLC warning: ${kind}`)
        }
      })
      await initHashing()

      const workerCount = config.storage.workers === 'auto' ? availableParallelism() : config.storage.workers
      this.cpu = new CpuPool(Math.max(1, Math.min(2, availableParallelism() - 1)))
      await this.cpu.selfTest()

      const assignment = assignShards(config.storage.shards, workerCount, config.storage.shard_workers ?? {})
      this.workers = new ShardWorkers({
        dataDir: this.dataDir,
        nodeId,
        durability: config.node.durability,
        ringBytes: config.storage.ring_bytes,
        maxMessageBytes: config.storage.max_message_bytes,
        lsm: {
          writeBufferSize: config.lsm.write_buffer_size,
          cacheSize: config.lsm.block_cache_bytes,
          maxOpenFiles: config.lsm.max_open_files
        },
        now: () => systemClock.monotonic()
      }, log, (reason) => {
        // A worker that cannot be kept alive: stop cleanly rather than serve with shards missing.
        if (this.state === 'ready') this.onFatal(reason)
      })
      await this.workers.start(assignment)
      // Limbo transactions of a crash between PREPARE and COMMIT PREPARED are finished (or
      // aborted, presumed abort) by their decision records before the node serves anything.
      const hlc = this.hlc
      const shards = [...Array(config.storage.shards).keys()]
      const recovered = await recoverLimbo(shardTwoPhaseIo(this.workers, config.storage.shards, () => hlc.generate(), () => nextHlcTs(hlc)), shards)
      if (recovered.committed + recovered.aborted + recovered.failed > 0) {
        log[recovered.failed > 0 ? 'error' : 'info'](recovered, `2PC recovery: committed ${recovered.committed}, aborted ${recovered.aborted}, failed ${recovered.failed} limbo transaction(s)`)
      }
      this.sweeper = new Sweeper(this.workers, config.storage.shards, this.hlc, log, (t) => {
        this.metrics.sweepRuns.inc()
        this.metrics.sweepRemoved.inc({ kind: 'back' }, t.backVersionsRemoved)
        this.metrics.sweepRemoved.inc({ kind: 'dead' }, t.deadVersionsRemoved)
      })
      this.sweeper.start(config.storage.sweep_schedule)

      this.sqlApi = this.createSqlApi(hlc)
      this.http = createHttpServer({
        '/v1/health': { GET: () => this.health() },
        ...this.sqlApi.routes()
      }, (e) => log.error({ err: e }, 'internal error in HTTP handler'))
      const addr = await listen(this.http, config.node.listen)
      this.listenAddress = `${addr.address}:${addr.port}`

      this.metricsHttp = createHttpServer({
        '/metrics': {
          GET: async (_req, res) => {
            this.refreshGauges()
            const text = await this.metrics.registry.metrics()
            res.writeHead(200, { 'content-type': this.metrics.registry.contentType })
            res.end(text)
          }
        }
      }, (e) => log.error({ err: e }, 'internal error in metrics handler'))
      const maddr = await listen(this.metricsHttp, config.node.metrics_listen)
      this.metricsAddress = `${maddr.address}:${maddr.port}`
      this.metrics.buildInfo.set({ version: VERSION, node_id: String(nodeId) }, 1)

      this.state = 'ready'
      log.info({ listen: this.listenAddress, metrics: this.metricsAddress, workers: workerCount, shards: config.storage.shards, dataDir: this.dataDir, version: VERSION },
        `ready: node ${nodeId} listening on ${this.listenAddress}`)
    } catch (e) {
      log.error({ err: e instanceof ScratchBirdError ? e.toJSON() : String(e) }, `start failed: ${(e as Error).message}`)
      await this.stop()
      if (e instanceof ScratchBirdError) throw e
      const err = e as NodeJS.ErrnoException
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        throw new ScratchBirdError('SB_BAD_ARGUMENT', `cannot listen: ${err.message}`, { code: err.code }, { cause: e })
      }
      throw e
    }
  }

  /** The SQL layer: catalog from <data_dir>/catalog.json, executors over this node's shard workers. */
  private createSqlApi (hlc: Hlc): SqlApi {
    const { config, log } = this
    const workers = this.workers!
    let catalog = loadCatalog(this.dataDir)
    const env: ExecEnv = {
      nodeId: config.node.id,
      listenAddress: () => this.listenAddress,
      shards: config.storage.shards,
      request: (op, req) => workers.request(op, req),
      hlc,
      uuidV7: new UuidV7Generator(systemClock, cryptoRng),
      clock: systemClock,
      twoPhase: shardTwoPhaseIo(workers, config.storage.shards, () => hlc.generate(), () => nextHlcTs(hlc)),
      // A single node until cluster membership exists.
      liveNodes: () => 1,
      catalog: () => catalog,
      setCatalog: (c) => { saveCatalog(this.dataDir, c); catalog = c },
      warn: (message, details) => log.warn(details, message)
    }
    const api = new SqlApi(env, { maxBodyBytes: config.http.max_body_bytes, sessionIdleTimeoutMs: config.http.session_idle_timeout_ms }, log)
    api.start()
    return api
  }

  health (): Record<string, unknown> {
    return {
      nodeId: this.config.node.id,
      version: VERSION,
      uptimeMs: Math.round(systemClock.monotonic() - this.startedAt),
      state: this.state,
      shardWorkers: this.workers?.count ?? 0,
      shardsOpen: this.workers?.shardsOpen() ?? 0
    }
  }

  private refreshGauges (): void {
    if (this.hlc) {
      const id = String(this.config.node.id)
      this.metrics.hlcCounter.set({ node_id: id }, this.hlc.state().counter)
    }
    this.metrics.shardWorkers.set(this.workers?.count ?? 0)
    this.metrics.shardsOpen.set(this.workers?.shardsOpen() ?? 0)
    this.metrics.shardWorkerRestarts.set(this.workers?.restartsTotal ?? 0)
  }

  /**
   * SIGHUP: apply what can change without a restart (log level, log files reopened for
   * logrotate); report the rest.
   */
  reload (next: Config): void {
    const restartNeeded = ['node', 'storage', 'lsm', 'cluster', 'security']
      .filter(k => JSON.stringify(next[k as keyof Config]) !== JSON.stringify(this.config[k as keyof Config]))
    this.loggers.reopen()
    this.loggers.setLevel(next.logging.level)
    this.config = { ...this.config, logging: next.logging, replication: next.replication, anti_entropy: next.anti_entropy, gossip: next.gossip, audit: next.audit, http: next.http }
    this.log.info({ restartNeeded }, restartNeeded.length
      ? `configuration reloaded; changes to ${restartNeeded.join(', ')} take effect after a restart`
      : 'configuration reloaded')
  }

  /** Idempotent; closes listeners, then workers (which close their databases), then the rest. */
  stop (): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop (): Promise<void> {
    const wasReady = this.state === 'ready'
    this.state = 'stopping'
    if (wasReady) this.log.info('stopping')
    this.sqlApi?.stop()
    if (this.http) await closeServer(this.http)
    if (this.metricsHttp) await closeServer(this.metricsHttp)
    this.log.debug('listeners closed')
    await this.sweeper?.stop()
    if (this.workers) await this.workers.stop()
    this.log.debug('shard workers stopped, shard databases closed')
    if (this.cpu) await this.cpu.close()
    this.lock?.release()
    this.state = 'stopped'
    if (wasReady) this.log.info('stopped')
    this.loggers.close()
  }
}
