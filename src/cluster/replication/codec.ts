import type { Fail } from '../../core/bytes'
import { type Codec, type CodecReader, type CodecWriter, versioned } from '../../core/codec'
import { ScratchBirdError } from '../../core/errors'
import { isNodeId, type NodeId, type ShardId } from '../../core/ids'
import {
  ENTRY_KINDS, MAX_ENTRIES_PER_APPEND, MAX_VOTERS, MESSAGE_TYPES,
  type HardState, type LogBase, type ReplEntry, type ReplMessage
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

export const REPLICATION_CODEC_VERSION = 1

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

function writeMessage (w: CodecWriter, m: ReplMessage): void {
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
      break
    case 'vote-reply':
      w.bool(m.granted)
      w.bool(m.preVote)
      break
    case 'snapshot':
      writeBase(w, m.base)
      break
  }
}

function readMessage (r: CodecReader): ReplMessage {
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
    case 'vote':
      return { type, generation, from, lastLsn: r.u64(), lastGeneration: r.uint(), preVote: r.bool() }
    case 'vote-reply':
      return { type, generation, from, granted: r.bool(), preVote: r.bool() }
    case 'snapshot':
      return { type, generation, from, base: readBase(r) }
  }
}

export const replEnvelopeCodec: Codec<ReplEnvelope> = versioned('replication message', REPLICATION_CODEC_VERSION, rpcFail,
  (w, e) => { w.u32(e.shard); writeMessage(w, e.msg) },
  r => ({ shard: r.shard(), msg: readMessage(r) }))

/** One log entry as the storage side keeps it next to the commit log (c/<lsn> carries the data payload). */
export const replEntryCodec: Codec<ReplEntry> = versioned('replication entry', REPLICATION_CODEC_VERSION, rpcFail, writeEntry, r => readEntry(r))

/** The durable vote (HardState): persisted before any message of the same Ready is sent. */
export const hardStateCodec: Codec<HardState> = versioned('replication hard state', REPLICATION_CODEC_VERSION, rpcFail,
  (w, h) => { w.uint(h.generation); w.u16(h.votedFor) },
  r => {
    const generation = r.uint()
    const v = r.u16()
    return { generation, votedFor: isNodeId(v) ? v : 0 }
  })

/** Where the retained log starts (snapshot / compaction point). */
export const logBaseCodec: Codec<LogBase> = versioned('replication log base', REPLICATION_CODEC_VERSION, rpcFail, writeBase, r => readBase(r))
