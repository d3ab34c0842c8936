import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import type { Clock } from '../core/clock'
import { ScratchBirdError, type ErrorCode } from '../core/errors'
import { RingClient } from '../rings/channel'
import { FRAME_HEADER_BYTES, SpscRing } from '../rings/spsc-ring'
import { workerSpec } from './assets'
import { TXN_IDLE_TIMEOUT_MS_DEFAULT } from '../core/config/schema'
import { SHARD_OPS, codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import type { ShardWorkerData, WorkerToMain } from '../shard/protocol/worker-protocol'
import { MAX_SHARDS, type NodeId, type ShardId } from '../core/ids'
import { needsReply, needsRequest, type ShardRequestDone } from './shard-traffic'

// The shard worker threads seen from the main thread (DESIGN §2): starts them, routes each request
// to the worker owning its shard through that worker's ring pair, and stops them. A worker that
// dies fails its in-flight requests at once with SB_WORKER_DIED, and is restarted on the same
// shards (its LevelDB locks die with it); a worker that keeps dying makes the node stop (onFatal).

const START_TIMEOUT_MS = 30_000
const CLOSE_TIMEOUT_MS = 10_000
/** Restarts allowed per worker within RESTART_WINDOW_MS before the node gives up. */
const MAX_RESTARTS = 3
const RESTART_WINDOW_MS = 60_000
const WORKER_YOUNG_GENERATION_MB = 64

export interface ShardWorkersOptions {
  dataDir: string
  nodeId: NodeId
  durability: 'sync' | 'none'
  ringBytes: number
  maxMessageBytes: number
  lsm: ShardWorkerData['lsm']
  /** Restart accounting and the main side of the rings. */
  clock: Clock
  /** storage.txn_idle_timeout_ms (default: the schema's). */
  txnIdleTimeoutMs?: number
  /** The Merkle forest's windows (merkleForestConfig of the config); absent or null: no forest. */
  merkle?: ShardWorkerData['merkle'] | undefined
  /** Told of every request's start and end (per-shard metrics, src/node/shard-traffic.ts). */
  traffic?: ShardTrafficSink | undefined
}

/** What the per-shard metrics need of each request. */
export interface ShardTrafficSink {
  started (worker: number): void
  done (d: ShardRequestDone): void
}

/** A worker's rings at this moment (scratchbird_ring_* metrics). */
export interface RingStats { worker: number, requestUsedBytes: number, responseUsedBytes: number, capacityBytes: number, inFlight: number }

interface Slot {
  index: number
  shards: ShardId[]
  worker: Worker | null
  client: RingClient | null
  stopping: boolean
  restarts: number[]
}

export class ShardWorkers {
  private readonly slots: Slot[] = []
  private readonly owner = new Map<number, Slot>()
  /** openShard jobs running, by shard. */
  private readonly opening = new Map<ShardId, Promise<void>>()
  /** Node-wide XID counter shared by every worker (Atomics; see src/storage/xid-shared.ts). */
  readonly xidCounter = new SharedArrayBuffer(8)
  /** Each shard's last logged LSN, published by its engine (onLsn; read by the Mode 1 read hold: loggedLsn). */
  readonly lsnBoard = new SharedArrayBuffer(8 * MAX_SHARDS)
  private readonly lsns = new BigInt64Array(this.lsnBoard)
  restartsTotal = 0

  /** The last LSN `shard`'s engine has logged (0 before it opened): every commit a read served after now can see is at or below it. */
  loggedLsn (shard: ShardId): bigint { return Atomics.load(this.lsns, shard) }

  constructor (
    private readonly opts: ShardWorkersOptions,
    private readonly log: Logger,
    private readonly onFatal: (reason: string) => void
  ) {}

  get count (): number { return this.slots.length }
  shardsOpen (): number { return this.slots.reduce((n, s) => n + (s.client ? s.shards.length : 0), 0) }

  /** Starts one worker per entry of `assignment` (its shards) and waits until all are serving. */
  async start (assignment: ShardId[][]): Promise<void> {
    for (const [index, shards] of assignment.entries()) {
      const slot: Slot = { index, shards, worker: null, client: null, stopping: false, restarts: [] }
      this.slots.push(slot)
      for (const s of shards) this.owner.set(s, slot)
    }
    await Promise.all(this.slots.map(s => this.spawn(s)))
  }

  /**
   * Opens shard `shard` while the node runs (a split's new shards, cluster/shard-split.ts) on
   * worker `worker`, by default the one serving the fewest shards (the lowest index on a tie), and
   * routes its requests there from then on; a restart of that worker opens it again. True when it
   * was opened now, false when it was open already. Concurrent calls for one shard share one open.
   */
  async openShard (shard: ShardId, worker?: number): Promise<boolean> {
    if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `no shard ${shard} can exist (shard ids are 0..${MAX_SHARDS - 1})`, { shard })
    if (this.owner.has(shard)) return false
    const running = this.opening.get(shard)
    if (running !== undefined) return await running.then(() => false)
    const slot = worker === undefined ? this.leastLoaded() : this.slots[worker]
    if (slot === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `no shard worker ${worker} (workers: ${this.slots.length})`, { shard, worker })
    const job = (async () => {
      const client = slot.client
      if (client === null) throw new ScratchBirdError('SB_WORKER_DIED', `shard ${shard} cannot be opened now: worker ${slot.index} is restarting`, { shard, worker: slot.index })
      const codec = codecOf('SHARD_OPEN')
      codec.decodeReply((await client.request(SHARD_OPS.SHARD_OPEN.code, codec.encodeRequest({ shard }))).payload)
      // Recorded only once open: a restart of the worker in between starts it without the shard,
      // and the caller (whose request failed with SB_WORKER_DIED) opens it again.
      slot.shards.push(shard)
      this.owner.set(shard, slot)
    })()
    this.opening.set(shard, job)
    try { await job } finally { this.opening.delete(shard) }
    return true
  }

  private leastLoaded (): Slot | undefined {
    return this.slots.reduce<Slot | undefined>((best, s) => best === undefined || s.shards.length < best.shards.length ? s : best, undefined)
  }

  /** Whether shard `shard` is served here (opened at start or by openShard). */
  serves (shard: ShardId): boolean { return this.owner.has(shard) }

  /** Sends one request to the worker owning `req.shard`. */
  async request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> {
    const codec = codecOf(op)
    const t = this.opts.traffic
    if (t === undefined) return codec.decodeReply(await this.send(op, req.shard, codec.encodeRequest(req)))
    const { slot, started } = this.begin(req.shard)
    let reply: ShardReplies[K] | undefined
    try {
      reply = codec.decodeReply(await this.send(op, req.shard, codec.encodeRequest(req)))
      return reply
    } finally {
      t.done({ op, shard: req.shard, worker: slot, ms: this.opts.clock.monotonic() - started, req, reply, ok: reply !== undefined })
    }
  }

  /** As request(), with the payloads already encoded (a request forwarded by a peer node, whose
   *  bytes go to the worker as they came; the worker's decoder rejects garbage with a coded error). */
  async requestRaw (op: ShardOpName, shard: ShardId, payload: Uint8Array): Promise<Uint8Array> {
    const t = this.opts.traffic
    if (t === undefined) return await this.send(op, shard, payload)
    const { slot, started } = this.begin(shard)
    let reply: Uint8Array | undefined
    try {
      reply = await this.send(op, shard, payload)
      return reply
    } finally {
      // Decoded only for the few ops whose classification needs it (a forwarded write's lsn, a
      // forwarded read's table); bytes the worker accepted decode, and a metric never fails a request.
      let req: unknown
      let decoded: unknown
      try {
        if (needsRequest(op)) req = codecOf(op).decodeRequest(payload)
        if (reply !== undefined && needsReply(op)) decoded = codecOf(op).decodeReply(reply)
      } catch { /* counted without the detail */ }
      t.done({ op, shard, worker: slot, ms: this.opts.clock.monotonic() - started, req, reply: decoded, ok: reply !== undefined })
    }
  }

  /** The rings of every worker now. */
  ringStats (): RingStats[] {
    return this.slots.map(s => ({
      worker: s.index,
      requestUsedBytes: s.client?.requests.queuedBytes() ?? 0,
      responseUsedBytes: s.client?.responses.queuedBytes() ?? 0,
      capacityBytes: this.opts.ringBytes,
      inFlight: s.client?.inFlight ?? 0
    }))
  }

  private begin (shard: ShardId): { slot: number, started: number } {
    const slot = this.owner.get(shard)?.index ?? -1
    this.opts.traffic!.started(slot)
    return { slot, started: this.opts.clock.monotonic() }
  }

  private async send (op: ShardOpName, shard: ShardId, payload: Uint8Array): Promise<Uint8Array> {
    const slot = this.owner.get(shard)
    if (!slot) throw new ScratchBirdError('SB_BAD_ARGUMENT', `no such shard ${shard}`, { shard })
    if (!slot.client) throw new ScratchBirdError('SB_WORKER_DIED', `shard ${shard} is unavailable: its worker is restarting`, { shard, worker: slot.index })
    return (await slot.client.request(SHARD_OPS[op].code, payload)).payload
  }

  private async spawn (slot: Slot): Promise<void> {
    const { opts } = this
    // The config bounds messages to ring_bytes/4; the ring's own ceiling also counts the frame header.
    const maxMessageBytes = Math.min(opts.maxMessageBytes, opts.ringBytes / 4 - FRAME_HEADER_BYTES)
    const requests = SpscRing.create(opts.ringBytes, { maxMessageBytes, clock: opts.clock })
    const responses = SpscRing.create(opts.ringBytes, { maxMessageBytes, clock: opts.clock })
    const data: ShardWorkerData = {
      workerIndex: slot.index,
      dataDir: opts.dataDir,
      nodeId: opts.nodeId,
      shards: slot.shards,
      durability: opts.durability,
      lsm: opts.lsm,
      requestRing: requests.sab,
      responseRing: responses.sab,
      xidCounter: this.xidCounter,
      lsnBoard: this.lsnBoard,
      txnIdleTimeoutMs: opts.txnIdleTimeoutMs ?? TXN_IDLE_TIMEOUT_MS_DEFAULT,
      merkle: opts.merkle ?? null
    }
    const spec = workerSpec('shard-worker')
    const worker = new Worker(spec.filename, {
      ...spec.options,
      workerData: data,
      name: `shard-worker-${slot.index}`,
      // The write path allocates many short-lived buffers per group commit; a larger young
      // generation measured ~1.5x the insert rate (fewer scavenges promoting live batches).
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }
    })
    slot.worker = worker
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        void worker.terminate()
        reject(new ScratchBirdError('SB_INTERNAL', `shard worker ${slot.index} did not start within ${START_TIMEOUT_MS} ms`))
      }, START_TIMEOUT_MS)
      const onMsg = (m: WorkerToMain): void => {
        if (m.type === 'ready') { clearTimeout(timer); worker.off('message', onMsg); resolve() }
        if (m.type === 'failed') {
          clearTimeout(timer)
          worker.off('message', onMsg)
          reject(new ScratchBirdError(m.code as ErrorCode, m.message, { worker: slot.index }))
        }
      }
      worker.on('message', onMsg)
      worker.once('error', (e) => { clearTimeout(timer); reject(new ScratchBirdError('SB_INTERNAL', `shard worker ${slot.index} failed to start: ${e.message}`, {}, { cause: e })) })
      worker.once('exit', (code) => { clearTimeout(timer); reject(new ScratchBirdError('SB_WORKER_DIED', `shard worker ${slot.index} exited with code ${code} during start`)) })
    })
    const client = new RingClient(requests, responses)
    slot.client = client
    worker.on('error', (e) => this.log.error({ worker: slot.index, err: e.message }, `Shard worker ${slot.index} error: ${e.message}`))
    worker.on('exit', (code) => this.onExit(slot, worker, client, code))
    worker.on('message', (m: WorkerToMain) => {
      if (m.type === 'log') this.log[m.level]({ worker: slot.index, ...m.details }, m.message)
    })
    this.log.debug({ worker: slot.index, shards: slot.shards }, `Shard worker ${slot.index} serving shards ${slot.shards.join(',')}`)
  }

  private onExit (slot: Slot, worker: Worker, client: RingClient, code: number): void {
    if (slot.worker !== worker) return
    // Whatever was in flight has an unknown outcome: fail it now, never leave a caller waiting.
    client.failAll(new ScratchBirdError('SB_WORKER_DIED', `shard worker ${slot.index} died (exit code ${code}); the request's outcome is unknown`, { worker: slot.index, exitCode: code }))
    slot.client = null
    slot.worker = null
    if (slot.stopping) return
    this.log.error({ worker: slot.index, code, shards: slot.shards }, `Shard worker ${slot.index} died (exit code ${code})`)
    const now = this.opts.clock.monotonic()
    slot.restarts = slot.restarts.filter(t => now - t < RESTART_WINDOW_MS)
    if (slot.restarts.length >= MAX_RESTARTS) {
      this.onFatal(`shard worker ${slot.index} died ${MAX_RESTARTS + 1} times within ${RESTART_WINDOW_MS / 1000} s`)
      return
    }
    slot.restarts.push(now)
    this.restartsTotal++
    this.spawn(slot).then(
      () => this.log.info({ worker: slot.index }, `Shard worker ${slot.index} restarted`),
      (e: Error) => this.onFatal(`shard worker ${slot.index} could not be restarted: ${e.message}`))
  }

  /** For tests and fault drills: kill a worker as a crash would. */
  async killWorker (index: number): Promise<void> {
    await this.slots[index]?.worker?.terminate()
  }

  /** Stops every worker abruptly, databases not closed, no restart: what a crash leaves behind. */
  async abort (): Promise<void> {
    for (const slot of this.slots) slot.stopping = true
    await Promise.all(this.slots.map(s => s.worker?.terminate()))
    this.slots.length = 0
    this.owner.clear()
  }

  /** Waits for in-flight requests, closes the rings (the worker then closes its databases and exits). */
  async stop (): Promise<void> {
    await Promise.all(this.slots.map(async slot => {
      slot.stopping = true
      const { worker, client } = slot
      if (!worker) return
      const exited = new Promise<void>(resolve => worker.once('exit', () => resolve()))
      const timer = setTimeout(() => { void worker.terminate() }, CLOSE_TIMEOUT_MS)
      await client?.close()
      await exited
      clearTimeout(timer)
    }))
    this.slots.length = 0
    this.owner.clear()
  }
}
