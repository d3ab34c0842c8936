// classic-level (LevelDB) backend of the KV contract: one database per shard replica in
// `<data_dir>/shards/<shard_id>/` (DESIGN §2). Keys and values travel as Uint8Array views
// ('view' encoding), so nothing is converted on the hot path.

import { ClassicLevel } from 'classic-level'
import { ScratchBirdError } from '../core/errors'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from './kv'
import type { LevelKvOptions } from './lsm-options'

export type { LevelKvOptions } from './lsm-options'

type Db = ClassicLevel<Uint8Array, Uint8Array>

export class LevelKv implements KvStore {
  private constructor (private readonly db: Db, readonly location: string) {}

  /** Open (creating if missing) the LevelDB database in `location`. */
  static async open (location: string, options: LevelKvOptions = {}): Promise<LevelKv> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(location, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      ...defined(options)
    })
    try {
      await db.open()
    } catch (err) {
      const e = err as { code?: string, cause?: { code?: string } }
      if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
        throw new ScratchBirdError('SB_DATA_DIR_LOCKED', `shard database ${location} is already open in another process or worker`, { location }, { cause: err })
      }
      throw err
    }
    return new LevelKv(db, location)
  }

  get (key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key)
  }

  getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return this.db.getMany(keys as Uint8Array[])
  }

  /** Through a chained batch: measured ~8x faster than db.batch(array) here, whose per-op
   *  option merging and encoding dominate a group commit of thousands of small puts. */
  async batch (ops: readonly KvOp[], options: KvBatchOptions): Promise<void> {
    if (ops.length === 0) return
    const b = this.db.batch()
    try {
      for (const op of ops) {
        if (op.type === 'put') b.put(op.key, op.value)
        else b.del(op.key)
      }
    } catch (err) {
      await b.close()
      throw err
    }
    await b.write({ sync: options.sync })
  }

  async * iterate (options: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> {
    const it = this.db.iterator({ ...defined(options), reverse: options.reverse === true, limit: options.limit ?? -1 })
    try {
      for await (const entry of it) yield entry
    } finally {
      await it.close()
    }
  }

  /** LevelDB reads an iterator from an implicit snapshot taken when it is created; one iterator
   *  over the whole store, moved with seek(), is a frozen view for as long as it stays open. */
  snapshot (): KvSnapshot {
    const it = this.db.iterator({ keys: true, values: true })
    return {
      seek: (target) => { it.seek(target) },
      // Plain copies: callers keep entries across later next() calls and put them in messages.
      next: async () => {
        const e = await it.next()
        return e === undefined ? undefined : [plain(e[0]), plain(e[1])]
      },
      close: async () => { await it.close() }
    }
  }

  close (): Promise<void> {
    return this.db.close()
  }
}

function plain (b: Uint8Array): Uint8Array { return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice() }

/** Drop undefined fields: abstract-level encodes every present range option, even undefined. */
function defined<T extends object> (o: T): Partial<T> {
  const out: Partial<T> = {}
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k]
  return out
}
