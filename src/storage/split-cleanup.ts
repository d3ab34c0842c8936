// Shard split, CLEANUP (cluster/shard-split.ts "4. CLEANUP"): once this node follows a layout of N
// shards after a split, each of its copies of a former parent s still holds the rows that moved to
// s's children (the rows whose partition hash mod N is not s). This deletes them — every version:
// the primary record r/ and the back versions b/ of each such key (index entries are rows of
// their index relation, placed by the same partition columns, so they go the same way; a 2PC
// decision record goes by its xid, as it is placed).
//
// THE RULE travels with the request (the catalog lives on the main thread): per relation, where
// its partition columns sit in its primary key and how each is hashed (core/partition.ts: text as
// UTF-8, integers as 8 bytes, UUIDs as 16 bytes, anything else as its key encoding — exactly what
// plan/table-types.ts partitionValue makes of the column's value, since the key element is that
// value's canonical encoding); 'xid' for the decision records (their key is the xid, and they sit
// in xid mod N). A splittable relation always has its partition columns in its primary key (one
// that does not needs a global index, and global indexes refuse the split), so a key alone — a
// tombstone's too — says where it belongs. A relation the rule does not name is left alone.
//
// THE RECORD s/split-clean (rule + resume point) is written with the first chunk and moved on in
// the SAME batch as each chunk's deletes, so a restart resumes where the last chunk ended (and a
// repeated chunk finds nothing left to delete: idempotent). While it exists, the engine's scans
// skip the keys the rule says moved (engine.ts `moved`): between the switch and the end of the
// cleanup a SELECT without a key reads every shard, and without the filter a moved row would be
// counted twice — once in the child, once in the parent's leftovers — and Mode 1 verification
// would compare replicas that cleaned at different times. At the end the record is replaced by
// s/split-clean-at = N: a later request for N (every start, every layout change) is done at once.
//
// NO TOMBSTONES and NOT LOGGED. The deletes are physical and go around the commit log, so nothing
// is replicated: each node cleans its own copies. That is safe because after the switch no reader
// routes a moved key to the parent (routing is by hash mod N), every holder of the parent applied
// the parent's log up to the switch before the N-shard layout was decided (so no older entry can
// bring a moved key back afterwards), and a tombstone would be worse than useless — hints and
// anti-entropy could carry it into the child and delete the live row. The Merkle forest holds
// leaves of leaderless tables only, which cannot be split yet (shard-split.ts splitBlockers), so
// there are no forest leaves of moved keys to drop.

import { CodecReader, CodecWriter } from '../core/codec'
import { ScratchBirdError } from '../core/errors'
import { MAX_SHARDS, type ShardId } from '../core/ids'
import { shardOf, type PartitionValue } from '../core/partition'
import { BACK_SPACE, backRangeOfRow, checkTableId, ROW_SPACE, decodeRowKey, decodeTuple, encodeTuple, metaKey, rowPrefix, KEY_END, type TupleValue } from './keys'
import type { KvOp, KvStore } from './kv'

/** Keys one cleanup chunk looks at before letting queued writes run (the purge's rhythm). */
export const CLEANUP_CHUNK_KEYS = 512
/** s/split-clean: the rule and resume point of a cleanup under way. */
export const CLEANUP_META = metaKey('split-clean')
/** s/split-clean-at: the shard count the last cleanup finished for. */
export const CLEANED_AT_META = metaKey('split-clean-at')
const FORMAT = 1

/** How one partition column's key element is hashed ('xid': the whole key is an xid placed by xid mod N). */
export type CleanupPartKind = 'text' | 'int' | 'uuid' | 'bytes' | 'xid'
const KINDS: readonly CleanupPartKind[] = ['text', 'int', 'uuid', 'bytes', 'xid']

export interface CleanupRelation {
  readonly tableId: number
  /** The partition columns in partition-key order: their position in the primary key and hashing. */
  readonly parts: ReadonlyArray<{ readonly pos: number, readonly kind: CleanupPartKind }>
}

