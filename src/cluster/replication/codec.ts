import type { Fail } from '../../core/bytes'
import { type Codec, type CodecReader, type CodecWriter, versioned, versionedLowest } from '../../core/codec'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { ScratchBirdError } from '../../core/errors'
import { isNodeId, type NodeId, type ShardId } from '../../core/ids'
import {
  ENTRY_KINDS, MAX_ENTRIES_PER_APPEND, MAX_VOTERS, MESSAGE_TYPES,
  type HardState, type LogBase, type ReplEntry, type ReplMessage, type VoteRequest
} from './types'

// Mode 1 replication on the wire (cluster RPC between the replicas of a shard) and the records the
// storage side persists (entry, hard state, log base): versioned binary codecs (core/codec.ts).
// Anything malformed is SB_RPC_MALFORMED (SB_CODEC_VERSION for a newer version), never another
// throw: the receiver drops it and nothing is applied.
//
// v1: envelope = version u8 | shard u32 | message
//     message  = type u8 (MESSAGE_TYPES index) | generation varint | from u16 | body
//     append: prevLsn u64 | prevGeneration varint | entries (count varint, ≤ MAX_ENTRIES_PER_APPEND) | leaderCommit u64 | stamp f64
//     append-reply: ok bool | matchLsn u64 | hintLsn u64 | hintGeneration varint | stamp f64
//     vote: lastLsn u64 | lastGeneration varint | preVote bool
//     vote-reply: granted bool | preVote bool
//     snapshot: base
//     entry = lsn u64 | generation varint | kind u8 (ENTRY_KINDS index) | data: payload blob | config: voters
//     voters = count varint (1..MAX_VOTERS), node id u16 each
//     base = lsn u64 | generation varint | voters (count may be 0: a new replica knows none)
// v2 (leadership transfer, issue 20 item 4): vote: v1 vote | transfer bool;
//     timeout-now (type 5): no body.
//     Messages are written in the lowest version that carries them (core/codec-versions.ts): everything
//     but a TimeoutNow and a transfer's vote is still v1, which a node of the previous release
//     reads; those two it refuses with SB_CODEC_VERSION (dropped, counted) and the hand-over
//     falls back to an election after the primary's silence — slower, never wrong.
//     The stored records (entry, hard state, log base) are unchanged and stay v1.

export const REPLICATION_CODEC_VERSION = CODEC_VERSIONS.replication
/** The first version with TimeoutNow and the vote's transfer flag. */
const TRANSFER_SINCE = 2
/** What the storage side persists: unchanged since v1, so an older release reads a newer data directory's records. */
const RECORD_CODEC_VERSION = 1

