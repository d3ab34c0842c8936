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
