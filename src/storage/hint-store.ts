import { ByteSink, ByteSource } from '../core/bytes'
import { assert, ScratchBirdError } from '../core/errors'
import { asXid, isNodeId, isShardId, type NodeId, type ShardId, type Xid } from '../core/ids'
import type { KvOp, KvStore } from './kv'

// Durable hinted handoff (DESIGN §6 Mode 3 "Hints"): a quorum coordinator keeps the mutations a
// replica missed (failed or late) and delivers them when the replica is back. This module is the
// storage half: the hints kept in one KvStore, ordered by target node then age, so delivery reads
// one target's oldest hints with one range scan and expiry deletes a key prefix. In production
// the KvStore is a shard's own LevelDB (DESIGN §4 `h/…`, beside the rows, TIP and commit log of
// src/storage/keys.ts, none of which starts with 'h'), opened by the shard worker that owns it
// (src/shard/open-engines.ts) and reached through the rings (src/shard/hint-ops.ts); a hint lives
// in the store of the shard its row belongs to, and the main thread sums the shards' figures
// (src/cluster/hints/sharded-log.ts). Tests and the simulator run it over MemoryKv. Scheduling is
// in src/cluster/hints/delivery.ts.
//
// Key layout (19 bytes, big-endian, so unsigned byte order = (target, createdAtMs, seq) order):
//   'h' (0x68) · target node id u16 · createdAtMs u64 (wall clock) · seq u64
// `seq` grows by one per hint stored by this process and starts above the largest seq found at
// open, so keys are unique even for hints created in the same millisecond. If the wall clock
// steps back, later hints sort before earlier ones: delivery order is then not strictly FIFO,
// which is harmless (applying a version is idempotent and the highest version wins), and expiry
// stays exact because it cuts on createdAtMs itself. The key range outside the 'h' prefix is
// reserved for later bookkeeping records; nothing here reads or writes it.
//
// Value layout (format 1; varints are unsigned LEB128, canonical):
//   format=1 u8 · flags u8 (bit 0: tombstone; other bits 0) · shard u32 · tableId u32 · xid u64 ·
//   versionId[16] · keyLen varint · key bytes · (rowLen varint · row bytes, absent for a tombstone)
// Decoding accepts exactly this (no trailing bytes, no unknown flag) and reports anything else as
// SB_STORAGE_CORRUPT; a corrupt hint is useless, never dangerous: dropCorrupt() deletes it and
// anti-entropy repairs whatever it carried.
//
// Bounds (DESIGN §10 "bounded everything"): a target holds at most MAX_HINTS_PER_TARGET hints and
// MAX_HINT_BYTES_PER_TARGET bytes (key + value). Beyond either, add() refuses the whole batch with
// SB_HINT_LOG_FULL and stores nothing. That is a deliberate choice over evicting old hints: a
// refused hint means the write simply has fewer replicas now (hints never count toward W, so the
// client's answer is unchanged), and anti-entropy repairs the replica later, exactly as for an
// expired hint; evicting instead would make the log churn on a node that is down for long while
// protecting nothing anti-entropy does not protect anyway. The cap keeps one dead peer from
// filling the coordinator's disk.
//
// Per-target {count, bytes} live in memory, exact: rebuilt by a key scan at open (so a restart
// reports correct sizes) and updated by every add / remove / expire. Writes to the store are
// serialised inside it, so concurrent callers cannot race the cap check or double-count a removal.

/** Most hints kept for one target node. */
export const MAX_HINTS_PER_TARGET = 1_000_000
/** Most bytes (keys + values as stored) kept for one target node: 1 GiB. */
export const MAX_HINT_BYTES_PER_TARGET = 1024 * 1024 * 1024
/** Entries deleted per batch by expire(), dropTarget() and dropCorrupt() (bounds one batch). */
export const HINT_DELETE_CHUNK = 10_000

/** Under `<data_dir>`: where releases before the hints moved into the shard stores kept them (one LevelDB). */
export const LEGACY_HINT_DIR = 'hints'

export const HINT_KEY_PREFIX = 0x68 // 'h'
export const HINT_KEY_LENGTH = 19
export const HINT_VALUE_FORMAT = 1
const FLAG_TOMBSTONE = 1

