import { CodecReader, CodecWriter, encodeWith } from '../../core/codec'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { asXid, type ShardId } from '../../core/ids'
import type { HlcTs, Isolation, Xid } from '../../storage/types'
import {
  decodeAutocommit, decodeAutocommitReply, decodeReplicaApply, decodeReplicaApplyReply, encodeAutocommit, encodeAutocommitReply,
  encodeReplicaApply, encodeReplicaApplyReply
} from './codec'
import type { Hint } from '../../storage/hint-store'
import type { HintOpReply, MerkleLeafMessage, ShardReplies, ShardRequests, StoredHintBytes, TxnBegin } from './messages'
import { REPL_BODIES } from './repl-codecs'
import { SPLIT_BODIES } from './split-codecs'
import {
  readJoinSide, readJoinStep, readLimit, readQueryOptions, readRow, readRowWrite, readScanOptions, readTuple, readVersionId, shardFail,
  writeJoinSide, writeJoinStep, writeQueryOptions, writeRow, writeRowWrite, writeScanOptions, writeTuple, writeVersionId
} from './parts'

// Binary codec of every shard op's request and reply (the table in ops.ts). The same bytes go
// through the rings to a worker and, inside a SHARD_QUERY, to a peer node (its codec version is
// in that envelope, src/net/rpc/payloads.ts), so what crosses nodes is never v8.serialize.
// AUTOCOMMIT and REPLICA_APPLY keep their flat hot-path layout (codec.ts).
//
// Bodies here: integers big-endian; shard u32 first in every request; xid/HLC/LSN u64; an
// optional field is a presence byte then the value. A decoder consumes the whole payload.

/**
 * Version of these bodies as they cross nodes: SHARD_QUERY carries it next to op and shard
 * (net/rpc/payloads.ts). Bump it (core/codec-versions.ts) when any body here or in codec.ts
 * changes shape, and list the op in SHARD_OP_SINCE: a SHARD_QUERY goes out in the lowest version
 * that carries its op (shardOpVersion), so a node of the previous release still reads the others.
 */
export const SHARD_CODEC_VERSION = CODEC_VERSIONS.shard
/** The version every body has had since the last change of any: what an op not listed below is written in. */
export const SHARD_CODEC_BASE = 4
/** Ops whose body changed after SHARD_CODEC_BASE, with the version that changed it (none yet). */
const SHARD_OP_SINCE: Partial<Record<ShardOpName, number>> = {
  // 5: a new op (a previous release refuses it: SB_CODEC_VERSION, nothing applied; exec/point-modify.ts then runs the statement in two steps).
  MODIFY_ROW: 5,
  // 6: a new op (a previous release refuses it: SB_CODEC_VERSION, nothing applied; exec/txn.ts then sends a plain WRITE).
  WRITE_READ: 6
}

/**
 * The first SHARD_QUERY version whose envelope carries the shard count the request was routed by
 * (net/rpc/payloads.ts): written only when the sender stamps one (cluster/shard-count-guard.ts
 * wireShardCount), so a cluster that never split still writes what the previous release reads.
 */
export const SHARD_COUNT_SINCE = 7

/** The lowest SHARD_QUERY version that carries `op`'s body. */
export function shardOpVersion (op: ShardOpName): number {
  return SHARD_OP_SINCE[op] ?? SHARD_CODEC_BASE
}

export interface OpCodec<Req, Rep> {
  encodeRequest (r: Req): Uint8Array
  decodeRequest (b: Uint8Array): Req
  encodeReply (r: Rep): Uint8Array
  decodeReply (b: Uint8Array): Rep
}

type ShardOpName = keyof ShardRequests
type Writer<T> = (w: CodecWriter, v: T) => void
type Reader<T> = (r: CodecReader) => T

interface Body<Req, Rep> {
  readonly req: [Writer<Req>, Reader<Req>]
  readonly rep: [Writer<Rep>, Reader<Rep>]
}