/** What a cleanup deletes: the keys of `relations` that do not belong in this shard among `shards`. */
export interface CleanupRule {
  readonly shards: number
  readonly relations: readonly CleanupRelation[]
}

export interface CleanupReport {
  /** Primary record versions (rows, tombstones, index entries, decision records) deleted by this call. */
  readonly rows: number
  readonly backVersions: number
  /** True once nothing of the rule is left (the record was replaced by s/split-clean-at). */
  readonly done: boolean
}

interface CleanupRecord { rule: CleanupRule, cursor: { index: number, after: Uint8Array | null } }

const fail = (why: string): ScratchBirdError => new ScratchBirdError('SB_STORAGE_CORRUPT', `split cleanup record: ${why}`)

export function writeRule (w: CodecWriter, r: CleanupRule): void {
  w.u32(r.shards)
  w.array(r.relations, x => { w.u32(x.tableId); w.array(x.parts, p => { w.uint(p.pos); w.u8(KINDS.indexOf(p.kind)) }) })
}

export function readRule (r: CodecReader): CleanupRule {
  const shards = r.u32()
  const relations = r.array(() => ({ tableId: r.u32(), parts: r.array(() => ({ pos: r.uint(), kind: r.pick(KINDS, 'partition kind') }), 2) }), 5)
  return { shards, relations }
}

function encodeRecord (rec: CleanupRecord): Uint8Array {
  const w = new CodecWriter(64)
  w.u8(FORMAT)
  writeRule(w, rec.rule)
  w.uint(rec.cursor.index)
  w.opt(rec.cursor.after, a => w.blob(a))
  return w.take()
}

function decodeRecord (b: Uint8Array): CleanupRecord {
  const r = new CodecReader(b, fail)
  if (r.u8() !== FORMAT) throw fail('unknown format')
  const rule = readRule(r)
  const index = r.uint()
  const after = r.opt(() => r.blob()) ?? null
  r.finish()
  return { rule, cursor: { index, after } }
}

/** SB_BAD_ARGUMENT unless `rule` is one shard `shard` can clean by. */
export function checkCleanupRule (rule: CleanupRule, shard: ShardId): void {
  const bad = (why: string): never => { throw new ScratchBirdError('SB_BAD_ARGUMENT', `split cleanup of shard ${shard}: ${why}`, { shard }) }
  if (!Number.isInteger(rule.shards) || rule.shards < 2 || rule.shards > MAX_SHARDS) bad(`a shard count of ${rule.shards} follows no split`)
  if (shard >= rule.shards) bad(`shard ${shard} is not a shard of ${rule.shards}`)
  const seen = new Set<number>()
  for (const rel of rule.relations) {
    checkTableId(rel.tableId)
    if (seen.has(rel.tableId)) bad(`relation ${rel.tableId} is named twice`)
    seen.add(rel.tableId)
    if (rel.parts.length === 0) bad(`relation ${rel.tableId} has no partition column`)
    for (const p of rel.parts) {
      if (!Number.isInteger(p.pos) || p.pos < 0) bad(`relation ${rel.tableId}: partition column position ${p.pos}`)
      if (!KINDS.includes(p.kind)) bad(`relation ${rel.tableId}: partition kind ${String(p.kind)}`)
      if (p.kind === 'xid' && rel.parts.length !== 1) bad(`relation ${rel.tableId}: an xid placement is the whole key`)
    }
  }
}

/** The shard among `shards` a key (its decoded primary key) belongs in, by `rel`'s partition columns. */
export function shardOfKey (rel: CleanupRelation, pk: readonly TupleValue[], shards: number): number {
  const first = rel.parts[0]!
  if (first.kind === 'xid') {
    const xid = pk[first.pos]
    if (typeof xid !== 'bigint') throw new ScratchBirdError('SB_STORAGE_CORRUPT', `relation ${rel.tableId}: a key is not an xid`, { relation: rel.tableId })
    return Number(xid % BigInt(shards))
  }
  const parts: PartitionValue[] = rel.parts.map(p => partOf(rel.tableId, pk[p.pos], p.kind))
  return shardOf(parts, shards)
}

