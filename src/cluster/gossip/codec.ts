import type { Fail } from '../../core/bytes'
import { type Codec, type CodecReader, type CodecWriter, versionedLowest } from '../../core/codec'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { ScratchBirdError } from '../../core/errors'
import { LAYOUT_MAX_MEMBERS, parseLayout, type ClusterLayout } from '../layout'
import {
  GOSSIP_MAX_MEMBERS_PER_MESSAGE, GOSSIP_MAX_SPLIT_REPORTS, MEMBER_STATES, isMemberRecord, isNodeId, GOSSIP_MAX_STRING, SPLIT_PARENT_PHASES,
  type GossipAck, type GossipMessage, type GossipPing, type MemberRecord
} from './types'
import type { SplitParentReport } from '../split-progress'
import { MAX_SHARDS, type NodeId, type ShardId } from '../../core/ids'

// Gossip messages on the wire (GOSSIP_SYNC and its reply, DESIGN §7): a versioned binary codec.
// The decoder applies the same rules as parseGossipMessage (types.ts) — node ids 1..65535, strings
// of at most GOSSIP_MAX_STRING characters, at most GOSSIP_MAX_MEMBERS_PER_MESSAGE members — and
// answers anything else with SB_RPC_MALFORMED (SB_CODEC_VERSION for a newer codec), never a crash.
//
// v1: payload = version u8 | message; message = type u8 (0 ping, 1 ack) | from u16 | hlc str | members | ping: sentAt f64 | ack: echoSentAt f64, answeredAt f64
//     member = nodeId u16 | address str | datacenter str | incarnation, heartbeat varint | state u8 |
//              bootId str | claimedOver str | catalogVersion varint | oldestActiveHlc str | shardReplicas varint
// v2: v1 message | layout opt (the sender's cluster layout, cluster/layout.ts)
//     layout = cluster str | shards varint | epoch varint | members: count varint, nodeId u16 each (ascending)
//     A v1 message decodes without a layout.
// v3: layout = v2 layout | leaving: count varint, nodeId u16 each | left: the same (members being
//     drained and drained, cluster/membership/drain.ts). A v2 layout decodes with neither.
// v4: layout = v3 layout | joining: count varint, nodeId u16 each (members whose leaderless
//     replicas are being filled, cluster/membership/leaderless-moves.ts).
// v5: member = v4 member | split reports: count varint, each parent varint | phase u8 (0 copying,
//     1 caught_up, 2 switched) | lagEntries varint | rowsCopied varint (cluster/split-run.ts);
//     layout = v4 layout | split opt (to varint: a split to 2 × shards under way).
// v6: layout = v5 layout | removing: count varint, nodeId u16 each (leaving members removed for
//     good, REMOVE NODE) | placementShards opt varint (the count placement keys on after a split).
// v7: member = v5 member | votersChanging: count varint, shard varint each (ascending: the member's
//     Mode 1 groups whose voters are not the placement's yet; a split's start waits for none:
//     cluster/split-ddl-guard.ts splitStartBlockers).
// Each message is written in the lowest version that carries it (core/codec-versions.ts): v1
// without a layout, v2 with one that has no leaving, left or joining members, v3 with leaving or
// left ones, v4 with joining ones, v5 while a split runs (a layout with `split`, or a member
// with split reports), v6 with removing members or a placement count, v7 with a member reporting
// groups changing their voters — so a node of the previous release reads everything but what it could
// not represent, and refuses (SB_CODEC_VERSION) rather than misreads a split.

export const GOSSIP_CODEC_VERSION = CODEC_VERSIONS.gossip
/** The first version carrying the sender's cluster layout. */
const LAYOUT_SINCE = 2
/** The first version carrying the layout's leaving and left members. */
const MEMBER_STATES_SINCE = 3
/** The first version carrying the layout's joining members. */
const JOINING_SINCE = 4
/** The first version carrying a split under way (the layout's intent, the members' reports). */
const SPLIT_SINCE = 5
/** The first version carrying the layout's removing members and placement count. */
const REMOVING_SINCE = 6
/** The first version carrying a member's groups still changing their voters. */
const VOTERS_CHANGING_SINCE = 7
/** The layout format of gossip v4 (every member state): MEMBERSHIP_DECREE carries layouts in it. */
export const LAYOUT_FORMAT = JOINING_SINCE
/** The layout format of gossip v5 (a split under way): MEMBERSHIP_DECREE v3 carries layouts in it. */
export const SPLIT_LAYOUT_FORMAT = SPLIT_SINCE
/** The layout format of gossip v6 (removing members, placement count): MEMBERSHIP_DECREE v4 carries layouts in it. */
export const REMOVING_LAYOUT_FORMAT = REMOVING_SINCE