function opCodec<Req, Rep> (op: string, body: Body<Req, Rep>): OpCodec<Req, Rep> {
  const fail = shardFail(op)
  const enc = <T>(write: Writer<T>) => (v: T): Uint8Array => encodeWith(w => { write(w, v) })
  const dec = <T>(read: Reader<T>) => (b: Uint8Array): T => { const r = new CodecReader(b, fail); const v = read(r); r.finish(); return v }
  return { encodeRequest: enc(body.req[0]), decodeRequest: dec(body.req[1]), encodeReply: enc(body.rep[0]), decodeReply: dec(body.rep[1]) }
}

const ISOLATIONS: readonly Isolation[] = ['snapshot', 'read_committed']

const optXid = (w: CodecWriter, xid: Xid | undefined): void => w.opt(xid, v => w.u64(v))
const readOptXid = (r: CodecReader): { xid?: Xid } => { const xid = r.opt(() => r.xid()); return xid === undefined ? {} : { xid } }

/** Requests naming only their shard (and maybe an xid), replies that carry nothing. */
const shardOnly: [Writer<{ shard: ShardId }>, Reader<{ shard: ShardId }>] = [(w, v) => w.u32(v.shard), r => ({ shard: r.shard() })]
const shardXid: [Writer<{ shard: ShardId, xid: Xid }>, Reader<{ shard: ShardId, xid: Xid }>] = [
  (w, v) => { w.u32(v.shard); w.u64(v.xid) }, r => ({ shard: r.shard(), xid: r.xid() })]
const shardXidHlc: [Writer<{ shard: ShardId, xid: Xid, commitHlc: HlcTs }>, Reader<{ shard: ShardId, xid: Xid, commitHlc: HlcTs }>] = [
  (w, v) => { w.u32(v.shard); w.u64(v.xid); w.u64(v.commitHlc) }, r => ({ shard: r.shard(), xid: r.xid(), commitHlc: r.hlc() })]
const nothing: [Writer<Record<string, never>>, Reader<Record<string, never>>] = [() => {}, () => ({})]
const commitOutcome: [Writer<{ lsn: bigint | null, commitHlc: HlcTs }>, Reader<{ lsn: bigint | null, commitHlc: HlcTs }>] = [
  (w, v) => { w.opt(v.lsn, l => w.u64(l)); w.u64(v.commitHlc) },
  r => ({ lsn: r.opt(() => r.u64()) ?? null, commitHlc: r.hlc() })]
/** The LSN of a two-phase log entry (a replicated shard's primary), else null. */
const loggedLsn: [Writer<{ lsn: bigint | null }>, Reader<{ lsn: bigint | null }>] = [
  (w, v) => { w.opt(v.lsn, l => w.u64(l)) }, r => ({ lsn: r.opt(() => r.u64()) ?? null })]

// A transaction's first request on a shard carries its BEGIN (messages.ts TxnBegin) and its reply
// the xid begun, each as a tail after the body: written only when present, so a request or reply
// without one has the bytes SHARD_CODEC_BASE gave it. Only this node's workers get such a request
// (node/shard-router.ts sends a peer BEGIN then the request), so no peer ever needs to read one.
const writeBegin = (w: CodecWriter, b: TxnBegin): void => { w.u8(ISOLATIONS.indexOf(b.isolation)); w.u64(b.startHlc); optXid(w, b.xid); w.opt(b.coordinator, c => w.u16(c)) }
const readBegin = (r: CodecReader): TxnBegin => {
  const base = { isolation: r.pick(ISOLATIONS, 'isolation'), startHlc: r.hlc(), ...readOptXid(r) }
  const coordinator = r.opt(() => r.nodeId())
  return coordinator === undefined ? base : { ...base, coordinator }
}
const beginTail = (w: CodecWriter, b: TxnBegin | undefined): void => { if (b !== undefined) writeBegin(w, b) }
const readBeginTail = (r: CodecReader): { begin?: TxnBegin } => r.left === 0 ? {} : { begin: readBegin(r) }
const xidTail = (w: CodecWriter, xid: Xid | undefined): void => { if (xid !== undefined) w.u64(xid) }
const readXidTail = (r: CodecReader): { xid?: Xid } => r.left === 0 ? {} : { xid: r.xid() }

const queryRows: [Writer<{ rows: Uint8Array, scanned: number, xid?: Xid }>, Reader<{ rows: Uint8Array, scanned: number, xid?: Xid }>] = [
  (w, v) => { w.blob(v.rows); w.uint(v.scanned); xidTail(w, v.xid) }, r => ({ rows: r.blob(), scanned: r.uint(), ...readXidTail(r) })]

