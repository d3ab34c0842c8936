import { ScratchBirdError } from '../core/errors'
import { asShardId, isNodeId, MAX_SHARDS as SHARD_IDS, type NodeId, type ShardId } from '../core/ids'

// The cluster's layout (DESIGN §7, the seeds' "Cluster Config Epoch"): cluster name, shard count,
// membership (node ids) and the membership epoch. Keys are routed by `hash mod shards` and shards
// are placed over the members (placement.ts), so a node that disagrees on either sends rows to
// shards and nodes that do not hold them. The layout is therefore recorded in every data directory
// at the first start (node/cluster-layout.ts holds the file I/O) and carried in gossip; these pure
// rules decide what a start or a peer may differ in — today: only a storage.shards the cluster was
// split from (splitFrom, cluster/shard-split.ts), which the recorded count overrides.
//
// The epoch counts membership changes. Every node of a fresh cluster starts at FIRST_LAYOUT_EPOCH
// with the members of its cluster.nodes, so a cluster whose nodes share one configuration agrees
// without any coordination. A membership change raises the epoch at run time (a new node admitted
// through gossip; cluster/membership/epochs.ts holds those rules), and every node records the newer
// layout here before acting on it. From then on the recorded layout rules: cluster.nodes only
// seeds gossip, so it may list fewer members than the recorded layout, but never a node the
// cluster does not know (that start is refused, saying how to admit it).

export interface ClusterLayout {
  /** cluster.name */
  cluster: string
  /** storage.shards */
  shards: number
  /** Membership epoch: FIRST_LAYOUT_EPOCH at the first start, raised by each membership operation. */
  epoch: number
  /** Node ids of the members, ascending, distinct. */
  members: NodeId[]
  /**
   * Members being drained (DRAIN NODE, cluster/membership/drain.ts): placement gives them no
   * replica, but the replicas they hold stay until their replacements are caught up. Ascending,
   * a subset of `members`; absent = none (a layout written before drains existed).
   */
  leaving?: NodeId[]
  /** Members whose drain finished: they hold nothing and decide nothing. Ascending, a subset of `members`, disjoint from `leaving`. */
  left?: NodeId[]
  /**
   * Members admitted while the cluster holds leaderless_quorum tables, whose replicas of those
   * tables are still being filled (cluster/membership/leaderless-moves.ts): placement gives them
   * replicas and writes go to them, but they count toward no leaderless W or R until the decider
   * marks them normal (epoch + 1). Ascending, a subset of `members`, disjoint from `leaving` and
   * `left`; absent = none.
   */
  joining?: NodeId[]
  /**
   * The shard counts this cluster was split from, oldest first, each half the next and the last
   * half `shards` (cluster/shard-split.ts); absent = never split. A start whose storage.shards is
   * one of them runs with `shards` (the recorded layout wins, with a WARNING: startLayoutCheck).
   * Kept in cluster.json only: gossip does not carry it (a node adopting a later epoch keeps its own).
   */
  splitFrom?: number[]
  /**
   * A split under way (cluster/split-run.ts): decided at its own epoch with the shard count
   * unchanged, `to` = 2 × shards. Every holder of a parent derives its child while it is present;
   * the layout that doubles `shards` (or a cancel) is decided without it. Carried in gossip (v5)
   * and MEMBERSHIP_DECREE (rpcPayload v3) and recorded in cluster.json before a node acts on it.
   */
  split?: { to: number }
  /**
   * Members being removed (REMOVE NODE of a node gone for good while leaderless tables exist:
   * cluster/membership/drain.ts removingLayout): a subset of `leaving` whose holder is not expected
   * back, so a Mode 1 group may count it gone when it is not alive (no election waits for it).
   * Ascending; absent = none. Carried in gossip v6 and MEMBERSHIP_DECREE v4.
   */
  removing?: NodeId[]
  /**
   * The shard count placement keys on (cluster/shard-split.ts PLACEMENT RULE): shard s is placed as
   * shard `s mod placementShards` is, so a split's child stays on its parent's nodes. Set by the
   * layout that completes the first split (the count before it) and kept for good; absent = the
   * shard count (never split). Divides `shards` by a power of two. Carried in gossip v6 and
   * MEMBERSHIP_DECREE v4.
   */
  placementShards?: number
}

