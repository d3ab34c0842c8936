// In-memory backend of the KV contract, for tests and the seeded simulator (DESIGN §10 "one
// compliance suite, two engines"). Keys are kept in unsigned byte order in a list of sorted
// chunks (a one-level B-tree): lookups are two binary searches, inserts move at most one chunk.
//
// LevelDB behaviours copied on purpose:
//   - put copies key and value in, reads copy them out (nobody shares a buffer with the store);
//   - a batch applies atomically and in order (a later op on the same key wins);
//   - range options gt/gte/lt/lte/reverse/limit mean exactly what they mean to LevelDB (gte wins
//     over gt and lte over lt when both are given);
//   - one open handle per store at a time (LevelDB's LOCK file); the store itself outlives the
//     handle, so "closing and reopening the database" — or dropping an engine without closing it
//     and opening a new one, i.e. a simulated crash — sees everything written before.
// Iterators are not snapshots: an entry written during iteration ahead of the cursor may or may
// not be seen. The engine never depends on either behaviour. snapshot() is one: it freezes the
// chunk list, and a chunk is copied before its first change after a snapshot (copy on write, by
// epoch), so a snapshot costs one array of chunk references plus a copy of each chunk written
// while it is open — as LevelDB keeps the files an open snapshot still needs.

import { ScratchBirdError } from '../core/errors'
import { compareBytes } from './keys'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from './kv'

/** Entries per chunk before it splits in two (bounds the cost of one insert's array move). */
const CHUNK_SPLIT_AT = 1024
/** Entries an iterator copies out per refill (re-seeks by key after any concurrent write). */
const ITERATOR_REFILL = 128

/** epoch: the store epoch the chunk was copied in; an older one may be shared with a snapshot. */
interface Chunk { keys: Uint8Array[], vals: Uint8Array[], epoch: number }
interface Pos { c: number, i: number }

/** The data of one simulated database directory. */
export class MemoryStore {
  chunks: Chunk[] = [{ keys: [], vals: [], epoch: 0 }]
  /** Bumped by every snapshot: chunks of an older epoch are copied before they change. */
  epoch = 0
  /** Bumped on every structural change so iterators know to re-seek. */
  version = 0
  size = 0
  /** True while a handle is open (LevelDB's LOCK). */
  locked = false

  get (key: Uint8Array): Uint8Array | undefined {
    const p = this.seek(key, false)
    const ch = this.chunks[p.c]
    if (ch === undefined || p.i >= ch.keys.length) return undefined
    return compareBytes(ch.keys[p.i]!, key) === 0 ? ch.vals[p.i] : undefined
  }

  /** The chunk at `c`, copied first if a snapshot may share it. */
  private own (c: number): Chunk {
    const ch = this.chunks[c]!
    if (ch.epoch === this.epoch) return ch
    const copy = { keys: ch.keys.slice(), vals: ch.vals.slice(), epoch: this.epoch }
    this.chunks[c] = copy
    return copy
  }

  /** A read-only store over the current contents that later writes do not change. */
  freeze (): MemoryStore {
    const view = new MemoryStore()
    view.chunks = this.chunks.slice()
    view.size = this.size
    this.epoch++
    return view
  }

  put (key: Uint8Array, value: Uint8Array): void {
    const c = this.chunkFor(key)
    const ch = this.own(c)
    const i = lowerBound(ch.keys, key, false)
    if (i < ch.keys.length && compareBytes(ch.keys[i]!, key) === 0) {
      ch.vals[i] = value.slice()
      return
    }
    ch.keys.splice(i, 0, key.slice())
    ch.vals.splice(i, 0, value.slice())
    this.size++
    this.version++
    if (ch.keys.length >= CHUNK_SPLIT_AT) {
      const half = ch.keys.length >> 1
      this.chunks.splice(c + 1, 0, { keys: ch.keys.splice(half), vals: ch.vals.splice(half), epoch: this.epoch })
    }
  }