// Hint ops: a hint's fields one by one; a stored hint as its raw key and value (the store's own
// layouts, checked by the store, src/storage/hint-store.ts).
const writeHint = (w: CodecWriter, h: Hint): void => {
  w.u16(h.target); w.u32(h.shard); w.u32(h.tableId); w.blob(h.key); w.u64(h.xid); writeVersionId(w, h.versionId); writeRow(w, h.row); w.uint(h.createdAtMs)
}
const readHint = (r: CodecReader): Hint => ({
  target: r.nodeId(), shard: r.shard(), tableId: r.u32(), key: r.blob(), xid: r.xid(), versionId: readVersionId(r), row: readRow(r), createdAtMs: r.uint()
})
const writeStored = (w: CodecWriter, h: StoredHintBytes): void => { w.blob(h.id); w.blob(h.value) }
const readStored = (r: CodecReader): StoredHintBytes => ({ id: r.blob(), value: r.blob() })
const hintOpReply: [Writer<HintOpReply>, Reader<HintOpReply>] = [
  (w, v) => { w.uint(v.n); w.array(v.stats, t => { w.u16(t.target); w.uint(t.count); w.uint(t.bytes) }) },
  r => ({ n: r.uint(), stats: r.array(() => ({ target: r.nodeId(), count: r.uint(), bytes: r.uint() }), 4) })]

// Merkle ops: a window is a varint; hashes and roots u64; a leaf is key blob, version id, row hash.
const MERKLE_BUCKET_COUNT = 1024
const writeLeaf = (w: CodecWriter, l: MerkleLeafMessage): void => { w.blob(l.key); writeVersionId(w, l.versionId); w.u64(l.rowHash) }
const readLeaf = (r: CodecReader): MerkleLeafMessage => ({ key: r.blob(), versionId: readVersionId(r), rowHash: r.u64() })
const LEAF_MIN_BYTES = 1 + 16 + 8

type Bodies = { [K in Exclude<ShardOpName, 'AUTOCOMMIT' | 'REPLICA_APPLY' | 'AE_APPLY' | 'REPLICA_VERSION_SCAN'>]: Body<ShardRequests[K], ShardReplies[K]> }

// MODIFY_ROW: its transaction is an xid, a BEGIN (tail, as QUERY's) or an autocommit HLC — one of them.
const modifyRowBody: Body<ShardRequests['MODIFY_ROW'], ShardReplies['MODIFY_ROW']> = {
  req: [(w, v) => {
    w.u32(v.shard); w.u32(v.tableId); w.str(v.table); writeTuple(w, v.pk); optXid(w, v.xid); w.opt(v.commitHlc, h => w.u64(h))
    w.blob(v.filter); w.opt(v.assign, a => w.blob(a)); w.array(v.targets, i => w.uint(i)); w.array(v.notNull, i => w.uint(i)); w.array(v.dropped, i => w.uint(i))
    w.blob(v.params); w.u64(v.statementMicros); writeVersionId(w, v.versionId); beginTail(w, v.begin)
  }, r => {
    const head = { shard: r.shard(), tableId: r.u32(), table: r.str(), pk: readTuple(r), ...readOptXid(r) }
    const commitHlc = r.opt(() => r.hlc())
    const body = {
      filter: r.blob(),
      assign: r.opt(() => r.blob()) ?? null,
      targets: r.array(() => r.uint()),
      notNull: r.array(() => r.uint()),
      dropped: r.array(() => r.uint()),
      params: r.blob(),
      statementMicros: r.u64(),
      versionId: readVersionId(r)
    }
    const tail = readBeginTail(r)
    const named = (head.xid === undefined ? 0 : 1) + (commitHlc === undefined ? 0 : 1) + (tail.begin === undefined ? 0 : 1)
    if (named !== 1) throw r.malformed('MODIFY_ROW names no transaction, or more than one (xid, begin, autocommit)')
    return { ...head, ...(commitHlc === undefined ? {} : { commitHlc }), ...body, ...tail }
  }],
  rep: [(w, v) => { w.uint(v.affected); w.opt(v.lsn, l => w.u64(l)); w.opt(v.commitHlc, h => w.u64(h)); xidTail(w, v.xid) },
    r => {
      const out = { affected: r.uint(), lsn: r.opt(() => r.u64()) ?? null }
      const commitHlc = r.opt(() => r.hlc())
      return { ...out, ...(commitHlc === undefined ? {} : { commitHlc }), ...readXidTail(r) }
    }]
}