/** A member's state in a layout: 'normal' unless it is being filled ('joining'), draining ('leaving') or drained ('left'). */
export type LayoutMemberState = 'normal' | 'joining' | 'leaving' | 'left'

export function layoutMemberState (l: ClusterLayout, id: NodeId): LayoutMemberState {
  if (l.left?.includes(id) === true) return 'left'
  if (l.leaving?.includes(id) === true) return 'leaving'
  if (l.joining?.includes(id) === true) return 'joining'
  return 'normal'
}

/** The members placement gives replicas to: neither leaving nor left (joining ones are placed). */
export function placedMembers (l: ClusterLayout): NodeId[] {
  return l.members.filter(id => { const s = layoutMemberState(l, id); return s === 'normal' || s === 'joining' })
}

/**
 * The members whose leaderless replicas count toward W and R: the placement before the move under
 * way — neither joining (still being filled) nor left; leaving ones still count until they are
 * left. Equal to placedMembers when nothing moves.
 */
export function countedMembers (l: ClusterLayout): NodeId[] {
  return l.members.filter(id => { const s = layoutMemberState(l, id); return s === 'normal' || s === 'leaving' })
}

/** The members that may still hold replicas: placed ones and leaving ones (not left). */
export function holdingMembers (l: ClusterLayout): NodeId[] {
  return l.members.filter(id => layoutMemberState(l, id) !== 'left')
}

/** Same members in the same states (two layouts of one epoch must agree on this). */
export function sameMembership (a: ClusterLayout, b: ClusterLayout): boolean {
  return sameMembers(a.members, b.members) && sameMembers(a.leaving ?? [], b.leaving ?? []) && sameMembers(a.left ?? [], b.left ?? []) &&
    sameMembers(a.joining ?? [], b.joining ?? [])
}

/**
 * The same decided value: membership, shard count and split intent (two layouts of one epoch are
 * one decree's value only when all of these agree; a split changes no member).
 */
export function sameLayout (a: ClusterLayout, b: ClusterLayout): boolean {
  return a.shards === b.shards && a.split?.to === b.split?.to && a.placementShards === b.placementShards &&
    sameMembers(a.removing ?? [], b.removing ?? []) && sameMembership(a, b)
}

/** The shard whose placement shard `shard` of `l` takes (the placement key: PLACEMENT RULE, cluster/shard-split.ts). */
export function placementKey (l: Pick<ClusterLayout, 'placementShards'>, shard: ShardId): ShardId {
  return l.placementShards === undefined ? shard : asShardId(shard % l.placementShards)
}

/**
 * The next epoch of `l` with `members`, before its member states are set (withStates): it keeps
 * what a membership change leaves alone — the removing members (withStates drops those no longer
 * leaving) and the placement count. Every decider path builds from it, so a later epoch decided
 * while a removal runs (an admission, a drain's end) does not forget that n is gone for good.
 */
export function nextEpochOf (l: ClusterLayout, members: readonly NodeId[]): ClusterLayout {
  return {
    cluster: l.cluster,
    shards: l.shards,
    epoch: l.epoch + 1,
    members: [...members],
    ...((l.removing ?? []).length > 0 ? { removing: [...l.removing!] } : {}),
    ...(l.placementShards !== undefined ? { placementShards: l.placementShards } : {})
  }
}

/**
 * `l` with `leaving` / `left` / `joining` set, each omitted when empty (the file and gossip forms
 * of a layout without moves stay as before). `joining` defaults to `l`'s, less the members it
 * no longer lists.
 */
