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
// Single-copy shards (every primary_replica table with N = 1, the default): the shard has no
// group to move, so for the duration of the move it runs one whose replicas are {old owner, new
// owner} (singleCopyReplicas below). The old owner — the only node holding the rows, in
// generation-0 log entries — starts it as the only voter, and is first in every list, so it alone
// may campaign (replication/machine.ts mayCampaign) and is the group's first primary. It
// bootstraps the new owner, a learner, by snapshot + log, promotes it once it holds the committed
// log (voters {old, new}: from then on no commit is acknowledged without it), then hands the
// primary role over to it once it is in sync (leadership transfer: singleCopyHandsOver). The new
// owner, primary, removes the old voter by a config entry and runs the group alone; the old owner
// retires its group as soon as it knows the new owner leads (while the new owner still needs its
// acknowledgement — its first entry must commit before it may remove a voter — its appends start
// the old owner's group again, kept while they come: keptOnContact). So its copy is let go only
// after the new owner is a voter holding every committed entry, and leads (add before remove). A shard whose
// old owner is down when the move starts waits for it: nobody else holds the rows, and the new
// owner never campaigns with a log that holds nothing of a group.
//
// What cannot move yet: a primary_replica N = 1 table next to one with N ≥ 2 has the shard group's
// copies — one log per shard, node/replication/manager.ts — once that group elected its first
// primary, which must be the N = 1 owner (replication/machine.ts mayCampaign). A move changing the
// group's preference list before then could let a node with none of those rows lead it, so such
// tables still block (SB_MEMBERSHIP_REFUSED).
// leaderless_quorum tables move in joins, drains and REMOVE NODE by their own fill
// (leaderless-moves.ts; what REMOVE NODE refuses for them: drain.ts).

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
 * The replica list above, with this node added while its running group still counts it as a voter
 * (`voters`: the log's latest, committed or not) and follows a primary that still sends to it
 * (`following`: machine.ts followsPrimary — a replica, not the primary itself). Once every new replica is a voter the list above leaves an old one
 * out at once, but its primary removes old voters one config entry at a time and keeps sending to
 * each until its removal: retired early, the old replica's group was started again by the next
 * append (startsOnContact) and reloaded its log — at every move, on every old replica, while
 * client writes share the cores (bench rebalance: ~250 ms of main thread per node and move).
 * Kept instead until its log holds the removal; a primary that stopped sending (it let an
 * unanswering voter go, machine.ts) is no longer followed after an election timeout, and the
 * list above decides again. A leaving primary is not kept (it hands over:
 * leavingPrimaryHandsOver), nor a group no copy is wanted of (an empty list).
 */
export function keptWhileVoter (self: NodeId, replicas: readonly NodeId[], voters: readonly NodeId[], following: boolean): NodeId[] {
  if (replicas.length === 0 || replicas.includes(self) || !following || !voters.includes(self)) return [...replicas]
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

export function groupAction (self: NodeId, replicas: readonly NodeId[], running: boolean, onContact = false): GroupAction {
  // A one-node list comes only from a single-copy move (singleCopyReplicas): [new owner] — which
  // runs, or restarts, the group alone to remove the old voter — wanted by it, retiring others.
  const wanted = replicas.includes(self)
  // A group started only because a peer contacted this node (`onContact`: keptOnContact) holds no
  // copy the tables asked for, so an empty list retires it rather than keeping it: seen after a
  // single-copy move, whose old owner is contacted by the new one until it is removed, and would
  // otherwise run on as a lone candidate once the move ended.
  if (running) return wanted ? 'update' : replicas.length >= 1 || onContact ? 'retire' : 'keep'
  return wanted ? 'start' : 'none'
}

/**
 * Does this node, about to retire its group of a shard (groupAction 'retire': it is no longer one
 * of the shard's replicas), first hand the primary role over? Yes while it is the group's primary
 * and a voter of the new list (`replicas`) can take it (leadership transfer, machine.ts): retired
 * at once, the primary would leave the others to notice its silence and elect one after an
 * election timeout (or more: they heard a primary, so they refuse votes that long), and every
 * write to the shard would stall that long (a join moving a replica off its primary did, bench
 * rebalance). The group is kept while the transfer runs; it ends with this node a replica (the
 * new primary's generation reached it, or the transfer timed out and it stepped down), and the
 * next sync retires it. With no such voter (this node is the only one of the new list's voters)
 * it retires as before.
 */
export function leavingPrimaryHandsOver (self: NodeId, primary: boolean, voters: readonly NodeId[], replicas: readonly NodeId[]): boolean {
  return primary && voters.some(v => v !== self && replicas.includes(v))
}

/**
 * The replica list of a shard's group while its tables keep one copy (N = 1; the top says how the
 * copy moves). `before`: the copy's node before the move (the first of the shard's preference
 * list over the members whose copies count — a leaving one in, a joining one out: layout.ts
 * countedMembers); `target`: the first over the placed members. Equal: nothing moves, no list (the
 * single-copy path; a group a finished move left running keeps running, groupAction 'keep').
 * While it moves:
 *   - this node let its copy go (`retired`), or its group knows the target leads (`primary`), or
 *     the voters it knows no longer hold `before` (the target removed it): [target] — the target
 *     runs the group alone and removes `before` (a voter left out of the list); `before` retires;
 *   - `before` itself, no voters known (no group yet, or its log still loading): [before] — its
 *     group starts with it the only voter, so it commits alone while the target is bootstrapped (a
 *     list naming the target would make it a voter with an empty log, and every commit wait for
 *     the whole bootstrap);
 *   - else [before, target]: `before` first, so only it campaigns (its generation-0 entries hold
 *     the rows; the target, whose log holds nothing of any group, only votes); to `before`'s
 *     group, the target is a learner it bootstraps by snapshot + log and promotes.
 */
export function singleCopyReplicas (self: NodeId, before: NodeId, target: NodeId, primary: NodeId | 0, voters: readonly NodeId[], retired: boolean): NodeId[] {
  if (before === target) return []
  if (retired || primary === target || (voters.length > 0 && !voters.includes(before))) return [target]
  if (self === before && voters.length === 0) return [before]
  return [before, target]
}

/**
 * Does this node, primary of a single-copy shard's group, hand the primary role to `target` now?
 * Only the old owner (`self` is `before`) does, and only once the target is a voter holding every
 * committed entry (`targetInSync`): a transfer refuses commits while it runs, so one started
 * during the bootstrap would stall the writes for nothing.
 */
export function singleCopyHandsOver (self: NodeId, before: NodeId, target: NodeId, primary: boolean, targetInSync: boolean): boolean {
  return self === before && before !== target && primary && targetInSync
}

/** Is the shard still moving (a node of `target` not a voter yet, or an old voter not removed yet)? */
export function shardMoving (target: readonly NodeId[], voters: readonly NodeId[]): boolean {
  if (voters.length === 0) return false
  return target.some(id => !voters.includes(id)) || voters.some(id => !target.includes(id))
}

type NamedTable = { name: string, replication: ReplicationOptions }

/**
 * The tables that keep one copy of each shard on its first preference node (N = 1): a join or
 * drain moves that copy (singleCopyReplicas), but a node gone for good takes the shards it was
 * first for with it (for a primary_replica one next to a table with N ≥ 2, possibly not: see the
 * top — counted anyway).
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
  const primaryReplica = tables.filter(t => t.replication.replication_mode === 'primary_replica')
  // Single-copy tables alone move (singleCopyReplicas); next to one with N ≥ 2 they block (the top).
  const mixed = primaryReplica.some(t => t.replication.replication_factor >= 2)
  const single = opts.singleCopy && mixed ? singleCopyTables(primaryReplica).map(t => t.name) : []
  if (single.length === 0) return null
  return `table(s) ${single.join(', ')} keep a single copy of each shard (replication_factor 1) in the replication group of tables with replication_factor ≥ 2, which cannot move it yet: raise it first (ALTER TABLE … SET replication_factor = 2)`
}