const rpcFail = (codec: string): Fail => (why: string) => new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${codec} payload: ${why}`)

/** A shard's replication message between two nodes. */
export interface ReplEnvelope {
  shard: ShardId
  msg: ReplMessage
}

function writeVoters (w: CodecWriter, voters: readonly NodeId[]): void {
  w.array(voters, v => w.u16(v))
}

function readVoters (r: CodecReader, min: number): NodeId[] {
  const n = r.count(2)
  if (n < min || n > MAX_VOTERS) throw r.malformed(`${n} voters (${min}..${MAX_VOTERS})`)
  const out: NodeId[] = []
  for (let i = 0; i < n; i++) {
    const v = r.nodeId()
    if (out.includes(v)) throw r.malformed(`voter ${v} listed twice`)
    out.push(v)
  }
  return out
}

function writeEntry (w: CodecWriter, e: ReplEntry): void {
  w.u64(e.lsn)
  w.uint(e.generation)
  w.u8(ENTRY_KINDS.indexOf(e.kind))
  if (e.kind === 'data') w.blob(e.payload)
  else if (e.kind === 'config') writeVoters(w, e.voters)
}

function readEntry (r: CodecReader): ReplEntry {
  const lsn = r.u64()
  const generation = r.uint()
  const kind = r.pick(ENTRY_KINDS, 'entry kind')
  if (lsn === 0n) throw r.malformed('entry LSN 0')
  switch (kind) {
    case 'data': return { lsn, generation, kind, payload: r.blob() }
    case 'noop': return { lsn, generation, kind }
    case 'config': return { lsn, generation, kind, voters: readVoters(r, 1) }
  }
}

function writeBase (w: CodecWriter, b: LogBase): void {
  w.u64(b.lsn)
  w.uint(b.generation)
  writeVoters(w, b.voters)
}

function readBase (r: CodecReader): LogBase {
  return { lsn: r.u64(), generation: r.uint(), voters: readVoters(r, 0) }
}

/** The lowest codec version that carries `m` (see v2 above). */
function versionOf (m: ReplMessage): number {
  return m.type === 'timeout-now' || (m.type === 'vote' && m.transfer === true) ? TRANSFER_SINCE : 1
}

function writeMessage (w: CodecWriter, m: ReplMessage, version: number): void {
  w.u8(MESSAGE_TYPES.indexOf(m.type))
  w.uint(m.generation)
  w.u16(m.from)
  switch (m.type) {
    case 'append':
      w.u64(m.prevLsn)
      w.uint(m.prevGeneration)
      w.array(m.entries, e => writeEntry(w, e))
      w.u64(m.leaderCommit)
      w.f64(m.stamp)
      break
    case 'append-reply':
      w.bool(m.ok)
      w.u64(m.matchLsn)
      w.u64(m.hintLsn)
      w.uint(m.hintGeneration)
      w.f64(m.stamp)
      break
    case 'vote':
      w.u64(m.lastLsn)
      w.uint(m.lastGeneration)
      w.bool(m.preVote)
      if (version >= TRANSFER_SINCE) w.bool(m.transfer === true)
      break
    case 'vote-reply':
      w.bool(m.granted)
      w.bool(m.preVote)
      break
    case 'snapshot':
      writeBase(w, m.base)
      break
    case 'timeout-now':
      break
  }
}

function readMessage (r: CodecReader, version: number): ReplMessage {
  const type = r.pick(MESSAGE_TYPES, 'replication message type')
  const generation = r.uint()
  const from = r.nodeId()
  switch (type) {
    case 'append': {
      const prevLsn = r.u64()
      const prevGeneration = r.uint()
      const n = r.count(10)
      if (n > MAX_ENTRIES_PER_APPEND) throw r.malformed(`${n} entries in one append (at most ${MAX_ENTRIES_PER_APPEND})`)
      const entries: ReplEntry[] = []
      for (let i = 0; i < n; i++) entries.push(readEntry(r))
      return { type, generation, from, prevLsn, prevGeneration, entries, leaderCommit: r.u64(), stamp: r.finite() }
    }
    case 'append-reply':
      return { type, generation, from, ok: r.bool(), matchLsn: r.u64(), hintLsn: r.u64(), hintGeneration: r.uint(), stamp: r.finite() }
    case 'vote': {
      const v: VoteRequest = { type, generation, from, lastLsn: r.u64(), lastGeneration: r.uint(), preVote: r.bool() }
      if (version >= TRANSFER_SINCE && r.bool()) v.transfer = true
      return v
    }
    case 'vote-reply':
      return { type, generation, from, granted: r.bool(), preVote: r.bool() }
    case 'snapshot':
      return { type, generation, from, base: readBase(r) }
    case 'timeout-now':
      if (version < TRANSFER_SINCE) throw r.malformed(`a TimeoutNow in codec version ${version}`)
      return { type, generation, from }
  }
}

export const replEnvelopeCodec: Codec<ReplEnvelope> = versionedLowest('replication message', REPLICATION_CODEC_VERSION, rpcFail, e => versionOf(e.msg),
  (w, e, version) => { w.u32(e.shard); writeMessage(w, e.msg, version) },
  (r, version) => ({ shard: r.shard(), msg: readMessage(r, version) }))

/** One log entry as the storage side keeps it next to the commit log (c/<lsn> carries the data payload). */
export const replEntryCodec: Codec<ReplEntry> = versioned('replication entry', RECORD_CODEC_VERSION, rpcFail, writeEntry, r => readEntry(r))

/** The durable vote (HardState): persisted before any message of the same Ready is sent. */
export const hardStateCodec: Codec<HardState> = versioned('replication hard state', RECORD_CODEC_VERSION, rpcFail,
  (w, h) => { w.uint(h.generation); w.u16(h.votedFor) },
  r => {
    const generation = r.uint()
    const v = r.u16()
    return { generation, votedFor: isNodeId(v) ? v : 0 }
  })

/** Where the retained log starts (snapshot / compaction point). */
export const logBaseCodec: Codec<LogBase> = versioned('replication log base', RECORD_CODEC_VERSION, rpcFail, writeBase, r => readBase(r))