/** One mutation a replica missed, as the coordinator keeps it for that replica. */
export interface Hint {
  /** Node id (u16) of the replica the mutation is for. */
  readonly target: NodeId
  /** Shard id (u32). */
  readonly shard: ShardId
  /** Table id (u32). */
  readonly tableId: number
  /** Encoded primary key (the row key's tuple bytes). */
  readonly key: Uint8Array
  /** Transaction id (u64) the coordinator assigned to the write; the replica records it committed. */
  readonly xid: Xid
  /** Version id of the write: 16-byte UUIDv8-HLC. */
  readonly versionId: Uint8Array
  /** Row image; null for a delete (tombstone). */
  readonly row: Uint8Array | null
  /** Wall-clock ms when the hint was created (expiry is measured from it). */
  readonly createdAtMs: number
}

/** A hint as read back: its store key (`id`, for remove) and stored size. */
export interface StoredHint extends Hint {
  readonly id: Uint8Array
  /** Key + value bytes as stored (what the per-target byte figures count). */
  readonly bytes: number
}

export interface HintTargetStats {
  readonly count: number
  readonly bytes: number
}

export interface HintStoreOptions {
  /** fsync every add() unless the call says otherwise (default true: a hint is a promise). */
  sync?: boolean | undefined
  /** Per-target caps; default MAX_HINTS_PER_TARGET / MAX_HINT_BYTES_PER_TARGET (tests lower them). */
  maxHintsPerTarget?: number | undefined
  maxBytesPerTarget?: number | undefined
  /** close() closes the KvStore (default true); false when it is shared (a shard engine owns it). */
  ownsKv?: boolean | undefined
}

/** What remove() takes: a hint id, or anything carrying one (a StoredHint). */
export type HintRef = Uint8Array | { readonly id: Uint8Array }

export interface HintListOptions {
  /** Stop before the hint that would take the total past this many bytes (the first hint always comes). */
  maxBytes?: number | undefined
  /** Return the first hint even when it alone is over maxBytes (default true). */
  atLeastOne?: boolean | undefined
}

// ---------------------------------------------------------------------------------------------
// Encoding

function corrupt (what: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `corrupt hint ${what}`, details)
}

const U32_MAX = 0xffff_ffff
const U64_MAX = (1n << 64n) - 1n

function putU64 (b: Uint8Array, pos: number, v: number): void {
  const hi = Math.floor(v / 0x1_0000_0000)
  const lo = v >>> 0
  b[pos] = hi >>> 24; b[pos + 1] = (hi >>> 16) & 0xff; b[pos + 2] = (hi >>> 8) & 0xff; b[pos + 3] = hi & 0xff
  b[pos + 4] = lo >>> 24; b[pos + 5] = (lo >>> 16) & 0xff; b[pos + 6] = (lo >>> 8) & 0xff; b[pos + 7] = lo & 0xff
}

function getU64 (b: Uint8Array, pos: number): number {
  const hi = ((b[pos]! << 24) >>> 0) + (b[pos + 1]! << 16) + (b[pos + 2]! << 8) + b[pos + 3]!
  const lo = ((b[pos + 4]! << 24) >>> 0) + (b[pos + 5]! << 16) + (b[pos + 6]! << 8) + b[pos + 7]!
  return hi * 0x1_0000_0000 + lo
}

/** Store key of a hint (see the layout above). */
export function encodeHintId (target: NodeId, createdAtMs: number, seq: number): Uint8Array {
  const k = new Uint8Array(HINT_KEY_LENGTH)
  k[0] = HINT_KEY_PREFIX
  k[1] = target >>> 8; k[2] = target & 0xff
  putU64(k, 3, createdAtMs)
  putU64(k, 11, seq)
  return k
}

/** Lower bound (inclusive) of the keys of `target`; `target + 1` gives the exclusive upper bound. */
function targetPrefix (target: number): Uint8Array {
  return target > 0xffff ? Uint8Array.of(HINT_KEY_PREFIX + 1) : Uint8Array.of(HINT_KEY_PREFIX, target >>> 8, target & 0xff)
}

export interface HintId { readonly target: NodeId, readonly createdAtMs: number, readonly seq: number }

