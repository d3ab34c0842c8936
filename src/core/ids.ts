// The ranges of the cluster's identifiers, in one place (DESIGN §3, §5): every check, codec and
// message derives from these constants instead of repeating 65535.

/** Node ids: 16 bits on the wire, in UUIDv8-HLC ids and in the top of every XID; 0 is reserved. */
export const NODE_ID_MIN = 1
export const NODE_ID_MAX = 0xffff

/** Shards per table (storage.shards): shard ids are 0 ‥ MAX_SHARDS - 1, so they fit a u16. */
export const MAX_SHARDS = 4096

export function isNodeId (v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= NODE_ID_MIN && v <= NODE_ID_MAX
}

export function isShardId (v: unknown, shards: number = MAX_SHARDS): v is number {
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
