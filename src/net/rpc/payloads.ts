import type { Fail } from '../../core/bytes'
import { type Codec, type CodecReader, type CodecWriter, versionedLowest } from '../../core/codec'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { ScratchBirdError } from '../../core/errors'
import { gossipAckCodec, gossipAckOrNoneCodec, gossipPingCodec, LAYOUT_FORMAT, layoutFormatOf, readLayout, REMOVING_LAYOUT_FORMAT, SPLIT_LAYOUT_FORMAT, writeLayout } from '../../cluster/gossip/codec'
import type { Accepted, Ballot, DecreeReply, DecreeRequest } from '../../cluster/membership/epoch-decree'
import type { ClusterLayout } from '../../cluster/layout'
import type { GossipAck, GossipPing } from '../../cluster/gossip/types'
import type { FenceRelease } from '../../cluster/table-fences'
import type { SplitHold, SplitLockReply, SplitLockRequest } from '../../cluster/split-ddl-lock'
import { SHARD_CODEC_BASE, SHARD_CODEC_VERSION, SHARD_COUNT_SINCE, SHARD_OP_BY_CODE, SHARD_OPS, isLocalOnly, shardOpVersion, type ShardOpName } from '../../shard/protocol/ops'
import type { RpcOpcodeName } from './opcodes'
import { MAX_SHARDS, type NodeId, type ShardId, type Xid } from '../../core/ids'
import type { SnapshotSplitState } from '../../storage/snapshot-split'

// The payload codec of every cluster RPC opcode (the table in opcodes.ts), request and reply.
// Every payload starts with its codec version (core/codec.ts): a peer's payload in a newer version
// than this node speaks is refused with SB_CODEC_VERSION naming both, for that message alone;
// anything else malformed is SB_RPC_MALFORMED. Nothing here is v8.serialize. Every payload is
// written in the lowest version that carries it (core/codec-versions.ts: the rule and the table).
// The payloads without a codec of their own are all still v1.
//
//   PING            bytes, echoed
//   GOSSIP_SYNC     a gossip ping → the receiver's ack, or none (cluster/gossip/codec.ts)
//   GOSSIP_ACK      a gossip ack → nothing
//   CATALOG_*       the catalog travels as its JSON document (Catalog.toJSON, checked by
//                   Catalog.fromJSON on arrival) inside the versioned binary envelope: it is a
//                   document with its own format version, read once per DDL, not a hot path
//                   CATALOG_FETCH reply: document | coordinating bool | v5: the split holds
//                   (count, each kind u8 (0 recorded, 1 accepted, 2 lock) | epoch uint | shards
//                   uint | to uint | lapsed ms uint | judgedAt opt uint); written as v1 unless it
//                   carries any
//   REPL_MESSAGE    count varint (≤ MAX_REPL_BATCH) | blob per frame → nothing
//   MEMBERSHIP_DECREE kind u8 (0 prepare, 1 accept) | epoch uint | ballot (round uint, nodeId) |
//                   accept: layout (gossip v4 format) → kind u8 (0 promise, 1 accepted, 2 rejected,
//                   3 behind) | epoch uint | ballot | promise: accepted opt (ballot, layout) |
//                   rejected: promised ballot | behind: runs uint
//                   v3: the layouts in gossip v5 format (a split under way); written as v1
//                   unless a layout carries `split`, so a previous release refuses only those.
//                   v5: accept and a promise's accepted value carry a split intent's judgedAt
//                   (opt uint), and a reply 4 stale | catalog version uint; written only then.
//   REPL_SNAPSHOT_CHUNK shard u32 | generation uint | from nodeId | snapshot id, LSN, generation,
//                   HLC high water u64 | after (bool, blob) | done bool | entries (count, key blob,
//                   value blob) | v2: voters at the LSN (count, nodeId…; the last chunk only)
//                   → installed keys uint | last key (bool, blob) | complete bool
//                   v3: split state (the last chunk only; storage/snapshot-split.ts): fence record
//                   (bool, blob) | cleaned-for shard count u32
//                   Written as v1 unless it carries voters (v2) or a split state (v3)
//                   (versionedLowest): a previous release refuses only a last chunk that names
//                   them, and installs the rest.
//   SPLIT_LOCK      take bool | epoch uint | shards uint | to uint (2 × shards) → granted bool |
//                   catalog version uint | refusal str (cluster/split-ddl-lock.ts)
//   SHARD_QUERY     op u8 | shard u32 | sender's catalog version varint | v7: routed-by shard count
//                   varint (0: none) | the shard op's own binary payload (shard/protocol), whose
//                   version is this envelope's version (the lowest that carries the op, and the
//                   count when one is stamped: SHARD_COUNT_SINCE) → reply payload (SHARD_CODEC_BASE:
//                   no reply body changed since). A previous release refuses only a stamped request.