export function decodeHintId (id: Uint8Array): HintId {
  if (id.length !== HINT_KEY_LENGTH || id[0] !== HINT_KEY_PREFIX) throw corrupt('key', { length: id.length })
  const createdAtMs = getU64(id, 3)
  const seq = getU64(id, 11)
  if (createdAtMs > Number.MAX_SAFE_INTEGER || seq > Number.MAX_SAFE_INTEGER) throw corrupt('key: field out of range')
  const target = (id[1]! << 8) | id[2]!
  if (!isNodeId(target)) throw corrupt(`key: target node id ${target}`)
  return { target, createdAtMs, seq }
}

const sink = new ByteSink(256)

export function encodeHintValue (h: Hint): Uint8Array {
  sink.len = 0
  sink.u8(HINT_VALUE_FORMAT)
  sink.u8(h.row === null ? FLAG_TOMBSTONE : 0)
  sink.u32(h.shard)
  sink.u32(h.tableId)
  sink.u32(Number(h.xid >> 32n))
  sink.u32(Number(h.xid & 0xffff_ffffn))
  sink.bytes(h.versionId)
  sink.varint(h.key.length)
  sink.bytes(h.key)
  if (h.row !== null) {
    sink.varint(h.row.length)
    sink.bytes(h.row)
  }
  return sink.take()
}

/** Decode a stored hint; anything but the exact layout → SB_STORAGE_CORRUPT. */
export function decodeHint (rawId: Uint8Array, rawValue: Uint8Array): StoredHint {
  // Plain Uint8Array views: LevelKv hands out Buffers, whose slice() shares memory instead of copying.
  const id = plainView(rawId)
  const value = plainView(rawValue)
  const { target, createdAtMs } = decodeHintId(id)
  const src = new ByteSource(value, why => corrupt(`value: ${why}`, { target_node: target }))
  const format = src.u8()
  if (format !== HINT_VALUE_FORMAT) throw corrupt(`value: unknown format ${format}`, { target_node: target })
  const flags = src.u8()
  if ((flags & ~FLAG_TOMBSTONE) !== 0) throw corrupt(`value: unknown flags ${flags}`, { target_node: target })
  const shard = src.u32()
  if (!isShardId(shard)) throw corrupt(`value: shard id ${shard} out of range`, { target_node: target })
  const tableId = src.u32()
  const xid = asXid((BigInt(src.u32()) << 32n) | BigInt(src.u32()))
  const versionId = src.bytes(16)
  const key = src.bytes(src.varint())
  const row = (flags & FLAG_TOMBSTONE) !== 0 ? null : src.bytes(src.varint())
  if (!src.done) throw corrupt('value: trailing bytes', { target_node: target })
  return { id: id.slice(), bytes: id.length + value.length, target, shard, tableId, key, xid, versionId, row, createdAtMs }
}

