import { ByteSink } from '../../core/bytes'
import { ScratchBirdError } from '../../core/errors'
import { xxhash64 } from '../../core/hash'
import { compareVersionIds } from '../lww'
import type { VersionId } from '../types'

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
// Which version a key keeps is the caller's rule (a window keeps the highest version per key:
// ForestIndex.apply); set() here replaces unconditionally.

/**
 * Buckets per tree. 1024 keeps the first exchange of a divergent window small (1024 × 8 bytes
 * = 8 KiB of bucket hashes) and a bucket small for the windows the forest expects (10,000 to
 * a few million writes an hour: ~10 to a few thousand leaves per bucket), so rehashing a dirty
 * bucket and shipping its leaves both stay cheap. A power of two so the bucket is a bit mask
 * of the key hash. Fixed: two replicas' trees are comparable only with the same count.
 */
export const MERKLE_BUCKETS = 1024
const BUCKET_MASK = BigInt(MERKLE_BUCKETS - 1)

/** Length of a version id in a leaf (a UUIDv8-HLC). */
export const VERSION_ID_BYTES = 16

export interface MerkleLeaf {
  readonly key: Uint8Array
  readonly version: VersionId
  /** xxhash64 of the row image, or TOMBSTONE_ROW_HASH for a delete (rowImageHash). */
  readonly rowHash: bigint
}

let tombstoneHash: bigint | null = null
const utf8 = new TextEncoder()

/**
 * The leaf hash of a row: xxhash64 of its stored image, or for a tombstone (null) the hash of a
 * fixed marker, so a delete and a live row with the same version id can never compare equal.
 */
export function rowImageHash (image: Uint8Array | null): bigint {
  if (image !== null) return xxhash64(image)
  tombstoneHash ??= xxhash64(utf8.encode('ScratchBird merkle leaf: tombstone'))
  return tombstoneHash
}

/** The bucket a key's leaf lives in: the low bits of xxhash64(key). */
export function bucketOf (key: Uint8Array): number {
  return Number(xxhash64(key) & BUCKET_MASK)
}

// Leaves are held as two short one-byte strings per key (V8 keeps latin1 strings one byte per
// char): the key itself, which is also the bucket map's key, and the 24 bytes version id + row
// hash. Two typed arrays and a bigint per leaf cost ~500 bytes (measured: bench/merkle.ts), these
// strings ~100; leaf objects are made only when a caller asks for leaves. latin1 also makes
// string order = unsigned byte order, the order a bucket hashes its leaves in.