/** REPLICA_READ's body; AE_READ (a repair round's read) has the same. */
const queryBody: Body<ShardRequests['QUERY'], ShardReplies['QUERY']> = {
  req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); writeScanOptions(w, v.options); optXid(w, v.xid); writeQueryOptions(w, v); beginTail(w, v.begin) },
    r => {
      const head = { shard: r.shard(), tableId: r.u32(), options: readScanOptions(r), ...readOptXid(r) }
      return { ...head, ...readQueryOptions(r), ...readBeginTail(r) }
    }],
  rep: queryRows
}

/** The table of an encoded QUERY / REPLICA_QUERY request, read without decoding the rest (queryBody: shard u32, then table u32); undefined when too short. */
export function queryTableId (payload: Uint8Array): number | undefined {
  if (payload.length < 8) return undefined
  return new DataView(payload.buffer, payload.byteOffset, payload.length).getUint32(4)
}

const replicaReadBody: Body<ShardRequests['REPLICA_READ'], ShardReplies['REPLICA_READ']> = {
  req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); w.array(v.pks, pk => writeTuple(w, pk)) },
    r => ({ shard: r.shard(), tableId: r.u32(), pks: r.array(() => readTuple(r)) })],
  rep: [(w, v) => w.array(v.versions, x => w.opt(x, y => { writeVersionId(w, y.versionId); writeRow(w, y.row) })),
    r => ({ versions: r.array(() => r.opt(() => ({ versionId: readVersionId(r), row: readRow(r) })) ?? null) })]
}