function partOf (tableId: number, e: TupleValue | undefined, kind: CleanupPartKind): PartitionValue {
  const bad = (): never => { throw new ScratchBirdError('SB_STORAGE_CORRUPT', `relation ${tableId}: a key's partition column does not hold a ${kind} value`, { relation: tableId }) }
  switch (kind) {
    case 'text': return typeof e === 'string' ? { type: 'text', value: e } : bad()
    case 'int': return typeof e === 'bigint' ? { type: 'int', value: e } : bad()
    case 'uuid': return e !== null && typeof e === 'object' && !(e instanceof Uint8Array) ? { type: 'uuid', value: e.uuid } : bad()
    case 'bytes': return e === undefined ? bad() : { type: 'bytes', value: encodeTuple([e]) }
    case 'xid': return bad()
  }
}

/**
 * Whether row key `key` (r/…) of a relation of `rule` belongs in a shard other than `shard`: the
 * filter reads apply while a cleanup is under way (see the top).
 */
export class MovedKeys {
  private readonly byTable: Map<number, CleanupRelation>
  constructor (readonly rule: CleanupRule, private readonly shard: ShardId) {
    this.byTable = new Map(rule.relations.map(r => [r.tableId, r]))
  }

  /** For scans of one table: null when the rule does not name it (nothing to skip). */
  ofTable (tableId: number): ((key: Uint8Array, pkOffset: number) => boolean) | null {
    const rel = this.byTable.get(tableId)
    if (rel === undefined) return null
    return (key, pkOffset) => shardOfKey(rel, decodeTuple(key, pkOffset), this.rule.shards) !== this.shard
  }

  moved (key: Uint8Array): boolean {
    const { tableId, pkOffset } = decodeRowKey(key)
    return this.ofTable(tableId)?.(key, pkOffset) ?? false
  }

  /** `moved` for any key a snapshot streams: a row (r/) or back version (b/ = the row key · version) of a moved key; false for the rest. */
  movedAny (key: Uint8Array): boolean {
    if (key[1] !== ROW_SPACE.gte[1]) return false
    if (key[0] === ROW_SPACE.gte[0]) return this.moved(key)
    if (key[0] !== BACK_SPACE.gte[0] || key.length < 20) return false
    const row = key.slice(0, key.length - 17)
    row[0] = ROW_SPACE.gte[0]!
    return this.moved(row)
  }
}

export interface CleanupHost {
  readonly shardId: ShardId
  readonly kv: KvStore
  readonly sync: boolean
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  /** Told the record now in force (null: the cleanup ended), so the engine's reads follow it. */
  setMoved (m: MovedKeys | null): void
}

/** The record of a cleanup under way, for the engine at open (null: none). */
export async function readCleanupRecord (kv: KvStore): Promise<CleanupRule | null> {
  const b = await kv.get(CLEANUP_META)
  return b === undefined ? null : decodeRecord(b).rule
}

/** The record of a cleanup by `rule` starting over from the first key (a snapshot install replaced the rows behind its cursor). */
export function cleanupRecordFromStart (rule: CleanupRule): Uint8Array {
  return encodeRecord({ rule, cursor: { index: 0, after: null } })
}

/** s/split-clean-at's value for `shards`. */
export const cleanedAtValue = (shards: number): Uint8Array => u32(shards)

/** The shard count the last cleanup finished for (0: none). */
export async function cleanedAt (kv: KvStore): Promise<number> {
  const b = await kv.get(CLEANED_AT_META)
  if (b === undefined) return 0
  if (b.length !== 4) throw fail('bad s/split-clean-at')
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0)
}

function u32 (v: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, v)
  return b
}