/** catalogVersion: the sender's catalog version, so a replica can refuse a write placed by a
 *  catalog older than its tables' layout (Catalog.layoutFloor, issue 13). shards: the shard count
 *  the request was routed by, when the sender's layout split (cluster/shard-count-guard.ts). */
export interface ShardQuery { op: ShardOpName, shard: ShardId, catalogVersion: number, shards?: number | undefined, payload: Uint8Array }
export interface CatalogDoc { catalog: unknown }
/** A DDL's write fence (node/table-fences.ts): set on `shards` of the receiver, or released by how the DDL ended. */
export interface TableFenceRequest {
  action: 'fence' | 'release'
  tableId: number
  token: string
  shards: ShardId[]
  release?: FenceRelease
}
/** Mode 1 replication messages to one peer, each a replEnvelopeCodec frame (cluster/replication/codec.ts, decoded one by one by the receiver: a bad frame drops only itself). */
export interface ReplBatch { messages: Uint8Array[] }
/** Frames one REPL_MESSAGE carries at most. */
export const MAX_REPL_BATCH = 1_024
/**
 * One chunk of a Mode 1 bootstrap snapshot (node/replication/snapshot-stream.ts), from the primary
 * of `generation`: installed on the receiver as REPL_SNAPSHOT_INSTALL takes it.
 */
export interface SnapshotChunkRequest {
  shard: ShardId
  generation: number
  from: NodeId
  snapshotId: bigint
  lsn: bigint
  snapshotGeneration: bigint
  hlcHighWater: bigint
  after: Uint8Array | null
  done: boolean
  entries: Array<{ key: Uint8Array, value: Uint8Array }>
  /** The group's voters at `lsn`, on the last chunk (codec v2; absent from a previous-release source). */
  voters?: NodeId[] | null
  /** The source's split fence and cleanup state at `lsn`, on the last chunk when it holds any (codec v3). */
  split?: SnapshotSplitState | null
}
/** Where the receiver's install stands after the chunk: the resume point of the stream. */
export interface SnapshotChunkReply { installedKeys: number, lastKey: Uint8Array | null, complete: boolean }
/** Entries one REPL_SNAPSHOT_CHUNK carries at most (REPL_SNAPSHOT_INSTALL's own bound). */
export const MAX_SNAPSHOT_CHUNK_ENTRIES = 10_000
/** Voters a snapshot chunk names at most (a config entry's bound, commit-log.ts MAX_CONTROL_VOTERS). */
const MAX_SNAPSHOT_VOTERS = 16
/** A catalog and whether its holder is running a DDL statement (a returning lower id waits for it). */
/** holds (v5): the splits the answering node holds (cluster/split-ddl-lock.ts rule 3); absent or empty: none. */
export interface CatalogFetchReply { catalog: unknown, coordinating: boolean, holds?: SplitHold[] | undefined }
/** A split hold's kind on the wire (its index): never reorder. */
const HOLD_KINDS: ReadonlyArray<SplitHold['kind']> = ['recorded', 'accepted', 'lock']
export interface DdlReply { command: string, warnings: string[], catalog: unknown }

/**
 * MEMBERSHIP_STATUS reply: the Mode 1 shards the answering node is primary of, each with the voters
 * its log holds; `fills` (v2, absent from v1 replies): the leaderless fills it finished for the
 * move under way (cluster/membership/leaderless-moves.ts FillMark).
 */
export interface MembershipStatus { primaries: Array<{ shard: number, voters: NodeId[] }>, fills?: Array<{ shard: number, factor: number, targets: NodeId[] }> }

