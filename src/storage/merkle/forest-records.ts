import { CodecReader, CodecWriter } from '../../core/codec'
import { ScratchBirdError } from '../../core/errors'
import { MERKLE_SUMMARY_PREFIX, MERKLE_TREE_PREFIX, merkleSummaryKey, merkleTreeKey, writeU64 } from '../keys'
import type { KvOp } from '../kv'
import type { VersionId } from '../types'
import { VERSION_ID_BYTES, type MerkleLeaf, type MerkleTree } from './tree'

// The values the Merkle forest stores (storage/keys.ts `m/…`) besides the trees themselves
// (codec.ts): an active window's leaf records, a sealed window's summary.

/** A leaf's version id and row hash. */
export const LEAF_VALUE_BYTES = VERSION_ID_BYTES + 8
const SUMMARY_BYTES = 16
const LEAF_RECORD_FORMAT = 1
/** Smallest encoded leaf in a record: empty key (1-byte length), version id, row hash. */
const MIN_RECORD_LEAF_BYTES = 1 + LEAF_VALUE_BYTES
/** Keys and summary value stored with a sealed tree, besides the tree's own bytes. */
export const SEALED_RECORD_OVERHEAD = (MERKLE_TREE_PREFIX.length + 8) + (MERKLE_SUMMARY_PREFIX.length + 8) + SUMMARY_BYTES

/** A stored leaf record: its key (deleted when the window is sealed) and size. */
export interface LeafRecord { readonly key: Uint8Array, readonly bytes: number }

/** A leaf record (m/a/): u8 format | varint count | per leaf: varint key length, key, version id, u64 row hash. */
export function encodeLeafRecord (leaves: readonly MerkleLeaf[]): Uint8Array {
  let size = 8
  for (const l of leaves) size += l.key.length + LEAF_VALUE_BYTES + 4
  const w = new CodecWriter(size)
  w.u8(LEAF_RECORD_FORMAT)
  w.uint(leaves.length)
  for (const l of leaves) {
    w.blob(l.key)
    w.bytes(l.version)
    w.u64(l.rowHash)
  }
  return w.take()
}

/**
 * encodeLeafRecord of staged leaves held in parallel arrays (forest-stage.ts): leaves idx[…] of
 * `keys` (each key is keys[i] after its first `skip` bytes), `versions` and `hashes` (row hash
 * halves, [2i] high and [2i + 1] low). Same bytes.
 */
export function encodeLeafParts (idx: readonly number[], keys: readonly Uint8Array[], skip: number, versions: readonly VersionId[], hashes: readonly number[]): Uint8Array {
  let size = 8
  for (const i of idx) size += keys[i]!.length + LEAF_VALUE_BYTES + 4
  const w = new CodecWriter(size)
  w.u8(LEAF_RECORD_FORMAT)
  w.uint(idx.length)
  for (const i of idx) {
    const k = keys[i]!
    w.varint(k.length - skip)
    w.ensure(k.length)
    for (let j = skip; j < k.length; j++) w.buf[w.len++] = k[j]!
    w.bytes(versions[i]!)
    w.u32(hashes[2 * i]!)
    w.u32(hashes[2 * i + 1]!)
  }
  return w.take()
}

function corruptRecord (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `Merkle leaf record is corrupt: ${why}`)
}

export function decodeLeafRecord (bytes: Uint8Array): MerkleLeaf[] {
  const r = new CodecReader(bytes, corruptRecord)
  const format = r.u8()
  if (format !== LEAF_RECORD_FORMAT) throw corruptRecord(`format ${format}`)
  const n = r.count(MIN_RECORD_LEAF_BYTES)
  const out: MerkleLeaf[] = []
  for (let i = 0; i < n; i++) out.push({ key: r.blob().slice(), version: r.bytes(VERSION_ID_BYTES).slice(), rowHash: r.u64() })
  r.finish()
  return out
}

export function summaryValue (tree: MerkleTree): Uint8Array {
  const out = new Uint8Array(SUMMARY_BYTES)
  writeU64(out, 0, tree.root())
  writeU64(out, 8, BigInt(tree.size))
  return out
}

/** The ops that store a sealed window's tree and summary. */
export function sealedOps (w: number, tree: MerkleTree, encoded: Uint8Array): KvOp[] {
  return [{ type: 'put', key: merkleTreeKey(w), value: encoded }, { type: 'put', key: merkleSummaryKey(w), value: summaryValue(tree) }]
}
