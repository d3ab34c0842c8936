// The key-value contract the shard engine runs on. Two implementations: kv-level.ts (classic-level,
// production) and kv-memory.ts (sorted in-memory store for tests and the simulator). Both order
// keys as unsigned bytes and interpret range options exactly like LevelDB; the compliance suite
// (tests/unit/storage) proves it.
//
// Deliberately small: no sublevels, no encodings — keys and values are always Uint8Array. One
// kind of snapshot: a cursor over the store frozen at the moment it was opened (a Mode 1 replica
// bootstrap streams a shard from one, replica-snapshot.ts); nothing else relies on an iterator
// seeing a frozen state.

export type KvOp =
  | { readonly type: 'put', readonly key: Uint8Array, readonly value: Uint8Array }
  | { readonly type: 'del', readonly key: Uint8Array }

/** LevelDB semantics: `gte` takes precedence over `gt` and `lte` over `lt` when both are set. */
export interface KvRange {
  gt?: Uint8Array | undefined
  gte?: Uint8Array | undefined
  lt?: Uint8Array | undefined
  lte?: Uint8Array | undefined
}

export interface KvIterateOptions extends KvRange {
  /** Newest-to-oldest (descending key) order. */
  reverse?: boolean | undefined
  /** At most this many entries; undefined or negative means no limit (LevelDB: -1). */
  limit?: number | undefined
}

export interface KvBatchOptions {
  /** fsync before resolving (LevelDB `sync`). */
  sync: boolean
}

/** A cursor over the store as it was when snapshot() was called (later writes are not seen). */
export interface KvSnapshot {
  /** Position at the first key ≥ target (the next next() returns it). */
  seek (target: Uint8Array): void
  /** The entry at the position, ascending, then the one after it; undefined past the last key.
   *  One call at a time. */
  next (): Promise<[Uint8Array, Uint8Array] | undefined>
  /** Up to `max` (≥ 1) entries from the position on, ascending; fewer only at the last key
   *  (empty past it). One call at a time. A backup streams millions of keys: one call per
   *  thousand entries instead of one awaited call per entry. */
  nextMany (max: number): Promise<Array<[Uint8Array, Uint8Array]>>
  /** Releases what holds the frozen state (LevelDB: the iterator and its snapshot). */
  close (): Promise<void>
}

export interface KvStore {
  /** undefined when the key is absent. */
  get (key: Uint8Array): Promise<Uint8Array | undefined>
  /**
   * get() answered on the calling thread where the backend can (LevelDB: kv-level.ts), for the
   * read path of a point query. Absent: callers use get(). The group-commit writer is right
   * whatever the timing of its reads (writer.ts loop(): it reads through every pass not landed
   * when a read was issued; the compliance suite runs over a synchronous getMany too).
   */
  getNow? (key: Uint8Array): Promise<Uint8Array | undefined>
  getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /** All ops apply atomically, in order (a later op on the same key wins). */
  batch (ops: readonly KvOp[], options: KvBatchOptions): Promise<void>
  /** Ascending (or descending with `reverse`) entries within the range. */
  iterate (options: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]>
  /** A frozen view of the whole store, taken synchronously now (see KvSnapshot). */
  snapshot (): KvSnapshot
  close (): Promise<void>
}