const BODIES: Bodies = {
  ...REPL_BODIES,
  ...SPLIT_BODIES,
  PING: {
    req: shardOnly,
    rep: [(w, v) => { w.uint(v.worker); w.array(v.shards, s => w.u32(s)) }, r => ({ worker: r.uint(), shards: r.array(() => r.shard(), 4) })]
  },
  SHARD_OPEN: { req: shardOnly, rep: [(w, v) => w.bool(v.opened), r => ({ opened: r.bool() })] },
  BEGIN: {
    req: [(w, v) => { w.u32(v.shard); writeBegin(w, v) }, r => ({ shard: r.shard(), ...readBegin(r) })],
    rep: [(w, v) => w.u64(v.xid), r => ({ xid: r.xid() })]
  },
  GET: {
    req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); writeTuple(w, v.pk); optXid(w, v.xid) },
      r => ({ shard: r.shard(), tableId: r.u32(), pk: readTuple(r), ...readOptXid(r) })],
    rep: [(w, v) => writeRow(w, v.row), r => ({ row: readRow(r) })]
  },
  SCAN: {
    req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); writeScanOptions(w, v.options); optXid(w, v.xid) },
      r => ({ shard: r.shard(), tableId: r.u32(), options: readScanOptions(r), ...readOptXid(r) })],
    rep: [(w, v) => w.array(v.rows, x => { writeTuple(w, x.pk); w.blob(x.row) }),
      r => ({ rows: r.array(() => ({ pk: readTuple(r), row: r.blob() }), 2) })]
  },
  WRITE: {
    // xid 0 (never issued: a node id is ≥ 1) stands for none: the request begins the transaction (its tail).
    req: [(w, v) => { w.u32(v.shard); w.u64(v.xid ?? 0n); w.array(v.writes, x => writeRowWrite(w, x)); beginTail(w, v.begin) },
      r => {
        const shard = r.shard()
        const xid = r.u64()
        const writes = r.array(() => readRowWrite(r), 22)
        const tail = readBeginTail(r)
        if (xid !== 0n) return { shard, xid: asXid(xid), writes, ...tail }
        if (tail.begin === undefined) throw r.malformed('WRITE names no transaction')
        return { shard, writes, ...tail }
      }],
    rep: [(w, v) => { w.array(v.affected, a => w.bool(a)); xidTail(w, v.xid) }, r => ({ affected: r.array(() => r.bool()), ...readXidTail(r) })]
  },
  // WRITE's body with the read HLC after the xid.
  WRITE_READ: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.xid ?? 0n); w.u64(v.readHlc); w.array(v.writes, x => writeRowWrite(w, x)); beginTail(w, v.begin) },
      r => {
        const shard = r.shard()
        const xid = r.u64()
        const readHlc = r.hlc()
        const writes = r.array(() => readRowWrite(r), 22)
        const tail = readBeginTail(r)
        if (xid !== 0n) return { shard, xid: asXid(xid), readHlc, writes, ...tail }
        if (tail.begin === undefined) throw r.malformed('WRITE_READ names no transaction')
        return { shard, readHlc, writes, ...tail }
      }],
    rep: [(w, v) => { w.array(v.affected, a => w.bool(a)); xidTail(w, v.xid) }, r => ({ affected: r.array(() => r.bool()), ...readXidTail(r) })]
  },
  COMMIT: { req: shardXidHlc, rep: commitOutcome },
  ROLLBACK: { req: shardXid, rep: nothing },
  PREPARE: {
    req: shardXid,
    rep: [(w, v) => { w.opt(v.lsn, l => w.u64(l)); w.u64(v.floor) }, r => ({ lsn: r.opt(() => r.u64()) ?? null, floor: r.hlc() })]
  },
  COMMIT_PREPARED: { req: shardXidHlc, rep: commitOutcome },
  ABORT_PREPARED: { req: shardXid, rep: loggedLsn },
  LIST_LIMBO: {
    req: shardOnly,
    rep: [(w, v) => w.array(v.limbo, l => { w.u64(l.xid); w.uint(l.rows) }), r => ({ limbo: r.array(() => ({ xid: r.xid(), rows: r.uint() }), 9) })]
  },
  READ_COMMIT_LOG: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.fromLsn); w.f64(v.limit) }, r => ({ shard: r.shard(), fromLsn: r.u64(), limit: readLimit(r) })],
    rep: [
      (w, v) => w.array(v.entries, e => {
        w.u64(e.lsn); w.u64(e.xid); w.u64(e.commitHlc)
        w.array(e.mutations, m => { w.u32(m.tableId); writeTuple(w, m.pk); writeVersionId(w, m.versionId); writeRow(w, m.row) })
      }),
      r => ({
        entries: r.array(() => ({
          lsn: r.u64(),
          xid: r.xid(),
          commitHlc: r.hlc(),
          mutations: r.array(() => ({ tableId: r.u32(), pk: readTuple(r), versionId: readVersionId(r), row: readRow(r) }), 22)
        }), 25)
      })
    ]
  },
  SWEEP: {
    req: [
      (w, v) => {
        w.u32(v.shard); w.u64(v.horizonHlc)
        w.array(v.purgeTombstonesOf, t => w.u32(t))
        w.opt(v.commitLog, cs => w.array(cs, c => { w.str(c.name); w.opt(c.fromLsn, x => w.u64(x)); w.opt(c.sinceHlc, x => w.u64(x)) }))
        w.opt(v.purgeLeaderless, p => { w.array(p.tables, t => w.u32(t)); w.uint(p.cutoffMs) })
        w.opt(v.purgeRelations, ids => w.array(ids, t => w.u32(t)))
      },
      r => ({
        shard: r.shard(),
        horizonHlc: r.hlc(),
        purgeTombstonesOf: r.array(() => r.u32(), 4),
        commitLog: r.opt(() => r.array(() => ({ name: r.str(), fromLsn: r.opt(() => r.u64()), sinceHlc: r.opt(() => r.hlc()) }), 3)),
        purgeLeaderless: r.opt(() => ({ tables: r.array(() => r.u32(), 4), cutoffMs: r.uint() })),
        purgeRelations: r.opt(() => r.array(() => r.u32(), 4))
      })
    ],
    rep: [
      (w, v) => {
        w.u64(v.horizonHlc)
        for (const n of [v.rowsExamined, v.backVersionsRemoved, v.deadVersionsRemoved, v.rowsRemoved, v.tombstonesKept, v.tombstonesPurged, v.limboRowsSkipped, v.logEntriesTruncated]) w.uint(n)
        w.u64(v.firstAvailableLsn)
        w.f64(v.durationMs)
        w.array(v.relationsPurged, p => { w.u32(p.tableId); w.uint(p.rows); w.uint(p.backVersions); w.uint(p.leaves) })
      },
      r => ({
        horizonHlc: r.hlc(),
        rowsExamined: r.uint(),
        backVersionsRemoved: r.uint(),
        deadVersionsRemoved: r.uint(),
        rowsRemoved: r.uint(),
        tombstonesKept: r.uint(),
        tombstonesPurged: r.uint(),
        limboRowsSkipped: r.uint(),
        logEntriesTruncated: r.uint(),
        firstAvailableLsn: r.u64(),
        durationMs: r.f64(),
        relationsPurged: r.array(() => ({ tableId: r.u32(), rows: r.uint(), backVersions: r.uint(), leaves: r.uint() }), 7)
      })
    ]
  },
  STATS: {
    req: shardOnly,
    rep: [(w, v) => { w.u32(v.shard); w.u64(v.lastLsn); w.u64(v.hlcHighWater); w.uint(v.openTxns); w.uint(v.limbo) },
      r => ({ shard: r.shard(), lastLsn: r.u64(), hlcHighWater: r.hlc(), openTxns: r.uint(), limbo: r.uint() })]
  },
  QUERY: queryBody,
  MODIFY_ROW: modifyRowBody,
  // The same bytes as QUERY: the node hands them on to its worker as a QUERY.
  REPLICA_QUERY: queryBody,
  JOIN_QUERY: {
    req: [(w, v) => {
      w.u32(v.shard); optXid(w, v.xid); writeQueryOptions(w, v)
      w.array(v.sides, s => writeJoinSide(w, s))
      w.array(v.steps, s => writeJoinStep(w, s))
      beginTail(w, v.begin)
    }, r => {
      const head = { shard: r.shard(), ...readOptXid(r) }
      const q = readQueryOptions(r)
      return { ...head, ...q, sides: r.array(() => readJoinSide(r), 6), steps: r.array(() => readJoinStep(r), 5), ...readBeginTail(r) }
    }],
    rep: queryRows
  },
  REPLICA_READ: replicaReadBody,
  AE_READ: replicaReadBody,
  HINT_ADD: {
    req: [(w, v) => { w.u32(v.shard); w.array(v.hints, h => writeHint(w, h)) }, r => ({ shard: r.shard(), hints: r.array(() => readHint(r), 37) })],
    rep: hintOpReply
  },
  HINT_LIST: {
    req: [(w, v) => { w.u32(v.shard); w.u16(v.target); w.uint(v.limit); w.uint(v.maxBytes); w.bool(v.atLeastOne) },
      r => ({ shard: r.shard(), target: r.nodeId(), limit: r.uint(), maxBytes: r.uint(), atLeastOne: r.bool() })],
    rep: [(w, v) => w.array(v.hints, h => writeStored(w, h)), r => ({ hints: r.array(() => readStored(r), 2) })]
  },
  HINT_REMOVE: {
    req: [(w, v) => { w.u32(v.shard); w.array(v.ids, id => w.blob(id)) }, r => ({ shard: r.shard(), ids: r.array(() => r.blob()) })],
    rep: hintOpReply
  },
  HINT_EXPIRE: {
    req: [(w, v) => { w.u32(v.shard); w.uint(v.nowMs); w.uint(v.maxAgeMs) }, r => ({ shard: r.shard(), nowMs: r.uint(), maxAgeMs: r.uint() })],
    rep: hintOpReply
  },
  HINT_DROP: {
    req: [(w, v) => { w.u32(v.shard); w.u16(v.target); w.bool(v.corruptOnly) }, r => ({ shard: r.shard(), target: r.nodeId(), corruptOnly: r.bool() })],
    rep: hintOpReply
  },
  HINT_STATS: { req: shardOnly, rep: hintOpReply },
  HINT_IMPORT: {
    req: [(w, v) => { w.u32(v.shard); w.array(v.entries, h => writeStored(w, h)) }, r => ({ shard: r.shard(), entries: r.array(() => readStored(r), 2) })],
    rep: hintOpReply
  },
  HINT_LEGACY_READ: {
    req: [(w, v) => { w.u32(v.shard); w.opt(v.after, b => w.blob(b)); w.uint(v.maxBytes) },
      r => ({ shard: r.shard(), after: r.opt(() => r.blob()) ?? null, maxBytes: r.uint() })],
    rep: [(w, v) => { w.array(v.entries, h => writeStored(w, h)); w.bool(v.done) }, r => ({ entries: r.array(() => readStored(r), 2), done: r.bool() })]
  },
  TABLE_FENCE: {
    req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); w.str(v.token); w.bool(v.fence) },
      r => ({ shard: r.shard(), tableId: r.u32(), token: r.str(), fence: r.bool() })],
    rep: [(w, v) => { w.bool(v.rows); w.bool(v.held) }, r => ({ rows: r.bool(), held: r.bool() })]
  },
  TABLE_FENCE_LIST: {
    req: shardOnly,
    rep: [(w, v) => w.array(v.fences, f => { w.u32(f.tableId); w.str(f.token) }), r => ({ fences: r.array(() => ({ tableId: r.u32(), token: r.str() }), 5) })]
  },
  MERKLE_ROOTS: {
    req: shardOnly,
    rep: [(w, v) => w.array(v.windows, x => { w.uint(x.window); w.bool(x.sealed); w.u64(x.root); w.uint(x.leaves) }),
      r => ({ windows: r.array(() => ({ window: r.uint(), sealed: r.bool(), root: r.u64(), leaves: r.uint() }), 11) })]
  },
  MERKLE_BUCKETS: {
    req: [(w, v) => { w.u32(v.shard); w.uint(v.window) }, r => ({ shard: r.shard(), window: r.uint() })],
    rep: [(w, v) => w.array(v.hashes, h => w.u64(h)), r => {
      const hashes = r.array(() => r.u64(), 8)
      if (hashes.length !== MERKLE_BUCKET_COUNT) throw r.malformed(`${hashes.length} bucket hashes, expected ${MERKLE_BUCKET_COUNT}`)
      return { hashes }
    }]
  },
  MERKLE_LEAVES: {
    req: [(w, v) => { w.u32(v.shard); w.uint(v.window); w.array(v.buckets, b => w.uint(b)); w.uint(v.maxLeaves); w.uint(v.maxBytes) },
      r => ({ shard: r.shard(), window: r.uint(), buckets: r.array(() => r.uint()), maxLeaves: r.uint(), maxBytes: r.uint() })],
    rep: [(w, v) => { w.array(v.leaves, l => writeLeaf(w, l)); w.uint(v.bucketsDone); w.bool(v.more) },
      r => ({ leaves: r.array(() => readLeaf(r), LEAF_MIN_BYTES), bucketsDone: r.uint(), more: r.bool() })]
  },
  MERKLE_ADOPT: {
    req: [(w, v) => { w.u32(v.shard); w.array(v.leaves, l => writeLeaf(w, l)) }, r => ({ shard: r.shard(), leaves: r.array(() => readLeaf(r), LEAF_MIN_BYTES) })],
    rep: [(w, v) => { w.uint(v.adopted); w.array(v.needsData, l => writeLeaf(w, l)) },
      r => ({ adopted: r.uint(), needsData: r.array(() => readLeaf(r), LEAF_MIN_BYTES) })]
  },
  MERKLE_SEAL: {
    req: [(w, v) => { w.u32(v.shard); w.uint(v.nowMs) }, r => ({ shard: r.shard(), nowMs: r.uint() })],
    rep: [(w, v) => { w.array(v.sealed, x => w.uint(x)); w.uint(v.reseals) }, r => ({ sealed: r.array(() => r.uint()), reseals: r.uint() })]
  },
  MERKLE_STATS: {
    req: shardOnly,
    rep: [(w, v) => {
      w.bool(v.enabled)
      for (const n of [v.windows, v.sealed, v.activeLeaves, v.bytesInMemory, v.bytesOnDisk, v.reseals, v.rebuilds]) w.uint(n)
    }, r => ({
      enabled: r.bool(),
      windows: r.uint(),
      sealed: r.uint(),
      activeLeaves: r.uint(),
      bytesInMemory: r.uint(),
      bytesOnDisk: r.uint(),
      reseals: r.uint(),
      rebuilds: r.uint()
    })]
  },
  AE_CPU: {
    req: shardOnly,
    rep: [(w, v) => { w.uint(v.cpuNs); w.bool(v.measured) }, r => ({ cpuNs: r.uint(), measured: r.bool() })]
  },
  MODE1_VERIFY: {
    req: [(w, v) => { w.u32(v.shard); w.array(v.tableIds, t => w.u32(t)); w.u64(v.snapshotHlc); w.opt(v.buckets, bs => w.array(bs, b => w.uint(b))) },
      r => ({ shard: r.shard(), tableIds: r.array(() => r.u32(), 4), snapshotHlc: r.hlc(), buckets: r.opt(() => r.array(() => r.uint())) ?? null })],
    rep: [(w, v) => { w.array(v.hashes, h => w.u64(h)); w.array(v.leaves, l => writeLeaf(w, l)); w.array(v.recent, k => w.blob(k)) }, r => {
      const hashes = r.array(() => r.u64(), 8)
      if (hashes.length !== 0 && hashes.length !== MERKLE_BUCKET_COUNT) throw r.malformed(`${hashes.length} bucket hashes, expected ${MERKLE_BUCKET_COUNT} or none`)
      return { hashes, leaves: r.array(() => readLeaf(r), LEAF_MIN_BYTES), recent: r.array(() => r.blob()) }
    }]
  },
  MODE1_REPAIR: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.generation); w.array(v.rows, x => { w.blob(x.key); writeVersionId(w, x.versionId); w.blob(x.row) }) },
      r => ({ shard: r.shard(), generation: r.u64(), rows: r.array(() => ({ key: r.blob(), versionId: readVersionId(r), row: r.blob() }), 18) })],
    rep: [(w, v) => { w.uint(v.repaired); w.uint(v.skipped) }, r => ({ repaired: r.uint(), skipped: r.uint() })]
  },
  VERSION_SCAN: {
    req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); w.opt(v.after, t => writeTuple(w, t)); w.uint(v.limit) },
      r => ({ shard: r.shard(), tableId: r.u32(), after: r.opt(() => readTuple(r)) ?? null, limit: r.uint() })],
    rep: [(w, v) => w.array(v.rows, x => { writeTuple(w, x.pk); writeVersionId(w, x.versionId); writeRow(w, x.row); w.u64(x.commitHlc) }),
      r => ({ rows: r.array(() => ({ pk: readTuple(r), versionId: readVersionId(r), row: readRow(r), commitHlc: r.hlc() }), 18) })]
  }
}

