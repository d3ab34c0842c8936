import { parentPort, workerData } from 'node:worker_threads'
import { systemClock } from '../src/core/clock'
import { ScratchBirdError } from '../src/core/errors'
import { RING_DEFERRED, RingServer, type RingReply } from '../src/rings/channel'
import { SpscRing } from '../src/rings/spsc-ring'
import { HOST_DEFERRED, ShardHost, type HostResult } from '../src/shard/host'
import { openShardEngines, shardOpener } from '../src/shard/open-engines'
import type { ShardWorkerData, WorkerToMain } from '../src/shard/protocol/worker-protocol'
import { threadCpuClock } from './thread-cpu'

// Shard worker (DESIGN §2): a thin shell — request ring → shard host → response ring. It owns the
// LevelDB databases of its shard replicas (the main thread never touches LevelDB); the RingServer
// drains every request available in one pass (the engine group-commits the writes of a pass into
// one batch), and the worker stops when the main thread closes the request ring. What a request
// does, and the participant transaction lease, live in src/shard/host.ts; here are only the
// start-up handshake, the lease timer and log lines through postMessage.

const data = workerData as ShardWorkerData
const port = parentPort!

function send (msg: WorkerToMain): void { port.postMessage(msg) }

async function main (): Promise<void> {
  let stores
  const opener = shardOpener(data, systemClock)
  try {
    stores = await openShardEngines(data, systemClock, opener)
  } catch (e) {
    const err = e instanceof ScratchBirdError ? e : new ScratchBirdError('SB_INTERNAL', (e as Error).message)
    send({ type: 'failed', worker: data.workerIndex, code: err.code, message: err.message })
    return
  }
  const server: RingServer = new RingServer(SpscRing.attach(data.requestRing, { clock: systemClock }), SpscRing.attach(data.responseRing, { clock: systemClock }), (type, payload, requestId): RingReply | Promise<RingReply> | typeof RING_DEFERRED => {
    const r: HostResult = host.handle(type, payload, requestId)
    return r === HOST_DEFERRED ? RING_DEFERRED : r
  })
  const host: ShardHost = new ShardHost({
    workerIndex: data.workerIndex,
    engines: stores.engines,
    hints: stores.hints,
    dataDir: data.dataDir,
    txnIdleTimeoutMs: data.txnIdleTimeoutMs,
    clock: systemClock,
    replies: server,
    log: (level, message, details) => send({ type: 'log', worker: data.workerIndex, level, message, details }),
    threadCpuNs: threadCpuClock(),
    openShard: opener
  })
  const expiry = setInterval(() => { void host.expireIdleTxns() }, host.expiryIntervalMs)
  expiry.unref()
  send({ type: 'ready', worker: data.workerIndex, shards: host.shards })
  await server.run() // returns once the main thread closed the request ring and replies are out
  clearInterval(expiry)
  await host.close()
}

void main()