  del (key: Uint8Array): void {
    const c = this.chunkFor(key)
    const i = lowerBound(this.chunks[c]!.keys, key, false)
    if (i >= this.chunks[c]!.keys.length || compareBytes(this.chunks[c]!.keys[i]!, key) !== 0) return
    const ch = this.own(c)
    ch.keys.splice(i, 1)
    ch.vals.splice(i, 1)
    this.size--
    this.version++
    if (ch.keys.length === 0 && this.chunks.length > 1) this.chunks.splice(c, 1)
  }

  /** Index of the chunk a key belongs in: the last chunk whose first key ≤ key (else the first). */
  private chunkFor (key: Uint8Array): number {
    let lo = 0
    let hi = this.chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (compareBytes(this.chunks[mid]!.keys[0]!, key) <= 0) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Position of the first entry with key ≥ `key` (> when strict); past-the-end if none. */
  seek (key: Uint8Array, strict: boolean): Pos {
    // First chunk whose last key is ≥ (>) key.
    let lo = 0
    let hi = this.chunks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const ks = this.chunks[mid]!.keys
      const last = ks[ks.length - 1]
      const cmp = last === undefined ? -1 : compareBytes(last, key)
      if (strict ? cmp > 0 : cmp >= 0) hi = mid
      else lo = mid + 1
    }
    if (lo >= this.chunks.length) return this.end()
    return { c: lo, i: lowerBound(this.chunks[lo]!.keys, key, strict) }
  }

  first (): Pos { return this.size === 0 ? this.end() : { c: 0, i: 0 } }
  end (): Pos { return { c: this.chunks.length, i: 0 } }

  /** Position of the last entry (past-the-start {c:-1} when empty). */
  last (): Pos {
    if (this.size === 0) return { c: -1, i: 0 }
    const c = this.chunks.length - 1
    return { c, i: this.chunks[c]!.keys.length - 1 }
  }

  valid (p: Pos): boolean {
    const ch = this.chunks[p.c]
    return ch !== undefined && p.i >= 0 && p.i < ch.keys.length
  }

  next (p: Pos): void {
    p.i++
    while (p.c < this.chunks.length && p.i >= this.chunks[p.c]!.keys.length) { p.c++; p.i = 0 }
  }

  prev (p: Pos): void {
    p.i--
    while (p.c >= 0 && p.i < 0) {
      p.c--
      if (p.c >= 0) p.i = this.chunks[p.c]!.keys.length - 1
    }
  }

  /** Step back from a seek position to the entry before it (for reverse iteration). */
  before (p: Pos): Pos {
    const q = { c: Math.min(p.c, this.chunks.length), i: p.i }
    if (q.c === this.chunks.length) return this.last()
    this.prev(q)
    return q
  }

  keyAt (p: Pos): Uint8Array { return this.chunks[p.c]!.keys[p.i]! }
  valAt (p: Pos): Uint8Array { return this.chunks[p.c]!.vals[p.i]! }
}

function lowerBound (keys: Uint8Array[], key: Uint8Array, strict: boolean): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    const cmp = compareBytes(keys[mid]!, key)
    if (strict ? cmp > 0 : cmp >= 0) hi = mid
    else lo = mid + 1
  }
  return lo
}

class NotOpenError extends Error {
  readonly code = 'LEVEL_DATABASE_NOT_OPEN'
  constructor () { super('Database is not open') }
}

export class MemoryKv implements KvStore {
  private open = true

  private constructor (readonly store: MemoryStore) {}

  /** Open a handle on `store` (a fresh store when omitted). One handle at a time, like LevelDB. */
  static open (store: MemoryStore = new MemoryStore()): MemoryKv {
    if (store.locked) {
      throw new ScratchBirdError('SB_DATA_DIR_LOCKED', 'in-memory shard store is already open', {})
    }
    store.locked = true
    return new MemoryKv(store)
  }

