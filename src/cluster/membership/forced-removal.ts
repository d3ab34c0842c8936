import type { NodeId } from '../../core/ids'

// REMOVE NODE of a node gone for good (issue 20; DESIGN §6, §7): which voters of a shard's Mode 1
// group stop counting toward its majorities before a config entry removes them. Pure.
//
// The layout epoch that removes node n is authoritative: n is no member any more, never comes back
// with its data (a removed node rejoins only with an empty data directory, as a new node), and the
// survivors ignore whatever it still sends. But a group's voters live in its log, and removing a
// voter takes a config entry committed by a majority of the voters — n included. With N = 2 the
// surviving voter can neither be elected nor commit that entry without n's vote: the group stays
// without a primary for ever. So each survivor's machine is told which voters are gone for good
// (this function) and leaves them out of every majority it counts — votes, commits, lease,
// check-quorum (replication/machine.ts `gone` input). That is a forced configuration change, made
// by each survivor on its own and logged; the primary the survivors then elect writes the ordinary
// config entry removing n, and placement gives the shard a replacement replica, bootstrapped by
// snapshot + log and promoted once it holds the committed log, as for any move.
//
// Why no acknowledged entry is lost: under replication.sync_replicas = majority an entry is
// acknowledged once a majority of the voters hold it durably. With voters {a, n} that majority is
// both, so a holds every acknowledged entry and alone decides. With {a, b, n} it is two of three:
// every acknowledged entry is on a or b (or both); a majority of the survivors {a, b} is both, and
// a voter grants its vote only to a log at least as complete as its own (Raft §5.4.1), so the
// survivor elected holds every entry either survivor holds. (Below a majority — sync_replicas k
// smaller than that — an acknowledged commit can be lost on any failover; that is documented.)
// Only a node this node SAW removed counts (a member of a layout it ran, absent from a later one):
// a voter that is merely unknown here — a node admitted at an epoch this node has not learned yet,
// whose promotion reached it by the log first — is no member of its layout either, and leaving it
// out would shrink the majority this node counts below one that must intersect every other. What
// this node saw is recorded in its data directory (removed-members.json, node/cluster-layout.ts)
// BEFORE the layout removing n is, and reloaded at start: a survivor restarted after the removal,
// before its group's config entry removing n committed, still forces it (kept in memory only, that
// group would wait for ever with N = 2: its survivor needs n's vote and nothing tells it again).
// Why a stale survivor cannot use it: the argument above holds for the voters in effect. A node
// removed from the group by config entries it never received still lists n and itself; leaving n
// out would make it a majority of one with a log that lacks what the real group acknowledged
// (seen in the membership simulation). So while a voter is forced out, a pre-vote also asks every
// other live member (forcedWitnesses) and every voter left, and needs each one's grant
// (replication/machine.ts campaignWitnesses): the node holding the newer configuration is alive —
// else REMOVE NODE would have lost a majority of the real group — and refuses a log behind its
// own; cut off by a partition it looks down to the gossip of the stale side, so the voters are
// asked whether or not they look alive (membership simulation, statements during partitions).
// Why no second primary: n is left out only while this node's gossip does not see it alive, and a
// survivor ignores n's messages from then on, so n can be neither elected nor acknowledged again;
// a survivor campaigns only once its election timeout has run since it last heard from n, which is
// after any read lease it granted n has ended.

export interface ForcedRemovalFacts {
  readonly self: NodeId
  /** The voters in effect in this node's log of the group (latest config entry). */
  readonly voters: readonly NodeId[]
  /** The members of the layout this node runs (cluster.json): a removed node is none. */
  readonly members: readonly NodeId[]
  /** Nodes this node saw removed: members of a layout it ran, absent from a later one (recorded across restarts). */
  readonly removed: readonly NodeId[]
  /** Is `id` alive in this node's gossip view? */
  readonly alive: (id: NodeId) => boolean
  /**
   * The layout's removing members (REMOVE NODE with leaderless tables: drain.ts removingLayout):
   * still members (leaving) while their leaderless replicas are filled, but gone for good. Absent: none.
   */
  readonly removing?: readonly NodeId[]
}

/**
 * The voters to leave out of the group's majorities: those this node saw removed from the layout,
 * not members again, or that its layout marks removing, and that its gossip does not show alive; never this node itself, and never all of the
 * voters (a group needs one to decide). Empty when nothing is forced — in particular while n is
 * alive (REMOVE NODE refuses a live node, SB_NODE_ALIVE; should one be removed anyway, its group
 * waits rather than decide without it).
 */
export function goneVoters (f: ForcedRemovalFacts): NodeId[] {
  // A removing member is one this node saw removed too: the layout it runs says so (and is on its
  // disk), so the same reasoning holds — only the layout's end (left) waits for the moves.
  const removed = (id: NodeId): boolean => (f.removed.includes(id) && !f.members.includes(id)) || (f.removing ?? []).includes(id)
  const gone = f.voters.filter(id => id !== f.self && removed(id) && !f.alive(id))
  return gone.length < f.voters.length ? gone : []
}

/** The voters that count toward a majority once `gone` are left out. */
export function quorumVoters (voters: readonly NodeId[], gone: ReadonlySet<NodeId>): NodeId[] {
  return voters.filter(id => !gone.has(id))
}

/**
 * The removed set to record when this node goes from a layout with members `from` to one with
 * `to`: `before` is written before the new layout is (it adds the nodes `to` drops, so a crash
 * between the two writes cannot leave a recorded removal without its removed node), `after` once
 * it is (a node admitted again — a new node with an empty data directory reusing the id — is
 * forgotten). Both ascending; `after` equals `before` when no removed node came back.
 */
export function removedAcross (removed: readonly NodeId[], from: readonly NodeId[], to: readonly NodeId[]): { before: NodeId[], after: NodeId[] } {
  const before = [...new Set([...removed, ...from.filter(id => !to.includes(id))])].sort((a, b) => a - b)
  return { before, after: before.filter(id => !to.includes(id)) }
}

/**
 * The live members whose pre-votes a campaign of a group with a voter forced out must also have
 * (replication/machine.ts setGone): every member of the layout this node runs that its gossip
 * shows alive, but itself. Members holding no copy of the shard grant (rules.ts preVoteFromDisk).
 */
export function forcedWitnesses (f: Pick<ForcedRemovalFacts, 'self' | 'members' | 'alive'>): NodeId[] {
  return f.members.filter(id => id !== f.self && f.alive(id))
}