export function withStates (l: ClusterLayout, leaving: readonly NodeId[], left: readonly NodeId[], joining: readonly NodeId[] = l.joining ?? []): ClusterLayout {
  const out: ClusterLayout = { cluster: l.cluster, shards: l.shards, epoch: l.epoch, members: [...l.members] }
  const sorted = (xs: readonly NodeId[]): NodeId[] => [...new Set(xs)].sort((a, b) => a - b)
  if (leaving.length > 0) out.leaving = sorted(leaving)
  if (left.length > 0) out.left = sorted(left)
  const stillJoining = joining.filter(id => l.members.includes(id))
  if (stillJoining.length > 0) out.joining = sorted(stillJoining)
  if (l.splitFrom !== undefined && l.splitFrom.length > 0) out.splitFrom = [...l.splitFrom]
  if (l.split !== undefined) out.split = { to: l.split.to }
  const removing = (l.removing ?? []).filter(id => out.leaving?.includes(id) === true)
  if (removing.length > 0) out.removing = sorted(removing)
  if (l.placementShards !== undefined) out.placementShards = l.placementShards
  return out
}

/**
 * `next` (a later epoch, from gossip, which does not carry splitFrom) with `local`'s split
 * history: the history stays in cluster.json across membership changes, so a start with a
 * pre-split storage.shards keeps working. When `next` has more shards (splits adopted from gossip:
 * compareLayouts accepts only a doubling run), the counts in between are added, ours first.
 * A `next` that carries a history of its own (a layout this node decided, or one a decree carried:
 * both are copies of an earlier layout's) is merged with ours, not taken as it is: the layout that
 * ends a SECOND split is the intent's copy, whose history stops before the count it split from
 * (16 → 32 → 64 recorded splitFrom [16], not [16, 32]).
 */
export function keepSplitHistory (local: ClusterLayout, next: ClusterLayout): ClusterLayout {
  if (next.shards < local.shards) return next
  const history = new Set([...(local.splitFrom ?? []), ...(next.splitFrom ?? [])])
  for (let n = local.shards; n * 2 <= next.shards; n *= 2) history.add(n)
  if (history.size === 0) return next
  return { ...next, splitFrom: [...history].sort((a, b) => a - b) }
}

/** Is `shards` a count this layout was split from (a storage.shards written before the split)? */
export function splitFromCount (l: ClusterLayout, shards: number): boolean {
  return l.splitFrom?.includes(shards) === true
}

/** The WARNING of a start (or reload) whose storage.shards is a count the recorded layout was split from. */
export function staleShardsWarning (l: ClusterLayout, configured: number, where: string): string {
  return `storage.shards is ${configured}, but ${where} records that the cluster was split to ${l.shards} shards (ALTER CLUSTER SET shards): running with ${l.shards}, the recorded count wins; set storage.shards to ${l.shards} to silence this warning`
}

export const FIRST_LAYOUT_EPOCH = 1
/** Members a layout may list: bounds the gossip field (a cluster is a few dozen nodes). */
export const LAYOUT_MAX_MEMBERS = 1024
/** How the membership changes (cluster/membership/epochs.ts). */
export const MEMBERSHIP_OPERATION = 'a new node started with a cluster.nodes listing itself and the members (admitted through gossip), DRAIN NODE or REMOVE NODE'

const MAX_NAME = 256
const MAX_SHARDS = 0xffff_ffff

/** The layout a configuration describes at the first start: its members, epoch 1. */
export function configuredLayout (cluster: string, shards: number, memberIds: readonly NodeId[]): ClusterLayout {
  const members = [...new Set(memberIds)].sort((a, b) => a - b)
  if (members.length > LAYOUT_MAX_MEMBERS) {
    throw new ScratchBirdError('SB_CONFIG_INVALID', `cluster.nodes lists ${members.length} nodes; a cluster has at most ${LAYOUT_MAX_MEMBERS}`, { members: members.length, max: LAYOUT_MAX_MEMBERS })
  }
  return { cluster, shards, epoch: FIRST_LAYOUT_EPOCH, members }
}

/**
 * `v` (parsed JSON of the data directory's file, or a peer's gossip) as a layout, or null when it
 * is not one: only the known fields are copied.
 */
