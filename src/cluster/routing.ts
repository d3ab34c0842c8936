import type { ReplicationOptions } from '../catalog/replication-options'
import { REPLICATION_MODE_RULES } from '../core/replication-modes'
import { isAlive } from './gossip/machine'
import type { MemberState } from './gossip/types'
import { firstLive } from './placement'
import type { NodeId, ShardId } from '../core/ids'

// Which node serves a shard request (DESIGN §6 "Placement"; issue 5 "Placement and routing"), as
// pure functions of the placement (preference lists over cluster.nodes, placement.ts) and this
// node's gossip view. The shell (node/cluster.ts) calls them per request; nothing here does I/O.
//
// Two notions of "alive", on purpose:
//  - routing: a member gossip has not told us about yet counts as alive. A request to it fails on
//    its own if it is not, and refusing it would make a fresh node unable to serve anything until
//    gossip converged.
//  - membership (live member count, catalog coordinator, catalog pushes): only members gossip
//    shows alive count, so a member never heard of cannot hold up DDL or inflate N's bound.

/** Member states by node id, as this node's gossip machine sees them. */
export type MemberStates = ReadonlyMap<NodeId, MemberState>

export type Liveness = (nodeId: NodeId) => boolean

/** Routing liveness: this node, and every member not known to be down or left. */
export function routable (states: MemberStates, selfId: NodeId): Liveness {
  return id => {
    if (id === selfId) return true
    const s = states.get(id)
    return s === undefined || isAlive(s)
  }
}

/** Membership liveness: this node, and the members gossip shows alive. */
export function knownAlive (states: MemberStates, selfId: NodeId): Liveness {
  return id => {
    if (id === selfId) return true
    const s = states.get(id)
    return s !== undefined && isAlive(s)
  }
}

/**
 * The node serving `shard` now. A shard with one copy: its placed owner (the head of its
 * preference list) when routable, else null (the shard is unavailable). A shard replicated in
 * Mode 1 (`replicas` > 1, issue 14): the primary this node knows of when routable, else the first
 * routable of its replicas — which, if it is not the primary, answers SB_NOT_PRIMARY naming the
 * one it knows (the router asks there once); null when none is routable.
 */
export function shardOwner (preference: readonly NodeId[], alive: Liveness, replicas = 1, knownPrimary: NodeId | 0 = 0): NodeId | null {
  if (replicas > 1 && knownPrimary !== 0 && alive(knownPrimary)) return knownPrimary
  return firstLive(preference.slice(0, Math.max(1, replicas)), alive) ?? null
}

/** Copies of each shard Mode 1 keeps (the largest factor of the primary_replica tables, at most the members): above 1, the shards run replication groups. */
export function primaryReplicaCount (tables: ReadonlyArray<{ replication: ReplicationOptions }>, members: number): number {
  let n = 1
  for (const t of tables) if (t.replication.replication_mode === 'primary_replica') n = Math.max(n, t.replication.replication_factor)
  return Math.min(n, Math.max(1, members))
}

/**
 * Where a scan outside a transaction of a table with `replication` on a shard whose preference
 * list is `preference` goes: for a mode whose scans read any replica (leaderless_quorum), one replica of the first N — this node when
 * it holds one (no hop), else the first routable one, null when none is; undefined for other
 * modes (the caller routes to the owner). Replicas `skip` names are passed over: a replica that
 * does not serve the shard (anti-entropy: stale after a long outage, issue 15), this node's own
 * included, so a scan never reads rows from it.
 */
export function scanNode (replication: ReplicationOptions, preference: readonly NodeId[], selfId: NodeId, alive: Liveness,
  skip: (id: NodeId) => boolean = () => false, counted: number = replication.replication_factor): NodeId | null | undefined {
  if (!REPLICATION_MODE_RULES[replication.replication_mode].scanAnyReplica) return undefined
  // `counted`: only the replicas that count toward R (a replica still being bootstrapped lacks rows).
  const replicas = preference.slice(0, Math.min(counted, replication.replication_factor)).filter(id => !skip(id))
  if (replicas.includes(selfId)) return selfId
  return firstLive(replicas, alive) ?? null
}

/** Members of `ids` alive in the sense of `alive` (the bound on a new table's N). */
export function liveMemberCount (ids: readonly NodeId[], alive: Liveness): number {
  let n = 0
  for (const id of ids) if (alive(id)) n++
  return n
}

/**
 * Copies of each shard the tables need: the largest replication factor a table's mode keeps
 * (REPLICATION_MODE_RULES.maxReplicas: one for primary_replica today), at least 1, at most the
 * members. A table with a smaller N uses the prefix of the same preference list (placement.ts).
 */
export function shardReplicaCount (tables: ReadonlyArray<{ replication: ReplicationOptions }>, members: number): number {
  let n = 1
  for (const t of tables) {
    const max = REPLICATION_MODE_RULES[t.replication.replication_mode].maxReplicas
    n = Math.max(n, max === null ? t.replication.replication_factor : Math.min(max, t.replication.replication_factor))
  }
  return Math.max(1, Math.min(n, members))
}

/**
 * One row of SHOW SHARD MAP: the preference list, the replicas (its first `replicas` nodes:
 * every node holding a copy of the shard) and which of those are routable.
 */
export function shardMapRow (shard: ShardId, preference: readonly NodeId[], replicas: number, alive: Liveness): { shard: ShardId, preference: NodeId[], replicas: NodeId[], live: NodeId[] } {
  const holders = preference.slice(0, Math.max(1, replicas))
  return { shard, preference: [...preference], replicas: holders, live: holders.filter(alive) }
}

/** The log line of a shard's placement, as the seeds print it: "Shard 001 assigned to {Node 1, Node 2, Node 3}". */
export function shardAssignmentLine (shard: ShardId, replicas: readonly NodeId[]): string {
  return `Shard ${String(shard).padStart(3, '0')} assigned to {${replicas.map(id => `Node ${id}`).join(', ')}}`
}