export interface RpcRequests {
  PING: Uint8Array
  GOSSIP_SYNC: GossipPing
  GOSSIP_ACK: GossipAck
  CATALOG_FETCH: Record<string, never>
  CATALOG_APPLY: CatalogDoc
  CATALOG_DDL: { sql: string }
  SHARD_QUERY: ShardQuery
  TABLE_FENCE: TableFenceRequest
  REPL_MESSAGE: ReplBatch
  REPL_SNAPSHOT_CHUNK: SnapshotChunkRequest
  MEMBERSHIP_STATUS: Record<string, never>
  MEMBERSHIP_DECREE: DecreeRequest
  TXN_STATUS: { xid: Xid }
  SPLIT_LOCK: SplitLockRequest
}

export interface RpcReplies {
  PING: Uint8Array
  GOSSIP_SYNC: GossipAck | null
  GOSSIP_ACK: null
  CATALOG_FETCH: CatalogFetchReply
  CATALOG_APPLY: { version: number }
  CATALOG_DDL: DdlReply
  SHARD_QUERY: { payload: Uint8Array }
  TABLE_FENCE: { rows: boolean }
  REPL_MESSAGE: null
  REPL_SNAPSHOT_CHUNK: SnapshotChunkReply
  MEMBERSHIP_STATUS: MembershipStatus
  MEMBERSHIP_DECREE: DecreeReply
  TXN_STATUS: { live: boolean }
  SPLIT_LOCK: SplitLockReply
}

export interface RpcPayloadCodec<K extends RpcOpcodeName> {
  readonly request: Codec<RpcRequests[K]>
  readonly reply: Codec<RpcReplies[K]>
}