export function parseLayout (v: unknown): ClusterLayout | null {
  if (typeof v !== 'object' || v === null) return null
  const r = v as Record<string, unknown>
  if (typeof r.cluster !== 'string' || r.cluster.length === 0 || r.cluster.length > MAX_NAME) return null
  if (typeof r.shards !== 'number' || !Number.isInteger(r.shards) || r.shards < 1 || r.shards > MAX_SHARDS) return null
  if (typeof r.epoch !== 'number' || !Number.isSafeInteger(r.epoch) || r.epoch < FIRST_LAYOUT_EPOCH) return null
  if (!Array.isArray(r.members) || r.members.length === 0 || r.members.length > LAYOUT_MAX_MEMBERS || !r.members.every(isNodeId)) return null
  const members = r.members.filter(isNodeId)
  if (!ascending(members)) return null
  const leaving = memberSubset(r.leaving, members)
  const left = memberSubset(r.left, members)
  if (leaving === null || left === null || leaving.some(id => left.includes(id))) return null
  const joining = memberSubset(r.joining, members)
  if (joining === null || joining.some(id => leaving.includes(id) || left.includes(id))) return null
  const splitFrom = splitHistory(r.splitFrom, r.shards)
  if (splitFrom === null) return null
  const split = splitIntent(r.split, r.shards)
  if (split === null) return null
  const removing = memberSubset(r.removing, members)
  if (removing === null || !removing.every(id => leaving.includes(id))) return null
  const placementShards = placementCount(r.placementShards, r.shards)
  if (placementShards === null) return null
  return withStates({
    cluster: r.cluster,
    shards: r.shards,
    epoch: r.epoch,
    members: [...members],
    ...(splitFrom.length > 0 ? { splitFrom } : {}),
    ...(split !== undefined ? { split } : {}),
    ...(removing.length > 0 ? { removing } : {}),
    ...(placementShards !== undefined ? { placementShards } : {})
  }, leaving, left, joining)
}

/** `v` as a placement count of a layout of `shards` (`shards` divided by a power of two; absent: undefined), or null when it is not that. */
function placementCount (v: unknown, shards: number): number | undefined | null {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > shards) return null
  let n = v
  while (n < shards) n *= 2
  return n === shards ? v : null
}

/** `v` as a split under way from `shards` (to twice as many; absent: undefined), or null when it is not that. */
function splitIntent (v: unknown, shards: number): { to: number } | undefined | null {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null) return null
  const to = (v as Record<string, unknown>).to
  return typeof to === 'number' && to === shards * 2 && to <= SHARD_IDS ? { to } : null
}

/** `v` as a split history ending in `shards` (each count half the next; absent: none), or null when it is not that. */
function splitHistory (v: unknown, shards: number): number[] | null {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length === 0 || v.length > 32) return null
  const counts: number[] = []
  for (const [i, x] of v.entries()) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) return null
    const next = i + 1 < v.length ? v[i + 1] : shards
    if (x * 2 !== next) return null
    counts.push(x)
  }
  return counts
}

function ascending (ids: readonly NodeId[]): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) return false
  return true
}

/** `v` as ascending node ids all in `members` (absent: none), or null when it is not that. */
function memberSubset (v: unknown, members: readonly NodeId[]): NodeId[] | null {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length > members.length || !v.every(isNodeId)) return null
  const ids = v.filter(isNodeId)
  return ascending(ids) && ids.every(id => members.includes(id)) ? ids : null
}

export function sameMembers (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}

function list (ids: readonly NodeId[]): string {
  return `{${ids.join(', ')}}`
}

/** How to admit a node a configuration lists but the cluster does not know (the message of SB_LAYOUT_MISMATCH). */
export function admitHint (ids: readonly NodeId[]): string {
  const which = ids.map(id => `node ${id}`).join(', ')
  return `to add ${which}, start ${ids.length === 1 ? 'it' : 'each'} with a cluster.nodes that lists itself and the running members: the cluster admits it through gossip (membership epoch + 1) with no restart or config edit elsewhere; otherwise remove ${which} from cluster.nodes`
}

