// The ranges of the cluster's identifiers, in one place (DESIGN §3, §5): every check, codec and
// message derives from these constants instead of repeating 65535.

import { ScratchBirdError } from './errors'

/** Node ids: 16 bits on the wire, in UUIDv8-HLC ids and in the top of every XID; 0 is reserved. */
export const NODE_ID_MIN = 1
export const NODE_ID_MAX = 0xffff

/** Shards per table (storage.shards): shard ids are 0 ‥ MAX_SHARDS - 1, so they fit a u16. */
export const MAX_SHARDS = 4096

/** A type guard as well: a value that passes is a NodeId (a decoder's check is its brand). */
export function isNodeId (v: unknown): v is NodeId {
  return typeof v === 'number' && Number.isInteger(v) && v >= NODE_ID_MIN && v <= NODE_ID_MAX
}

export function isShardId (v: unknown, shards: number = MAX_SHARDS): v is ShardId {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < shards
}

// Branded ids: the same bits as a plain number/bigint at run time, distinct types at compile time,
// so an Xid can no longer be passed where an HLC timestamp is expected (both are bigints) and a
// shard id not where a node id is. Values enter a brand only through the functions below — at
// decoding, at generation — which is where their range is known.
declare const brand: unique symbol
type Branded<T, B extends string> = T & { readonly [brand]: B }

/** HLC timestamp: `(unix_ms << 12n) | counter` (counter 0–4095), the first 60 bits of a UUIDv8-HLC. */
export type HlcTs = Branded<bigint, 'HlcTs'>
/** Global transaction id: `node_id << 48n | counter` (DESIGN §3). Never ordered by time. */
export type Xid = Branded<bigint, 'Xid'>

/** A bigint known to be an HLC timestamp (decoded from a u64 field, or computed from one). */
export function asHlcTs (v: bigint): HlcTs { return v as HlcTs }
/** A bigint known to be an XID (decoded from a u64 field, or built from node id and counter). */
export function asXid (v: bigint): Xid { return v as Xid }

/** A node id (NODE_ID_MIN ‥ NODE_ID_MAX): a cluster member, a hint target, a 2PC participant. */
export type NodeId = Branded<number, 'NodeId'>
/** A shard id (0 ‥ storage.shards - 1): a table partition, a shard worker's store. */
export type ShardId = Branded<number, 'ShardId'>

/**
 * A number known to be a node id: checked against NODE_ID_MIN ‥ NODE_ID_MAX, so a value from a
 * file, a peer or a client that is not one fails here with a coded error instead of travelling on.
 */
export function asNodeId (v: number): NodeId {
  if (!isNodeId(v)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `node id must be an integer in [${NODE_ID_MIN}, ${NODE_ID_MAX}], got ${v}`, { nodeId: v })
  return v as NodeId
}

/**
 * A number known to be a shard id: an integer in 0 ‥ `shards` - 1 (MAX_SHARDS by default; pass
 * storage.shards where the layout is known), else a coded error.
 */
export function asShardId (v: number, shards: number = MAX_SHARDS): ShardId {
  if (!isShardId(v, shards)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard id must be an integer in [0, ${shards - 1}], got ${v}`, { shard: v })
  return v as ShardId
}

/** Shards 0 ‥ count - 1, in order: the one way a loop over a shard count gets branded ids. */
export function shardIds (count: number): ShardId[] {
  if (!Number.isInteger(count) || count < 0 || count > MAX_SHARDS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard count must be an integer in [0, ${MAX_SHARDS}], got ${count}`, { shards: count })
  const ids: ShardId[] = []
  for (let s = 0; s < count; s++) ids.push(s as ShardId)
  return ids
}
