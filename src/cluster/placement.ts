import { assert } from '../core/errors'
import { xxhash64 } from '../core/hash'
import { NODE_ID_MAX, type NodeId, type ShardId, shardIds } from '../core/ids'

// Replica placement (DESIGN §6 "Placement"): rendezvous (highest-random-weight) hashing. Every
// node scores every (shard, node) pair and a shard's preference list is the nodes by descending
// score. Each node computes the same lists from the same membership with no coordination, and
// removing a node changes only the lists that contained it — its shards move to the next node of
// each list, nothing else moves (minimal disruption, unlike `hash mod nodes`).
//
// Score bytes (part of the cluster protocol: every node of a cluster must agree, never change):
//   6 bytes = shard id as u32 big-endian, then node id as u16 big-endian;
//   score   = xxhash64 (seed 0) of those bytes, an unsigned 64-bit integer.
// Equal scores (astronomically unlikely, but the order must still be total) rank the lower node
// id first.
//
// Datacenters (the seed's cluster.yaml gives each member one): replicas of a shard spread over
// datacenters first, as Cassandra's NetworkTopologyStrategy does. The list is built in rounds:
// round r takes the r-th best node (by score) of every datacenter that still has one, ordered by
// score. So any prefix of N nodes gives each of D datacenters ⌊N/D⌋ or ⌈N/D⌉ replicas (a
// datacenter with fewer nodes gives all it has); the first node is still the overall best score;
// and with one datacenter the list is exactly the plain rendezvous order (single-datacenter
// clusters keep their placement).
//
// Pure and synchronous; `initHashing()` must have completed.

export const MAX_SHARD_ID = 0xffff_ffff
export const MAX_NODE_ID = NODE_ID_MAX

// One scratch buffer: xxhash64 is synchronous and copies nothing out, so reuse is safe and the
// scoring loop allocates nothing per pair.
const scratch = new Uint8Array(6)
const scratchView = new DataView(scratch.buffer)

/**
 * Rendezvous score of `nodeId` for `shardId` (the 6 bytes above through xxhash64). Plain numbers
 * on purpose: the score is defined over any u32 / u16 pair (the pinned test vectors use ids above
 * the configured ranges); preferenceList is where branded ids come in.
 */
export function placementScore (shardId: number, nodeId: number): bigint {
  assert(Number.isInteger(shardId) && shardId >= 0 && shardId <= MAX_SHARD_ID, `shard id ${shardId} is not a u32`)
  assert(Number.isInteger(nodeId) && nodeId >= 0 && nodeId <= MAX_NODE_ID, `node id ${nodeId} is not a u16`)
  scratchView.setUint32(0, shardId, false)
  scratchView.setUint16(4, nodeId, false)
  return xxhash64(scratch)
}

/** A member's datacenter (every member in one when not given). */
export type DatacenterOf = (nodeId: NodeId) => string

const ONE_DATACENTER: DatacenterOf = () => ''

/**
 * The first `length` nodes of `nodeIds` in `shardId`'s preference order (all of them by
 * default), spread over the datacenters `datacenterOf` names. `nodeIds` is a membership set: its
 * order does not matter; duplicates are a bug.
 */
export function preferenceList (shardId: ShardId, nodeIds: readonly NodeId[], length = nodeIds.length, datacenterOf: DatacenterOf = ONE_DATACENTER): NodeId[] {
  assert(Number.isInteger(length) && length >= 0, `preference list length ${length} is not a non-negative integer`)
  assert(new Set(nodeIds).size === nodeIds.length, 'node ids of a membership must be distinct')
  const scored = nodeIds.map(id => ({ id, score: placementScore(shardId, id) }))
  scored.sort((a, b) => a.score > b.score ? -1 : a.score < b.score ? 1 : a.id - b.id)
  const ranked = scored.map(s => s.id)
  return spreadOverDatacenters(ranked, datacenterOf).slice(0, length)
}

/**
 * `ranked` (best first) reordered in rounds: the r-th node of every datacenter, in `ranked`
 * order, before any datacenter's (r+1)-th. One datacenter: `ranked` unchanged.
 */
function spreadOverDatacenters (ranked: readonly NodeId[], datacenterOf: DatacenterOf): NodeId[] {
  const byDc = new Map<string, NodeId[]>()
  // Rank of each node within its datacenter: round number of the node.
  const round = new Map<NodeId, number>()
  for (const id of ranked) {
    const dc = datacenterOf(id)
    const list = byDc.get(dc) ?? []
    round.set(id, list.length)
    list.push(id)
    byDc.set(dc, list)
  }
  if (byDc.size <= 1) return [...ranked]
  const position = new Map(ranked.map((id, i) => [id, i]))
  // Stable by round, then by score order: exactly the rounds described above.
  return [...ranked].sort((a, b) => (round.get(a)! - round.get(b)!) || (position.get(a)! - position.get(b)!))
}

/**
 * Preference lists of shards 0 … shards-1, each `n` long (or every node when fewer are members).
 * Use the largest replication factor of any table as `n`: a table with a smaller N uses the
 * prefix of the same list, so tables colocated on a shard share their first replicas.
 */
export function placement (shards: number, nodeIds: readonly NodeId[], n: number, datacenterOf: DatacenterOf = ONE_DATACENTER): NodeId[][] {
  assert(Number.isInteger(shards) && shards >= 0 && shards - 1 <= MAX_SHARD_ID, `shard count ${shards} out of range`)
  const lists: NodeId[][] = []
  for (const shard of shardIds(shards)) lists.push(preferenceList(shard, nodeIds, n, datacenterOf))
  return lists
}

/**
 * The first node of `list` that `isLive` accepts — the shard primary in `primary_replica` mode,
 * the natural coordinator otherwise — or undefined when none is live.
 */
export function firstLive (list: readonly NodeId[], isLive: (nodeId: NodeId) => boolean): NodeId | undefined {
  for (const id of list) if (isLive(id)) return id
  return undefined
}
