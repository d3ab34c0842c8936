import { ScratchBirdError } from '../../core/errors'

// The leaves of one Merkle tree (tree.ts), packed: no object, string or map entry per leaf. The
// active window of a busy shard holds millions of leaves; per-leaf heap objects cost ~110 bytes
// and most of the write path's garbage-collector time, and a key → leaf hash table beside the
// leaves another ~15 (issue 15: the seeds estimate 48 bytes per leaf in all). So:
//
//   arena    each leaf is one record, written once into 64 KiB byte chunks:
//              varint key length ‖ key ‖ version id (16) ‖ row hash (8, big-endian)
//            — exactly the bytes its bucket's hash covers, so hashing a bucket copies records
//            whole. A record's ref is (chunk << 16 | offset); a key too long for a chunk gets a
//            chunk of its own. Version and row hash are rewritten in place; a deleted leaf's
//            record is garbage until compact() copies the live ones into fresh chunks.
//   buckets  per bucket, a Uint32Array of its records' refs in unsigned key order, and how many
//            are used. A lookup is a binary search of the key's bucket (the caller hashed the
//            key for its bucket anyway); the order is the one the bucket hash needs, so computing
//            a root sorts nothing; and a bucket grows by itself, so there is no table to rehash
//            all at once as the window grows.
//
// 4 bytes per leaf plus its record (26 + key bytes) plus spare capacity: ~43 bytes for a 12-byte
// key. Costs: a binary search of log2(leaves / buckets) key comparisons and a shift of half a
// bucket's refs per new key — a few hundred refs for windows of a few hundred thousand writes.
//
// Pure, no I/O; used from one thread at a time (a shard worker), which is what lets the record
// just located be handed over in module registers (recArr, recKey, recKeyLen) with no allocation.

/** Bytes of a version id in a record. */
export const LEAF_VERSION_BYTES = 16
/** Bytes after a record's key: version id and row hash. */
export const LEAF_VH_BYTES = LEAF_VERSION_BYTES + 8
/** Most a key may be: its length is a varint of at most 3 bytes. */
export const MAX_LEAF_KEY_BYTES = (1 << 21) - 1

/** Bytes per arena chunk (an offset within one fits the ref's 16 bits). */
const ARENA_CHUNK = 1 << 16
/** Chunks a ref can name (its high 16 bits): 4 GiB of records, ~100 million leaves. */
const MAX_CHUNKS = 1 << 16
/** Heap of a typed array object and its buffer besides its bytes (heapBytes). */
export const TYPED_ARRAY_BYTES = 160
const NO_REFS = new Uint32Array(0)

/** The record located last (find, locate): its arena chunk, the first byte of its key and the key's length; version and row hash follow the key. */
export let recArr: Uint8Array = new Uint8Array(0)
export let recKey = 0
export let recKeyLen = 0

/** Point recArr / recKey / recKeyLen at the record `ref` in `arenas`. */
function locateIn (arenas: readonly Uint8Array[], ref: number): void {
  const a = arenas[ref >>> 16]!
  let at = ref & 0xffff
  let n = a[at++]!
  if (n >= 0x80) {
    n &= 0x7f
    let shift = 7
    for (;;) {
      const byte = a[at++]!
      n += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) break
      shift += 7
    }
  }
  recArr = a
  recKey = at
  recKeyLen = n
}

export class LeafStore {
  private count = 0
  private readonly arenas: Uint8Array[] = []
  /** Bytes used in the last arena chunk. */
  private arenaPos = ARENA_CHUNK
  private arenaBytes = 0
  /** Arena bytes of deleted leaves' records (reclaimed by compact once they dominate). */
  private arenaGarbage = 0
  private readonly refs: Uint32Array[]
  private readonly lens: Uint32Array
  /** Bytes and count of the buckets' ref arrays as allocated (heapBytes). */
  private refBytes = 0
  private refArrays = 0

  constructor (private readonly buckets: number) {
    this.refs = new Array<Uint32Array>(buckets).fill(NO_REFS)
    this.lens = new Uint32Array(buckets)
  }

  get size (): number { return this.count }

  /** Leaves in bucket b. */
  lengthOf (b: number): number { return this.lens[b]! }

  /** The ref of bucket b's i-th leaf in key order. */
  refAt (b: number, i: number): number { return this.refs[b]![i]! }

  /** Point recArr / recKey / recKeyLen at the record `ref`. */
  locate (ref: number): void { locateIn(this.arenas, ref) }

  /** Bytes held: arena chunks and ref arrays as allocated (spare capacity included) and their objects. */
  heapBytes (): number {
    return this.arenaBytes + this.arenas.length * TYPED_ARRAY_BYTES + this.refBytes + this.refArrays * TYPED_ARRAY_BYTES +
      this.lens.byteLength + 8 * this.buckets
  }

