import { CodecReader, CodecWriter } from '../../core/codec'
import { ScratchBirdError } from '../../core/errors'
import { xxhash64 } from '../../core/hash'
import { bucketOf, MerkleTree, VERSION_ID_BYTES } from './tree'

// The on-disk form of one window's Merkle tree (what a sealed window persists, DESIGN §6):
//
//   u8       format version (MERKLE_TREE_FORMAT)
//   varint   leaf count
//   leaves   each: varint key length, key bytes, 16-byte version id, u64 row hash (big-endian)
//   u64      xxhash64 of every byte before it
//
// Leaves are written bucket by bucket, each bucket in unsigned key order, so equal trees encode
// to equal bytes; the decoder insists on that order, which also rules out a key appearing twice.
// Anything wrong — checksum, truncation, order, a version this build does not know — is
// SB_STORAGE_CORRUPT and nothing is returned: the tree is derived data, so the remedy is to
// rebuild it from the rows whatever the cause (a file from a newer release included).

export const MERKLE_TREE_FORMAT = 1
const CHECKSUM_BYTES = 8
/** Smallest encoded leaf: empty key (1-byte length), version id, row hash. */
const MIN_LEAF_BYTES = 1 + VERSION_ID_BYTES + 8

function corrupt (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `Merkle tree file is corrupt: ${why}`)
}

export function encodeTree (tree: MerkleTree): Uint8Array {
  const w = new CodecWriter(64 + tree.size * 48)
  w.u8(MERKLE_TREE_FORMAT)
  w.uint(tree.size)
  for (const leaf of tree.leaves()) {
    w.blob(leaf.key)
    w.bytes(leaf.version)
    w.u64(leaf.rowHash)
  }
  w.u64(xxhash64(w.buf.subarray(0, w.len)))
  return w.take()
}

/** Unsigned byte order of two keys: -1, 0, 1. */
function compareKeys (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  return a.length - b.length
}

export function decodeTree (bytes: Uint8Array): MerkleTree {
  if (!(bytes instanceof Uint8Array)) throw corrupt(`not bytes (${typeof bytes})`)
  if (bytes.length < 1 + 1 + CHECKSUM_BYTES) throw corrupt(`${bytes.length} bytes is shorter than an empty tree`)
  const bodyEnd = bytes.length - CHECKSUM_BYTES
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bodyEnd, CHECKSUM_BYTES).getBigUint64(0)
  if (xxhash64(bytes.subarray(0, bodyEnd)) !== stored) throw corrupt('checksum mismatch')
  const r = new CodecReader(bytes.subarray(0, bodyEnd), corrupt)
  const format = r.u8()
  if (format !== MERKLE_TREE_FORMAT) throw corrupt(`format version ${format}, this build reads version ${MERKLE_TREE_FORMAT}`)
  const n = r.count(MIN_LEAF_BYTES)
  const tree = new MerkleTree()
  let prevBucket = -1
  let prevKey: Uint8Array | null = null
  for (let i = 0; i < n; i++) {
    const key = r.blob()
    const version = r.bytes(VERSION_ID_BYTES)
    const rowHash = r.u64()
    const b = bucketOf(key)
    if (b < prevBucket || (b === prevBucket && prevKey !== null && compareKeys(prevKey, key) >= 0)) {
      throw corrupt(`leaf ${i} is out of order`)
    }
    prevBucket = b
    prevKey = key
    tree.set(key, version, rowHash)
  }
  r.finish()
  return tree
}
