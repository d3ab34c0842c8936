import { ScratchBirdError } from './errors'
import { xxhash64 } from './hash'
import { asShardId, type ShardId } from './ids'

// Shard routing (DESIGN §5 "Partition keys"): shard = xxhash64(partition key bytes) mod shards.
// Key bytes: text as UTF-8, UUID as its 16 bytes, integers as 8-byte big-endian two's complement,
// composite keys as the parts each prefixed by a 4-byte big-endian length. A single-column key is
// its bytes without a prefix, so 'user_123' → shard 7 of 16 as the design's check value says.
// Every node computes the same shard for the same key: this is part of the on-disk format.

export type PartitionValue =
  | { type: 'text', value: string }
  | { type: 'int', value: bigint }
  | { type: 'uuid', value: Uint8Array }
  | { type: 'bytes', value: Uint8Array }

const utf8 = new TextEncoder()

function partBytes (p: PartitionValue): Uint8Array {
  switch (p.type) {
    case 'text': return utf8.encode(p.value)
    case 'uuid':
      if (p.value.length !== 16) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'a UUID partition key has 16 bytes')
      return p.value
    case 'bytes': return p.value
    case 'int': {
      if (p.value < -(1n << 63n) || p.value >= 1n << 63n) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'integer partition key out of 64-bit range')
      const b = new Uint8Array(8)
      new DataView(b.buffer).setBigInt64(0, p.value, false)
      return b
    }
  }
}

export function partitionKeyBytes (parts: readonly PartitionValue[]): Uint8Array {
  if (parts.length === 0) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'a partition key has at least one column')
  if (parts.length === 1) return partBytes(parts[0]!)
  const bytes = parts.map(partBytes)
  const out = new Uint8Array(bytes.reduce((n, b) => n + 4 + b.length, 0))
  const dv = new DataView(out.buffer)
  let p = 0
  for (const b of bytes) { dv.setUint32(p, b.length, false); out.set(b, p + 4); p += 4 + b.length }
  return out
}

/** The shard (0 … shards-1) holding rows with this partition key. Needs initHashing(). */
export function shardOf (parts: readonly PartitionValue[], shards: number): ShardId {
  if (!Number.isInteger(shards) || shards < 1) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shards must be ≥ 1, got ${shards}`)
  return asShardId(Number(xxhash64(partitionKeyBytes(parts)) % BigInt(shards)), shards)
}