const CODECS = new Map<ShardOpName, OpCodec<unknown, unknown>>()
for (const [op, body] of Object.entries(BODIES)) CODECS.set(op as ShardOpName, opCodec(op, body as Body<unknown, unknown>))
CODECS.set('AUTOCOMMIT', { encodeRequest: encodeAutocommit, decodeRequest: decodeAutocommit, encodeReply: encodeAutocommitReply, decodeReply: decodeAutocommitReply } as OpCodec<unknown, unknown>)
CODECS.set('REPLICA_APPLY', { encodeRequest: encodeReplicaApply, decodeRequest: decodeReplicaApply, encodeReply: encodeReplicaApplyReply, decodeReply: decodeReplicaApplyReply } as OpCodec<unknown, unknown>)
// A repair round's read and write: the same payloads under their own op (a stale replica tells them apart).
CODECS.set('AE_APPLY', CODECS.get('REPLICA_APPLY')!)
// A leaderless replica's VERSION_SCAN: the same payloads under the op the replica path sends (cluster.ts refuses it on a stale replica).
CODECS.set('REPLICA_VERSION_SCAN', CODECS.get('VERSION_SCAN')!)

/** The codec of op `op`'s payloads, on the rings and inside SHARD_QUERY alike. */
export function opCodecOf<K extends ShardOpName> (op: K): OpCodec<ShardRequests[K], ShardReplies[K]> {
  return CODECS.get(op) as unknown as OpCodec<ShardRequests[K], ShardReplies[K]>
}
