import type { Fail } from '../../core/bytes'
import { type Codec, type CodecReader, type CodecWriter, versioned } from '../../core/codec'
import { ScratchBirdError } from '../../core/errors'
import {
  GOSSIP_MAX_MEMBERS_PER_MESSAGE, MEMBER_STATES, isMemberRecord, isNodeId, GOSSIP_MAX_STRING,
  type GossipAck, type GossipMessage, type GossipPing, type MemberRecord
} from './types'

// Gossip messages on the wire (GOSSIP_SYNC and its reply, DESIGN §7): a versioned binary codec.
// The decoder applies the same rules as parseGossipMessage (types.ts) — node ids 1..65535, strings
// of at most GOSSIP_MAX_STRING characters, at most GOSSIP_MAX_MEMBERS_PER_MESSAGE members — and
// answers anything else with SB_RPC_MALFORMED (SB_CODEC_VERSION for a newer codec), never a crash.
//
// v1: payload = version u8 | message; message = type u8 (0 ping, 1 ack) | from u16 | hlc str | members | ping: sentAt f64 | ack: echoSentAt f64, answeredAt f64
//     member = nodeId u16 | address str | datacenter str | incarnation, heartbeat varint | state u8 |
//              bootId str | claimedOver str | catalogVersion varint | oldestActiveHlc str | shardReplicas varint

export const GOSSIP_CODEC_VERSION = 1

const rpcFail = (codec: string): Fail => (why: string) => new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${codec} payload: ${why}`)

function writeMember (w: CodecWriter, m: MemberRecord): void {
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
}

function readMember (r: CodecReader): MemberRecord {
  const m: MemberRecord = {
    nodeId: r.u16(),
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
  if (!isMemberRecord(m)) throw r.malformed(`member record of node ${(m as MemberRecord).nodeId} out of bounds`)
  return m
}

function writeMessage (w: CodecWriter, m: GossipMessage): void {
  w.u8(m.type === 'ping' ? 0 : 1)
  w.u16(m.from)
  w.str(m.hlc)
  w.array(m.members, x => writeMember(w, x))
  if (m.type === 'ping') {
    w.f64(m.sentAt)
  } else {
    w.f64(m.echoSentAt)
    w.f64(m.answeredAt)
  }
}

function readMessage (r: CodecReader): GossipMessage {
  const type = r.pick(['ping', 'ack'] as const, 'gossip message type')
  const from = r.u16()
  if (!isNodeId(from)) throw r.malformed(`sender node id ${from}`)
  const hlc = r.str()
  if (hlc.length > GOSSIP_MAX_STRING) throw r.malformed('hlc text too long')
  const n = r.count(1)
  if (n > GOSSIP_MAX_MEMBERS_PER_MESSAGE) throw r.malformed(`${n} members (at most ${GOSSIP_MAX_MEMBERS_PER_MESSAGE})`)
  const members: MemberRecord[] = []
  for (let i = 0; i < n; i++) members.push(readMember(r))
  if (type === 'ping') return { type, from, hlc, members, sentAt: r.finite() }
  return { type, from, hlc, members, echoSentAt: r.finite(), answeredAt: r.finite() }
}

/** Either message (the simulator's network carries both kinds alike). */
export const gossipMessageCodec: Codec<GossipMessage> = versioned('gossip message', GOSSIP_CODEC_VERSION, rpcFail, writeMessage, r => readMessage(r))

function readOnly<T extends GossipMessage> (r: CodecReader, type: T['type']): T {
  const m = readMessage(r)
  if (m.type !== type) throw r.malformed(`a ${m.type} where a ${type} belongs`)
  return m as T
}

/** GOSSIP_SYNC's request and GOSSIP_ACK's. */
export const gossipPingCodec: Codec<GossipPing> = versioned('gossip ping', GOSSIP_CODEC_VERSION, rpcFail, writeMessage, r => readOnly<GossipPing>(r, 'ping'))
export const gossipAckCodec: Codec<GossipAck> = versioned('gossip ack', GOSSIP_CODEC_VERSION, rpcFail, writeMessage, r => readOnly<GossipAck>(r, 'ack'))

/** GOSSIP_SYNC's reply: the receiver's ack, or none (presence byte after the version). */
export const gossipAckOrNoneCodec: Codec<GossipAck | null> = versioned('gossip reply', GOSSIP_CODEC_VERSION, rpcFail,
  (w, m) => w.opt(m, x => writeMessage(w, x)), r => r.opt(() => readOnly<GossipAck>(r, 'ack')) ?? null)
