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
// Whose announcement counts: every member gossip believes running (not down, not left) — a
// suspect node that went silent keeps holding the horizon back with what it last said. A snapshot
// a peer began since its last announcement is covered by the sweeper keeping its "now" that far
// back (node/sweeper.ts, announceLagMs). Pure.

import { asHlcTs, type HlcTs, type NodeId } from '../core/ids'

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
  /** Believed running (gossip state neither down nor left). */
  readonly alive: boolean
  readonly oldestActiveHlc: string
}

export interface PeerSnapshotFloor {
  /** Oldest snapshot start any live peer announces; undefined when none does. */
  readonly floor: HlcTs | undefined
  /** Live peers whose announcement is malformed (skipped). */
  readonly malformed: NodeId[]
}

/** The oldest snapshot start the live peers announce (this node's own record is skipped: its
 *  registry is read directly, fresher than its last gossip). */
export function peerSnapshotFloor (members: Iterable<AnnouncingMember>): PeerSnapshotFloor {
  let floor: HlcTs | undefined
  const malformed: NodeId[] = []
  for (const m of members) {
    if (m.isSelf || !m.alive) continue
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
