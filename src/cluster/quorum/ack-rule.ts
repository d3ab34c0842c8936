import type { NodeId } from '../../core/ids'

// When is a leaderless write acknowledged (DESIGN §6 "Mode 3"; issue 20)? Pure: write.ts decides
// with it, coordinator.ts builds it from the shard's replica lists.
//
// Normally: W acks of the `voters` (the shard's first N replicas, less any still bootstrapped by
// catalog/replica-bootstrap.ts). While a join or drain moves the shard's leaderless replicas
// (cluster/membership/leaderless-moves.ts) the write also goes to the PENDING replicas — the new
// placement's replicas that are not old ones, the fill's targets — and Cassandra's "pending
// endpoints" rule applies in its strict form: W acks of the OLD replicas (the voters) AND an ack
// of EVERY pending replica, W + P in all. A hint is not an ack. Why strict and not "any W + P of
// old ∪ new": the fill copies what the old replicas held when it read them; a write acknowledged
// after that snapshot without a target would be missing there once the move ends and the target
// counts (the CI loss of issue 20). With every pending replica acking, every acknowledged write
// is on every target — written directly, or (before the move's writes reached the targets) copied
// by the fill from n − W + 1 old replicas — and on ≥ W old ones, so on ≥ W − P of old ∩ new as
// well: ≥ W of the new placement, whose W and R then intersect. The cost: while a target is down
// the writes of its shards fail (SB_QUORUM_NOT_ACHIEVED) instead of being hinted to it; a join or
// drain does not progress without its targets either (a fill needs them live).
//
// One count serves every question: `acksToward(rule, ids)` is how many of the W + P needed acks
// the nodes `ids` give — at most W from voters, plus each pending one. The rule is met when the
// acked nodes give all W + P; it is out of reach when the acked plus the still-outstanding ones
// cannot; what "available" means in SB_QUORUM_NOT_ACHIEVED is that count over the live replicas.

export interface AckRule {
  /** Acks needed from voters. */
  readonly w: number
  /** The replicas whose acks count toward W (the old ones during a move). */
  readonly voters: ReadonlySet<NodeId>
  /** The replicas of which each must ack (a move's targets; empty when nothing moves). Disjoint from voters. */
  readonly pending: ReadonlySet<NodeId>
}

/** W + P: the acks a write needs. */
export function neededAcks (rule: AckRule): number {
  return rule.w + rule.pending.size
}

/** How many of the needed acks the nodes `ids` give: min(W, voters among them) + pending among them. */
export function acksToward (rule: AckRule, ids: Iterable<NodeId>): number {
  let voters = 0
  let pending = 0
  for (const id of new Set(ids)) {
    if (rule.voters.has(id)) voters++
    else if (rule.pending.has(id)) pending++
  }
  return Math.min(rule.w, voters) + pending
}

/** Is a write acked by `acked` acknowledged? W voters and every pending replica. */
export function ackRuleMet (rule: AckRule, acked: Iterable<NodeId>): boolean {
  return acksToward(rule, acked) === neededAcks(rule)
}
