import { admitHint, FIRST_LAYOUT_EPOCH, layoutMemberState, nextLayoutBase, sameLayout, withStates, type ClusterLayout } from '../layout'
import type { NodeId } from '../../core/ids'
import { splitsBetween } from '../shard-split'

// Membership changes at run time (issue 20 items 1–3; DESIGN §7): how a node's layout compares
// with the one a peer announces in gossip, and the next layout of an admission. Pure.
//
// A membership operation raises the epoch by one with a new member list. It is proposed by the
// DECIDER: the lowest member of the current layout that this node's gossip shows alive (the same
// rule as the catalog coordinator, cluster/catalog-sync: no election of its own, and every member
// computes it alike). Gossip views differ often enough — a decider that crashed right after
// deciding, its gossip reaching one node only, while another sees it dead — that two nodes can
// each believe they decide. So the choice of epoch e + 1's layout is not the decider's alone: it
// is a single-decree Paxos among the members of layout e that are not left (epoch-decree.ts says
// why that makes the layout of each epoch unique by construction), and no node adopts e + 1 before
// a majority of them accepted it; the decider only says who proposes, for liveness. Two layouts of
// one epoch ('conflict' below: same epoch, other members) can then no longer come from two
// deciders; the check stays, refusing and never merging, for what else could produce them (a
// data directory copied between clusters, a node started with a hand-edited cluster.json).
//
// Joining: a new node starts with a cluster.nodes that lists itself and some existing members
// (its seeds), so its own data directory records {seeds ∪ itself} at epoch 1. Until a decider
// admits it, the cluster refuses to merge it and it refuses the cluster back ('awaiting'), so it
// fetches no catalog and starts no replica: it serves nothing. The decider admits a peer that is
// not a member, whose layout lists it and otherwise only members the cluster knows, at epoch
// e + 1 = members ∪ {peer}; every node adopts a layout of a higher epoch that keeps it a member
// ('newer'), the joiner included, persisting it before acting on it.

export type LayoutVerdict =
  /** Same epoch and members. */
  | { kind: 'same' }
  /** The peer's layout is a later epoch of our cluster that keeps us a member: persist it, then run with it. */
  | { kind: 'newer' }
  /** The peer is behind: it is one of us; it adopts ours from our answer. */
  | { kind: 'older' }
  /** A node that is not a member asks to be admitted (its layout lists itself and only members we know). */
  | { kind: 'join' }
  /** We are a joiner the peer's cluster has not admitted yet: nothing merged, we keep asking. */
  | { kind: 'awaiting' }
  /** Cannot be one cluster: `reason` names both values and, where there is one, the way out. */
  | { kind: 'conflict', reason: string }

function list (ids: readonly NodeId[]): string {
  return `{${ids.join(', ')}}`
}

function describeLayout (l: ClusterLayout): string {
  return `membership epoch ${l.epoch} with members ${list(l.members)}`
}

/** The members `l` lists that `known` does not, but `except`. */
function unknownMembers (l: ClusterLayout, known: ClusterLayout, except: NodeId): NodeId[] {
  return l.members.filter(id => id !== except && !known.members.includes(id))
}

/**
 * How this node (`self`, running with `local`) takes a gossip message from `peer` announcing
 * `remote` (see the header).
 */