  /**
   * Binary search of bucket b for the key bytes[from…]: its index, with the record located
   * (recArr …), or −(insertion point) − 1 when the bucket lacks it.
   */
  find (b: number, key: Uint8Array, from: number): number {
    const refs = this.refs[b]!
    const arenas = this.arenas
    const klen = key.length - from
    let lo = 0
    let hi = this.lens[b]! - 1
    // Bytes the key shares with the records just below lo and just above hi: every record between
    // them shares the shorter of the two, so comparing starts there (row keys of one table share
    // their first bytes; this skips them after the first steps).
    let lcpLo = 0
    let lcpHi = 0
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const ref = refs[mid]!
      const a = arenas[ref >>> 16]!
      let at = (ref & 0xffff) + 1
      let n = a[at - 1]!
      if (n >= 0x80) { locateIn(arenas, ref); at = recKey; n = recKeyLen }
      const m = n < klen ? n : klen
      let j = lcpLo < lcpHi ? lcpLo : lcpHi
      let d = 0
      for (; j < m; j++) {
        d = a[at + j]! - key[from + j]!
        if (d !== 0) break
      }
      if (d === 0) d = n - klen
      if (d === 0) {
        recArr = a; recKey = at; recKeyLen = n
        return mid
      }
      if (d < 0) { lo = mid + 1; lcpLo = j } else { hi = mid - 1; lcpHi = j }
    }
    return -lo - 1
  }

  /** Add a record for bytes[from…] at index `pos` of bucket b (pos from find); its version and row hash are the caller's to write (located in recArr …). */
  insertAt (b: number, pos: number, key: Uint8Array, from: number): void {
    const ref = this.storeRecord(key, from)
    let refs = this.refs[b]!
    const n = this.lens[b]!
    if (n === refs.length) {
      const grown = new Uint32Array(n + (n >>> 2) + 4)
      grown.set(refs)
      this.resized(refs, grown)
      this.refs[b] = refs = grown
    }
    if (pos < n) refs.copyWithin(pos + 1, pos, n)
    refs[pos] = ref
    this.lens[b] = n + 1
    this.count++
    this.locate(ref)
  }

  /** Drop bucket b's leaf at index `pos`. */
  removeAt (b: number, pos: number): void {
    let refs = this.refs[b]!
    const ref = refs[pos]!
    this.locate(ref)
    this.arenaGarbage += recKey + recKeyLen + LEAF_VH_BYTES - (ref & 0xffff)
    const n = this.lens[b]! - 1
    refs.copyWithin(pos, pos + 1, n + 1)
    this.lens[b] = n
    this.count--
    // give back a bucket's spare room once it is mostly empty (room for 25 % growth kept)
    if (n * 2 < refs.length && refs.length > 8) {
      const shrunk = n === 0 ? NO_REFS : refs.slice(0, n + (n >>> 2) + 4)
      this.resized(refs, shrunk)
      this.refs[b] = refs = shrunk
    }
    if (this.arenaGarbage > ARENA_CHUNK && this.arenaGarbage * 2 > this.arenaBytes) this.compact()
  }

  private resized (from: Uint32Array, to: Uint32Array): void {
    this.refBytes += to.byteLength - from.byteLength
    this.refArrays += (to.length > 0 ? 1 : 0) - (from.length > 0 ? 1 : 0)
  }

  /** Copy bytes[from…] as a record (varint length, key, room for version and row hash) into the arena; returns its ref. */
  private storeRecord (key: Uint8Array, from: number): number {
    const len = key.length - from
    const need = 3 + len + LEAF_VH_BYTES
    if (this.arenaPos + need > ARENA_CHUNK) {
      // a new chunk; a record longer than a chunk gets one of its own (and the next a fresh one)
      if (this.arenas.length === MAX_CHUNKS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle tree is full: ${MAX_CHUNKS} arena chunks of leaf records`)
      const size = Math.max(ARENA_CHUNK, need)
      this.arenas.push(new Uint8Array(size))
      this.arenaBytes += size
      this.arenaPos = 0
    }
    const c = this.arenas.length - 1
    const a = this.arenas[c]!
    const ref = ((c << 16) | this.arenaPos) >>> 0
    let at = this.arenaPos
    let n = len
    while (n >= 0x80) { a[at++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128) }
    a[at++] = n
    for (let j = from; j < key.length; j++) a[at++] = key[j]!
    at += LEAF_VH_BYTES
    this.arenaPos = need > ARENA_CHUNK ? ARENA_CHUNK : at
    return ref
  }

  /** Copy the live records into fresh arena chunks, bucket by bucket in key order (deleted records' bytes dominate). */
  private compact (): void {
    const old = this.arenas.splice(0)
    this.arenaBytes = 0
    this.arenaPos = ARENA_CHUNK
    this.arenaGarbage = 0
    for (let b = 0; b < this.buckets; b++) {
      const refs = this.refs[b]!
      for (let i = 0; i < this.lens[b]!; i++) {
        locateIn(old, refs[i]!)
        const src = recArr
        const key = recKey
        const end = recKey + recKeyLen
        const ref = this.storeRecord(src.subarray(key, end), 0)
        this.locate(ref)
        recArr.set(src.subarray(end, end + LEAF_VH_BYTES), recKey + recKeyLen)
        refs[i] = ref
      }
    }
  }
}