export const rpcFail = (codec: string): Fail => (why: string) => new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${codec} payload: ${why}`)

/** A payload written in v1; read up to this build's rpcPayload version (a next release may add to it). */
function v1<T> (name: string, write: (w: CodecWriter, v: T) => void, read: (r: CodecReader) => T): Codec<T> {
  return versionedLowest(name, CODEC_VERSIONS.rpcPayload, rpcFail, () => 1, write, r => read(r))
}

const nothing = <T extends Record<string, never> | null>(name: string, value: T): Codec<T> => v1(name, () => {}, () => value)

function writeDoc (w: CodecWriter, doc: unknown): void {
  const text = JSON.stringify(doc) as string | undefined
  w.str(text ?? 'null')
}

function readDoc (r: CodecReader): unknown {
  const text = r.str()
  try {
    return JSON.parse(text) as unknown
  } catch (e) {
    throw r.malformed(`document is not JSON (${e instanceof Error ? e.message : 'parse failed'})`)
  }
}

/**
 * The op bodies of a version before SHARD_CODEC_BASE had other shapes that this node no longer
 * reads: refused, never misread (such a peer is more than one release behind).
 */
function olderShardBodies (r: CodecReader, version: number): void {
  if (version < SHARD_CODEC_BASE) throw r.malformed(`shard op bodies of codec version ${version}, older than this node reads (${SHARD_CODEC_BASE}..${SHARD_CODEC_VERSION}): upgrade the sending node`)
}

/** The lowest SHARD_QUERY version that carries `q`: its op's, or SHARD_COUNT_SINCE when it is stamped with a shard count. */
const shardQueryVersion = (q: ShardQuery): number => q.shards === undefined ? shardOpVersion(q.op) : Math.max(shardOpVersion(q.op), SHARD_COUNT_SINCE)

const shardQueryRequest: Codec<ShardQuery> = versionedLowest('SHARD_QUERY', SHARD_CODEC_VERSION, rpcFail, shardQueryVersion, (w, q, version) => {
  w.u8(SHARD_OPS[q.op].code)
  w.u32(q.shard)
  w.uint(q.catalogVersion)
  if (version >= SHARD_COUNT_SINCE) w.uint(q.shards ?? 0)
  w.bytes(q.payload)
}, (r, version) => {
  olderShardBodies(r, version)
  const code = r.u8()
  const op = SHARD_OP_BY_CODE.get(code)
  if (op === undefined) throw r.malformed(`unknown shard op ${code}`)
  // The hint log is this node's own: a peer may neither read nor change it.
  if (isLocalOnly(op)) throw r.malformed(`shard op ${op} is not served to peers`)
  const shard = r.shard()
  const catalogVersion = r.uint()
  if (version < SHARD_COUNT_SINCE) return { op, shard, catalogVersion, payload: r.bytes(r.left) }
  const shards = r.uint()
  if (shards > MAX_SHARDS) throw r.malformed(`routed by ${shards} shards, above the maximum of ${MAX_SHARDS}`)
  return { op, shard, catalogVersion, shards: shards === 0 ? undefined : shards, payload: r.bytes(r.left) }
})

const shardQueryReply: Codec<{ payload: Uint8Array }> = versionedLowest('SHARD_QUERY reply', SHARD_CODEC_VERSION, rpcFail, () => SHARD_CODEC_BASE,
  (w, v) => w.bytes(v.payload), (r, version) => { olderShardBodies(r, version); return { payload: r.bytes(r.left) } })

// TABLE_FENCE: action u8 (0 fence, 1 release now, 2 release after catalog version, 3 release,
// outcome unknown) | tableId u32 | token str | shards (count, u32 each) | [2: version varint]
const FENCE_ACTIONS = ['fence', 'now', 'after', 'unknown'] as const
const MAX_FENCE_TOKEN = 128

const tableFenceRequest: Codec<TableFenceRequest> = v1('TABLE_FENCE', (w, v) => {
  const a = v.action === 'fence' ? 0 : FENCE_ACTIONS.indexOf((v.release ?? { kind: 'unknown' }).kind)
  w.u8(a)
  w.u32(v.tableId)
  w.str(v.token)
  w.array(v.shards, s => w.u32(s))
  if (v.action === 'release' && v.release?.kind === 'after') w.uint(v.release.version)
}, r => {
  const a = r.u8()
  if (a >= FENCE_ACTIONS.length) throw r.malformed(`unknown fence action ${a}`)
  const tableId = r.u32()
  const token = r.str()
  if (token.length === 0 || token.length > MAX_FENCE_TOKEN) throw r.malformed(`fence token of ${token.length} characters`)
  const shards = r.array(() => r.shard(), 4)
  if (a === 0) return { action: 'fence', tableId, token, shards }
  const release: FenceRelease = a === 1 ? { kind: 'now' } : a === 2 ? { kind: 'after', version: r.uint() } : { kind: 'unknown' }
  return { action: 'release', tableId, token, shards, release }
})

const optionalKey = (w: CodecWriter, k: Uint8Array | null): void => { w.bool(k !== null); if (k !== null) w.blob(k) }
const readOptionalKey = (r: CodecReader): Uint8Array | null => r.bool() ? r.blob() : null

const snapshotChunkRequest: Codec<SnapshotChunkRequest> = versionedLowest('REPL_SNAPSHOT_CHUNK', CODEC_VERSIONS.rpcPayload, rpcFail, v => v.split !== undefined && v.split !== null ? 3 : v.voters === undefined || v.voters === null ? 1 : 2, (w, v, version) => {
  w.u32(v.shard)
  w.uint(v.generation)
  w.u16(v.from)
  w.u64(v.snapshotId)
  w.u64(v.lsn)
  w.u64(v.snapshotGeneration)
  w.u64(v.hlcHighWater)
  optionalKey(w, v.after)
  w.bool(v.done)
  w.array(v.entries, e => { w.blob(e.key); w.blob(e.value) })
  if (version >= 2) w.array(v.voters ?? [], id => w.u16(id))
  if (version >= 3) { optionalKey(w, v.split?.fence ?? null); w.u32(v.split?.cleanedFor ?? 0) }
}, (r, version) => {
  const shard = r.shard()
  const generation = r.uint()
  const from = r.nodeId()
  const snapshotId = r.u64()
  const lsn = r.u64()
  const snapshotGeneration = r.u64()
  const hlcHighWater = r.u64()
  const after = readOptionalKey(r)
  const done = r.bool()
  const n = r.count(2)
  if (n > MAX_SNAPSHOT_CHUNK_ENTRIES) throw r.malformed(`${n} snapshot entries in one chunk (at most ${MAX_SNAPSHOT_CHUNK_ENTRIES})`)
  const entries = r.blobPairs(n)
  const base = { shard, generation, from, snapshotId, lsn, snapshotGeneration, hlcHighWater, after, done, entries }
  if (version < 2) return base
  const voters = r.array(() => r.nodeId(), 2)
  if (voters.length > MAX_SNAPSHOT_VOTERS) throw r.malformed(`${voters.length} voters in a snapshot chunk (at most ${MAX_SNAPSHOT_VOTERS})`)
  if (version < 3) return { ...base, voters }
  const split = { fence: readOptionalKey(r), cleanedFor: r.u32() }
  return { ...base, voters, split }
})

const snapshotChunkReply: Codec<SnapshotChunkReply> = v1('REPL_SNAPSHOT_CHUNK reply', (w, v) => {
  w.uint(v.installedKeys)
  optionalKey(w, v.lastKey)
  w.bool(v.complete)
}, r => ({ installedKeys: r.uint(), lastKey: readOptionalKey(r), complete: r.bool() }))

function writeBallot (w: CodecWriter, b: Ballot): void { w.uint(b.round); w.u16(b.node) }
function readBallot (r: CodecReader): Ballot { return { round: r.uint(), node: r.nodeId() } }

/**
 * MEMBERSHIP_DECREE v3 first: a layout with a split under way (gossip layout format v5); v4 first:
 * removing members or a placement count (format v6); v1 for any other.
 */
const DECREE_SPLIT_SINCE = 3
const DECREE_REMOVING_SINCE = 4
/** v5 first: a split intent's judgedAt (accept, promise) and the 'stale' reply (cluster/membership/epoch-decree.ts). */
const DECREE_JUDGED_SINCE = 5
const decreeLayoutFormat = (version: number): number =>
  version >= DECREE_REMOVING_SINCE ? REMOVING_LAYOUT_FORMAT : version >= DECREE_SPLIT_SINCE ? SPLIT_LAYOUT_FORMAT : LAYOUT_FORMAT
const decreeVersion = (l: ClusterLayout | undefined): number => {
  const format = l === undefined ? LAYOUT_FORMAT : layoutFormatOf(l)
  return format >= REMOVING_LAYOUT_FORMAT ? DECREE_REMOVING_SINCE : format >= SPLIT_LAYOUT_FORMAT ? DECREE_SPLIT_SINCE : 1
}

const decreeRequest: Codec<DecreeRequest> = versionedLowest('MEMBERSHIP_DECREE', CODEC_VERSIONS.rpcPayload, rpcFail, v => v.kind === 'accept' ? Math.max(decreeVersion(v.layout), v.judgedAt !== undefined ? DECREE_JUDGED_SINCE : 1) : 1, (w, v, version) => {
  w.u8(v.kind === 'prepare' ? 0 : 1)
  w.uint(v.epoch)
  writeBallot(w, v.ballot)
  if (v.kind === 'accept') {
    writeLayout(w, v.layout, decreeLayoutFormat(version))
    if (version >= DECREE_JUDGED_SINCE) w.opt(v.judgedAt, j => w.uint(j))
  }
}, (r, version) => {
  const kind = r.pick(['prepare', 'accept'] as const, 'decree request kind')
  const epoch = r.uint()
  const ballot = readBallot(r)
  if (kind === 'prepare') return { kind, epoch, ballot }
  const layout = readLayout(r, decreeLayoutFormat(version))
  if (layout.epoch !== epoch) throw r.malformed(`decree of epoch ${epoch} proposes a layout of epoch ${layout.epoch}`)
  const judgedAt = version >= DECREE_JUDGED_SINCE ? r.opt(() => r.uint()) : undefined
  return judgedAt === undefined ? { kind, epoch, ballot, layout } : { kind, epoch, ballot, layout, judgedAt }
})

const DECREE_REPLY_KINDS = ['promise', 'accepted', 'rejected', 'behind', 'stale'] as const
const decreeReplyVersion = (v: DecreeReply): number => v.kind === 'stale' || (v.kind === 'promise' && v.accepted?.judgedAt !== undefined)
  ? DECREE_JUDGED_SINCE
  : decreeVersion(v.kind === 'promise' ? v.accepted?.layout : undefined)
const decreeReply: Codec<DecreeReply> = versionedLowest('MEMBERSHIP_DECREE reply', CODEC_VERSIONS.rpcPayload, rpcFail, decreeReplyVersion, (w, v, version) => {
  w.u8(DECREE_REPLY_KINDS.indexOf(v.kind))
  w.uint(v.epoch)
  writeBallot(w, v.ballot)
  if (v.kind === 'promise') {
    w.opt(v.accepted, a => {
      writeBallot(w, a.ballot)
      writeLayout(w, a.layout, decreeLayoutFormat(version))
      if (version >= DECREE_JUDGED_SINCE) w.opt(a.judgedAt, j => w.uint(j))
    })
  } else if (v.kind === 'rejected') writeBallot(w, v.promised)
  else if (v.kind === 'behind') w.uint(v.runs)
  else if (v.kind === 'stale') w.uint(v.catalogVersion)
}, (r, version) => {
  const kind = r.pick(version >= DECREE_JUDGED_SINCE ? DECREE_REPLY_KINDS : DECREE_REPLY_KINDS.slice(0, 4), 'decree reply kind')
  const epoch = r.uint()
  const ballot = readBallot(r)
  switch (kind) {
    case 'promise': {
      const accepted = r.opt((): Accepted => {
        const a: Accepted = { ballot: readBallot(r), layout: readLayout(r, decreeLayoutFormat(version)) }
        const judgedAt = version >= DECREE_JUDGED_SINCE ? r.opt(() => r.uint()) : undefined
        return judgedAt === undefined ? a : { ...a, judgedAt }
      }) ?? null
      return { kind, epoch, ballot, accepted }
    }
    case 'accepted': return { kind, epoch, ballot }
    case 'rejected': return { kind, epoch, ballot, promised: readBallot(r) }
    case 'behind': return { kind, epoch, ballot, runs: r.uint() }
    case 'stale': return { kind, epoch, ballot, catalogVersion: r.uint() }
  }
})

export const RPC_PAYLOADS: { readonly [K in RpcOpcodeName]: RpcPayloadCodec<K> } = {
  PING: {
    request: v1('PING', (w, b) => w.bytes(b), r => r.bytes(r.left)),
    reply: v1('PING reply', (w, b) => w.bytes(b), r => r.bytes(r.left))
  },
  GOSSIP_SYNC: { request: gossipPingCodec, reply: gossipAckOrNoneCodec },
  GOSSIP_ACK: { request: gossipAckCodec, reply: nothing('GOSSIP_ACK reply', null) },
  CATALOG_FETCH: {
    request: nothing('CATALOG_FETCH', {}),
    // v5 only when the answering node holds a split (cluster/split-ddl-lock.ts rule 3): a previous
    // release reads every other reply, and a fetch it cannot read fails like an unreachable peer.
    reply: versionedLowest<CatalogFetchReply>('CATALOG_FETCH reply', CODEC_VERSIONS.rpcPayload, rpcFail, v => (v.holds ?? []).length > 0 ? 5 : 1, (w, v, version) => {
      writeDoc(w, v.catalog)
      w.bool(v.coordinating)
      if (version >= 5) w.array(v.holds ?? [], h => { w.u8(HOLD_KINDS.indexOf(h.kind)); w.uint(h.epoch); w.uint(h.shards); w.uint(h.to); w.uint(h.lapsedMs); w.opt(h.judgedAt, j => w.uint(j)) })
    }, (r, version) => {
      const catalog = readDoc(r)
      const coordinating = r.bool()
      if (version < 5) return { catalog, coordinating }
      const n = r.count(5)
      if (n > HOLD_KINDS.length) throw r.malformed(`${n} split holds (at most ${HOLD_KINDS.length})`)
      const holds: SplitHold[] = []
      for (let i = 0; i < n; i++) {
        const code = r.u8()
        const kind = HOLD_KINDS[code]
        if (kind === undefined) throw r.malformed(`split hold kind ${code}`)
        const epoch = r.uint()
        const shards = r.uint()
        const to = r.uint()
        if (shards < 1 || shards > MAX_SHARDS || to !== shards * 2) throw r.malformed(`split hold of ${shards} shards into ${to}`)
        const lapsedMs = r.uint()
        const judgedAt = r.opt(() => r.uint())
        holds.push(judgedAt === undefined ? { kind, epoch, shards, to, lapsedMs } : { kind, epoch, shards, to, lapsedMs, judgedAt })
      }
      return { catalog, coordinating, holds }
    })
  },
  CATALOG_APPLY: {
    request: v1('CATALOG_APPLY', (w, v) => writeDoc(w, v.catalog), r => ({ catalog: readDoc(r) })),
    reply: v1('CATALOG_APPLY reply', (w, v) => w.uint(v.version), r => ({ version: r.uint() }))
  },
  CATALOG_DDL: {
    request: v1('CATALOG_DDL', (w, v) => w.str(v.sql), r => ({ sql: r.str() })),
    reply: v1('CATALOG_DDL reply', (w, v) => {
      w.str(v.command)
      w.array(v.warnings, s => w.str(s))
      writeDoc(w, v.catalog)
    }, r => ({ command: r.str(), warnings: r.array(() => r.str()), catalog: readDoc(r) }))
  },
  SHARD_QUERY: { request: shardQueryRequest, reply: shardQueryReply },
  TABLE_FENCE: { request: tableFenceRequest, reply: v1('TABLE_FENCE reply', (w, v) => w.bool(v.rows), r => ({ rows: r.bool() })) },
  REPL_MESSAGE: {
    request: v1('REPL_MESSAGE', (w, v) => w.array(v.messages, m => w.blob(m)), r => {
      const n = r.count(1)
      if (n > MAX_REPL_BATCH) throw r.malformed(`${n} replication messages in one batch (at most ${MAX_REPL_BATCH})`)
      const messages: Uint8Array[] = []
      for (let i = 0; i < n; i++) messages.push(r.blob())
      return { messages }
    }),
    reply: nothing('REPL_MESSAGE reply', null)
  },
  REPL_SNAPSHOT_CHUNK: { request: snapshotChunkRequest, reply: snapshotChunkReply },
  MEMBERSHIP_STATUS: {
    request: nothing('MEMBERSHIP_STATUS', {}),
    // v2 only when there are fills to report: a v1 peer (the previous release) still reads the rest.
    reply: versionedLowest<MembershipStatus>('MEMBERSHIP_STATUS reply', CODEC_VERSIONS.rpcPayload, rpcFail, v => (v.fills ?? []).length > 0 ? 2 : 1, (w, v, version) => {
      w.array(v.primaries, p => { w.uint(p.shard); w.array(p.voters, id => w.u16(id)) })
      if (version >= 2) w.array(v.fills ?? [], f => { w.uint(f.shard); w.uint(f.factor); w.array(f.targets, id => w.u16(id)) })
    }, (r, version) => {
      const readIds = (what: string): NodeId[] => {
        const k = r.count(2)
        if (k > MAX_STATUS_VOTERS) throw r.malformed(`${k} ${what} (at most ${MAX_STATUS_VOTERS})`)
        const ids: NodeId[] = []
        for (let j = 0; j < k; j++) ids.push(r.nodeId())
        return ids
      }
      const n = r.count(2)
      const primaries: MembershipStatus['primaries'] = []
      for (let i = 0; i < n; i++) {
        const shard = r.uint()
        primaries.push({ shard, voters: readIds(`voters of shard ${shard}`) })
      }
      if (version < 2) return { primaries }
      const m = r.count(3)
      const fills: NonNullable<MembershipStatus['fills']> = []
      for (let i = 0; i < m; i++) {
        const shard = r.uint()
        const factor = r.uint()
        if (factor < 1) throw r.malformed(`leaderless fill of shard ${shard} with replication factor 0`)
        fills.push({ shard, factor, targets: readIds(`fill targets of shard ${shard}`) })
      }
      return { primaries, fills }
    })
  },
  MEMBERSHIP_DECREE: { request: decreeRequest, reply: decreeReply },
  TXN_STATUS: {
    request: v1('TXN_STATUS', (w, v) => w.u64(v.xid), r => ({ xid: r.xid() })),
    reply: v1('TXN_STATUS reply', (w, v) => w.bool(v.live), r => ({ live: r.bool() }))
  },
  SPLIT_LOCK: {
    request: v1('SPLIT_LOCK', (w, v) => { w.bool(v.take); w.uint(v.epoch); w.uint(v.shards); w.uint(v.to) }, r => {
      const take = r.bool()
      const epoch = r.uint()
      const shards = r.uint()
      const to = r.uint()
      if (shards < 1 || shards > MAX_SHARDS || to !== shards * 2) throw r.malformed(`a split of ${shards} shards into ${to}`)
      return { take, epoch, shards, to }
    }),
    reply: v1('SPLIT_LOCK reply', (w, v) => { w.bool(v.granted); w.uint(v.catalogVersion); w.str(v.refusal) }, r => ({ granted: r.bool(), catalogVersion: r.uint(), refusal: r.str() }))
  }
}

/** Voters one shard's MEMBERSHIP_STATUS entry may list (a replication group is a handful of nodes). */
const MAX_STATUS_VOTERS = 64

/** The payload codecs of opcode `name`. */
export function rpcPayloads<K extends RpcOpcodeName> (name: K): RpcPayloadCodec<K> {
  return RPC_PAYLOADS[name] as RpcPayloadCodec<K>
}
