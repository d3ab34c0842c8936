// The key-value contract the shard engine runs on. Two implementations: kv-level.ts (classic-level,
// production) and kv-memory.ts (sorted in-memory store for tests and the simulator). Both order
// keys as unsigned bytes and interpret range options exactly like LevelDB; the compliance suite
// (tests/unit/storage) proves it.
//
// Deliberately small: no snapshots (the engine never relies on an iterator seeing a frozen
// state), no sublevels, no encodings — keys and values are always Uint8Array.

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

export interface KvStore {
  /** undefined when the key is absent. */
  get (key: Uint8Array): Promise<Uint8Array | undefined>
  getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /** All ops apply atomically, in order (a later op on the same key wins). */
  batch (ops: readonly KvOp[], options: KvBatchOptions): Promise<void>
  /** Ascending (or descending with `reverse`) entries within the range. */
  iterate (options: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]>
  close (): Promise<void>
}
