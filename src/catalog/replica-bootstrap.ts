import { ScratchBirdError } from '../core/errors'
import type { ReplicationOptions } from './replication-options'

// Bootstrap of new leaderless replicas (issue 14 item 4's last sentence, DESIGN §6 "Mode 1":
// "Leaderless tables use the same bootstrap before a new replica counts toward R"), as the catalog
// records it. Raising replication_factor of a leaderless_quorum table from n to N places N − n new
// replicas per shard (positions n..N−1 of the shard's preference list). From that catalog version on
// every write goes to all N, but a new replica counts toward neither W nor R until it holds every
// version the old replicas held when its bootstrap started; until then only the first `readyFactor`
// replicas of the shard are the quorum (node/leaderless-bootstrap.ts fills the others).
//
// Why the catalog (and not gossip): the state must be durable (a restart must not forget that a
// replica is still empty) and every coordinator must agree on it before it counts a replica —
// the catalog is the per-node durable document that catalog sync keeps equal, versioned, and
// its layout floor already makes replicas refuse writers whose catalog predates the change. The
// record is per table: the shards whose new replicas are ready are listed; the others are not.

export interface ReplicaBootstrap {
  /** How many of each pending shard's first replicas count toward W and R (the factor before the raise). */
  readonly readyFactor: number
  /** Shards whose new replicas were filled (they count from then on), ascending. */
  readonly readyShards: readonly number[]
}

/** The record a change of a table's options leaves (`existing`: the table's record before). */
export function bootstrapAfterChange (from: ReplicationOptions, to: ReplicationOptions, existing: ReplicaBootstrap | undefined): ReplicaBootstrap | undefined {
  if (to.replication_mode !== 'leaderless_quorum' || from.replication_mode !== 'leaderless_quorum') return undefined
  if (to.replication_factor > from.replication_factor) {
    // A raise during a bootstrap keeps the smaller ready prefix: only those are known to be full.
    // (A finished bootstrap has no record: SET REPLICAS READY without a shard removes it.)
    return { readyFactor: existing === undefined ? from.replication_factor : Math.min(existing.readyFactor, from.replication_factor), readyShards: [] }
  }
  // Lowered to the ready replicas or below: nobody waits any more.
  if (existing !== undefined && to.replication_factor <= existing.readyFactor) return undefined
  return existing
}

/** How many of `shard`'s first replicas count toward W and R for a table of factor `n`. */
export function countedReplicas (n: number, b: ReplicaBootstrap | undefined, shard: number): number {
  if (b === undefined || b.readyShards.includes(shard)) return n
  return Math.min(n, b.readyFactor)
}

/** The shards (of 0..shards−1) whose new replicas are still being filled. */
export function pendingShards (b: ReplicaBootstrap | undefined, shards: number): number[] {
  if (b === undefined) return []
  const out: number[] = []
  for (let s = 0; s < shards; s++) if (!b.readyShards.includes(s)) out.push(s)
  return out
}

/** `shard`'s new replicas are ready (idempotent); `shard` null: every shard's are — the record goes. */
export function markReady (b: ReplicaBootstrap | undefined, shard: number | null): ReplicaBootstrap | undefined {
  if (b === undefined || shard === null) return undefined
  if (b.readyShards.includes(shard)) return b
  return { readyFactor: b.readyFactor, readyShards: [...b.readyShards, shard].sort((x, y) => x - y) }
}

/** A record read from a catalog document (disk or a peer): checked, else SB_STORAGE_CORRUPT. */
export function readBootstrap (x: unknown, table: string): ReplicaBootstrap | undefined {
  if (x === undefined) return undefined
  const b = x as Partial<ReplicaBootstrap> | null
  if (typeof b !== 'object' || b === null || !Number.isInteger(b.readyFactor) || (b.readyFactor ?? 0) < 1 ||
    !Array.isArray(b.readyShards) || !b.readyShards.every(s => Number.isInteger(s) && s >= 0)) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: the replica bootstrap of table "${table}" is malformed`)
  }
  return { readyFactor: b.readyFactor!, readyShards: [...b.readyShards] }
}
