import { ByteSink } from '../../core/bytes'
import { ScratchBirdError } from '../../core/errors'
import { compareVersionIds } from '../lww'
import type { VersionId } from '../types'
import { xxh64, xxh64High, xxh64Low } from './xxh64'

// One window's Merkle tree of a shard replica (DESIGN §6 "Anti-entropy"), pure and in memory:
// no I/O, no clock. A leaf is (key, version id, 64-bit hash of the row image or of the tombstone
// marker). Leaves are placed by xxhash64(key), not by position, so a missing or different row
// changes one bucket and one path to the root, and drill-down costs O(differences × depth).
//
// Shape: MERKLE_BUCKETS buckets are the bottom of a complete binary tree kept in one heap-ordered
// array (node 1 = root, node i has children 2i and 2i+1, bucket b is node MERKLE_BUCKETS + b).
// A bucket's hash covers its leaves in unsigned key-byte order, so the root depends only on the
// set of leaves, never on the order they arrived in. An empty bucket hashes to 0 and a node whose
// children are both 0 is 0, so an empty tree's root is 0 — the same as a window a replica never
// had, which is what comparing two forests' roots needs — and empty subtrees cost no hashing.
//
// Hashes are recomputed lazily: set/delete only mark the key's bucket dirty; root() and
// bucketHashes() rehash the dirty buckets and the paths above them.
//
// Which version a key keeps is the caller's rule: set() replaces unconditionally, setIfNewer()
// keeps the highest version per key (what a window keeps; the forest's write path uses it).

/**
 * Buckets per tree. 1024 keeps the first exchange of a divergent window small (1024 × 8 bytes
 * = 8 KiB of bucket hashes) and a bucket small for the windows the forest expects (10,000 to
 * a few million writes an hour: ~10 to a few thousand leaves per bucket), so rehashing a dirty
 * bucket and shipping its leaves both stay cheap. A power of two so the bucket is a bit mask
 * of the key hash. Fixed: two replicas' trees are comparable only with the same count.
 */
export const MERKLE_BUCKETS = 1024
const BUCKET_MASK = MERKLE_BUCKETS - 1

/** Length of a version id in a leaf (a UUIDv8-HLC). */
export const VERSION_ID_BYTES = 16

export interface MerkleLeaf {
  readonly key: Uint8Array
  readonly version: VersionId
  /** xxhash64 of the row image, or TOMBSTONE_ROW_HASH for a delete (rowImageHash). */
  readonly rowHash: bigint
}

let tombstoneHigh = 0
let tombstoneLow = 0
let tombstoneReady = false
const utf8 = new TextEncoder()

/** High and low halves of the last rowImageParts() hash (read right after calling it). */
export let rowHashHigh = 0
export let rowHashLow = 0

/**
 * The leaf hash of a row as two 32-bit halves left in rowHashHigh / rowHashLow (the write path:
 * no bigint, no allocation): xxhash64 of its stored image, or for a tombstone (null) the hash
 * of a fixed marker, so a delete and a live row with the same version id never compare equal.
 */
export function rowImageParts (image: Uint8Array | null): void {
  if (image !== null) {
    xxh64(image)
    rowHashHigh = xxh64High
    rowHashLow = xxh64Low
    return
  }
  if (!tombstoneReady) {
    xxh64(utf8.encode('ScratchBird merkle leaf: tombstone'))
    tombstoneHigh = xxh64High
    tombstoneLow = xxh64Low
    tombstoneReady = true
  }
  rowHashHigh = tombstoneHigh
  rowHashLow = tombstoneLow
}

/** rowImageParts as one unsigned 64-bit bigint (off the write path). */
export function rowImageHash (image: Uint8Array | null): bigint {
  rowImageParts(image)
  return joinHalves(rowHashHigh, rowHashLow)
}

function joinHalves (high: number, low: number): bigint {
  return (BigInt(high) << 32n) | BigInt(low)
}

/** The bucket a key's leaf lives in: the low bits of xxhash64(key). */
export function bucketOf (key: Uint8Array): number {
  xxh64(key)
  return xxh64Low & BUCKET_MASK
}