/**
 * The layout a start runs with: the recorded one when the configuration agrees with it, the
 * configured one when nothing is recorded yet (the caller records it). A configuration that
 * disagrees is refused with SB_LAYOUT_MISMATCH naming both values, before any shard is opened.
 */
export function startLayoutCheck (recorded: ClusterLayout | null, configured: ClusterLayout, where: string): { layout: ClusterLayout, record: boolean } {
  if (recorded === null) return { layout: configured, record: true }
  if (recorded.cluster !== configured.cluster) {
    throw new ScratchBirdError('SB_LAYOUT_MISMATCH',
      `${where} holds the layout of cluster "${recorded.cluster}", but cluster.name is "${configured.cluster}"`,
      { field: 'cluster.name', recorded: recorded.cluster, configured: configured.cluster })
  }
  // After a recorded split the configuration may still say a count the cluster was split from:
  // the recorded count wins (the caller warns: staleShardsWarning). Any other count is refused.
  if (recorded.shards !== configured.shards && !splitFromCount(recorded, configured.shards)) {
    throw new ScratchBirdError('SB_LAYOUT_MISMATCH',
      `${where} holds ${recorded.shards} shards, but storage.shards is ${configured.shards}: rows are placed by hash modulo the shard count, so changing it would route keys to shards that do not hold them; set storage.shards back to ${recorded.shards} (the shard count changes only by a split, ALTER CLUSTER SET shards = ${recorded.shards * 2}, never by editing storage.shards)`,
      { field: 'storage.shards', recorded: recorded.shards, configured: configured.shards })
  }
  const unknown = configured.members.filter(id => !recorded.members.includes(id))
  if (unknown.length > 0) {
    throw new ScratchBirdError('SB_LAYOUT_MISMATCH',
      `${where} records the cluster members ${list(recorded.members)} (membership epoch ${recorded.epoch}), but cluster.nodes lists ${list(configured.members)}: ${list(unknown)} ${unknown.length === 1 ? 'is not a member' : 'are not members'}; ${admitHint(unknown)}`,
      { field: 'cluster.nodes', recorded: recorded.members, configured: configured.members, epoch: recorded.epoch, unknown })
  }
  // Fewer members listed than recorded: at the first epoch that is an edit of cluster.nodes (a
  // node is not removed that way); after a membership change the recorded layout rules and
  // cluster.nodes only seeds gossip.
  if (recorded.epoch === FIRST_LAYOUT_EPOCH && !sameMembers(recorded.members, configured.members)) {
    throw new ScratchBirdError('SB_LAYOUT_MISMATCH',
      `${where} records the cluster members ${list(recorded.members)} (membership epoch ${recorded.epoch}), but cluster.nodes lists ${list(configured.members)}: a member is not removed by editing cluster.nodes; restore cluster.nodes to ${list(recorded.members)}`,
      { field: 'cluster.nodes', recorded: recorded.members, configured: configured.members, epoch: recorded.epoch })
  }
  return { layout: recorded, record: false }
}

/**
 * A reloaded configuration (SIGHUP) that asks for another layout: what cannot be applied, one
 * line per field, empty when it asks for none. A reload never changes the layout, and a restart
 * with such a configuration is refused (startLayoutCheck).
 */
export function layoutChangesRefused (running: ClusterLayout, next: ClusterLayout): string[] {
  const out: string[] = []
  if (next.shards !== running.shards && !splitFromCount(running, next.shards)) {
    out.push(`storage.shards ${running.shards} → ${next.shards} is not applied: the data directory holds ${running.shards} shards, and a restart with storage.shards ${next.shards} would be refused (SB_LAYOUT_MISMATCH)`)
  }
  const unknown = next.members.filter(id => !running.members.includes(id))
  if (unknown.length > 0 || (running.epoch === FIRST_LAYOUT_EPOCH && !sameMembers(next.members, running.members))) {
    out.push(`cluster.nodes ${list(running.members)} → ${list(next.members)} is not applied: the membership changes only when ${MEMBERSHIP_OPERATION}, and a restart with it would be refused (SB_LAYOUT_MISMATCH)`)
  }
  return out
}
