import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { AGG_KINDS } from '../../../src/sblr/opcodes'
import { SHARD_OPS, codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../../../src/shard/protocol/ops'
import type { RowWrite, ScanOptions } from '../../../src/storage/engine'
import { encodeTuple, type TupleValue } from '../../../src/storage/keys'
import { REPL_ROLES } from '../../../src/storage/repl-state'
import { textArb } from '../sblr/arbitraries'
import { asHlcTs, asNodeId, asShardId, asXid, MAX_SHARDS, NODE_ID_MAX, NODE_ID_MIN } from '../../../src/core/ids'

// Every shard op's binary codec (op-codecs.ts): requests and replies round-trip, and any bytes —
// random, truncated, flipped — decode or fail with SB_MALFORMED_REQUEST, never another exception.
// These bytes cross nodes inside SHARD_QUERY, so the decoders face a peer's bugs too.

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const count = fc.nat({ max: 1_000_000 })
const bytes = fc.uint8Array({ maxLength: 24 })
const versionId = fc.uint8Array({ minLength: 16, maxLength: 16 })
const xidArb = u64.map(asXid)
const hlcArb = u64.map(asHlcTs)
const xidOpt = fc.option(xidArb, { nil: undefined })
const limitArb = fc.oneof(fc.nat(), fc.constant(Infinity), fc.double({ min: 0, max: 1e300, noNaN: true }))

const tupleValue: fc.Arbitrary<TupleValue> = fc.oneof(
  fc.constant(null), fc.boolean(), i64, fc.double(), textArb, bytes, versionId.map(uuid => ({ uuid })))
const tuple = fc.array(tupleValue, { minLength: 1, maxLength: 3 })

/** Drops keys whose value is undefined (the codecs leave absent fields out). */
function defined<T extends object> (o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

const scanOptions: fc.Arbitrary<ScanOptions> = fc.record({
  gt: fc.option(tuple, { nil: undefined }),
  gte: fc.option(tuple, { nil: undefined }),
  lt: fc.option(tuple, { nil: undefined }),
  lte: fc.option(tuple, { nil: undefined }),
  exact: fc.option(fc.boolean(), { nil: undefined }),
  reverse: fc.option(fc.boolean(), { nil: undefined }),
  limit: fc.option(limitArb, { nil: undefined })
}).map(defined)

const rowWrite: fc.Arbitrary<RowWrite> = fc.record({
  op: fc.constantFrom('insert', 'update', 'delete', 'put', 'lww'),
  tableId: u32,
  pk: tuple,
  row: bytes,
  nullRow: fc.boolean(),
  versionId
}).map(w => {
  const base = { tableId: w.tableId, pk: w.pk, versionId: w.versionId }
  if (w.op === 'delete') return { ...base, op: 'delete' }
  if (w.op === 'put' || w.op === 'lww') return { ...base, op: w.op, row: w.nullRow ? null : w.row }
  return { ...base, op: w.op, row: w.row }
})

function versionScan (): { req: fc.Arbitrary<ShardRequests['VERSION_SCAN']>, rep: fc.Arbitrary<ShardReplies['VERSION_SCAN']> } {
  return {
    req: fc.record({ shard: shardArb, tableId: u32, after: fc.option(tuple, { nil: null }), limit: count }),
    rep: fc.record({ rows: fc.array(fc.record({ pk: tuple, versionId, row: fc.option(bytes, { nil: null }), commitHlc: hlcArb }), { maxLength: 4 }) })
  }
}

const queryOptions = fc.record({
  program: bytes,
  params: bytes,
  statementMicros: fc.option(i64, { nil: undefined }),
  limit: fc.option(limitArb, { nil: undefined }),
  aggregate: fc.option(fc.record({ keys: count, kinds: fc.array(fc.constantFrom(...AGG_KINDS), { maxLength: 4 }) }), { nil: undefined })
}).map(defined)

const commitOutcome = fc.record({ lsn: fc.option(u64, { nil: null }), commitHlc: hlcArb })
const loggedLsn = fc.record({ lsn: fc.option(u64, { nil: null }) })
const queryRows = fc.record({ rows: bytes, scanned: count, xid: xidOpt }).map(defined)
const nothing = fc.constant({})
const nodeIdArb = fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n))
const shardArb = fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(s => asShardId(s))
/** The BEGIN a transaction's first request on a shard carries (messages.ts TxnBegin). */
const beginArb = fc.record({ isolation: fc.constantFrom('snapshot' as const, 'read_committed' as const), startHlc: hlcArb, xid: xidOpt, coordinator: fc.option(nodeIdArb, { nil: undefined }) }).map(defined)
const beginOpt = fc.option(beginArb, { nil: undefined })
/** An xid a WRITE names (0 stands for none: the request then carries its BEGIN). */
const issuedXid = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }).map(asXid)
const storedHint = fc.record({ id: bytes, value: bytes })
const hintOpReply = fc.record({ n: fc.maxSafeNat(), stats: fc.array(fc.record({ target: nodeIdArb, count: fc.maxSafeNat(), bytes: fc.maxSafeNat() }), { maxLength: 3 }) })