  private check (): void {
    if (!this.open) throw new NotOpenError()
  }

  async get (key: Uint8Array): Promise<Uint8Array | undefined> {
    this.check()
    return this.store.get(key)?.slice()
  }

  getNow (key: Uint8Array): Promise<Uint8Array | undefined> { return this.get(key) }

  async getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    this.check()
    return keys.map(k => this.store.get(k)?.slice())
  }

  async batch (ops: readonly KvOp[], _options: KvBatchOptions): Promise<void> {
    this.check()
    for (const op of ops) {
      if (op.type === 'put') this.store.put(op.key, op.value)
      else this.store.del(op.key)
    }
  }

  async * iterate (o: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> {
    this.check()
    const s = this.store
    const reverse = o.reverse === true
    let remaining = o.limit === undefined || o.limit < 0 ? Infinity : o.limit
    // LevelDB's rule: gte takes precedence over gt, lte over lt (not "the tighter of the two").
    const gt = o.gte === undefined ? o.gt : undefined
    const lt = o.lte === undefined ? o.lt : undefined
    const { gte, lte } = o
    const inLower = (k: Uint8Array): boolean =>
      gte !== undefined ? compareBytes(k, gte) >= 0 : gt === undefined || compareBytes(k, gt) > 0
    const inUpper = (k: Uint8Array): boolean =>
      lte !== undefined ? compareBytes(k, lte) <= 0 : lt === undefined || compareBytes(k, lt) < 0

    let last: Uint8Array | undefined
    while (remaining > 0) {
      this.check()
      // (Re)seek from the bound or just past the last key handed out.
      let p: Pos
      if (!reverse) {
        if (last !== undefined) p = s.seek(last, true)
        else if (gte !== undefined) p = s.seek(gte, false)
        else if (gt !== undefined) p = s.seek(gt, true)
        else p = s.first()
      } else {
        if (last !== undefined) p = s.before(s.seek(last, false))
        else if (lte !== undefined) p = s.before(s.seek(lte, true))
        else if (lt !== undefined) p = s.before(s.seek(lt, false))
        else p = s.last()
      }
      const batch: Array<[Uint8Array, Uint8Array]> = []
      while (batch.length < ITERATOR_REFILL && batch.length < remaining && s.valid(p)) {
        const k = s.keyAt(p)
        if (!reverse ? !inUpper(k) : !inLower(k)) break
        if (!reverse ? inLower(k) : inUpper(k)) batch.push([k.slice(), s.valAt(p).slice()])
        if (reverse) s.prev(p)
        else s.next(p)
      }
      if (batch.length === 0) return
      remaining -= batch.length
      last = batch[batch.length - 1]![0]
      for (const e of batch) yield e
      if (batch.length < ITERATOR_REFILL && remaining > 0) {
        // Stopped early at a bound or the end: one more seek would find nothing new unless the
        // store changed meanwhile; LevelDB would not show such late writes either — finish.
        return
      }
    }
  }

  snapshot (): KvSnapshot {
    this.check()
    const view = this.store.freeze()
    let pos = view.first()
    let closed = false
    return {
      seek: (target) => { pos = view.seek(target, false) },
      next: async () => {
        if (closed) throw new NotOpenError()
        if (!view.valid(pos)) return undefined
        const e: [Uint8Array, Uint8Array] = [view.keyAt(pos).slice(), view.valAt(pos).slice()]
        view.next(pos)
        return e
      },
      nextMany: async (max) => {
        if (closed) throw new NotOpenError()
        const out: Array<[Uint8Array, Uint8Array]> = []
        while (out.length < max && view.valid(pos)) {
          out.push([view.keyAt(pos).slice(), view.valAt(pos).slice()])
          view.next(pos)
        }
        return out
      },
      close: async () => { closed = true }
    }
  }

  async close (): Promise<void> {
    if (!this.open) return
    this.open = false
    this.store.locked = false
  }
}
