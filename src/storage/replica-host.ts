// What the Mode 1 replica operations (replica-apply.ts, replica-truncate.ts, replica-snapshot.ts)
// need of a shard engine: its store, TIP, xid source and the in-memory marks they move, and a way
// to run as one exclusive writer job (no write pass interleaves with their reads and batches, and
// every pass queued before them has landed). Plus BatchView: reads through the writes a job has
// queued but not yet written, so one atomic batch can change a row several times.

import type { SplitFence } from './split-fence'
import type { NodeId, ShardId } from '../core/ids'
import { keyString } from './keys'
import type { KvOp, KvStore } from './kv'
import type { Tip } from './tip'
import type { Durability, HlcTs } from './types'
import type { XidSource } from './xid'
import type { ReplRole } from './repl-state'

/** The engine marks replica operations read and move (engine.ts ShardState). */
export interface ReplShardState {
  /** Last LSN in the log (or below its floor, when the log is empty). */
  lsn: bigint
  /** First LSN the log still holds. */
  logFloor: bigint
  hlcHigh: HlcTs
  hlcPersisted: HlcTs
  /** Generation local commits are logged at (the hard state's). */
  generation: bigint
  /** The hard state's role (local commits only on a primary: writer.ts). */
  replRole: ReplRole
  /** A snapshot install is in progress: the engine serves nothing else. */
  bootstrapping: boolean
  /** The fence of this parent shard's switched split (split-switch.ts); null: none. */
  splitFence: SplitFence | null
}

export interface ReplicaHost {
  readonly shardId: ShardId
  readonly nodeId: NodeId
  readonly kv: KvStore
  readonly tip: Tip
  readonly xids: XidSource
  readonly durability: Durability
  readonly st: ReplShardState
  /** Run `fn` as an exclusive writer job. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
}

/** The store as a batch under construction will leave it: its own puts and deletes, else the store. */
export class BatchView {
  readonly ops: KvOp[] = []
  private readonly pending = new Map<string, Uint8Array | null>()

  constructor (private readonly kv: KvStore) {}

  async get (key: Uint8Array): Promise<Uint8Array | undefined> {
    const p = this.pending.get(keyString(key))
    if (p !== undefined) return p ?? undefined
    return await this.kv.get(key)
  }

  put (key: Uint8Array, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value })
    this.pending.set(keyString(key), value)
  }

  del (key: Uint8Array): void {
    this.ops.push({ type: 'del', key })
    this.pending.set(keyString(key), null)
  }
}
