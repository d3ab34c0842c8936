// Control messages between the main thread and a shard worker (postMessage: start-up and
// shut-down only; requests travel through the SharedArrayBuffer rings).

export interface ShardWorkerData {
  workerIndex: number
  dataDir: string
  shards: number[]
  durability: 'sync' | 'none'
  lsm: { writeBufferSize: number, cacheSize: number, maxOpenFiles: number }
}

export type MainToWorker = { type: 'close' }

export type WorkerToMain =
  | { type: 'ready', worker: number, shards: number[] }
  | { type: 'closed', worker: number }
  | { type: 'failed', worker: number, code: string, message: string }
