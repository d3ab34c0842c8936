// The sweep horizon (DESIGN §6 "Visibility and garbage collection"): versions committed below it
// that something newer (also below it) supersedes can go. It is the HLC now, lowered to the start
// of the oldest snapshot transaction open on this node and, in a cluster, to the oldest one any
// live node announces in gossip (a snapshot coordinated elsewhere reads this node's shards too).
//
// The gossip field (MemberRecord.oldestActiveHlc, opaque text to the gossip machine and already in
// codec v1, so nothing on the wire changes):
//   'none'          the node has no open snapshot transaction;
//   decimal digits  the start HLC (HlcTs) of its oldest one;
//   ''              not announced — a node of a release before this rule; it holds nothing back
//                   (those releases had no node-wide snapshot registry to announce).
// A value that is none of these came from a faulty peer: it is reported, and skipped.
//
// Whose announcement counts (the seeds' computeGlobalOIT; issue 14 item 6): every member except
// one that has LEFT the cluster. A suspect or down node keeps holding the horizon back with what
// it last said until it is removed: a node we cannot hear may still be running (a partition, a
// long pause) with a snapshot open that will read our shards once it reconnects — sweeping the
// versions it needs would make its reads wrong, not merely slow. The cost is that a dead node
// blocks garbage collection until an operator removes it; SHOW TRANSACTIONS HORIZON names the
// node holding the horizon so that is visible. (A member this node never heard of since its own
// start holds nothing: gossip has no record of it to keep.) A snapshot a peer began since its
// last announcement is covered by the sweeper keeping its "now" that far back
// (node/sweeper.ts, announceLagMs). Pure.

import { asHlcTs, type HlcTs, type NodeId } from '../core/ids'
import { HLC_COUNTER_BITS } from '../storage/types'
import type { MemberState } from './gossip/types'

export const NO_OPEN_SNAPSHOT = 'none'
/** HlcTs is 64 bits: at most 20 decimal digits. */
const HLC_TEXT = /^[0-9]{1,20}$/

/** What this node announces for its oldest open snapshot start (undefined: none open). */
export function formatOldestSnapshot (start: HlcTs | undefined): string {
  return start === undefined ? NO_OPEN_SNAPSHOT : start.toString()
}

/** A member's announcement: the start HLC, undefined for none/not announced, null when malformed. */
export function parseOldestSnapshot (text: string): HlcTs | undefined | null {
  if (text === '' || text === NO_OPEN_SNAPSHOT) return undefined
  if (!HLC_TEXT.test(text)) return null
  const v = BigInt(text)
  return v < 1n << 64n ? asHlcTs(v) : null
}

export interface AnnouncingMember {
  readonly nodeId: NodeId
  readonly isSelf: boolean
  /** Its gossip state as this node sees it. */
  readonly state: MemberState
  readonly oldestActiveHlc: string
}

/** Does a member in this gossip state hold the horizon back? Every one but a member that left. */
export function holdsHorizon (state: MemberState): boolean {
  return state !== 'left'
}

export interface PeerSnapshotFloor {
  /** Oldest snapshot start any peer that holds the horizon announces; undefined when none does. */
  readonly floor: HlcTs | undefined
  /** Such peers whose announcement is malformed (skipped). */
  readonly malformed: NodeId[]
}

/** The oldest snapshot start the peers holding the horizon announce (this node's own record is
 *  skipped: its registry is read directly, fresher than its last gossip). */
export function peerSnapshotFloor (members: Iterable<AnnouncingMember>): PeerSnapshotFloor {
  let floor: HlcTs | undefined
  const malformed: NodeId[] = []
  for (const m of members) {
    if (m.isSelf || !holdsHorizon(m.state)) continue
    const v = parseOldestSnapshot(m.oldestActiveHlc)
    if (v === null) { malformed.push(m.nodeId); continue }
    if (v !== undefined && (floor === undefined || v < floor)) floor = v
  }
  return { floor, malformed }
}

/** The lowest of the given starts; undefined when none is given. */
export function oldestOf (...starts: Array<HlcTs | undefined>): HlcTs | undefined {
  let min: HlcTs | undefined
  for (const s of starts) if (s !== undefined && (min === undefined || s < min)) min = s
  return min
}

/** min(now, every floor given). */
export function sweepHorizon (now: HlcTs, ...floors: Array<HlcTs | undefined>): HlcTs {
  let h = now
  for (const f of floors) if (f !== undefined && f < h) h = f
  return h
}

/** "now" moved back by `lagMs` (the same HLC counter), never below zero: how far back a snapshot
 *  may have started without this node having heard of it yet (node/sweeper.ts announceLagMs). */
export function laggedNow (now: HlcTs, lagMs: number): HlcTs {
  const lag = BigInt(Math.max(0, Math.trunc(lagMs))) << HLC_COUNTER_BITS
  return now > lag ? asHlcTs(now - lag) : asHlcTs(0n)
}

/** One row of SHOW TRANSACTIONS HORIZON: a member, what it announces and whether it counts. */
export interface HorizonContribution {
  readonly nodeId: NodeId
  readonly isSelf: boolean
  readonly state: MemberState
  /** Its oldest open snapshot start; undefined: none open (or not announced); null: malformed. */
  readonly oldestSnapshot: HlcTs | undefined | null
  /** It holds the horizon back (state, and a well-formed announcement of an open snapshot). */
  readonly holds: boolean
}

/** The cluster's transaction horizon as this node computes it (computeGlobalOIT), and each member's part in it. */
export interface TransactionsHorizon {
  readonly members: HorizonContribution[]
  /** The sweep horizon now: min(now − announce lag, every counted member's oldest snapshot start). */
  readonly horizon: HlcTs
}

/**
 * The horizon and its contributions: this node's own oldest snapshot (`selfOldest`, read from its
 * registry) replaces whatever its own gossip record says.
 */
export function transactionsHorizon (members: readonly AnnouncingMember[], selfOldest: HlcTs | undefined, now: HlcTs, announceLagMs: number): TransactionsHorizon {
  const rows = members.map((m): HorizonContribution => {
    const oldestSnapshot = m.isSelf ? selfOldest : parseOldestSnapshot(m.oldestActiveHlc)
    return { nodeId: m.nodeId, isSelf: m.isSelf, state: m.state, oldestSnapshot, holds: (m.isSelf || holdsHorizon(m.state)) && oldestSnapshot != null }
  })
  const floor = oldestOf(...rows.filter(r => r.holds).map(r => r.oldestSnapshot ?? undefined))
  return { members: rows, horizon: sweepHorizon(laggedNow(now, announceLagMs), floor) }
}