/** The lowest layout format that carries `l` (MEMBERSHIP_DECREE picks its version by it too). */
export function layoutFormatOf (l: ClusterLayout): number {
  if ((l.removing ?? []).length > 0 || l.placementShards !== undefined) return REMOVING_SINCE
  if (l.split !== undefined) return SPLIT_SINCE
  if ((l.joining ?? []).length > 0) return JOINING_SINCE
  return (l.leaving ?? []).length > 0 || (l.left ?? []).length > 0 ? MEMBER_STATES_SINCE : LAYOUT_SINCE
}

const rpcFail = (codec: string): Fail => (why: string) => new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${codec} payload: ${why}`)

function writeMember (w: CodecWriter, m: MemberRecord, version: number): void {
  w.u16(m.nodeId)
  w.str(m.address)
  w.str(m.datacenter)
  w.uint(m.incarnation)
  w.uint(m.heartbeat)
  w.u8(MEMBER_STATES.indexOf(m.state))
  w.str(m.bootId)
  w.str(m.claimedOver)
  w.uint(m.catalogVersion)
  w.str(m.oldestActiveHlc)
  w.uint(m.shardReplicas)
  if (version >= SPLIT_SINCE) {
    w.array(m.split ?? [], x => { w.uint(x.parent); w.u8(SPLIT_PARENT_PHASES.indexOf(x.phase)); w.uint(x.lagEntries); w.uint(x.rowsCopied) })
  }
  if (version >= VOTERS_CHANGING_SINCE) w.array(m.votersChanging ?? [], s => w.uint(s))
}

function readSplitReports (r: CodecReader): SplitParentReport[] {
  const n = r.count(4)
  if (n > GOSSIP_MAX_SPLIT_REPORTS) throw r.malformed(`${n} split reports in one member record (at most ${GOSSIP_MAX_SPLIT_REPORTS})`)
  const out: SplitParentReport[] = []
  for (let i = 0; i < n; i++) out.push({ parent: r.uint() as SplitParentReport['parent'], phase: r.pick(SPLIT_PARENT_PHASES, 'split phase'), lagEntries: r.uint(), rowsCopied: r.uint() })
  return out
}

function readMember (r: CodecReader, version: number): MemberRecord {
  const m: MemberRecord = {
    nodeId: r.nodeId(),
    address: r.str(),
    datacenter: r.str(),
    incarnation: r.uint(),
    heartbeat: r.uint(),
    state: r.pick(MEMBER_STATES, 'member state'),
    bootId: r.str(),
    claimedOver: r.str(),
    catalogVersion: r.uint(),
    oldestActiveHlc: r.str(),
    shardReplicas: r.uint()
  }
  if (version >= SPLIT_SINCE) {
    const split = readSplitReports(r)
    if (split.length > 0) m.split = split
  }
  if (version >= VOTERS_CHANGING_SINCE) {
    const n = r.count(1)
    if (n > MAX_SHARDS) throw r.malformed(`${n} shards changing voters in one member record (at most ${MAX_SHARDS})`)
    const shards: ShardId[] = []
    for (let i = 0; i < n; i++) shards.push(r.uint() as ShardId)
    if (shards.length > 0) m.votersChanging = shards
  }
  if (!isMemberRecord(m)) throw r.malformed(`member record of node ${(m as MemberRecord).nodeId} out of bounds`)
  return m
}

/** A layout as gossip of codec `version` carries it (MEMBERSHIP_DECREE reuses it). */
export function writeLayout (w: CodecWriter, l: ClusterLayout, version: number): void {
  w.str(l.cluster)
  w.uint(l.shards)
  w.uint(l.epoch)
  w.array(l.members, id => w.u16(id))
  if (version < MEMBER_STATES_SINCE) return
  w.array(l.leaving ?? [], id => w.u16(id))
  w.array(l.left ?? [], id => w.u16(id))
  if (version >= JOINING_SINCE) w.array(l.joining ?? [], id => w.u16(id))
  if (version >= SPLIT_SINCE) w.opt(l.split, x => w.uint(x.to))
  if (version < REMOVING_SINCE) return
  w.array(l.removing ?? [], id => w.u16(id))
  w.opt(l.placementShards, x => w.uint(x))
}

function readIds (r: CodecReader, what: string): NodeId[] {
  const n = r.count(2)
  if (n > LAYOUT_MAX_MEMBERS) throw r.malformed(`layout of ${n} ${what} (at most ${LAYOUT_MAX_MEMBERS})`)
  const ids: NodeId[] = []
  for (let i = 0; i < n; i++) ids.push(r.nodeId())
  return ids
}

/** A layout as gossip of codec `version` carries it (MEMBERSHIP_DECREE reuses it). */
export function readLayout (r: CodecReader, version: number): ClusterLayout {
  const cluster = r.str()
  const shards = r.uint()
  const epoch = r.uint()
  const members = readIds(r, 'members')
  const states = version >= MEMBER_STATES_SINCE ? { leaving: readIds(r, 'leaving members'), left: readIds(r, 'left members') } : {}
  const joining = version >= JOINING_SINCE ? { joining: readIds(r, 'joining members') } : {}
  const split = version >= SPLIT_SINCE ? r.opt(() => ({ to: r.uint() })) : undefined
  const removing = version >= REMOVING_SINCE ? readIds(r, 'removing members') : []
  const placementShards = version >= REMOVING_SINCE ? r.opt(() => r.uint()) : undefined
  const layout = parseLayout({
    cluster,
    shards,
    epoch,
    members,
    ...states,
    ...joining,
    ...(split !== undefined ? { split } : {}),
    ...(removing.length > 0 ? { removing } : {}),
    ...(placementShards !== undefined ? { placementShards } : {})
  })
  if (layout === null) throw r.malformed('cluster layout out of bounds (name, shard count, epoch, members not ascending node ids, leaving/left/joining not ascending disjoint members, removing not leaving ones, a split to other than twice the shards, or a placement count not the shards divided by a power of two)')
  return layout
}

/** The lowest codec version that carries `m` (see above). */
function versionOf (m: GossipMessage | null): number {
  const l = m?.layout
  const layoutVersion = l === undefined || l === null ? 1 : layoutFormatOf(l)
  const reports = m?.members.some(x => x.split !== undefined) ?? false
  const changing = m?.members.some(x => (x.votersChanging ?? []).length > 0) ?? false
  return Math.max(layoutVersion, reports ? SPLIT_SINCE : 1, changing ? VOTERS_CHANGING_SINCE : 1)
}

function writeMessage (w: CodecWriter, m: GossipMessage, version: number): void {
  w.u8(m.type === 'ping' ? 0 : 1)
  w.u16(m.from)
  w.str(m.hlc)
  w.array(m.members, x => writeMember(w, x, version))
  if (m.type === 'ping') {
    w.f64(m.sentAt)
  } else {
    w.f64(m.echoSentAt)
    w.f64(m.answeredAt)
  }
  if (version >= LAYOUT_SINCE) w.opt(m.layout, l => writeLayout(w, l, version))
}

function readMessage (r: CodecReader, version: number): GossipMessage {
  const type = r.pick(['ping', 'ack'] as const, 'gossip message type')
  const from = r.u16()
  if (!isNodeId(from)) throw r.malformed(`sender node id ${from}`)
  const hlc = r.str()
  if (hlc.length > GOSSIP_MAX_STRING) throw r.malformed('hlc text too long')
  const n = r.count(1)
  if (n > GOSSIP_MAX_MEMBERS_PER_MESSAGE) throw r.malformed(`${n} members (at most ${GOSSIP_MAX_MEMBERS_PER_MESSAGE})`)
  const members: MemberRecord[] = []
  for (let i = 0; i < n; i++) members.push(readMember(r, version))
  const m: GossipMessage = type === 'ping'
    ? { type, from, hlc, members, sentAt: r.finite() }
    : { type, from, hlc, members, echoSentAt: r.finite(), answeredAt: r.finite() }
  const layout = version >= LAYOUT_SINCE ? r.opt(() => readLayout(r, version)) : undefined
  if (layout !== undefined) m.layout = layout
  return m
}

/** A gossip codec whose messages go out in the lowest version that carries them. */
function gossipCodec<T extends GossipMessage> (name: string, read: (r: CodecReader, version: number) => T): Codec<T> {
  return versionedLowest(name, GOSSIP_CODEC_VERSION, rpcFail, versionOf, writeMessage, read)
}

/** Either message (the simulator's network carries both kinds alike). */
export const gossipMessageCodec: Codec<GossipMessage> = gossipCodec('gossip message', (r, v) => readMessage(r, v))

function readOnly<T extends GossipMessage> (r: CodecReader, version: number, type: T['type']): T {
  const m = readMessage(r, version)
  if (m.type !== type) throw r.malformed(`a ${m.type} where a ${type} belongs`)
  return m as T
}

/** GOSSIP_SYNC's request and GOSSIP_ACK's. */
export const gossipPingCodec: Codec<GossipPing> = gossipCodec('gossip ping', (r, v) => readOnly<GossipPing>(r, v, 'ping'))
export const gossipAckCodec: Codec<GossipAck> = gossipCodec('gossip ack', (r, v) => readOnly<GossipAck>(r, v, 'ack'))

/** GOSSIP_SYNC's reply: the receiver's ack, or none (presence byte after the version). */
export const gossipAckOrNoneCodec: Codec<GossipAck | null> = versionedLowest<GossipAck | null>('gossip reply', GOSSIP_CODEC_VERSION, rpcFail, versionOf,
  (w, m, version) => w.opt(m, x => writeMessage(w, x, version)), (r, v) => r.opt(() => readOnly<GossipAck>(r, v, 'ack')) ?? null)
