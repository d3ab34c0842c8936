// classic-level (LevelDB) backend of the KV contract: one database per shard replica in
// `<data_dir>/shards/<shard_id>/` (DESIGN §2). Keys and values travel as Uint8Array views
// ('view' encoding), so nothing is converted on the hot path.
//
// After a failed write LevelDB must be reopened before it is written again. Its log writer has
// advanced its block offset for a record the OS took only part of (ENOSPC leaves a prefix in the
// file); the next records land misaligned, and at the next open recovery reads them as a torn
// tail and drops them silently — acknowledged writes lost (seen on a full tmpfs: a row written
// after space came back was gone after a SIGKILL and restart). LevelDB only fences itself after a
// failed *sync*. So the first failed batch poisons this store: later batches are refused
// (SB_DISK_FULL when the cause was a full disk) without reaching LevelDB; a batch that was already
// queued behind the failed one and reports success is held, not acknowledged. The next batch that
// finds space free enough to recover (statfs) closes the database, reopens it — recovery keeps
// everything before the torn record and drops the torn record itself, which no caller was told
// had landed — writes the held batches again, synced, and only then acknowledges them and goes on.
// Reads keep using the old handle until that reopen.

import { statfs } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import { classifyIoError, isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from './kv'
import type { LevelKvOptions } from './lsm-options'

export type { LevelKvOptions } from './lsm-options'

type Db = ClassicLevel<Uint8Array, Uint8Array>

const RECOVERY_RETRY_MS = 1000
/** getMany of at most this many keys reads on the calling thread (see getMany). A group-commit
 *  pass of point statements reads a few keys per job; a bulk INSERT's read set is larger. */
export const SYNC_GET_MANY_KEYS = 64

/** A batch that reported success after a failed one: written again after the reopen. */
interface Held { ops: readonly KvOp[], resolve: () => void, reject: (e: unknown) => void }

/** Free bytes the reopen needs: recovery writes the log's memtable as a level-0 table, plus slack. */
export function recoveryMargin (options: LevelKvOptions): number {
  return 2 * (options.writeBufferSize ?? 4 * 1024 * 1024) + 1024 * 1024
}

export class LevelKv implements KvStore {
  /** Why writes are refused until the reopen; undefined while healthy. */
  private poison: unknown = undefined
  /** Bumped by every failed batch: a batch issued before the bump and landing after it is suspect. */
  private failures = 0
  private inflight = 0
  private drained: Array<() => void> = []
  private held: Held[] = []
  private recovering: Promise<void> | undefined
  /** The old handle was closed for a reopen that failed: nothing can be read until one succeeds. */
  private dbClosed = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined

  private constructor (private db: Db, readonly location: string, private readonly options: LevelKvOptions) {}

  /** Open (creating if missing) the LevelDB database in `location`. */
  static async open (location: string, options: LevelKvOptions = {}): Promise<LevelKv> {
    return new LevelKv(await LevelKv.openDb(location, options), location, options)
  }

  private static async openDb (location: string, options: LevelKvOptions): Promise<Db> {
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
    return db
  }

  get (key: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.readable()) return this.db.get(key)
    return this.openDbForRead().then(db => db.get(key))
  }

  /**
   * get() run synchronously on the calling thread (LevelDB's getSync), not on libuv's thread
   * pool: profiled under a point-SELECT load (issue 16), the pool round trip — queue the work, wake
   * a pool thread, post the result back to the worker's event loop — cost more CPU than the read
   * itself, which the block cache and the OS page cache usually answer in a few µs. The shard
   * worker runs its requests one at a time anyway, so the pool bought no parallelism. Still a
   * promise (the KvStore contract), settled at once; an error rejects it.
   */
  getNow (key: Uint8Array): Promise<Uint8Array | undefined> {
    if (!this.readable()) return this.openDbForRead().then(db => db.get(key))
    try {
      return Promise.resolve(this.db.getSync(key))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Up to SYNC_GET_MANY_KEYS keys: one getSync per key on the calling thread, settled at once, as
   * getNow. Profiled under the TPC-B-like load (issue 16), every statement write's pass read — a
   * handful of keys — went through libuv's pool: queue the work, wake a pool thread (on this
   * 2-core machine often a context switch away from the worker), post the result back; that hop
   * cost more than the reads, which the block cache and the OS page cache answer in a few µs.
   * Larger read sets (bulk INSERTs) still go through the pool in one getMany (classic-level has no
   * synchronous getMany): there a cold read blocking the worker would hold up all its shards
   * for longer. The group-commit writer is right under either timing (tests/unit/storage/
   * engine-level-sync-reads.test.ts runs the engine over a getMany made of getSync calls).
   */
  getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    if (!this.readable()) return this.openDbForRead().then(db => db.getMany(keys as Uint8Array[]))
    if (keys.length > SYNC_GET_MANY_KEYS) return this.db.getMany(keys as Uint8Array[])
    try {
      const out = new Array<Uint8Array | undefined>(keys.length)
      for (let i = 0; i < keys.length; i++) out[i] = this.db.getSync(keys[i]!)
      return Promise.resolve(out)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Reads go straight to the handle except while it is being reopened (or failed to reopen). */
  private readable (): boolean { return this.recovering === undefined && !this.dbClosed }

  private async openDbForRead (): Promise<Db> {
    if (this.recovering !== undefined) await this.recovering.catch(() => {})
    if (this.dbClosed) throw this.refusal()
    return this.db
  }

  /** Through a chained batch: measured ~8x faster than db.batch(array) here, whose per-op
   *  option merging and encoding dominate a group commit of thousands of small puts. */
  async batch (ops: readonly KvOp[], options: KvBatchOptions): Promise<void> {
    if (ops.length === 0) return
    if (this.poison !== undefined) await this.recover()
    const issuedAfter = this.failures
    this.inflight++
    try {
      await this.write(this.db, ops, options.sync)
    } catch (err) {
      this.failures++
      if (this.poison === undefined) this.poison = err
      throw classifyIoError(err) ?? err
    } finally {
      if (--this.inflight === 0) for (const f of this.drained.splice(0)) f()
    }
    if (this.failures === issuedAfter) return
    // Queued behind a batch that failed: it may sit after a torn record. Acknowledge it only once
    // the reopen has written it again.
    await new Promise<void>((resolve, reject) => {
      this.held.push({ ops, resolve, reject })
      this.retryRecovery(0)
    })
  }

  /** A held batch waits for the reopen even when no other write comes to trigger it (the shard's
   *  writer waits on that very batch): try now, then once a second until it is written. */
  private retryRecovery (delayMs: number): void {
    if (this.retryTimer !== undefined || this.held.length === 0) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.recover().catch(() => {}).finally(() => { if (this.poison !== undefined) this.retryRecovery(RECOVERY_RETRY_MS) })
    }, delayMs)
    this.retryTimer.unref?.()
  }

  private async write (db: Db, ops: readonly KvOp[], sync: boolean): Promise<void> {
    const b = db.batch()
    try {
      for (const op of ops) {
        if (op.type === 'put') b.put(op.key, op.value)
        else b.del(op.key)
      }
    } catch (err) {
      await b.close()
      throw err
    }
    await b.write({ sync })
  }

  /** The error a write gets while the store is poisoned and could not recover yet. */
  private refusal (): ScratchBirdError {
    const cause = this.poison
    const full = classifyIoError(cause)
    if (full !== null) {
      return new ScratchBirdError('SB_DISK_FULL', `shard database ${this.location} has no space left; writes resume once ${recoveryMargin(this.options)} bytes are free`, { location: this.location }, { cause })
    }
    return isScratchBirdError(cause) ? cause : new ScratchBirdError('SB_STORAGE_WRITE_FAILED', `shard database ${this.location} refuses writes after a failed one (${String((cause as Error)?.message ?? cause)}); they resume once it reopens cleanly`, { location: this.location }, { cause })
  }

  /**
   * Reopen after a failed write, when the disk has room (refusing with the coded error if not):
   * every batch in flight settles first, so none straddles the reopen; held batches are written
   * again, synced, before anything new.
   */
  private async recover (): Promise<void> {
    if (this.recovering === undefined) {
      this.recovering = this.reopen().finally(() => { this.recovering = undefined })
    }
    await this.recovering
    if (this.poison !== undefined) throw this.refusal()
  }

  private async reopen (): Promise<void> {
    if (classifyIoError(this.poison) !== null && !await this.hasRoom()) return
    if (this.inflight > 0) await new Promise<void>(resolve => { this.drained.push(resolve) })
    await this.db.close()
    this.dbClosed = true
    // If the open fails (no room after all), the old handle is closed: later reads fail with the
    // coded error too, and the next batch tries again.
    this.db = await LevelKv.openDb(this.location, this.options).catch((e: unknown) => {
      this.poison = e
      throw classifyIoError(e) ?? e
    })
    this.dbClosed = false
    const held = this.held.splice(0)
    if (held.length > 0) {
      try {
        await this.write(this.db, held.flatMap(h => h.ops), true)
      } catch (e) {
        // Still unsure whether they landed: keep them held for the next reopen.
        this.held.unshift(...held)
        this.poison = e
        return
      }
    }
    this.poison = undefined
    for (const h of held) h.resolve()
  }

  private async hasRoom (): Promise<boolean> {
    try {
      const s = await statfs(this.location)
      return s.bavail * s.bsize >= recoveryMargin(this.options)
    } catch {
      return true // cannot tell: try the reopen, which refuses if there is still no room
    }
  }

  async * iterate (options: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> {
    const db = this.readable() ? this.db : await this.openDbForRead()
    const it = db.iterator({ ...defined(options), reverse: options.reverse === true, limit: options.limit ?? -1 })
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
      nextMany: async (max) => {
        const es = await it.nextv(max)
        return es.map(e => [plain(e[0]), plain(e[1])])
      },
      close: async () => { await it.close() }
    }
  }

  close (): Promise<void> {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    for (const h of this.held.splice(0)) h.reject(this.refusal())
    return this.db.close()
  }
}

/** A Uint8Array of b's bytes: a view when b owns its whole ArrayBuffer (classic-level allocates
 *  one per key and value), else a copy (never keep a slice of a shared pool alive). */
function plain (b: Uint8Array): Uint8Array {
  const v = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? v : v.slice()
}

/** Drop undefined fields: abstract-level encodes every present range option, even undefined. */
function defined<T extends object> (o: T): Partial<T> {
  const out: Partial<T> = {}
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k]
  return out
}
