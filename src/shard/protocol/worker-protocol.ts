import type { LevelKvOptions } from '../../storage/lsm-options'
import type { ForestConfig } from '../../storage/merkle/forest'
import type { NodeId, ShardId } from '../../core/ids'

// Start-up handshake between the main thread and a shard worker (postMessage, once), and the log
// lines a worker sends the main thread (postMessage). Requests and replies travel through the
// SharedArrayBuffer rings (shard-ops.ts); shutdown is the main thread closing the request ring.

export interface ShardWorkerData {
  workerIndex: number
  dataDir: string
  nodeId: NodeId
  shards: ShardId[]
  durability: 'sync' | 'none'
  lsm: LevelKvOptions
  requestRing: SharedArrayBuffer
  responseRing: SharedArrayBuffer
  /** Node-wide XID counter (one BigInt64 word) shared by all workers. */
  xidCounter: SharedArrayBuffer
  /** One BigInt64 per shard id (MAX_SHARDS): each engine publishes its last logged LSN there (ShardEngineOptions.onLsn). */
  lsnBoard?: SharedArrayBuffer
  /** storage.txn_idle_timeout_ms: an active transaction no request names for this long is rolled back. */
  txnIdleTimeoutMs: number
  /** The Merkle forest's windows (anti_entropy.merkle_tree_window_hours, sealing_grace_period_minutes);
   *  null: keep no forest (anti_entropy.enabled false). */
  merkle: ForestConfig | null
}

export type WorkerToMain =
  | { type: 'ready', worker: number, shards: ShardId[] }
  | { type: 'failed', worker: number, code: string, message: string }
  /** A line for the node's log (workers have no logger of their own). */
  | { type: 'log', worker: number, level: 'error' | 'warn' | 'info' | 'debug', message: string, details?: Record<string, unknown> }
