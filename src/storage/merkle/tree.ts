import { ByteSink } from '../../core/bytes'
import { ScratchBirdError } from '../../core/errors'
import { compareVersionIds } from '../lww'
import type { VersionId } from '../types'
import { LEAF_VERSION_BYTES, LEAF_VH_BYTES, LeafStore, MAX_LEAF_KEY_BYTES, recArr, recKey, recKeyLen } from './leaf-store'
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
export const VERSION_ID_BYTES = LEAF_VERSION_BYTES
/** Bytes of a leaf's version id and row hash. */
const VH_BYTES = LEAF_VH_BYTES

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
    rowHashHigh = xxh64High >>> 0
    rowHashLow = xxh64Low >>> 0
    return
  }
  if (!tombstoneReady) {
    xxh64(utf8.encode('ScratchBird merkle leaf: tombstone'))
    tombstoneHigh = xxh64High >>> 0
    tombstoneLow = xxh64Low >>> 0
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
const rowHashScratch = new DataView(new ArrayBuffer(8))

export class MerkleTree {
  /** The leaves, bucket by bucket in key order (leaf-store.ts). */
  private readonly store = new LeafStore(MERKLE_BUCKETS)
  /** Heap-ordered node hashes as (high, low) halves; node 1 is the root, MERKLE_BUCKETS + b bucket b. */
  private readonly nodeHigh = new Uint32Array(2 * MERKLE_BUCKETS)
  private readonly nodeLow = new Uint32Array(2 * MERKLE_BUCKETS)
  /** Nodes whose hash is stale: a flag per node (buckets and the paths above them), and the stale buckets. */
  private readonly isDirty = new Uint8Array(2 * MERKLE_BUCKETS)
  private readonly dirty = new Uint16Array(MERKLE_BUCKETS)
  private dirtyCount = 0

  /** Number of leaves (keys) in the tree. */
  get size (): number { return this.store.size }

  /** Bytes this tree holds on the heap: its packed leaves as allocated (spare capacity included), node hashes and a fixed overhead. */
  heapBytes (): number {
    return TREE_OBJECT_BYTES + this.store.heapBytes() + this.nodeHigh.byteLength + this.nodeLow.byteLength + this.isDirty.byteLength + this.dirty.byteLength
  }

  /** The key's leaf, or undefined. */
  get (key: Uint8Array): MerkleLeaf | undefined {
    checkKey(key)
    xxh64(key)
    const b = xxh64Low & BUCKET_MASK
    return this.store.find(b, key, 0) < 0 ? undefined : located()
  }

  /** Put the key's leaf, replacing any previous leaf of the key (keeps no reference to the caller's bytes). */
  set (key: Uint8Array, version: VersionId, rowHash: bigint): void {
    checkLeaf(key, version, rowHash)
    if (key.length > MAX_LEAF_KEY_BYTES) throw badArgument(`key of ${key.length} bytes is longer than ${MAX_LEAF_KEY_BYTES}`)
    xxh64(key)
    const b = xxh64Low & BUCKET_MASK
    const i = this.store.find(b, key, 0)
    if (i < 0) this.store.insertAt(b, -i - 1, key, 0)
    rowHashScratch.setBigUint64(0, rowHash) // its halves without bigint arithmetic
    putLocated(version, rowHashScratch.getUint32(0), rowHashScratch.getUint32(4))
    this.markDirty(b)
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
    if (bytes.length - from > MAX_LEAF_KEY_BYTES) throw badArgument(`key of ${bytes.length - from} bytes is longer than ${MAX_LEAF_KEY_BYTES}`)
    xxh64(bytes, from)
    const b = xxh64Low & BUCKET_MASK
    const i = this.store.find(b, bytes, from)
    if (i >= 0) {
      const at = recKey + recKeyLen
      let d = 0
      for (let j = 0; j < VERSION_ID_BYTES && d === 0; j++) d = version[j]! - recArr[at + j]!
      if (d <= 0) return false
    } else {
      this.store.insertAt(b, -i - 1, bytes, from)
    }
    putLocated(version, hashHigh >>> 0, hashLow >>> 0)
    this.markDirty(b)
    return true
  }

  /** Remove the key's leaf; false when it had none. */
  delete (key: Uint8Array): boolean {
    checkKey(key)
    xxh64(key)
    const b = xxh64Low & BUCKET_MASK
    const i = this.store.find(b, key, 0)
    if (i < 0) return false
    this.store.removeAt(b, i)
    this.markDirty(b)
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
    const n = this.store.lengthOf(b)
    const out = new Array<MerkleLeaf>(n)
    for (let i = 0; i < n; i++) {
      this.store.locate(this.store.refAt(b, i))
      out[i] = located()
    }
    return out
  }

  /** Every leaf, bucket by bucket, each bucket in key order (the serialised order). */
  * leaves (): Generator<MerkleLeaf> {
    for (let b = 0; b < MERKLE_BUCKETS; b++) yield * this.leavesOf(b)
  }

  /** xxhash64 over the bucket's leaves in key order, each: varint key length, key, version id, row hash — its records, back to back. */
  private hashBucket (b: number): void {
    const store = this.store
    const count = store.lengthOf(b)
    const node = MERKLE_BUCKETS + b
    if (count === 0) { this.nodeHigh[node] = 0; this.nodeLow[node] = 0; return }
    let len = 0
    for (let i = 0; i < count; i++) {
      const ref = store.refAt(b, i)
      store.locate(ref)
      const a = recArr
      const end = recKey + recKeyLen + VH_BYTES
      let at = ref & 0xffff
      if (len + end - at > sink.buf.length) { sink.len = len; sink.ensure(end - at) }
      const out = sink.buf
      while (at < end) out[len++] = a[at++]!
    }
    xxh64(sink.buf, 0, len)
    this.nodeHigh[node] = xxh64High
    this.nodeLow[node] = xxh64Low
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

  /** Bucket b's hash and every node above it are stale. */
  private markDirty (b: number): void {
    let n = MERKLE_BUCKETS + b
    if (this.isDirty[n] === 1) return
    this.dirty[this.dirtyCount++] = b
    while (n >= 1 && this.isDirty[n] === 0) { this.isDirty[n] = 1; n >>= 1 }
  }

  private refresh (): void {
    if (this.dirtyCount === 0) return
    for (let k = 0; k < this.dirtyCount; k++) {
      const b = this.dirty[k]!
      this.hashBucket(b)
      this.isDirty[MERKLE_BUCKETS + b] = 0
    }
    this.dirtyCount = 0
    // A parent's index is below its children's: descending order hashes each stale node once, after its children.
    for (let i = MERKLE_BUCKETS - 1; i >= 1; i--) {
      if (this.isDirty[i] === 0) continue
      this.hashPair(i)
      this.isDirty[i] = 0
    }
  }
}

/** The located record (leaf-store.ts registers) as a MerkleLeaf with its own copies of the bytes. */
function located (): MerkleLeaf {
  const a = recArr
  const at = recKey + recKeyLen
  const high = ((a[at + 16]! << 24) | (a[at + 17]! << 16) | (a[at + 18]! << 8) | a[at + 19]!) >>> 0
  const low = ((a[at + 20]! << 24) | (a[at + 21]! << 16) | (a[at + 22]! << 8) | a[at + 23]!) >>> 0
  return { key: a.slice(recKey, at), version: a.slice(at, at + VERSION_ID_BYTES), rowHash: joinHalves(high, low) }
}

/** Write version id and row hash (big-endian halves) into the located record. */
function putLocated (version: VersionId, high: number, low: number): void {
  const a = recArr
  const at = recKey + recKeyLen
  for (let j = 0; j < VERSION_ID_BYTES; j++) a[at + j] = version[j]!
  a[at + 16] = high >>> 24; a[at + 17] = high >>> 16; a[at + 18] = high >>> 8; a[at + 19] = high
  a[at + 20] = low >>> 24; a[at + 21] = low >>> 16; a[at + 22] = low >>> 8; a[at + 23] = low
}

/** Fixed heap of a tree object besides its typed arrays (object, its store, array headers). */
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
