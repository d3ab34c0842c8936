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

// Leaves are packed into a few typed arrays instead of an object (or two strings and a map entry)
// each: the active window of a busy shard holds millions of leaves, and per-leaf heap objects cost
// ~110 bytes each and most of the write path's garbage-collector time (issue 15). Per leaf i:
//
//   vh[24i…]     version id ‖ row hash, big-endian (what a bucket hash covers after the key)
//   keyAt[i]     where its key is in `arena` (a varint length, then the bytes)
//   keyHash[i]   the low 32 bits of xxhash64(key): its bucket (low bits) and hash-table probe
//   next[i]      the next leaf of the same bucket (EMPTY at the end; heads[b] is the first)
//
// and `table`, an open-addressing (linear probing) index from key to leaf (leaf + 1, 0 = empty),
// kept at most 3/4 full. ~48 bytes per leaf plus the key and the arrays' spare capacity; heapBytes()
// counts what is allocated, spare capacity included.

export class MerkleTree {
  private count = 0
  private vh = new Uint8Array(0)
  private keyAt = new Uint32Array(0)
  private keyHash = new Uint32Array(0)
  private next = new Int32Array(0)
  private readonly heads = new Int32Array(MERKLE_BUCKETS).fill(EMPTY)
  private table = new Int32Array(0)
  private tableBits = 0
  private arena = new Uint8Array(0)
  private arenaLen = 0
  /** Arena bytes of deleted leaves' keys (reclaimed by compactArena once they dominate). */
  private arenaGarbage = 0
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
    return TREE_OBJECT_BYTES + this.vh.byteLength + this.keyAt.byteLength + this.keyHash.byteLength + this.next.byteLength +
      this.heads.byteLength + this.table.byteLength + this.arena.byteLength + this.nodeHigh.byteLength + this.nodeLow.byteLength +
      this.isDirty.byteLength + this.dirty.length * 8
  }

  /** The key's leaf, or undefined. */
  get (key: Uint8Array): MerkleLeaf | undefined {
    checkKey(key)
    xxh64(key)
    const i = this.find(key, xxh64Low)
    return i === EMPTY ? undefined : this.leafAt(i)
  }

  /** Put the key's leaf, replacing any previous leaf of the key (keeps no reference to the caller's bytes). */
  set (key: Uint8Array, version: VersionId, rowHash: bigint): void {
    checkLeaf(key, version, rowHash)
    if (key.length > MAX_KEY_BYTES) throw badArgument(`key of ${key.length} bytes is longer than ${MAX_KEY_BYTES}`)
    xxh64(key)
    const h = xxh64Low
    const i = this.find(key, h)
    this.put(i === EMPTY ? this.insert(key, h) : i, version, Number(rowHash >> 32n), Number(rowHash & 0xffff_ffffn))
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
      const vh = this.vh
      const at = i * VH_BYTES
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
    const i = this.find(key, xxh64Low)
    if (i === EMPTY) return false
    this.removeSlot(this.probe)
    const b = this.keyHash[i]! & BUCKET_MASK
    this.unlink(i, b)
    this.arenaGarbage += this.keyEnd(i) - this.keyAt[i]!
    const last = this.count - 1
    if (i !== last) this.move(last, i)
    this.count--
    this.markDirty(b)
    if (this.arenaGarbage > 4096 && this.arenaGarbage * 2 > this.arenaLen) this.compactArena()
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

  private keyStart (i: number): number {
    let at = this.keyAt[i]!
    const a = this.arena
    while (a[at]! >= 0x80) at++
    return at + 1
  }

  private keyLength (i: number): number {
    const a = this.arena
    let at = this.keyAt[i]!
    let n = 0
    let shift = 0
    for (;;) {
      const byte = a[at++]!
      n += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return n
      shift += 7
    }
  }

  private keyEnd (i: number): number { return this.keyStart(i) + this.keyLength(i) }

  private leafAt (i: number): MerkleLeaf {
    const at = i * VH_BYTES
    const s = this.keyStart(i)
    const vh = this.vh
    const high = ((vh[at + 16]! << 24) | (vh[at + 17]! << 16) | (vh[at + 18]! << 8) | vh[at + 19]!) >>> 0
    const low = ((vh[at + 20]! << 24) | (vh[at + 21]! << 16) | (vh[at + 22]! << 8) | vh[at + 23]!) >>> 0
    return { key: this.arena.slice(s, s + this.keyLength(i)), version: vh.slice(at, at + VERSION_ID_BYTES), rowHash: joinHalves(high, low) }
  }

  private sameKey (i: number, key: Uint8Array, from: number): boolean {
    const n = key.length - from
    if (this.keyLength(i) !== n) return false
    const a = this.arena
    const s = this.keyStart(i) - from
    for (let j = from; j < key.length; j++) if (a[s + j] !== key[j]) return false
    return true
  }

  private slotOf (h: number): number { return Math.imul(h, 0x9e3779b1) >>> (32 - this.tableBits) }

  /** The key's leaf or EMPTY; `probe` is left at its slot or at the empty slot where it would go. */
  private find (key: Uint8Array, h: number, from = 0): number {
    if (this.tableBits === 0) return EMPTY
    const t = this.table
    const mask = t.length - 1
    let s = this.slotOf(h)
    for (;;) {
      const e = t[s]!
      if (e === 0) { this.probe = s; return EMPTY }
      const i = e - 1
      if (this.keyHash[i] === h && this.sameKey(i, key, from)) { this.probe = s; return i }
      s = (s + 1) & mask
    }
  }

  /** A new leaf for `key` (right after find() missed it); its version and hash are put by the caller. */
  private insert (key: Uint8Array, h: number, from = 0): number {
    if ((this.count + 1) * 4 > this.table.length * 3) {
      this.growTable()
      this.find(key, h, from) // the empty slot moved
    }
    const i = this.count
    if (i === this.keyAt.length) this.growLeaves()
    const len = key.length - from
    if (this.arenaLen + 3 + len > this.arena.length) this.growArena(3 + len)
    this.keyAt[i] = this.arenaLen
    let n = len
    const a = this.arena
    while (n >= 0x80) { a[this.arenaLen++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128) }
    a[this.arenaLen++] = n
    for (let j = from; j < key.length; j++) a[this.arenaLen++] = key[j]!
    this.keyHash[i] = h
    const b = h & BUCKET_MASK
    this.next[i] = this.heads[b]!
    this.heads[b] = i
    this.table[this.probe] = i + 1
    this.count++
    return i
  }

  private put (i: number, version: VersionId, high: number, low: number): void {
    const vh = this.vh
    const at = i * VH_BYTES
    vh.set(version, at)
    vh[at + 16] = high >>> 24; vh[at + 17] = high >>> 16; vh[at + 18] = high >>> 8; vh[at + 19] = high
    vh[at + 20] = low >>> 24; vh[at + 21] = low >>> 16; vh[at + 22] = low >>> 8; vh[at + 23] = low
    this.markDirty(this.keyHash[i]! & BUCKET_MASK)
  }

  private growLeaves (): void {
    // ×1.5: spare capacity is memory the active window holds for nothing (heapBytes counts it)
    const cap = Math.max(16, Math.ceil(this.keyAt.length * 1.5))
    const vh = new Uint8Array(cap * VH_BYTES); vh.set(this.vh); this.vh = vh
    const keyAt = new Uint32Array(cap); keyAt.set(this.keyAt); this.keyAt = keyAt
    const keyHash = new Uint32Array(cap); keyHash.set(this.keyHash); this.keyHash = keyHash
    const next = new Int32Array(cap); next.set(this.next); this.next = next
  }

  private growArena (need: number): void {
    let cap = Math.max(256, Math.ceil(this.arena.length * 1.5))
    while (cap < this.arenaLen + need) cap = Math.ceil(cap * 1.5)
    const a = new Uint8Array(cap)
    a.set(this.arena.subarray(0, this.arenaLen))
    this.arena = a
  }

  private growTable (): void {
    this.tableBits = Math.max(4, this.tableBits + 1)
    const t = new Int32Array(1 << this.tableBits)
    const mask = t.length - 1
    for (let i = 0; i < this.count; i++) {
      let s = this.slotOf(this.keyHash[i]!)
      while (t[s] !== 0) s = (s + 1) & mask
      t[s] = i + 1
    }
    this.table = t
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
      const home = this.slotOf(this.keyHash[e - 1]!)
      // the entry at j may fill the hole unless its home lies cyclically in (hole, j]
      const stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
      if (!stays) { t[hole] = e; t[j] = 0; hole = j }
    }
  }

  /** Take leaf `i` out of bucket `b`'s list. */
  private unlink (i: number, b: number): void {
    if (this.heads[b] === i) { this.heads[b] = this.next[i]!; return }
    let p = this.heads[b]!
    while (this.next[p] !== i) p = this.next[p]!
    this.next[p] = this.next[i]!
  }

  /** Move leaf `from` (the last) to index `to` (a hole): table entry, bucket list and arrays. */
  private move (from: number, to: number): void {
    const h = this.keyHash[from]!
    const t = this.table
    const mask = t.length - 1
    let s = this.slotOf(h)
    while (t[s] !== from + 1) s = (s + 1) & mask
    t[s] = to + 1
    const b = h & BUCKET_MASK
    if (this.heads[b] === from) this.heads[b] = to
    else {
      let p = this.heads[b]!
      while (this.next[p] !== from) p = this.next[p]!
      this.next[p] = to
    }
    this.next[to] = this.next[from]!
    this.keyAt[to] = this.keyAt[from]!
    this.keyHash[to] = h
    this.vh.copyWithin(to * VH_BYTES, from * VH_BYTES, (from + 1) * VH_BYTES)
  }

  private compactArena (): void {
    const a = new Uint8Array(Math.max(256, this.arenaLen - this.arenaGarbage))
    let len = 0
    for (let i = 0; i < this.count; i++) {
      const from = this.keyAt[i]!
      const to = this.keyEnd(i)
      a.set(this.arena.subarray(from, to), len)
      this.keyAt[i] = len
      len += to - from
    }
    this.arena = a
    this.arenaLen = len
    this.arenaGarbage = 0
  }

  /** Bucket b's leaves in unsigned key-byte order. */
  private sortedBucket (b: number): number[] {
    const out: number[] = []
    for (let i = this.heads[b]!; i !== EMPTY; i = this.next[i]!) out.push(i)
    if (out.length > 1) out.sort((x, y) => this.compareKeys(x, y))
    return out
  }

  private compareKeys (x: number, y: number): number {
    const a = this.arena
    const xs = this.keyStart(x); const xl = this.keyLength(x)
    const ys = this.keyStart(y); const yl = this.keyLength(y)
    const n = Math.min(xl, yl)
    for (let j = 0; j < n; j++) {
      const d = a[xs + j]! - a[ys + j]!
      if (d !== 0) return d
    }
    return xl - yl
  }

  /** xxhash64 over the bucket's leaves in key order, each: varint key length, key, version id, row hash. */
  private hashBucket (b: number): void {
    order = this.sortedBucket(b)
    const n = MERKLE_BUCKETS + b
    if (order.length === 0) { this.nodeHigh[n] = 0; this.nodeLow[n] = 0; return }
    sink.len = 0
    for (const i of order) {
      const from = this.keyAt[i]!
      const to = this.keyEnd(i)
      sink.ensure(to - from + VH_BYTES)
      sink.buf.set(this.arena.subarray(from, to), sink.len)
      sink.len += to - from
      sink.buf.set(this.vh.subarray(i * VH_BYTES, (i + 1) * VH_BYTES), sink.len)
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