export function compareLayouts (local: ClusterLayout, remote: ClusterLayout, self: NodeId, peer: NodeId): LayoutVerdict {
  if (local.cluster !== remote.cluster) return { kind: 'conflict', reason: `cluster name "${local.cluster}" here, "${remote.cluster}" there` }
  // A different count is one cluster only across splits: between members of both layouts (a
  // joiner must be configured with the cluster's count), the larger count at an epoch late enough
  // (cluster/shard-split.ts splitsBetween); the epochs below then make it 'newer' or 'older'.
  if (local.shards !== remote.shards) {
    const [few, many] = local.shards < remote.shards ? [local, remote] : [remote, local]
    const members = [local, remote].every(l => l.members.includes(self) && l.members.includes(peer))
    if (!members || splitsBetween(few.shards, few.epoch, many.shards, many.epoch) === null) return { kind: 'conflict', reason: `storage.shards ${local.shards} here, ${remote.shards} there` }
  }
  if (local.epoch === remote.epoch && sameLayout(local, remote)) return { kind: 'same' }
  const here = `${describeLayout(local)} here, ${describeLayout(remote)} there`
  const peerMember = local.members.includes(peer)
  const selfThere = remote.members.includes(self)
  if (!peerMember && remote.members.includes(peer)) {
    // The peer was admitted at an epoch we have not seen yet.
    if (remote.epoch > local.epoch && selfThere) return { kind: 'newer' }
    if (remote.epoch !== FIRST_LAYOUT_EPOCH) {
      return { kind: 'conflict', reason: `${here}: node ${peer} is not a member of this cluster and its data directory records a later membership (it was removed); to join it again, start it with an empty data directory` }
    }
    const unknown = unknownMembers(remote, local, peer)
    if (unknown.length > 0) return { kind: 'conflict', reason: `${here}: node ${peer} asks to join but its cluster.nodes lists ${list(unknown)}, unknown to this cluster; ${admitHint(unknown)}` }
    return { kind: 'join' }
  }
  if (!selfThere) {
    // A member that has not heard of our admission yet: it adopts ours from our answer.
    if (peerMember && remote.epoch < local.epoch && local.members.includes(self)) return { kind: 'older' }
    if (local.epoch === FIRST_LAYOUT_EPOCH && peerMember && remote.members.includes(peer)) {
      // We are the joiner: our configured layout lists ourselves, theirs does not yet.
      const unknown = unknownMembers(local, remote, self)
      if (unknown.length === 0) return { kind: 'awaiting' }
      return { kind: 'conflict', reason: `${here}: this node's cluster.nodes lists ${list(unknown)}, unknown to the cluster, so it is not admitted; ${admitHint(unknown)}` }
    }
    if (remote.epoch > local.epoch) return { kind: 'conflict', reason: `${here}: this node is no longer a member (removed at a later epoch); to join again, start it with an empty data directory` }
    return { kind: 'conflict', reason: here }
  }
  if (!peerMember) return { kind: 'conflict', reason: here }
  if (remote.epoch > local.epoch) return { kind: 'newer' }
  if (remote.epoch < local.epoch) return { kind: 'older' }
  // Same epoch, other members or member states: not one cluster's history (header). Never merged.
  return { kind: 'conflict', reason: here }
}

/**
 * The layout admitting `node` to `current`: epoch + 1, members ∪ {node} (a drain under way stays).
 * `joining`: the cluster holds leaderless_quorum tables, whose replicas on `node` must be filled
 * before they count (cluster/membership/leaderless-moves.ts): `node` enters `joining`.
 */
export function admitLayout (current: ClusterLayout, node: NodeId, joining = false): ClusterLayout {
  const members = [...new Set([...current.members, node])].sort((a, b) => a - b)
  return withStates(nextLayoutBase(current, members), current.leaving ?? [], current.left ?? [],
    [...(current.joining ?? []), ...(joining ? [node] : [])])
}

/** The layout marking the joining members normal (their leaderless replicas are filled): epoch + 1. */
export function joinedLayout (l: ClusterLayout): ClusterLayout {
  return withStates(nextLayoutBase(l, l.members), l.leaving ?? [], l.left ?? [], [])
}

/**
 * The decider among `layout`'s members: the lowest one `alive` accepts that has not left (a
 * drained node holds nothing and may be stopped at any time), null when none is alive. Nor a
 * leaving one while another is alive: a chosen layout is adopted by its decider first and spread
 * by gossip, so a leaving node deciding its own end could be stopped — as it may be once left —
 * before any other node learned that layout (or the one before it), and the others would stay
 * behind for good, every later decree refused (membership simulation, N = 1, session 14).
 */
export function decider (layout: ClusterLayout, alive: (id: NodeId) => boolean): NodeId | null {
  let leaving: NodeId | null = null
  for (const id of layout.members) {
    const state = layoutMemberState(layout, id)
    if (state === 'left' || !alive(id)) continue
    if (state !== 'leaving') return id
    leaving ??= id
  }
  return leaving
}
