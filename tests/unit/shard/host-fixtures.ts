import { ManualClock, type Clock } from '../../../src/core/clock'
import { HOST_DEFERRED, ShardHost, type HostLog, type ReplyPort, type ShardHostOptions } from '../../../src/shard/host'
import { SHARD_OPS, codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../../../src/shard/protocol/ops'
import { ShardEngine } from '../../../src/storage/engine'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { asNodeId, type ShardId } from '../../../src/core/ids'

// A shard host as a worker runs it, without the thread: engines over MemoryKv, a ManualClock for
// the lease, and a client that sends requests the way the rings do — op code + encoded payload in,
// encoded reply (or a deferred one through the ReplyPort) out, decoded with the same codecs.

export interface LogLine { level: Parameters<HostLog>[0], message: string, details?: Record<string, unknown> }

interface Waiter { resolve: (payload: Uint8Array) => void, reject: (err: unknown) => void }

export class HostClient implements ReplyPort {
  readonly logs: LogLine[] = []
  readonly host: ShardHost
  private readonly deferred = new Map<number, Waiter>()
  private nextId = 0

  constructor (engines: Map<ShardId, ShardEngine>, txnIdleTimeoutMs: number, readonly clock = new ManualClock(), workerIndex = 0,
    extra: Pick<ShardHostOptions, 'hints' | 'dataDir' | 'threadCpuNs'> = {}) {
    this.host = new ShardHost({
      ...extra,
      workerIndex,
      engines,
      txnIdleTimeoutMs,
      clock: this.clock,
      replies: this,
      log: (level, message, details) => { this.logs.push({ level, message, details }) }
    })
  }

  /** One request through host.handle(), as the worker's RingServer passes it. */
  async request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> {
    const codec = codecOf(op)
    return codec.decodeReply(await this.requestRaw(SHARD_OPS[op].code, codec.encodeRequest(req)))
  }

  /** As request() with raw bytes; synchronous throws become rejections, as on the ring. */
  requestRaw (type: number, payload: Uint8Array): Promise<Uint8Array> {
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      this.deferred.set(id, { resolve, reject }) // before handle(): a deferred reply may come at once
      let r
      try {
        r = this.host.handle(type, payload, id)
      } catch (e) {
        this.deferred.delete(id)
        reject(e)
        return
      }
      if (r === HOST_DEFERRED) return
      this.deferred.delete(id)
      if (r instanceof Promise) r.then(rep => resolve(rep.payload), reject)
      else resolve(r.payload)
    })
  }

  /** Deferred replies still owed. */
  get owed (): number { return this.deferred.size }

  reply (requestId: number, _type: number, payload: Uint8Array): void { this.take(requestId).resolve(payload.slice()) }
  replyError (requestId: number, err: unknown): void { this.take(requestId).reject(err) }

  private take (requestId: number): Waiter {
    const w = this.deferred.get(requestId)
    if (!w) throw new Error(`reply for unknown or already answered request ${requestId}`)
    this.deferred.delete(requestId)
    return w
  }
}

/** Engines for `shards` over fresh in-memory stores. */
export async function memoryEngines (shards: ShardId[], clock: Clock, nodeId = asNodeId(3)): Promise<Map<ShardId, ShardEngine>> {
  const engines = new Map<ShardId, ShardEngine>()
  for (const shard of shards) engines.set(shard, await ShardEngine.open(MemoryKv.open(), { shardId: shard, nodeId, durability: 'none', clock }))
  return engines
}

export async function startHost (shards: ShardId[], txnIdleTimeoutMs = 1000): Promise<HostClient> {
  const clock = new ManualClock()
  return new HostClient(await memoryEngines(shards, clock), txnIdleTimeoutMs, clock)
}