function badArgument (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle leaf: ${why}`)
}

function checkKey (key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw badArgument('key is not bytes')
}

/** SB_BAD_ARGUMENT unless (key, version, rowHash) can be a leaf: what set() accepts. */
export function checkLeaf (key: Uint8Array, version: VersionId, rowHash: bigint): void {
  checkKey(key)
  checkVersion(version)
  if (typeof rowHash !== 'bigint' || rowHash < 0n || rowHash > 0xffff_ffff_ffff_ffffn) throw badArgument('row hash is not an unsigned 64-bit integer')
}

/** SB_BAD_ARGUMENT unless `version` is a version id's 16 bytes. */
export function checkVersion (version: VersionId): void {
  if (!(version instanceof Uint8Array) || version.length !== VERSION_ID_BYTES) throw badArgument(`version id is not ${VERSION_ID_BYTES} bytes`)
}

// Scratch space for hashing: the tree is used from one thread at a time (a shard worker).
const sink = new ByteSink(256)
const pair = new Uint8Array(16)
const pairView = new DataView(pair.buffer)
let order: number[] = []

/** Bytes of a leaf's version id and row hash (big-endian) as the tree holds them. */
const VH_BYTES = VERSION_ID_BYTES + 8
const EMPTY = -1
/** Most a key may be: its length is stored in the arena as a varint of at most 3 bytes. */
const MAX_KEY_BYTES = (1 << 21) - 1
/** Leaves per chunk (a power of two): growing by a chunk copies nothing. */
const CHUNK_BITS = 12
const CHUNK = 1 << CHUNK_BITS
const IN_CHUNK = CHUNK - 1
/** Bytes per key-arena chunk (offsets within one fit 16 bits); a longer key gets a chunk of its own. */
const ARENA_CHUNK = 1 << 16
/** Per-leaf u32 fields in a meta chunk: key ref, key hash, next leaf of the bucket + 1. */
const META = 3

// Leaves are packed into typed arrays instead of an object (or two strings and a map entry) each:
// the active window of a busy shard holds millions of leaves, and per-leaf heap objects cost ~110
// bytes and most of the write path's garbage-collector time (issue 15). Leaf i lives in chunk
// i >> CHUNK_BITS of:
//
//   vh        version id ‖ row hash, big-endian, 24 bytes (what a bucket hash covers after the key)
//   meta      key ref (arena chunk << 16 | offset of a varint length and the key bytes),
//             low 32 bits of xxhash64(key) (its bucket is the low bits; the hash-table probe),
//             the next leaf of the same bucket + 1 (0 at the end; heads[b] is the first + 1)
//
// and `table`, an open-addressing (linear probing) index from key to leaf (leaf + 1, 0 = empty),
// kept at most 3/4 full. Fixed-size chunks: a growing window allocates a chunk at a time and never
// copies (copying ever larger arrays, and the full collections large allocations set off, were
// the cost). ~40 bytes per leaf plus its key and the table; heapBytes() counts what is allocated.

// Where locate() found a leaf's key: its arena chunk, first byte and length.
let kArr: Uint8Array = new Uint8Array(0)
let kStart = 0
let kLen = 0

/** Set kArr / kStart / kLen to the key stored at `ref` (arena chunk << 16 | offset: a varint length, then the bytes) in `arenas`. */
function locateKey (arenas: readonly Uint8Array[], ref: number): void {
  const a = arenas[ref >>> 16]!
  let at = ref & 0xffff
  let n = 0
  let shift = 0
  for (;;) {
    const byte = a[at++]!
    n += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) break
    shift += 7
  }
  kArr = a
  kStart = at
  kLen = n
}

export class MerkleTree {
  private count = 0
  private readonly vhChunks: Uint8Array[] = []
  private readonly metaChunks: Uint32Array[] = []
  private readonly heads = new Uint32Array(MERKLE_BUCKETS)
  private table = new Int32Array(0)
  private tableBits = 0
  private readonly arenas: Uint8Array[] = []
  /** Bytes used in the last arena chunk. */
  private arenaPos = ARENA_CHUNK
  /** Arena bytes of deleted leaves' keys (reclaimed by compactArena once they dominate). */
  private arenaGarbage = 0
  private arenaBytes = 0
  /** Heap-ordered node hashes as (high, low) halves; node 1 is the root, MERKLE_BUCKETS + b bucket b. */
  private readonly nodeHigh = new Uint32Array(2 * MERKLE_BUCKETS)
  private readonly nodeLow = new Uint32Array(2 * MERKLE_BUCKETS)
  /** Buckets changed since the last rehash: a flag per bucket and the list of flagged ones. */
  private readonly isDirty = new Uint8Array(MERKLE_BUCKETS)
  private readonly dirty: number[] = []
  /** The slot find() stopped at: the key's slot, or the empty slot where it would go. */
  private probe = 0

  /** Number of leaves (keys) in the tree. */
  get size (): number { return this.count }

  /** Bytes this tree holds on the heap: its typed arrays as allocated (spare capacity included) and a fixed overhead. */
  heapBytes (): number {
    const chunks = this.vhChunks.length
    return TREE_OBJECT_BYTES + chunks * (CHUNK * (VH_BYTES + 4 * META) + 2 * TYPED_ARRAY_BYTES) + this.arenaBytes + this.arenas.length * TYPED_ARRAY_BYTES +
      this.heads.byteLength + this.table.byteLength + this.nodeHigh.byteLength + this.nodeLow.byteLength + this.isDirty.byteLength + this.dirty.length * 8
  }

  /** The key's leaf, or undefined. */
  get (key: Uint8Array): MerkleLeaf | undefined {
    checkKey(key)
    xxh64(key)
    const i = this.find(key, xxh64Low, 0)
    return i === EMPTY ? undefined : this.leafAt(i)
  }

  /** Put the key's leaf, replacing any previous leaf of the key (keeps no reference to the caller's bytes). */
  set (key: Uint8Array, version: VersionId, rowHash: bigint): void {
    checkLeaf(key, version, rowHash)
    if (key.length > MAX_KEY_BYTES) throw badArgument(`key of ${key.length} bytes is longer than ${MAX_KEY_BYTES}`)
    xxh64(key)
    const h = xxh64Low
    const i = this.find(key, h, 0)
    this.put(i === EMPTY ? this.insert(key, h, 0) : i, version, Number(rowHash >> 32n), Number(rowHash & 0xffff_ffffn))
  }

  /**
   * The write path's one lookup per leaf: put the key's leaf only if `version` is above the one it
   * holds (unsigned byte order, as compareVersionIds; true when it held none). The key is
   * bytes[from…] (the write path passes a row key and skips its `r/`: no view made per leaf), the
   * row hash is given as halves (rowImageParts). Returns whether the tree changed.
   */
  setIfNewer (bytes: Uint8Array, version: VersionId, hashHigh: number, hashLow: number, from = 0): boolean {
    checkKey(bytes)
    checkVersion(version)
    if (!Number.isInteger(from) || from < 0 || from > bytes.length) throw badArgument(`key offset ${from} is outside its ${bytes.length} bytes`)
    if (bytes.length - from > MAX_KEY_BYTES) throw badArgument(`key of ${bytes.length - from} bytes is longer than ${MAX_KEY_BYTES}`)
    xxh64(bytes, from)
    const h = xxh64Low
    let i = this.find(bytes, h, from)
    if (i !== EMPTY) {
      const vh = this.vhChunks[i >>> CHUNK_BITS]!
      const at = (i & IN_CHUNK) * VH_BYTES
      let d = 0
      for (let j = 0; j < VERSION_ID_BYTES && d === 0; j++) d = version[j]! - vh[at + j]!
      if (d <= 0) return false
    } else {
      i = this.insert(bytes, h, from)
    }
    this.put(i, version, hashHigh >>> 0, hashLow >>> 0)
    return true
  }

  /** Remove the key's leaf; false when it had none. */
  delete (key: Uint8Array): boolean {
    checkKey(key)
    xxh64(key)
    const i = this.find(key, xxh64Low, 0)
    if (i === EMPTY) return false
    this.removeSlot(this.probe)
    const b = this.hashOf(i) & BUCKET_MASK
    this.unlink(i, b)
    this.locate(i)
    this.arenaGarbage += kStart + kLen - (this.refOf(i) & 0xffff)
    const last = this.count - 1
    if (i !== last) this.move(last, i)
    this.count--
    if ((this.count & IN_CHUNK) === 0 && this.vhChunks.length > (this.count >>> CHUNK_BITS)) {
      this.vhChunks.pop()
      this.metaChunks.pop()
    }
    this.markDirty(b)
    if (this.arenaGarbage > ARENA_CHUNK && this.arenaGarbage * 2 > this.arenaBytes) this.compactArena()
    return true
  }

  /** The root hash (0 for an empty tree). */
  root (): bigint {
    this.refresh()
    return joinHalves(this.nodeHigh[1]!, this.nodeLow[1]!)
  }

  /** The MERKLE_BUCKETS bucket hashes, in bucket order (what a peer sends first when roots differ). */
  bucketHashes (): bigint[] {
    this.refresh()
    const out = new Array<bigint>(MERKLE_BUCKETS)
    for (let b = 0; b < MERKLE_BUCKETS; b++) {
      const n = MERKLE_BUCKETS + b
      out[b] = this.nodeHigh[n] === 0 && this.nodeLow[n] === 0 ? 0n : joinHalves(this.nodeHigh[n]!, this.nodeLow[n]!)
    }
    return out
  }

  /** The buckets whose hash differs from the peer's `theirs` (MERKLE_BUCKETS hashes), ascending. */
  diffBuckets (theirs: readonly bigint[]): number[] {
    if (!Array.isArray(theirs) || theirs.length !== MERKLE_BUCKETS) {
      throw badArgument(`peer sent ${Array.isArray(theirs) ? theirs.length : typeof theirs} bucket hashes, expected ${MERKLE_BUCKETS}`)
    }
    const mine = this.bucketHashes()
    const out: number[] = []
    for (let b = 0; b < MERKLE_BUCKETS; b++) if (mine[b] !== theirs[b]) out.push(b)
    return out
  }

  /** Bucket `b`'s leaves in unsigned key-byte order. */
  leavesOf (b: number): MerkleLeaf[] {
    if (!Number.isInteger(b) || b < 0 || b >= MERKLE_BUCKETS) throw badArgument(`bucket ${b} is not in 0..${MERKLE_BUCKETS - 1}`)
    return this.sortedBucket(b).map(i => this.leafAt(i))
  }

  /** Every leaf, bucket by bucket, each bucket in key order (the serialised order). */
  * leaves (): Generator<MerkleLeaf> {
    for (let b = 0; b < MERKLE_BUCKETS; b++) yield * this.leavesOf(b)
  }

  // ---- the packed store -------------------------------------------------------------------------

  private refOf (i: number): number { return this.metaChunks[i >>> CHUNK_BITS]![META * (i & IN_CHUNK)]! }
  private hashOf (i: number): number { return this.metaChunks[i >>> CHUNK_BITS]![META * (i & IN_CHUNK) + 1]! }
  /** The next leaf of i's bucket, or EMPTY. */
  private nextOf (i: number): number { return this.metaChunks[i >>> CHUNK_BITS]![META * (i & IN_CHUNK) + 2]! - 1 }
  private setNext (i: number, next: number): void { this.metaChunks[i >>> CHUNK_BITS]![META * (i & IN_CHUNK) + 2] = next + 1 }
  private headOf (b: number): number { return this.heads[b]! - 1 }

  /** Set kArr / kStart / kLen to leaf i's key. */
  private locate (i: number): void {
    locateKey(this.arenas, this.refOf(i))
  }

  private leafAt (i: number): MerkleLeaf {
    const vh = this.vhChunks[i >>> CHUNK_BITS]!
    const at = (i & IN_CHUNK) * VH_BYTES
    const high = ((vh[at + 16]! << 24) | (vh[at + 17]! << 16) | (vh[at + 18]! << 8) | vh[at + 19]!) >>> 0
    const low = ((vh[at + 20]! << 24) | (vh[at + 21]! << 16) | (vh[at + 22]! << 8) | vh[at + 23]!) >>> 0
    this.locate(i)
    return { key: kArr.slice(kStart, kStart + kLen), version: vh.slice(at, at + VERSION_ID_BYTES), rowHash: joinHalves(high, low) }
  }

  private sameKey (i: number, key: Uint8Array, from: number): boolean {
    this.locate(i)
    if (kLen !== key.length - from) return false
    const a = kArr
    const s = kStart - from
    for (let j = from; j < key.length; j++) if (a[s + j] !== key[j]) return false
    return true
  }

  private slotOf (h: number): number { return Math.imul(h, 0x9e3779b1) >>> (32 - this.tableBits) }

  /** The key's leaf or EMPTY; `probe` is left at its slot or at the empty slot where it would go. */
  private find (key: Uint8Array, h: number, from: number): number {
    if (this.tableBits === 0) return EMPTY
    const t = this.table
    const mask = t.length - 1
    let s = this.slotOf(h)
    for (;;) {
      const e = t[s]!
      if (e === 0) { this.probe = s; return EMPTY }
      const i = e - 1
      if (this.hashOf(i) === h && this.sameKey(i, key, from)) { this.probe = s; return i }
      s = (s + 1) & mask
    }
  }

  /** A new leaf for bytes[from…] (right after find() missed it); its version and hash are put by the caller. */
  private insert (key: Uint8Array, h: number, from: number): number {
    if ((this.count + 1) * 4 > this.table.length * 3) {
      this.growTable()
      this.find(key, h, from) // the empty slot moved
    }
    const i = this.count
    if ((i >>> CHUNK_BITS) === this.vhChunks.length) {
      this.vhChunks.push(new Uint8Array(CHUNK * VH_BYTES))
      this.metaChunks.push(new Uint32Array(CHUNK * META))
    }
    const ref = this.storeKey(key, from)
    const meta = this.metaChunks[i >>> CHUNK_BITS]!
    const m = META * (i & IN_CHUNK)
    const b = h & BUCKET_MASK
    meta[m] = ref
    meta[m + 1] = h
    meta[m + 2] = this.heads[b]!
    this.heads[b] = i + 1
    this.table[this.probe] = i + 1
    this.count++
    return i
  }

  /** Copy bytes[from…] (varint length first) into the arena; returns its ref. */
  private storeKey (key: Uint8Array, from: number): number {
    const len = key.length - from
    const need = 3 + len
    if (this.arenaPos + need > ARENA_CHUNK) {
      // a new chunk; a key longer than a chunk gets one of its own (and the next key a fresh one)
      this.arenas.push(new Uint8Array(Math.max(ARENA_CHUNK, need)))
      this.arenaBytes += Math.max(ARENA_CHUNK, need)
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
    this.arenaPos = need > ARENA_CHUNK ? ARENA_CHUNK : at
    return ref
  }

  private put (i: number, version: VersionId, high: number, low: number): void {
    const vh = this.vhChunks[i >>> CHUNK_BITS]!
    const at = (i & IN_CHUNK) * VH_BYTES
    vh.set(version, at)
    vh[at + 16] = high >>> 24; vh[at + 17] = high >>> 16; vh[at + 18] = high >>> 8; vh[at + 19] = high
    vh[at + 20] = low >>> 24; vh[at + 21] = low >>> 16; vh[at + 22] = low >>> 8; vh[at + 23] = low
    this.markDirty(this.hashOf(i) & BUCKET_MASK)
  }

  private growTable (): void {
    this.tableBits = Math.max(4, this.tableBits + 1)
    const t = new Int32Array(1 << this.tableBits)
    this.table = t
    const mask = t.length - 1
    for (let i = 0; i < this.count; i++) {
      let s = this.slotOf(this.hashOf(i))
      while (t[s] !== 0) s = (s + 1) & mask
      t[s] = i + 1
    }
  }

  /** Empty slot `s` and shift later entries of its probe run back (linear-probing deletion without markers). */
  private removeSlot (s: number): void {
    const t = this.table
    const mask = t.length - 1
    t[s] = 0
    let hole = s
    let j = s
    for (;;) {
      j = (j + 1) & mask
      const e = t[j]!
      if (e === 0) return
      const home = this.slotOf(this.hashOf(e - 1))
      // the entry at j may fill the hole unless its home lies cyclically in (hole, j]
      const stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
      if (!stays) { t[hole] = e; t[j] = 0; hole = j }
    }
  }

  /** Take leaf `i` out of bucket `b`'s list. */
  private unlink (i: number, b: number): void {
    if (this.headOf(b) === i) { this.heads[b] = this.nextOf(i) + 1; return }
    let p = this.headOf(b)
    while (this.nextOf(p) !== i) p = this.nextOf(p)
    this.setNext(p, this.nextOf(i))
  }

  /** Move leaf `from` (the last) to index `to` (a hole): table entry, bucket list and arrays. */
  private move (from: number, to: number): void {
    const h = this.hashOf(from)
    const t = this.table
    const mask = t.length - 1
    let s = this.slotOf(h)
    while (t[s] !== from + 1) s = (s + 1) & mask
    t[s] = to + 1
    const b = h & BUCKET_MASK
    if (this.headOf(b) === from) this.heads[b] = to + 1
    else {
      let p = this.headOf(b)
      while (this.nextOf(p) !== from) p = this.nextOf(p)
      this.setNext(p, to)
    }
    const fm = this.metaChunks[from >>> CHUNK_BITS]!
    const tm = this.metaChunks[to >>> CHUNK_BITS]!
    const f = META * (from & IN_CHUNK)
    const d = META * (to & IN_CHUNK)
    tm[d] = fm[f]!; tm[d + 1] = fm[f + 1]!; tm[d + 2] = fm[f + 2]!
    const fv = this.vhChunks[from >>> CHUNK_BITS]!
    const tv = this.vhChunks[to >>> CHUNK_BITS]!
    const fa = (from & IN_CHUNK) * VH_BYTES
    tv.set(fv.subarray(fa, fa + VH_BYTES), (to & IN_CHUNK) * VH_BYTES)
  }

  /** Copy the live keys into fresh arena chunks (deleted keys' bytes dominate). */
  private compactArena (): void {
    const old = this.arenas.splice(0)
    this.arenaBytes = 0
    this.arenaPos = ARENA_CHUNK
    this.arenaGarbage = 0
    for (let i = 0; i < this.count; i++) {
      locateKey(old, this.refOf(i))
      this.metaChunks[i >>> CHUNK_BITS]![META * (i & IN_CHUNK)] = this.storeKey(kArr.subarray(kStart, kStart + kLen), 0)
    }
  }

  /** Bucket b's leaves in unsigned key-byte order. */
  private sortedBucket (b: number): number[] {
    const out: number[] = []
    for (let i = this.headOf(b); i !== EMPTY; i = this.nextOf(i)) out.push(i)
    if (out.length > 1) out.sort((x, y) => this.compareKeys(x, y))
    return out
  }

  private compareKeys (x: number, y: number): number {
    this.locate(x)
    const xa = kArr; const xs = kStart; const xl = kLen
    this.locate(y)
    const n = Math.min(xl, kLen)
    for (let j = 0; j < n; j++) {
      const d = xa[xs + j]! - kArr[kStart + j]!
      if (d !== 0) return d
    }
    return xl - kLen
  }

  /** xxhash64 over the bucket's leaves in key order, each: varint key length, key, version id, row hash. */
  private hashBucket (b: number): void {
    order = this.sortedBucket(b)
    const n = MERKLE_BUCKETS + b
    if (order.length === 0) { this.nodeHigh[n] = 0; this.nodeLow[n] = 0; return }
    sink.len = 0
    for (const i of order) {
      this.locate(i)
      const from = this.refOf(i) & 0xffff
      const to = kStart + kLen
      sink.ensure(to - from + VH_BYTES)
      sink.buf.set(kArr.subarray(from, to), sink.len)
      sink.len += to - from
      const vh = this.vhChunks[i >>> CHUNK_BITS]!
      const at = (i & IN_CHUNK) * VH_BYTES
      sink.buf.set(vh.subarray(at, at + VH_BYTES), sink.len)
      sink.len += VH_BYTES
    }
    xxh64(sink.buf, 0, sink.len)
    this.nodeHigh[n] = xxh64High
    this.nodeLow[n] = xxh64Low
  }

  /** Node i from its children (0 when both are 0). */
  private hashPair (i: number): void {
    const lh = this.nodeHigh[2 * i]!; const ll = this.nodeLow[2 * i]!
    const rh = this.nodeHigh[2 * i + 1]!; const rl = this.nodeLow[2 * i + 1]!
    if ((lh | ll | rh | rl) === 0) { this.nodeHigh[i] = 0; this.nodeLow[i] = 0; return }
    pairView.setUint32(0, lh); pairView.setUint32(4, ll); pairView.setUint32(8, rh); pairView.setUint32(12, rl)
    xxh64(pair)
    this.nodeHigh[i] = xxh64High
    this.nodeLow[i] = xxh64Low
  }

  private markDirty (b: number): void {
    if (this.isDirty[b] === 1) return
    this.isDirty[b] = 1
    this.dirty.push(b)
  }

  private refresh (): void {
    if (this.dirty.length === 0) return
    let level = new Set<number>()
    for (const b of this.dirty) {
      this.hashBucket(b)
      this.isDirty[b] = 0
      level.add((MERKLE_BUCKETS + b) >> 1)
    }
    this.dirty.length = 0
    // One level at a time, so each parent is hashed once from its already-updated children.
    while (level.size > 0) {
      const up = new Set<number>()
      for (const i of level) {
        this.hashPair(i)
        if (i > 1) up.add(i >> 1)
      }
      level = up
    }
  }
}

/** Heap of a typed array object and its buffer besides its bytes. */
const TYPED_ARRAY_BYTES = 160
/** Fixed heap of a tree object besides its typed arrays (object, array headers, dirty list). */
const TREE_OBJECT_BYTES = 512

/** A key as a latin1 string (one char per byte, so string order = unsigned byte order): a map key for diffLeaves. */
function keyId (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** Which side of a leaf comparison holds the version to keep. */
export type LeafWinner = 'mine' | 'theirs' | 'neither'

export interface LeafDiff {
  readonly key: Uint8Array
  readonly mine: MerkleLeaf | null
  readonly theirs: MerkleLeaf | null
  /**
   * The side with the higher version by the production LWW rule (an absent leaf loses); 'neither'
   * when both hold the same version id with different row hashes — one write cannot have two
   * images, so one replica's copy is damaged and LWW cannot say which.
   */
  readonly newer: LeafWinner
}

/**
 * The keys where two replicas' leaves of one bucket differ (absent on one side, other version,
 * or same version with another row hash), in key order. Inputs need not be sorted.
 */
export function diffLeaves (mine: readonly MerkleLeaf[], theirs: readonly MerkleLeaf[]): LeafDiff[] {
  // `theirs` came from a peer: check every leaf before reading any, so bad input is a coded error
  for (const side of [mine, theirs]) {
    if (!Array.isArray(side)) throw badArgument('leaves are not a list')
    for (const l of side) {
      if (typeof l !== 'object' || l === null) throw badArgument('a leaf is not an object')
      checkLeaf(l.key, l.version, l.rowHash)
    }
  }
  const a = new Map(mine.map(l => [keyId(l.key), l]))
  const b = new Map(theirs.map(l => [keyId(l.key), l]))
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort()
  const out: LeafDiff[] = []
  for (const id of ids) {
    const m = a.get(id) ?? null
    const t = b.get(id) ?? null
    if (m === null || t === null) {
      out.push({ key: (m ?? t)!.key, mine: m, theirs: t, newer: m === null ? 'theirs' : 'mine' })
      continue
    }
    const order = compareVersionIds(m.version, t.version)
    if (order === 0 && m.rowHash === t.rowHash) continue
    out.push({ key: m.key, mine: m, theirs: t, newer: order > 0 ? 'mine' : order < 0 ? 'theirs' : 'neither' })
  }
  return out
}