function latin1 (bytes: Uint8Array): string {
  // fromCharCode over the bytes beats a Buffer view + toString for the short keys leaves hold
  if (bytes.length <= 256) return String.fromCharCode.apply(null, bytes as unknown as number[])
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

function bytesOf (s: string, from = 0, to = s.length): Uint8Array {
  const out = new Uint8Array(to - from)
  for (let i = from; i < to; i++) out[i - from] = s.charCodeAt(i)
  return out
}

const packBuf = new Uint8Array(VERSION_ID_BYTES + 8)
const packView = new DataView(packBuf.buffer)

/** version id ‖ row hash (big-endian) as a 24-char latin1 string. */
function pack (version: VersionId, rowHash: bigint): string {
  packBuf.set(version)
  packView.setBigUint64(VERSION_ID_BYTES, rowHash)
  return latin1(packBuf)
}

function unpack (id: string, packed: string): MerkleLeaf {
  const vh = bytesOf(packed)
  return { key: bytesOf(id), version: vh.subarray(0, VERSION_ID_BYTES), rowHash: new DataView(vh.buffer).getBigUint64(VERSION_ID_BYTES) }
}

const keyId = latin1

function badArgument (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle leaf: ${why}`)
}

function checkKey (key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw badArgument('key is not bytes')
}

/** SB_BAD_ARGUMENT unless (key, version, rowHash) can be a leaf: what set() accepts. */
export function checkLeaf (key: Uint8Array, version: VersionId, rowHash: bigint): void {
  checkKey(key)
  if (!(version instanceof Uint8Array) || version.length !== VERSION_ID_BYTES) throw badArgument(`version id is not ${VERSION_ID_BYTES} bytes`)
  if (typeof rowHash !== 'bigint' || rowHash < 0n || rowHash > 0xffff_ffff_ffff_ffffn) throw badArgument('row hash is not an unsigned 64-bit integer')
}

// Scratch space for hashing: the tree is used from one thread at a time (a shard worker).
const sink = new ByteSink(256)
const pair = new Uint8Array(16)
const pairView = new DataView(pair.buffer)

function hashPair (left: bigint, right: bigint): bigint {
  if (left === 0n && right === 0n) return 0n
  pairView.setBigUint64(0, left)
  pairView.setBigUint64(8, right)
  return xxhash64(pair)
}

function putChars (s: string): void {
  sink.ensure(s.length)
  const buf = sink.buf
  let at = sink.len
  for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i)
  sink.len = at
}

/** xxhash64 over the leaves in key order, each: varint key length, key, version id, row hash. */
function hashBucket (leaves: Map<string, string>): bigint {
  if (leaves.size === 0) return 0n
  sink.len = 0
  for (const id of [...leaves.keys()].sort()) {
    sink.varint(id.length)
    putChars(id)
    putChars(leaves.get(id)!)
  }
  return xxhash64(sink.buf.subarray(0, sink.len))
}

/**
 * Where a key's leaf lives in any tree: its bucket and map key. The forest's write path computes
 * it once per leaf (one key hash) and uses it for both the "is this newer?" check when the batch
 * is built and the insert once it landed.
 */
export interface LeafSlot { readonly bucket: number, readonly id: string }

export function leafSlot (key: Uint8Array): LeafSlot {
  checkKey(key)
  return { bucket: bucketOf(key), id: keyId(key) }
}

export class MerkleTree {
  private readonly buckets: Array<Map<string, string>> = Array.from({ length: MERKLE_BUCKETS }, () => new Map())
  /** Heap-ordered node hashes; [0] unused, [1] root, [MERKLE_BUCKETS + b] bucket b. */
  private readonly nodes = new Array<bigint>(2 * MERKLE_BUCKETS).fill(0n)
  /** Buckets changed since the last rehash: a flag per bucket and the list of flagged ones. */
  private readonly isDirty = new Uint8Array(MERKLE_BUCKETS)
  private readonly dirty: number[] = []
  private count = 0

  /** Number of leaves (keys) in the tree. */
  get size (): number { return this.count }

  /** The key's leaf, or undefined. */
  get (key: Uint8Array): MerkleLeaf | undefined {
    checkKey(key)
    const id = keyId(key)
    const packed = this.buckets[bucketOf(key)]!.get(id)
    return packed === undefined ? undefined : unpack(id, packed)
  }

  /** Put the key's leaf, replacing any previous leaf of the key (keeps no reference to the caller's bytes). */
  set (key: Uint8Array, version: VersionId, rowHash: bigint): void {
    checkLeaf(key, version, rowHash)
    const b = bucketOf(key)
    const bucket = this.buckets[b]!
    const id = keyId(key)
    const before = bucket.size
    bucket.set(id, pack(version, rowHash))
    this.count += bucket.size - before
    this.markDirty(b)
  }

  /** Whether `version` is above the version of the slot's leaf (true when it has none): unsigned byte order, as compareVersionIds. */
  isNewerAt (slot: LeafSlot, version: VersionId): boolean {
    const packed = this.buckets[slot.bucket]!.get(slot.id)
    if (packed === undefined) return true
    for (let i = 0; i < VERSION_ID_BYTES; i++) {
      const d = version[i]! - packed.charCodeAt(i)
      if (d !== 0) return d > 0
    }
    return false
  }

  /** set() at a slot from leafSlot() of the same key (no key hash); the leaf was checked by the caller (checkLeaf). */
  setAt (slot: LeafSlot, version: VersionId, rowHash: bigint): void {
    const bucket = this.buckets[slot.bucket]!
    const before = bucket.size
    bucket.set(slot.id, pack(version, rowHash))
    this.count += bucket.size - before
    this.markDirty(slot.bucket)
  }

  /** Remove the key's leaf; false when it had none. */
  delete (key: Uint8Array): boolean {
    checkKey(key)
    const b = bucketOf(key)
    if (!this.buckets[b]!.delete(keyId(key))) return false
    this.count--
    this.markDirty(b)
    return true
  }

  /** The root hash (0 for an empty tree). */
  root (): bigint {
    this.refresh()
    return this.nodes[1]!
  }

  /** The MERKLE_BUCKETS bucket hashes, in bucket order (what a peer sends first when roots differ). */
  bucketHashes (): bigint[] {
    this.refresh()
    return this.nodes.slice(MERKLE_BUCKETS)
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
    const bucket = this.buckets[b]!
    return [...bucket.keys()].sort().map(id => unpack(id, bucket.get(id)!))
  }

  /** Every leaf, bucket by bucket, each bucket in key order (the serialised order). */
  * leaves (): Generator<MerkleLeaf> {
    for (let b = 0; b < MERKLE_BUCKETS; b++) yield * this.leavesOf(b)
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
      this.nodes[MERKLE_BUCKETS + b] = hashBucket(this.buckets[b]!)
      this.isDirty[b] = 0
      level.add((MERKLE_BUCKETS + b) >> 1)
    }
    this.dirty.length = 0
    // One level at a time, so each parent is hashed once from its already-updated children.
    while (level.size > 0) {
      const up = new Set<number>()
      for (const i of level) {
        this.nodes[i] = hashPair(this.nodes[2 * i]!, this.nodes[2 * i + 1]!)
        if (i > 1) up.add(i >> 1)
      }
      level = up
    }
  }
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