const cleanupRuleArb = fc.record({ shards: u32, relations: fc.array(fc.record({ tableId: u32, parts: fc.array(fc.record({ pos: fc.nat({ max: 30 }), kind: fc.constantFrom('text' as const, 'int' as const, 'uuid' as const, 'bytes' as const, 'xid' as const) }), { maxLength: 3 }) }), { maxLength: 3 }) })
// A split switch's rule must place keys among 2n shards (checked on decode): a valid one.
const fenceRule = { shards: 4, relations: [{ tableId: 0xfffffff0, parts: [{ pos: 0, kind: 'xid' as const }] }, { tableId: 1000, parts: [{ pos: 1, kind: 'text' as const }, { pos: 0, kind: 'int' as const }] }] }
const controlArb = fc.oneof(
  fc.constant({ kind: 'noop' as const }),
  fc.uniqueArray(nodeIdArb, { minLength: 1, maxLength: 16 }).map(voters => ({ kind: 'config' as const, voters })),
  fc.constant({ kind: 'split_switch' as const, shards: 2 }),
  fc.constant({ kind: 'split_switch' as const, shards: 2, rule: fenceRule }))
const replEntry = fc.oneof(
  fc.record({
    lsn: u64,
    generation: u64,
    xid: xidArb,
    commitHlc: hlcArb,
    mutations: fc.array(fc.record({ tableId: u32, pkBytes: tuple.map(encodeTuple), versionId, row: fc.option(bytes, { nil: null }) }), { maxLength: 3 })
  }),
  // A control entry of the one log (commit-log.ts format 5): no transaction.
  fc.record({ lsn: u64, generation: u64, control: controlArb }).map(e => ({ ...e, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [] })))
const mutationArb = fc.record({ tableId: u32, pkBytes: tuple.map(encodeTuple), versionId, row: fc.option(bytes, { nil: null }) })
const deriveProgress = fc.record({
  parent: shardArb,
  shards: u32,
  l0: u64,
  through: u64,
  base: fc.oneof(fc.constant('done' as const), fc.record({ tableId: u32, after: fc.option(tuple.map(encodeTuple), { nil: null }) })),
  switchAt: fc.option(u64, { nil: null })
})
// config: absent (keep the stored one), null (none) or one — all three travel.
const hardState = fc.record({
  generation: u64,
  votedFor: fc.option(nodeIdArb, { nil: null }),
  commitLsn: u64,
  role: fc.constantFrom(...REPL_ROLES),
  config: fc.option(fc.record({ lsn: u64, voters: fc.array(nodeIdArb, { minLength: 1, maxLength: 4 }) }), { nil: null })
}, { requiredKeys: ['generation', 'votedFor', 'commitLsn', 'role'] })
const kvEntry = fc.record({ key: bytes, value: bytes })
/** A snapshot's split state (storage/snapshot-split.ts): the fence record as stored, the count its rows are clean for. */
const splitStateArb = fc.option(fc.record({ fence: fc.option(bytes, { nil: null }), cleanedFor: fc.nat(0xffffffff) }), { nil: null })
const merkleLeaf = fc.record({ key: bytes, versionId, rowHash: u64 })

type Arbs = { [K in ShardOpName]: { req: fc.Arbitrary<ShardRequests[K]>, rep: fc.Arbitrary<ShardReplies[K]> } }

