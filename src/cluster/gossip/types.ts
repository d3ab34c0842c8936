// Gossip membership (DESIGN §7): the records and messages the sans-I/O machine (machine.ts)
// exchanges. Everything here is a plain value — numbers, strings, arrays, objects; HLC values
// travel as strings. Between nodes they travel in the versioned binary codec of codec.ts, whose
// decoder applies the bounds checked here; parseGossipMessage checks a message that arrived as a
// parsed JSON value (the same rules), and copies only the known fields.

import { parseLayout, type ClusterLayout } from '../layout'
import { isNodeId, isShardId, MAX_SHARDS, type NodeId, type ShardId } from '../../core/ids'
import type { SplitParentPhase, SplitParentReport } from '../split-progress'

/**
 * joining/normal/leaving/left are set by the member itself; suspect and down are an observer's
 * verdict (SWIM suspicion, then confirmed failure) and travel in gossip like the rest.
 */
export const MEMBER_STATES = ['joining', 'normal', 'leaving', 'left', 'suspect', 'down'] as const
export type MemberState = typeof MEMBER_STATES[number]

/**
 * Members carried per message. A digest holds every member (a cluster is a few dozen nodes);
 * above this the sender always includes itself and a random sample of the others, so a message
 * stays bounded whatever a peer or a bug put in the table.
 */
export const GOSSIP_MAX_MEMBERS_PER_MESSAGE = 64
/** Longest address, datacenter, boot id or HLC string a record may carry. */
export const GOSSIP_MAX_STRING = 256
/** Split reports one record may carry: one per parent its owner holds, and a split has at most MAX_SHARDS / 2 parents. */
export const GOSSIP_MAX_SPLIT_REPORTS = MAX_SHARDS / 2
export const SPLIT_PARENT_PHASES: readonly SplitParentPhase[] = ['copying', 'caught_up', 'switched']

/** One member as its owner announced it (plus an observer's suspect/down verdict). */
export interface MemberRecord {
  /** node.id, 1..65535. */
  nodeId: NodeId
  /** host:port the member's cluster RPC listens on. */
  address: string
  datacenter: string
  /** Bumped by the member itself to refute suspicion or to take its node id over from a dead process. */
  incarnation: number
  /** Bumped by the member on every tick (and on every change of its record); never decreases within a boot. */
  heartbeat: number
  state: MemberState
  /** Random per process start: tells a restart (or an impostor) from the same process. */
  bootId: string
  /**
   * bootId of the other process this member last claimed its node id over ('' if none). A member
   * that claims over *our* bootId saw us after we started, so it is alive: the proof of an id
   * conflict (machine.ts, "Node id ownership").
   */
  claimedOver: string
  catalogVersion: number
  /** Opaque to gossip: the owner's oldest active transaction start (an HLC as text). */
  oldestActiveHlc: string
  /** Number of shard replicas the member holds (for display). */
  shardReplicas: number
  /**
   * While a split runs (layout.split, cluster/split-run.ts): where the member's derive of each
   * parent it holds stands, ascending by parent, one entry per parent; absent when none.
   */
  split?: SplitParentReport[]
  /**
   * The member's Mode 1 groups whose voters (latest or committed) are not the placement's first N
   * by its catalog, ascending; absent when none (gossip v7; a split's start waits for none:
   * cluster/split-ddl-guard.ts).
   */
  votersChanging?: ShardId[]
}

/**
 * Every message carries `hlc`: the machine writes '' and never reads it; the shell sets it to its
 * HLC reading just before sending and feeds the received value to its HLC (DESIGN §3).
 */
interface MessageBase {
  /** Sender's node id. */
  from: NodeId
  hlc: string
  /** Sender's digest: itself first, then what it knows of the others (≤ GOSSIP_MAX_MEMBERS_PER_MESSAGE). */
  members: MemberRecord[]
  /**
   * The sender's cluster layout (cluster/layout.ts): a peer whose layout differs is refused.
   * Absent from a machine built without one (simulations) and from a peer speaking gossip codec
   * v1 (a release before layouts), which cannot be checked and is accepted as before.
   */
  layout?: ClusterLayout
}

/** Push: the sender's digest, answered by an ack (pull). */
export interface GossipPing extends MessageBase {
  type: 'ping'
  /** Sender's monotonic clock when it sent the ping (ms), echoed in the ack. */
  sentAt: number
}

export interface GossipAck extends MessageBase {
  type: 'ack'
  /** The ping's sentAt, unchanged: lets the pinger measure the round trip on its own clock. */
  echoSentAt: number
  /** The answering node's wall clock when it answered (ms since the epoch): the pinger's clock sample. */
  answeredAt: number
}

export type GossipMessage = GossipPing | GossipAck

/** Where to send: a known member's id and announced address, or a seed (address, maybe no id yet). */
export interface GossipTarget {
  nodeId?: NodeId
  address: string
}

