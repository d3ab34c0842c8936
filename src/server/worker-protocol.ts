// Start-up handshake between the main thread and a shard worker (postMessage, once). Requests
// and replies travel through the SharedArrayBuffer rings (shard-ops.ts); shutdown is the main
// thread closing the request ring.

export interface ShardWorkerData {
  workerIndex: number
  dataDir: string
  nodeId: number
  shards: number[]
  durability: 'sync' | 'none'
  lsm: { writeBufferSize: number, cacheSize: number, maxOpenFiles: number }
  requestRing: SharedArrayBuffer
  responseRing: SharedArrayBuffer
  /** Node-wide XID counter (one BigInt64 word) shared by all workers. */
  xidCounter: SharedArrayBuffer
}

export type WorkerToMain =
  | { type: 'ready', worker: number, shards: number[] }
  | { type: 'failed', worker: number, code: string, message: string }