const ARBS: Arbs = {
  PING: { req: fc.record({ shard: shardArb }), rep: fc.record({ worker: count, shards: fc.array(shardArb, { maxLength: 5 }) }) },
  SHARD_OPEN: { req: fc.record({ shard: shardArb }), rep: fc.record({ opened: fc.boolean() }) },
  AUTOCOMMIT: {
    req: fc.record({ shard: shardArb, writes: fc.array(rowWrite, { maxLength: 3 }), commitHlc: hlcArb, xid: xidOpt }).map(defined),
    rep: fc.record({ xid: xidArb, lsn: fc.option(u64, { nil: null }), commitHlc: hlcArb, affected: fc.array(fc.boolean(), { maxLength: 4 }) })
  },
  BEGIN: { req: fc.record({ shard: shardArb, isolation: fc.constantFrom('snapshot', 'read_committed'), startHlc: hlcArb, xid: xidOpt, coordinator: fc.option(nodeIdArb, { nil: undefined }) }).map(defined), rep: fc.record({ xid: xidArb }) },
  GET: { req: fc.record({ shard: shardArb, tableId: u32, pk: tuple, xid: xidOpt }).map(defined), rep: fc.record({ row: fc.option(bytes, { nil: null }) }) },
  SCAN: {
    req: fc.record({ shard: shardArb, tableId: u32, options: scanOptions, xid: xidOpt }).map(defined),
    rep: fc.record({ rows: fc.array(fc.record({ pk: tuple, row: bytes }), { maxLength: 4 }) })
  },
  WRITE: {
    req: fc.oneof(
      fc.record({ shard: shardArb, xid: issuedXid, writes: fc.array(rowWrite, { maxLength: 4 }), begin: beginOpt }).map(defined),
      fc.record({ shard: shardArb, writes: fc.array(rowWrite, { maxLength: 4 }), begin: beginArb })),
    rep: fc.record({ affected: fc.array(fc.boolean(), { maxLength: 6 }), xid: xidOpt }).map(defined)
  },
  WRITE_READ: {
    req: fc.oneof(
      fc.record({ shard: shardArb, xid: issuedXid, readHlc: hlcArb, writes: fc.array(rowWrite, { maxLength: 4 }), begin: beginOpt }).map(defined),
      fc.record({ shard: shardArb, readHlc: hlcArb, writes: fc.array(rowWrite, { maxLength: 4 }), begin: beginArb })),
    rep: fc.record({ affected: fc.array(fc.boolean(), { maxLength: 6 }), xid: xidOpt }).map(defined)
  },
  MODIFY_ROW: {
    // Exactly one of xid, begin, commitHlc names the transaction.
    req: fc.tuple(fc.record({
      shard: shardArb,
      tableId: u32,
      table: fc.string({ maxLength: 8 }),
      pk: tuple,
      filter: bytes,
      assign: fc.option(bytes, { nil: null }),
      targets: fc.array(fc.nat({ max: 4000 }), { maxLength: 3 }),
      notNull: fc.array(fc.nat({ max: 4000 }), { maxLength: 3 }),
      dropped: fc.array(fc.nat({ max: 4000 }), { maxLength: 2 }),
      params: bytes,
      statementMicros: u64,
      versionId
    }), fc.oneof(fc.record({ xid: issuedXid }), fc.record({ begin: beginArb }), fc.record({ commitHlc: hlcArb })))
      .map(([body, txn]) => ({ ...body, ...txn })),
    rep: fc.record({ affected: fc.nat({ max: 1 }), lsn: fc.option(u64, { nil: null }), commitHlc: fc.option(hlcArb, { nil: undefined }), xid: xidOpt }).map(defined)
  },
  COMMIT: { req: fc.record({ shard: shardArb, xid: xidArb, commitHlc: hlcArb }), rep: commitOutcome },
  ROLLBACK: { req: fc.record({ shard: shardArb, xid: xidArb }), rep: nothing },
  PREPARE: { req: fc.record({ shard: shardArb, xid: xidArb }), rep: fc.record({ lsn: fc.option(u64, { nil: null }), floor: hlcArb }) },
  COMMIT_PREPARED: { req: fc.record({ shard: shardArb, xid: xidArb, commitHlc: hlcArb }), rep: commitOutcome },
  ABORT_PREPARED: { req: fc.record({ shard: shardArb, xid: xidArb }), rep: loggedLsn },
  LIST_LIMBO: { req: fc.record({ shard: shardArb }), rep: fc.record({ limbo: fc.array(fc.record({ xid: xidArb, rows: count }), { maxLength: 4 }) }) },
  READ_COMMIT_LOG: {
    req: fc.record({ shard: shardArb, fromLsn: u64, limit: limitArb }),
    rep: fc.record({
      entries: fc.array(fc.record({
        lsn: u64,
        xid: xidArb,
        commitHlc: hlcArb,
        mutations: fc.array(fc.record({ tableId: u32, pk: tuple, versionId, row: fc.option(bytes, { nil: null }) }), { maxLength: 3 })
      }), { maxLength: 3 })
    })
  },
  SWEEP: {
    req: fc.record({
      shard: shardArb,
      horizonHlc: hlcArb,
      purgeTombstonesOf: fc.array(u32, { maxLength: 4 }),
      commitLog: fc.option(fc.array(fc.record({ name: fc.string({ maxLength: 12 }), fromLsn: fc.option(u64, { nil: undefined }), sinceHlc: fc.option(hlcArb, { nil: undefined }) }), { maxLength: 3 }), { nil: undefined }),
      purgeLeaderless: fc.option(fc.record({ tables: fc.array(u32, { maxLength: 4 }), cutoffMs: fc.maxSafeNat() }), { nil: undefined }),
      purgeRelations: fc.option(fc.array(u32, { maxLength: 4 }), { nil: undefined })
    }),
    rep: fc.record({
      horizonHlc: hlcArb,
      rowsExamined: count,
      backVersionsRemoved: count,
      deadVersionsRemoved: count,
      rowsRemoved: count,
      tombstonesKept: count,
      tombstonesPurged: count,
      limboRowsSkipped: count,
      logEntriesTruncated: count,
      firstAvailableLsn: u64,
      durationMs: fc.double({ min: 0, max: 1e9, noNaN: true }),
      relationsPurged: fc.array(fc.record({ tableId: u32, rows: count, backVersions: count, leaves: count }), { maxLength: 3 })
    })
  },
  STATS: { req: fc.record({ shard: shardArb }), rep: fc.record({ shard: shardArb, lastLsn: u64, hlcHighWater: hlcArb, openTxns: count, limbo: count }) },
  QUERY: {
    req: fc.tuple(fc.record({ shard: shardArb, tableId: u32, options: scanOptions, xid: xidOpt, begin: beginOpt }).map(defined), queryOptions).map(([a, b]) => ({ ...a, ...b })),
    rep: queryRows
  },
  REPLICA_QUERY: {
    req: fc.tuple(fc.record({ shard: shardArb, tableId: u32, options: scanOptions, xid: xidOpt }).map(defined), queryOptions).map(([a, b]) => ({ ...a, ...b })),
    rep: queryRows
  },
  JOIN_QUERY: {
    req: fc.tuple(fc.record({ shard: shardArb, xid: xidOpt, begin: beginOpt }).map(defined), queryOptions, fc.record({
      sides: fc.array(fc.record({ tableId: u32, options: scanOptions, filter: bytes }), { maxLength: 3 }),
      steps: fc.array(fc.record({
        kind: fc.constantFrom('inner', 'left', 'cross'),
        leftKeys: fc.array(count, { maxLength: 3 }),
        rightKeys: fc.array(count, { maxLength: 3 }),
        on: fc.option(bytes, { nil: null }),
        width: count
      }), { maxLength: 3 })
    })).map(([a, b, c]) => ({ ...a, ...b, ...c })),
    rep: queryRows
  },
  REPLICA_APPLY: {
    req: fc.record({
      shard: shardArb,
      writes: fc.array(fc.record({ tableId: u32, pk: tuple, versionId, row: fc.option(bytes, { nil: null }) }), { maxLength: 3 }),
      commitHlc: hlcArb,
      xid: xidOpt
    }).map(defined),
    rep: fc.record({ xid: xidArb, lsn: fc.option(u64, { nil: null }), commitHlc: hlcArb, applied: fc.array(fc.constantFrom('newer', 'same', 'older'), { maxLength: 4 }) })
  },
  REPLICA_READ: {
    req: fc.record({ shard: shardArb, tableId: u32, pks: fc.array(tuple, { maxLength: 4 }) }),
    rep: fc.record({ versions: fc.array(fc.option(fc.record({ versionId, row: fc.option(bytes, { nil: null }) }), { nil: null }), { maxLength: 4 }) })
  },
  AE_APPLY: {
    req: fc.record({
      shard: shardArb,
      writes: fc.array(fc.record({ tableId: u32, pk: tuple, versionId, row: fc.option(bytes, { nil: null }) }), { maxLength: 3 }),
      commitHlc: hlcArb,
      xid: xidOpt
    }).map(defined),
    rep: fc.record({ xid: xidArb, lsn: fc.option(u64, { nil: null }), commitHlc: hlcArb, applied: fc.array(fc.constantFrom('newer', 'same', 'older'), { maxLength: 4 }) })
  },
  AE_READ: {
    req: fc.record({ shard: shardArb, tableId: u32, pks: fc.array(tuple, { maxLength: 4 }) }),
    rep: fc.record({ versions: fc.array(fc.option(fc.record({ versionId, row: fc.option(bytes, { nil: null }) }), { nil: null }), { maxLength: 4 }) })
  },
  HINT_ADD: {
    req: fc.record({
      shard: shardArb,
      hints: fc.array(fc.record({ target: nodeIdArb, shard: shardArb, tableId: u32, key: bytes, xid: xidArb, versionId, row: fc.option(bytes, { nil: null }), createdAtMs: fc.maxSafeNat() }), { maxLength: 3 })
    }),
    rep: hintOpReply
  },
  HINT_LIST: {
    req: fc.record({ shard: shardArb, target: nodeIdArb, limit: fc.maxSafeNat(), maxBytes: fc.maxSafeNat(), atLeastOne: fc.boolean() }),
    rep: fc.record({ hints: fc.array(storedHint, { maxLength: 3 }) })
  },
  HINT_REMOVE: { req: fc.record({ shard: shardArb, ids: fc.array(bytes, { maxLength: 3 }) }), rep: hintOpReply },
  HINT_EXPIRE: { req: fc.record({ shard: shardArb, nowMs: fc.maxSafeNat(), maxAgeMs: fc.maxSafeNat() }), rep: hintOpReply },
  HINT_DROP: { req: fc.record({ shard: shardArb, target: nodeIdArb, corruptOnly: fc.boolean() }), rep: hintOpReply },
  HINT_STATS: { req: fc.record({ shard: shardArb }), rep: hintOpReply },
  HINT_IMPORT: { req: fc.record({ shard: shardArb, entries: fc.array(storedHint, { maxLength: 3 }) }), rep: hintOpReply },
  HINT_LEGACY_READ: {
    req: fc.record({ shard: shardArb, after: fc.option(bytes, { nil: null }), maxBytes: fc.maxSafeNat() }),
    rep: fc.record({ entries: fc.array(storedHint, { maxLength: 3 }), done: fc.boolean() })
  },
  TABLE_FENCE: {
    req: fc.record({ shard: shardArb, tableId: fc.nat({ max: 0xffffffff }), token: fc.string(), fence: fc.boolean() }),
    rep: fc.record({ rows: fc.boolean(), held: fc.boolean() })
  },
  TABLE_FENCE_LIST: {
    req: fc.record({ shard: shardArb }),
    rep: fc.record({ fences: fc.array(fc.record({ tableId: fc.nat({ max: 0xffffffff }), token: fc.string() }), { maxLength: 3 }) })
  },
  // Mode 1 replication (codes 40-59).
  REPL_APPLY: { req: fc.record({ shard: shardArb, entries: fc.array(replEntry, { maxLength: 3 }), keepTables: fc.option(fc.array(fc.nat(0xffffffff), { maxLength: 3 }), { nil: null }) }), rep: fc.record({ applied: count, skipped: count, lastLsn: u64 }) },
  REPL_LOG_READ: {
    req: fc.record({ shard: shardArb, fromLsn: u64, limit: fc.maxSafeNat(), maxBytes: fc.maxSafeNat() }),
    rep: fc.record({ entries: fc.array(replEntry, { maxLength: 3 }) })
  },
  REPL_TRUNCATE: {
    req: fc.record({ shard: shardArb, afterLsn: u64, committedLsn: u64, keepTables: fc.option(fc.array(fc.nat(0xffffffff), { maxLength: 3 }), { nil: null }) }),
    rep: fc.record({ entriesRemoved: count, versionsRemoved: count, rowsWithoutEarlierVersion: count, lastLsn: u64 })
  },
  REPL_STATE_GET: {
    req: fc.record({ shard: shardArb }),
    rep: fc.tuple(hardState, fc.record({
      lastLsn: u64,
      lastGeneration: u64,
      firstAvailableLsn: u64,
      bootstrap: fc.option(fc.record({ snapshotId: u64, lsn: u64, generation: u64, hlcHighWater: u64, wiped: fc.boolean(), installedKeys: count, lastKey: fc.option(bytes, { nil: null }) }), { nil: null })
    })).map(([a, b]) => ({ ...a, ...b }))
  },
  REPL_STATE_SET: { req: fc.record({ shard: shardArb, state: hardState }), rep: nothing },
  REPL_SNAPSHOT_READ: {
    req: fc.record({ shard: shardArb, snapshotId: u64, after: fc.option(bytes, { nil: null }), maxKeys: fc.maxSafeNat(), maxBytes: fc.maxSafeNat(), skipTables: fc.option(fc.array(fc.nat(0xffffffff), { maxLength: 3 }), { nil: null }) }),
    rep: fc.record({ snapshotId: u64, lsn: u64, generation: u64, hlcHighWater: u64, entries: fc.array(kvEntry, { maxLength: 3 }), done: fc.boolean(), split: splitStateArb })
  },
  REPL_SNAPSHOT_INSTALL: {
    req: fc.record({ shard: shardArb, snapshotId: u64, lsn: u64, generation: u64, hlcHighWater: u64, after: fc.option(bytes, { nil: null }), entries: fc.array(kvEntry, { maxLength: 3 }), done: fc.boolean(), voters: fc.option(fc.array(nodeIdArb, { minLength: 1, maxLength: 4 }), { nil: null }), keepTables: fc.option(fc.array(fc.nat(0xffffffff), { maxLength: 3 }), { nil: null }), split: splitStateArb }),
    rep: fc.record({ installedKeys: count, lastKey: fc.option(bytes, { nil: null }), complete: fc.boolean() })
  },
  REPL_CONTROL_APPEND: { req: fc.record({ shard: shardArb, generation: u64, control: controlArb }), rep: fc.record({ lsn: u64 }) },
  MERKLE_ROOTS: {
    req: fc.record({ shard: shardArb }),
    rep: fc.record({ windows: fc.array(fc.record({ window: fc.maxSafeNat(), sealed: fc.boolean(), root: u64, leaves: fc.maxSafeNat() }), { maxLength: 3 }) })
  },
  MERKLE_BUCKETS: {
    req: fc.record({ shard: shardArb, window: fc.maxSafeNat() }),
    rep: fc.record({ hashes: fc.array(u64, { minLength: 1024, maxLength: 1024 }) })
  },
  MERKLE_LEAVES: {
    req: fc.record({ shard: shardArb, window: fc.maxSafeNat(), buckets: fc.array(fc.nat({ max: 1023 }), { maxLength: 4 }), maxLeaves: count, maxBytes: count }),
    rep: fc.record({ leaves: fc.array(merkleLeaf, { maxLength: 3 }), bucketsDone: count, more: fc.boolean() })
  },
  MERKLE_ADOPT: {
    req: fc.record({ shard: shardArb, leaves: fc.array(merkleLeaf, { maxLength: 3 }) }),
    rep: fc.record({ adopted: count, needsData: fc.array(merkleLeaf, { maxLength: 3 }) })
  },
  MERKLE_SEAL: {
    req: fc.record({ shard: shardArb, nowMs: fc.maxSafeNat() }),
    rep: fc.record({ sealed: fc.array(fc.maxSafeNat(), { maxLength: 3 }), reseals: count })
  },
  MERKLE_STATS: {
    req: fc.record({ shard: shardArb }),
    rep: fc.record({
      enabled: fc.boolean(),
      windows: count,
      sealed: count,
      activeLeaves: count,
      bytesInMemory: fc.maxSafeNat(),
      bytesOnDisk: fc.maxSafeNat(),
      reseals: count,
      rebuilds: count
    })
  },
  AE_CPU: { req: fc.record({ shard: shardArb }), rep: fc.record({ cpuNs: fc.maxSafeNat(), measured: fc.boolean() }) },
  MODE1_VERIFY: {
    req: fc.record({ shard: shardArb, tableIds: fc.array(u32, { minLength: 1, maxLength: 3 }), snapshotHlc: hlcArb, buckets: fc.option(fc.array(fc.nat({ max: 1023 }), { maxLength: 4 }), { nil: null }) }),
    rep: fc.record({ hashes: fc.constantFrom([], new Array<bigint>(1024).fill(7n)), leaves: fc.array(merkleLeaf, { maxLength: 3 }), recent: fc.array(bytes, { maxLength: 3 }) })
  },
  MODE1_REPAIR: {
    req: fc.record({ shard: shardArb, generation: u64, rows: fc.array(fc.record({ key: bytes, versionId, row: bytes }), { maxLength: 3 }) }),
    rep: fc.record({ repaired: count, skipped: count })
  },
  SPLIT_SCAN: {
    req: fc.record({ shard: shardArb, tableId: u32, after: fc.option(tuple, { nil: null }), limit: count }),
    rep: fc.record({ rows: fc.array(fc.record({ pk: tuple, versionId, row: fc.option(bytes, { nil: null }), commitHlc: hlcArb, xid: xidArb }), { maxLength: 4 }) })
  },
  SPLIT_PIN: { req: fc.record({ shard: shardArb, pin: fc.boolean() }), rep: fc.record({ pin: fc.option(fc.record({ l0: u64, cut: fc.boolean() }), { nil: null }) }) },
  SPLIT_DERIVE_APPLY: {
    req: fc.record({
      shard: shardArb,
      from: fc.option(deriveProgress, { nil: null }),
      to: deriveProgress,
      entries: fc.array(fc.record({ xid: xidArb, commitHlc: hlcArb, mutations: fc.array(mutationArb, { maxLength: 3 }) }), { maxLength: 3 })
    }),
    rep: fc.record({ applied: fc.boolean(), written: count })
  },
  SPLIT_DERIVE_STATE: { req: fc.record({ shard: shardArb, clear: fc.boolean() }), rep: fc.record({ progress: fc.option(deriveProgress, { nil: null }) }) },
  SPLIT_SWITCH: { req: fc.record({ shard: shardArb, shards: fc.integer({ min: 1, max: 2048 }), rule: fc.option(cleanupRuleArb, { nil: null }) }), rep: fc.record({ lsn: fc.option(u64, { nil: null }) }) },
  SPLIT_FENCE: {
    req: fc.record({ shard: shardArb, lift: fc.option(fc.integer({ min: 1, max: 2048 }), { nil: null }) }),
    rep: fc.record({ fence: fc.option(fc.record({ shards: fc.integer({ min: 1, max: 2048 }), lsn: u64, rule: fc.option(cleanupRuleArb, { nil: null }) }), { nil: null }) })
  },
  SPLIT_CHILD_CLEAR: { req: fc.record({ shard: shardArb }), rep: fc.record({ relations: fc.nat(), rows: fc.nat() }) },
  SPLIT_CLEANUP: {
    req: fc.record({
      shard: shardArb,
      rule: cleanupRuleArb,
      maxChunks: count
    }),
    rep: fc.record({ rows: count, backVersions: count, done: fc.boolean() })
  },
  VERSION_SCAN: versionScan(),
  REPLICA_VERSION_SCAN: versionScan()
}