export type GossipEvent =
  /** A member (or this node itself) changed state; from null: first heard of. */
  | { type: 'member-state', nodeId: NodeId, address: string, from: MemberState | null, to: MemberState }
  /** A member came back as a new process (new bootId). */
  | { type: 'member-restarted', nodeId: NodeId, address: string, bootId: string }
  /** Smoothed estimate of the member's clock minus ours exceeds CLOCK_SKEW_WARN_MS (rate-limited). */
  | { type: 'clock-skew', nodeId: NodeId, offsetMs: number, rttMs: number }
  /** A live member announces a catalog version above ours: fetch the catalog. */
  | { type: 'catalog-behind', nodeId: NodeId, version: number }
  /** While joining: another live process owns our node id. Refuse to start (the machine is halted). */
  | { type: 'id-conflict', nodeId: NodeId, address: string, bootId: string }
  /** While running: a new process at `address` tried to take our node id; we kept it. Log it. */
  | { type: 'id-contested', nodeId: NodeId, address: string, bootId: string }
  /**
   * A peer announces another cluster layout (`reason` names both values): its records are not
   * merged and it is not a member to route to. Reported once per peer and reason, then at most
   * every LAYOUT_REFUSAL_REPORT_EVERY_MS while it keeps trying.
   */
  | { type: 'layout-refused', nodeId: NodeId, address: string, reason: string }
  /**
   * A peer announces a later membership epoch of our cluster that keeps this node a member
   * (cluster/membership/epochs.ts): the shell persists `layout`, then calls setLayout.
   */
  | { type: 'layout-newer', nodeId: NodeId, layout: ClusterLayout }
  /** This node decides membership changes and a node that is not a member asks to be admitted. */
  | { type: 'join-request', nodeId: NodeId, address: string, datacenter: string }
  /** This node is a joiner the cluster of `nodeId` has not admitted yet (reported like layout-refused). */
  | { type: 'awaiting-admission', nodeId: NodeId, address: string, epoch: number }
  /** leave() finished announcing 'left': the shell may stop the process. */
  | { type: 'left' }
  /** This node stalled (SIGSTOP, GC, VM) for about stalledMs: its peers' silence meanwhile was not counted against them. */
  | { type: 'paused', stalledMs: number }

export type GossipOutput = { type: 'send', to: GossipTarget, msg: GossipMessage } | GossipEvent

// ---- Checking what comes from the network ------------------------------------------------------

function isCount (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function isTime (v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

function isText (v: unknown, allowEmpty: boolean): v is string {
  return typeof v === 'string' && v.length <= GOSSIP_MAX_STRING && (allowEmpty || v.length > 0)
}

// One definition of a node id's range (core/ids.ts); re-exported for the gossip codec.
export { isNodeId }

export function isMemberRecord (v: unknown): v is MemberRecord {
  if (typeof v !== 'object' || v === null) return false
  const r = v as Record<string, unknown>
  return isNodeId(r.nodeId) && isText(r.address, false) && isText(r.datacenter, true) &&
    isCount(r.incarnation) && isCount(r.heartbeat) &&
    (MEMBER_STATES as readonly unknown[]).includes(r.state) &&
    isText(r.bootId, false) && isText(r.claimedOver, true) && isCount(r.catalogVersion) &&
    isText(r.oldestActiveHlc, true) && isCount(r.shardReplicas) && (r.split === undefined || isSplitReports(r.split)) &&
    (r.votersChanging === undefined || isAscendingShards(r.votersChanging))
}

/** Shard ids, strictly ascending, at most MAX_SHARDS. */
export function isAscendingShards (v: unknown): v is ShardId[] {
  if (!Array.isArray(v) || v.length > MAX_SHARDS) return false
  let last = -1
  for (const x of v as unknown[]) {
    if (!isShardId(x) || x <= last) return false
    last = x
  }
  return true
}

/** One report per parent, ascending, each within bounds. */
export function isSplitReports (v: unknown): v is SplitParentReport[] {
  if (!Array.isArray(v) || v.length > GOSSIP_MAX_SPLIT_REPORTS) return false
  let last = -1
  for (const x of v as unknown[]) {
    if (typeof x !== 'object' || x === null) return false
    const r = x as Record<string, unknown>
    if (!isShardId(r.parent) || r.parent <= last || !(SPLIT_PARENT_PHASES as readonly unknown[]).includes(r.phase) || !isCount(r.lagEntries) || !isCount(r.rowsCopied)) return false
    last = r.parent
  }
  return true
}

/**
 * The message if `v` (parsed JSON from a peer) is a well-formed gossip message, else null. Only
 * the known fields are copied, so extra keys a peer sent never reach the machine.
 */
export function parseGossipMessage (v: unknown): GossipMessage | null {
  if (typeof v !== 'object' || v === null) return null
  const m = v as Record<string, unknown>
  if (!isNodeId(m.from) || !isText(m.hlc, true) || !Array.isArray(m.members)) return null
  if (m.members.length > GOSSIP_MAX_MEMBERS_PER_MESSAGE || !m.members.every(isMemberRecord)) return null
  const members = (m.members as MemberRecord[]).map(copyRecord)
  const layout = m.layout === undefined ? undefined : parseLayout(m.layout)
  if (layout === null) return null
  const base = { from: m.from, hlc: m.hlc, members, ...(layout === undefined ? {} : { layout }) }
  if (m.type === 'ping' && isTime(m.sentAt)) return { type: 'ping', ...base, sentAt: m.sentAt }
  if (m.type === 'ack' && isTime(m.echoSentAt) && isTime(m.answeredAt)) {
    return { type: 'ack', ...base, echoSentAt: m.echoSentAt, answeredAt: m.answeredAt }
  }
  return null
}

export function copyRecord (r: MemberRecord): MemberRecord {
  return {
    nodeId: r.nodeId,
    address: r.address,
    datacenter: r.datacenter,
    incarnation: r.incarnation,
    heartbeat: r.heartbeat,
    state: r.state,
    bootId: r.bootId,
    claimedOver: r.claimedOver,
    catalogVersion: r.catalogVersion,
    oldestActiveHlc: r.oldestActiveHlc,
    shardReplicas: r.shardReplicas,
    ...(r.split === undefined ? {} : { split: r.split.map(x => ({ parent: x.parent, phase: x.phase, lagEntries: x.lagEntries, rowsCopied: x.rowsCopied })) }),
    ...(r.votersChanging === undefined ? {} : { votersChanging: [...r.votersChanging] })
  }
}