/**
 * Arms the scan filter of a cleanup to `rule.shards` shards NOW — synchronously, before the first
 * await, so every request the worker takes after this one skips the moved keys — and records the
 * rule with its cursor at the start, deleting nothing. It is the step a node takes in the same
 * turn as it adopts the doubled count (node/split-cleanup.ts arm): a scan routed by 2n must never
 * count a moved row twice (child and parent's leftover), and the deletes wait for the background
 * passes. A shard already cleaned for the count drops the filter again (nothing moved is left there).
 */
export async function armCleanup (h: CleanupHost, rule: CleanupRule): Promise<CleanupReport> {
  checkCleanupRule(rule, h.shardId)
  h.setMoved(new MovedKeys(rule, h.shardId))
  return await h.exclusive(async () => {
    if (await cleanedAt(h.kv) >= rule.shards) {
      h.setMoved(null)
      return { rows: 0, backVersions: 0, done: true }
    }
    const stored = await h.kv.get(CLEANUP_META)
    const rec = stored === undefined ? undefined : decodeRecord(stored)
    if (rec === undefined || rec.rule.shards !== rule.shards) {
      await h.kv.batch([{ type: 'put', key: CLEANUP_META, value: encodeRecord({ rule, cursor: { index: 0, after: null } }) }], { sync: h.sync })
    }
    return { rows: 0, backVersions: 0, done: false }
  })
}

/**
 * Run the cleanup by `rule` for up to `maxChunks` chunks (each an exclusive job of at most
 * CLEANUP_CHUNK_KEYS keys looked at). A rule for a shard count this shard already cleaned for (or
 * a smaller one) is done at once; a record under way for another count is replaced (the newer
 * rule covers the older one: any key outside its shard at N is outside it at every later count).
 */
export async function runCleanup (h: CleanupHost, rule: CleanupRule, maxChunks: number): Promise<CleanupReport> {
  checkCleanupRule(rule, h.shardId)
  let rows = 0
  let backVersions = 0
  for (let chunk = 0; chunk < maxChunks; chunk++) {
    const step = await h.exclusive(async () => {
      if (await cleanedAt(h.kv) >= rule.shards) return 'done' as const
      const stored = await h.kv.get(CLEANUP_META)
      let rec = stored === undefined ? undefined : decodeRecord(stored)
      if (rec === undefined || rec.rule.shards !== rule.shards) {
        rec = { rule, cursor: { index: 0, after: null } }
        h.setMoved(new MovedKeys(rule, h.shardId))
      }
      const ops: KvOp[] = []
      let { index, after } = rec.cursor
      let looked = 0
      while (index < rec.rule.relations.length && looked < CLEANUP_CHUNK_KEYS) {
        const rel = rec.rule.relations[index]!
        const prefix = rowPrefix(rel.tableId)
        const range = { gt: after ?? undefined, gte: after === null ? prefix : undefined, lt: Uint8Array.from([...prefix, KEY_END]) }
        let last: Uint8Array | null = null
        for await (const [k] of h.kv.iterate({ ...range, limit: CLEANUP_CHUNK_KEYS - looked })) {
          looked++
          last = k
          if (shardOfKey(rel, decodeTuple(k, prefix.length), rec.rule.shards) === h.shardId) continue
          ops.push({ type: 'del', key: k })
          rows++
          for await (const [b] of h.kv.iterate(backRangeOfRow(k))) { ops.push({ type: 'del', key: b }); backVersions++ }
        }
        if (last === null || looked < CLEANUP_CHUNK_KEYS) { index++; after = null } else after = last
      }
      const finished = index >= rec.rule.relations.length
      if (finished) {
        ops.push({ type: 'del', key: CLEANUP_META }, { type: 'put', key: CLEANED_AT_META, value: u32(rec.rule.shards) })
      } else {
        ops.push({ type: 'put', key: CLEANUP_META, value: encodeRecord({ rule: rec.rule, cursor: { index, after } }) })
      }
      await h.kv.batch(ops, { sync: h.sync })
      if (finished) h.setMoved(null)
      return finished ? 'done' as const : 'more' as const
    })
    if (step === 'done') return { rows, backVersions, done: true }
  }
  return { rows, backVersions, done: false }
}
