import type { ReplicationOptions } from '../../catalog/replication-options'
import type { NodeId } from '../../core/ids'

// Moving shard replicas after a membership change (issue 20 items 2–3; DESIGN §6, §7). Pure.
//
// Add before remove: when the placement of a Mode 1 shard changes, its replication group is given
// the new replicas AND keeps the old voters until every new replica is a voter (the group's
// primary bootstraps a new one by snapshot and promotes it once it holds the committed log,
// node/replication/shard-group.ts); only then does the list shrink to the new placement, and the
// primary removes the old voters one config entry at a time. So a shard's voters never drop below
// the N it had — the replication machine alone would remove a voter that left its list before the
// learner replacing it caught up.
//
// What cannot move yet: a table whose only copy is its shard's first preference node (N = 1, any
// mode: no group to bootstrap a new owner from). A membership change while such a table exists would
// route its rows to nodes that do not hold them, so it is refused (SB_MEMBERSHIP_REFUSED) instead.
// (A primary_replica N = 1 table next to one with N ≥ 2 has the shard group's copies — one log per
// shard, node/replication/manager.ts — once that group elected its first primary, which must be
// the N = 1 owner (replication/machine.ts mayCampaign). A move changing the group's preference
// list before then could let a node with none of those rows lead it, so such tables still block.)
// leaderless_quorum tables move in joins and drains by their own fill (leaderless-moves.ts); only
// REMOVE NODE of a node gone for good still refuses them (their survivors are not re-counted yet).

/**
 * The replica list a shard's Mode 1 group runs with: `target` (the first N of its preference list
 * in the current layout), plus the group's old voters not in it while some node of `target` is not
 * a voter yet. `voters`: the voters this node's group holds in its log (empty: no group here, or
 * it is down — the target alone; the primary, which holds them, is what keeps old voters).
 */
export function movingReplicas (target: readonly NodeId[], voters: readonly NodeId[]): NodeId[] {
  if (voters.length === 0 || target.every(id => voters.includes(id))) return [...target]
  return [...target, ...voters.filter(id => !target.includes(id))]
}

/**
 * The replica list this node's Mode 1 group of a shard runs with while a drain may be moving it
 * (`target`: the first N over the placed members; `held`: the first N over the members that may
 * still hold copies — placed and leaving, layout.ts holdingMembers — which equals `target` when no
 * drain runs, so nothing changes then):
 *   - the group knows its voters (`groupVoters`, from its log): movingReplicas over them;
 *   - this node let its copy go (`retired`): the target alone;
 *   - voters not known yet (no group here — a restart — or its log still loading): a node holding
 *     a copy before the drain starts its group as the shard's replicas were then (`held`). A group
 *     whose log has no config entry takes the list it starts with as its voters, so starting it
 *     with the target too would make a restarted leaving node believe its replacements are voters
 *     already and let its copy go while the shard still needs its vote (seen: the shard left
 *     without a majority). Another node (a new replica) starts with target + held, to receive its
 *     bootstrap.
 */
export function groupReplicas (self: NodeId, target: readonly NodeId[], held: readonly NodeId[], groupVoters: readonly NodeId[], retired: boolean): NodeId[] {
  if (groupVoters.length > 0) return movingReplicas(target, groupVoters)
  if (retired) return [...target]
  if (held.includes(self)) return [...held]
  return movingReplicas(target, held)
}

/**
 * The replica list this node gives its Mode 1 group of a shard (ClusterShell.mode1ReplicasOf): none
 * when the tables keep one copy (`n` ≤ 1), else groupReplicas — without this node once it is
 * drained (`selfLeft`: a left node keeps no copy, even one its own log still counts; its group
 * then stops). `countedVoters`: the group's voters but those gone for good (forced-removal.ts).
 */