function plainView (b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function checkTarget (target: NodeId): void {
  assert(Number.isInteger(target) && target >= 0 && target <= 0xffff, `hint target ${target} is not a u16 node id`)
}

function checkHint (h: Hint): void {
  checkTarget(h.target)
  assert(Number.isInteger(h.shard) && h.shard >= 0 && h.shard <= U32_MAX, `hint shard ${h.shard} is not a u32`)
  assert(Number.isInteger(h.tableId) && h.tableId >= 0 && h.tableId <= U32_MAX, `hint table id ${h.tableId} is not a u32`)
  assert(typeof h.xid === 'bigint' && h.xid >= 0n && h.xid <= U64_MAX, 'hint xid is not a u64')
  assert(h.versionId instanceof Uint8Array && h.versionId.length === 16, 'hint version id is not 16 bytes')
  assert(h.key instanceof Uint8Array, 'hint key is not bytes')
  assert(h.row === null || h.row instanceof Uint8Array, 'hint row is neither bytes nor null')
  assert(Number.isSafeInteger(h.createdAtMs) && h.createdAtMs >= 0, `hint createdAtMs ${h.createdAtMs} is not a non-negative integer`)
}

// ---------------------------------------------------------------------------------------------
// Store

interface MutableStats { count: number, bytes: number }

export class HintStore {
  private readonly perTarget = new Map<NodeId, MutableStats>()
  private nextSeq = 0
  private tail: Promise<unknown> = Promise.resolve()
  private closed = false
  private readonly sync: boolean
  private readonly ownsKv: boolean
  readonly maxHintsPerTarget: number
  readonly maxBytesPerTarget: number
  /** Keys in the hint range that did not parse at open and were deleted then. */
  droppedAtOpen = 0

  private constructor (private readonly kv: KvStore, options: HintStoreOptions) {
    this.sync = options.sync ?? true
    this.ownsKv = options.ownsKv ?? true
    this.maxHintsPerTarget = options.maxHintsPerTarget ?? MAX_HINTS_PER_TARGET
    this.maxBytesPerTarget = options.maxBytesPerTarget ?? MAX_HINT_BYTES_PER_TARGET
  }

  /**
   * Takes ownership of `kv` (close() closes it) and scans its keys to rebuild the per-target
   * figures and the next sequence number. Values are not decoded here (list() does), so opening
   * costs one key scan; unparseable keys in the hint range are deleted and counted in droppedAtOpen.
   * If opening fails, `kv` is closed (unless options.ownsKv is false).
   */
  static async open (kv: KvStore, options: HintStoreOptions = {}): Promise<HintStore> {
    try {
      return await HintStore.load(kv, options)
    } catch (e) {
      if (options.ownsKv !== false) await kv.close().catch(() => {})
      throw e
    }
  }

  private static async load (kv: KvStore, options: HintStoreOptions): Promise<HintStore> {
    const s = new HintStore(kv, options)
    const bad: KvOp[] = []
    let maxSeq = -1
    for await (const [k, v] of kv.iterate({ gte: Uint8Array.of(HINT_KEY_PREFIX), lt: Uint8Array.of(HINT_KEY_PREFIX + 1) })) {
      let id: HintId
      try {
        id = decodeHintId(k)
      } catch {
        bad.push({ type: 'del', key: k })
        continue
      }
      if (id.seq > maxSeq) maxSeq = id.seq
      s.account(id.target, 1, k.length + v.length)
    }
    if (bad.length > 0) await kv.batch(bad, { sync: false })
    s.droppedAtOpen = bad.length
    s.nextSeq = maxSeq + 1
    return s
  }

  /**
   * Store `hints` in one atomic batch (fsynced per `sync`, default the store's). All or nothing:
   * when a target would exceed its cap, throws SB_HINT_LOG_FULL (details.target_nodes lists the
   * full targets) and stores none — a caller batching several targets retries without those.
   */
  async add (hints: readonly Hint[], options: { sync?: boolean } = {}): Promise<StoredHint[]> {
    for (const h of hints) checkHint(h)
    return this.serial(async () => {
      const ops: KvOp[] = []
      const out: StoredHint[] = []
      const delta = new Map<NodeId, MutableStats>()
      for (const h of hints) {
        const id = encodeHintId(h.target, h.createdAtMs, this.nextSeq + ops.length)
        const value = encodeHintValue(h)
        ops.push({ type: 'put', key: id, value })
        out.push({ ...h, id, bytes: id.length + value.length })
        const d = delta.get(h.target) ?? { count: 0, bytes: 0 }
        d.count++
        d.bytes += id.length + value.length
        delta.set(h.target, d)
      }
      const full: NodeId[] = []
      for (const [target, d] of delta) {
        const cur = this.perTarget.get(target) ?? { count: 0, bytes: 0 }
        if (cur.count + d.count > this.maxHintsPerTarget || cur.bytes + d.bytes > this.maxBytesPerTarget) full.push(target)
      }
      if (full.length > 0) {
        full.sort((a, b) => a - b)
        const cur = this.perTarget.get(full[0]!) ?? { count: 0, bytes: 0 }
        throw new ScratchBirdError('SB_HINT_LOG_FULL', `hint log for node ${full.join(', ')} is full (${cur.count} hints, ${cur.bytes} bytes; at most ${this.maxHintsPerTarget} hints and ${this.maxBytesPerTarget} bytes per node); the write stays missing on that replica until a quorum read of the key or an anti-entropy round repairs it`, {
          target_nodes: full, hints: cur.count, bytes: cur.bytes, max_hints: this.maxHintsPerTarget, max_bytes: this.maxBytesPerTarget
        })
      }
      this.nextSeq += ops.length
      await this.kv.batch(ops, { sync: options.sync ?? this.sync })
      for (const [target, d] of delta) this.account(target, d.count, d.bytes)
      return out
    })
  }

  /**
   * Up to `limit` hints of `target`, oldest first (by createdAtMs, then insertion order). A value
   * that does not decode throws SB_STORAGE_CORRUPT; the caller logs it and calls dropCorrupt().
   */
  async list (target: NodeId, limit: number, options: HintListOptions = {}): Promise<StoredHint[]> {
    this.checkOpen()
    checkTarget(target)
    assert(Number.isInteger(limit) && limit >= 0, 'list limit must be a non-negative integer')
    const out: StoredHint[] = []
    if (limit === 0) return out
    const maxBytes = options.maxBytes ?? Infinity
    const free = options.atLeastOne ?? true
    let bytes = 0
    for await (const [k, v] of this.kv.iterate({ gte: targetPrefix(target), lt: targetPrefix(target + 1), limit })) {
      if ((out.length > 0 || !free) && bytes + k.length + v.length > maxBytes) break
      const h = decodeHint(k, v)
      bytes += h.bytes
      out.push(h)
    }
    return out
  }

  /**
   * Copy stored hints in with their own ids (the upgrade from a previous release's store): a copy
   * repeated after a crash finds its hints already there and stores nothing twice. An id already
   * holding a different hint gets a fresh sequence number instead (never overwrite a hint). Every
   * entry must decode (the caller drops corrupt ones); caps are not applied (the hints were within
   * them where they came from). Returns how many were newly stored.
   */
  async importStored (entries: readonly { readonly id: Uint8Array, readonly value: Uint8Array }[], options: { sync?: boolean } = {}): Promise<number> {
    const hints = entries.map(e => decodeHint(e.id, e.value))
    return this.serial(async () => {
      if (hints.length === 0) return 0
      const present = await this.kv.getMany(hints.map(h => h.id))
      const ops: KvOp[] = []
      const delta: Array<[NodeId, number]> = []
      let maxSeq = this.nextSeq - 1
      const fresh: number[] = []
      const seen = new Set<string>()
      for (let i = 0; i < hints.length; i++) {
        const h = hints[i]!
        const value = entries[i]!.value
        const old = present[i]
        const hex = Buffer.from(h.id).toString('hex')
        if (seen.has(hex) || (old !== undefined && Buffer.compare(old, value) === 0)) continue
        seen.add(hex)
        let id = h.id
        if (old !== undefined) {
          fresh.push(i)
          id = encodeHintId(h.target, h.createdAtMs, this.nextSeq + fresh.length - 1)
        } else {
          maxSeq = Math.max(maxSeq, decodeHintId(id).seq)
        }
        ops.push({ type: 'put', key: id, value: plainView(value) })
        delta.push([h.target, id.length + value.length])
      }
      this.nextSeq = Math.max(maxSeq + 1, this.nextSeq + fresh.length)
      if (ops.length === 0) return 0
      await this.kv.batch(ops, { sync: options.sync ?? this.sync })
      for (const [target, bytes] of delta) this.account(target, 1, bytes)
      return ops.length
    })
  }

  /** Delete delivered hints by id (acknowledged by their target). Ids already gone are skipped. */
  async remove (refs: readonly HintRef[]): Promise<number> {
    const ids = refs.map(r => r instanceof Uint8Array ? r : r.id)
    for (const id of ids) assert(id instanceof Uint8Array && id.length === HINT_KEY_LENGTH && id[0] === HINT_KEY_PREFIX, 'not a hint id')
    return this.serial(async () => {
      if (ids.length === 0) return 0
      const values = await this.kv.getMany(ids)
      const ops: KvOp[] = []
      const seen = new Set<string>()
      const gone: Array<[NodeId, number]> = []
      for (let i = 0; i < ids.length; i++) {
        const v = values[i]
        const id = ids[i]!
        const hex = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
        if (v === undefined || seen.has(hex)) continue
        seen.add(hex)
        ops.push({ type: 'del', key: id })
        gone.push([decodeHintId(id).target, id.length + v.length])
      }
      // Not fsynced: a delete lost in a crash only means the hint is delivered again (idempotent).
      await this.kv.batch(ops, { sync: false })
      for (const [target, bytes] of gone) this.account(target, -1, -bytes)
      return ops.length
    })
  }

  /** Delete every hint created before `nowMs - maxAgeMs` (wall clock); returns how many. */
  async expire (nowMs: number, maxAgeMs: number): Promise<number> {
    // Hint createdAtMs are integers: createdAt < cutoff ⇔ createdAt < ceil(cutoff).
    const cutoff = Math.ceil(nowMs - maxAgeMs)
    return this.serial(async () => {
      if (!(cutoff > 0)) return 0
      let removed = 0
      for (const target of this.targets()) {
        removed += await this.deleteRange(target, encodeHintId(target, Math.min(cutoff, Number.MAX_SAFE_INTEGER), 0), () => true)
      }
      return removed
    })
  }

  /** Delete every hint of `target` (a node that left the cluster for good); returns how many. */
  async dropTarget (target: NodeId): Promise<number> {
    checkTarget(target)
    return this.serial(() => this.deleteRange(target, targetPrefix(target + 1), () => true))
  }

  /** Delete the hints of `target` whose value does not decode; returns how many. */
  async dropCorrupt (target: NodeId): Promise<number> {
    checkTarget(target)
    return this.serial(() => this.deleteRange(target, targetPrefix(target + 1), (k, v) => {
      try {
        decodeHint(k, v)
        return false
      } catch {
        return true
      }
    }))
  }

  /** Per-target hint count and bytes (a snapshot copy), only targets holding hints. */
  stats (): Map<NodeId, HintTargetStats> {
    const out = new Map<NodeId, HintTargetStats>()
    for (const [t, s] of this.perTarget) out.set(t, { count: s.count, bytes: s.bytes })
    return out
  }

  /** Target node ids holding hints, ascending. */
  targets (): NodeId[] {
    return [...this.perTarget.keys()].sort((a, b) => a - b)
  }

  /** Waits for writes in progress, then closes the KvStore (when it owns it). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.tail.catch(() => {})
    if (this.ownsKv) await this.kv.close()
  }

  // -------------------------------------------------------------------------------------------

  private checkOpen (): void {
    if (this.closed) throw new ScratchBirdError('SB_SHUTTING_DOWN', 'the hint store is closed', {})
  }

  /** Runs `fn` after every earlier write finished (one writer at a time; errors do not poison the chain). */
  private serial<T> (fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ScratchBirdError('SB_SHUTTING_DOWN', 'the hint store is closed', {}))
    const run = this.tail.then(fn, fn)
    this.tail = run.catch(() => {})
    return run
  }

  private account (target: NodeId, count: number, bytes: number): void {
    const s = this.perTarget.get(target) ?? { count: 0, bytes: 0 }
    s.count += count
    s.bytes += bytes
    // ≤ 0 only if someone else wrote into the hint range while we run (a corrupt key dropped by
    // dropCorrupt was never counted): clamp rather than crash.
    if (s.count <= 0) this.perTarget.delete(target)
    else this.perTarget.set(target, s)
  }

  /** Delete the keys of `target` below `lt` that `pick` selects, HINT_DELETE_CHUNK at a time. */
  private async deleteRange (target: NodeId, lt: Uint8Array, pick: (k: Uint8Array, v: Uint8Array) => boolean): Promise<number> {
    let removed = 0
    let from = targetPrefix(target)
    let first = true
    for (;;) {
      const ops: KvOp[] = []
      let bytes = 0
      let scanned = 0
      let last: Uint8Array | undefined
      for await (const [k, v] of this.kv.iterate({ gte: first ? from : undefined, gt: first ? undefined : from, lt, limit: HINT_DELETE_CHUNK })) {
        scanned++
        last = k
        if (!pick(k, v)) continue
        ops.push({ type: 'del', key: k })
        bytes += k.length + v.length
      }
      if (ops.length > 0) {
        await this.kv.batch(ops, { sync: false })
        this.account(target, -ops.length, -bytes)
        removed += ops.length
      }
      if (scanned < HINT_DELETE_CHUNK || last === undefined) return removed
      from = last
      first = false
    }
  }
}