/**
 * Decoded writes carry their pk bytes, and the hot-path ones (codec.ts) a lazy pk, `row: null` on
 * a delete and op 'lww' on a REPLICA_APPLY write: compare what they mean.
 */
function plain (v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v]
  if (Array.isArray(v)) return v.map(plain)
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    const keys = new Set(Object.keys(o).filter(k => k !== 'pkBytes' && !(k === 'row' && o.op === 'delete')))
    if ('versionId' in o && 'tableId' in o) keys.add('pk') // a lazy pk getter counts as a field
    return Object.fromEntries([...keys].sort().map(k => [k, plain(o[k])]))
  }
  return v
}

function malformedOrValue (decode: () => unknown): void {
  try {
    decode()
  } catch (e) {
    if (!isScratchBirdError(e, 'SB_MALFORMED_REQUEST')) throw e
  }
}

const OPS = Object.keys(SHARD_OPS) as ShardOpName[]

describe('shard op codecs', () => {
  it('has an arbitrary for every op of the table', () => {
    expect(Object.keys(ARBS).sort()).toEqual([...OPS].sort())
  })

  for (const op of OPS) {
    const codec = codecOf(op)
    const { req, rep } = ARBS[op] as { req: fc.Arbitrary<unknown>, rep: fc.Arbitrary<unknown> }
    describe(op, () => {
      it('round-trips requests and replies', () => {
        const lww = (v: unknown): unknown => op !== 'REPLICA_APPLY' && op !== 'AE_APPLY' ? v : { ...(v as object), writes: (v as { writes: object[] }).writes.map(w => ({ ...w, op: 'lww' })) }
        fc.assert(fc.property(req, v => {
          expect(plain(codec.decodeRequest(codec.encodeRequest(v as never)))).toEqual(plain(lww(v)))
        }), { numRuns: 200 })
        fc.assert(fc.property(rep, v => {
          expect(plain(codec.decodeReply(codec.encodeReply(v as never)))).toEqual(plain(v))
        }), { numRuns: 200 })
      })

      it('answers random, truncated and flipped bytes with SB_MALFORMED_REQUEST or a value, never a crash', () => {
        fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), b => {
          malformedOrValue(() => codec.decodeRequest(b))
          malformedOrValue(() => codec.decodeReply(b))
        }), { numRuns: 300 })
        const mutated = (a: fc.Arbitrary<unknown>, encode: (v: never) => Uint8Array) =>
          fc.tuple(a, fc.nat(), fc.nat({ max: 255 }), fc.boolean()).map(([v, at, byte, cut]) => {
            const b = encode(v as never)
            if (b.length === 0) return b
            if (cut) return b.subarray(0, at % b.length)
            const c = b.slice()
            c[at % c.length] = byte
            return c
          })
        fc.assert(fc.property(mutated(req, codec.encodeRequest), b => malformedOrValue(() => codec.decodeRequest(b))), { numRuns: 200 })
        fc.assert(fc.property(mutated(rep, codec.encodeReply), b => malformedOrValue(() => codec.decodeReply(b))), { numRuns: 200 })
      })
    })
  }

  it('refuses trailing bytes and a count the bytes cannot hold', () => {
    const get = codecOf('GET')
    const b = get.encodeRequest({ shard: asShardId(1), tableId: 2, pk: [1n] })
    expect(() => get.decodeRequest(Uint8Array.of(...b, 0))).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST' }))
    // LIST_LIMBO reply: a varint count of 2^40 entries in a 6-byte payload
    expect(() => codecOf('LIST_LIMBO').decodeReply(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x20))).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST' }))
  })

  it('refuses a shard id at or above MAX_SHARDS as malformed (the decoder brands what it checked)', () => {
    const ping = codecOf('PING')
    expect(ping.decodeRequest(Uint8Array.of(0, 0, 0x0f, 0xff))).toEqual({ shard: MAX_SHARDS - 1 })
    expect(() => ping.decodeRequest(Uint8Array.of(0, 0, 0x10, 0x00))).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST', message: expect.stringContaining('shard id 4096') }))
    // HINT_DROP: shard u32 | target u16 | bool — node id 0 is reserved, so malformed too.
    expect(codecOf('HINT_DROP').decodeRequest(Uint8Array.of(0, 0, 0, 1, 0, 2, 0))).toEqual({ shard: 1, target: 2, corruptOnly: false })
    expect(() => codecOf('HINT_DROP').decodeRequest(Uint8Array.of(0, 0, 0, 1, 0, 0, 0))).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST', message: expect.stringContaining('node id 0') }))
    expect(() => codecOf('STATS').decodeReply(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST' }))
  })

  it('a BEGIN carried by a request (and the xid in its reply) is a tail: without one the bytes are the base version\'s', () => {
    const begin = { isolation: 'read_committed' as const, startHlc: asHlcTs(7n), coordinator: asNodeId(2) }
    const write = codecOf('WRITE')
    const writes: RowWrite[] = [{ op: 'insert', tableId: 1, pk: [1n], versionId: new Uint8Array(16), row: Uint8Array.of(1) }]
    const plain = write.encodeRequest({ shard: asShardId(0), xid: asXid(5n), writes })
    // shard u32 | xid u64 | writes: the layout SHARD_CODEC_BASE peers read
    expect(Buffer.from(plain.subarray(4, 12)).readBigUInt64BE()).toBe(5n)
    const first = write.encodeRequest({ shard: asShardId(0), writes, begin })
    expect(first.subarray(12, plain.length)).toEqual(plain.subarray(12))
    expect(first.length).toBeGreaterThan(plain.length)
    expect(write.decodeRequest(first)).toMatchObject({ shard: 0, begin, writes: [{ op: 'insert', pk: [1n] }] })
    expect(write.decodeRequest(first)).not.toHaveProperty('xid')
    // a WRITE naming no transaction and carrying no BEGIN is malformed
    expect(() => write.decodeRequest(first.subarray(0, plain.length))).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST', message: expect.stringContaining('names no transaction') }))
    const query = codecOf('QUERY')
    const q = { shard: asShardId(1), tableId: 3, options: {}, program: Uint8Array.of(1), params: Uint8Array.of(2) }
    const qPlain = query.encodeRequest(q)
    const qFirst = query.encodeRequest({ ...q, begin: { ...begin, xid: asXid(9n) } })
    expect(qFirst.subarray(0, qPlain.length)).toEqual(qPlain)
    expect(query.decodeRequest(qFirst)).toEqual({ ...q, begin: { ...begin, xid: 9n } })
    const rPlain = query.encodeReply({ rows: Uint8Array.of(0), scanned: 1 })
    const rFirst = query.encodeReply({ rows: Uint8Array.of(0), scanned: 1, xid: asXid(9n) })
    expect(rFirst.subarray(0, rPlain.length)).toEqual(rPlain)
    expect(query.decodeReply(rPlain)).toEqual({ rows: Uint8Array.of(0), scanned: 1 })
  })

  it('refuses a key that is not canonical tuple encoding and an insert without a row', () => {
    const get = codecOf('GET')
    const b = get.encodeRequest({ shard: asShardId(1), tableId: 2, pk: [1n] })
    // shard u32 | tableId u32 | pk length | pk …: replace the pk's tag with an unknown one
    const bad = b.slice()
    bad[9] = 0xee
    expect(() => get.decodeRequest(bad)).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST' }))
    const write = codecOf('WRITE')
    const ok = write.encodeRequest({ shard: asShardId(0), xid: asXid(1n), writes: [{ op: 'put', tableId: 1, pk: [1n], versionId: new Uint8Array(16), row: null }] })
    const asInsert = ok.slice()
    asInsert[13] = 0 // the op byte after shard u32, xid u64, count: put → insert, still with no row
    expect(() => write.decodeRequest(asInsert)).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST', message: expect.stringContaining('insert without a row') }))
  })
})

describe('the op table', () => {
  it('gives every op a code of its own (two branches once both took 67: the frame type would name the wrong op)', () => {
    const codes = Object.values(SHARD_OPS).map(o => o.code)
    const repeated = codes.filter((c, i) => codes.indexOf(c) !== i)
    expect(repeated).toEqual([])
  })
})