export function shardReplicasHere (self: NodeId, n: number, target: readonly NodeId[], held: readonly NodeId[], countedVoters: readonly NodeId[], retired: boolean, selfLeft: boolean,
  committedVoters: readonly NodeId[] = countedVoters): NodeId[] {
  if (n <= 1) return []
  const replicas = groupReplicas(self, target, held, countedVoters, retired)
  // This node keeps its copy while the voters at the committed LSN still need it: a leaving
  // primary that just APPENDED the promotion of its replacement must not stop before the others
  // hold it (they would wait for its vote for good). The list itself follows the log's latest
  // voters (a removal appended but not committed yet must not look like a finished move).
  if (!replicas.includes(self) && !retired && groupReplicas(self, target, held, committedVoters, retired).includes(self)) replicas.push(self)
  return selfLeft ? replicas.filter(id => id !== self) : replicas
}

/**
 * The replica list above, with this node added while its group was started because a peer
 * contacted it (replication/rules.ts startsOnContact) and one did within `windowMs`
 * (`contactedAgoMs`; null: not started so, or the contact expired). Its own log may not list it
 * yet (the config entry promoting it is still on its way) or may list voters the layout no longer
 * wants, so the list above would retire it at once, and the candidate or primary that needs it
 * would wait for good. Once it is no longer contacted (the primary removed it, or its log caught
 * up and the rule above keeps it) the list above decides again. None when no group is wanted.
 */
export function keptOnContact (self: NodeId, replicas: readonly NodeId[], contactedAgoMs: number | null, windowMs: number): NodeId[] {
  if (replicas.length === 0 || replicas.includes(self) || contactedAgoMs === null || contactedAgoMs > windowMs) return [...replicas]
  return [...replicas, self]
}

/**
 * What this node does with its group of a shard given the replica list above (ReplicationShell's
 * periodic sync): start one when it is a replica and runs none; give a running one the list
 * ('update'); stop a running one it is no replica of any more ('retire': its primary removes it,
 * or — when it is the primary itself — the others elect one that does); keep a running group as
 * it is when fewer than two copies are needed (N lowered to 1 keeps the copies it has).
 */
export type GroupAction = 'start' | 'update' | 'retire' | 'keep' | 'none'

export function groupAction (self: NodeId, replicas: readonly NodeId[], running: boolean): GroupAction {
  const wanted = replicas.length >= 2 && replicas.includes(self)
  if (running) return wanted ? 'update' : replicas.length >= 2 ? 'retire' : 'keep'
  return wanted ? 'start' : 'none'
}

/** Is the shard still moving (a node of `target` not a voter yet, or an old voter not removed yet)? */
export function shardMoving (target: readonly NodeId[], voters: readonly NodeId[]): boolean {
  if (voters.length === 0) return false
  return target.some(id => !voters.includes(id)) || voters.some(id => !target.includes(id))
}

type NamedTable = { name: string, replication: ReplicationOptions }

/**
 * The tables that keep one copy of each shard on its first preference node (N = 1): their rows
 * cannot move, and a node gone for good takes the shards it was first for with it (for a
 * primary_replica one next to a table with N ≥ 2, possibly not: see the top — counted anyway).
 */
export function singleCopyTables<T extends NamedTable> (tables: readonly T[]): T[] {
  return tables.filter(t => t.replication.replication_factor < 2)
}

/**
 * Why the membership cannot change while the catalog holds `tables` (null: it can), naming them
 * and the way out. `singleCopy: false` (REMOVE NODE of a node gone for good): single-copy tables
 * do not block here — their copies on that node are gone whatever is done (drain.ts lostShards;
 * the removal asks for FORCE then). leaderless_quorum tables never block: joins, drains and
 * REMOVE NODE fill their new replicas (leaderless-moves.ts; drain.ts for REMOVE's refusals).
 */
export function membershipBlocker (tables: readonly NamedTable[], opts: { singleCopy: boolean } = { singleCopy: true }): string | null {
  const single = opts.singleCopy ? singleCopyTables(tables).filter(t => t.replication.replication_mode === 'primary_replica').map(t => t.name) : []
  if (single.length === 0) return null
  return `table(s) ${single.join(', ')} keep a single copy of each shard (replication_factor 1), which cannot move to another node: raise it first (ALTER TABLE … SET replication_factor = 2)`
}
