// Snapshot streaming for replica bootstrap (DESIGN §6 Mode 1: "a consistent snapshot of the shard
// streamed in bounded resumable chunks, then the log from the snapshot's LSN").
//
// Source (SnapshotSource.read). A snapshot is a KvSnapshot (kv.ts: a LevelDB iterator's implicit
// snapshot) opened inside an exclusive writer job, so it holds exactly the state at the shard's
// last LSN — every earlier pass landed, none runs — and that LSN, the generation of its entry and
// the HLC high-water mark travel with every chunk. It streams only the shard's data: record
// versions (r/, b/), the TIP (t/, g/) and the index of its open entries (s/o/, so a prepared
// transaction stays prepared). Not the log (the replica's starts after the snapshot), not the
// hints (h: this node's business as a coordinator), not the Merkle forest (m/: derived from the
// rows), not metadata or replication state (s/, p/: this replica's own) — but a split's fence and cleanup
// state, which describe the rows, travel beside the entries (snapshot-split.ts) — not the rows of the tables
// the request skips (a Mode 1 bootstrap skips the shard's leaderless tables: kept-tables.ts says
// why). Chunks are bounded by
// keys and bytes (the first entry always goes) and name their resume point: the last key. A
// snapshot is kept open between chunks, at most MAX_OPEN_SNAPSHOTS per shard (the least recently
// used goes first), closed after SNAPSHOT_IDLE_MS without a read. Ids are node id << 48 | a
// counter persisted in p/snapseq, so an id is never reused, even across restarts of the source.
//
// Target (installChunk). The first chunk (after = null) starts — or restarts — a bootstrap: the
// hard state's role becomes `bootstrapping` and p/boot records the snapshot (id, LSN, generation),
// both fsynced BEFORE anything is removed; then the replica's old data and log are deleted in
// bounded batches — all but the rows of the tables the request keeps (kept-tables.ts), which no
// chunk then overwrites. While bootstrapping the engine serves nothing but the replication ops, also
// after a restart (the role is read at open), so a half-installed shard is never read. Each chunk
// must continue the bootstrap recorded — same snapshot, starting right after the last key
// installed — else SB_REPL_SNAPSHOT_MISMATCH and nothing is installed; its entries and the new
// resume point land in one batch. The last chunk (done) also sets the log to continue at the
// snapshot's LSN + 1 (p/logbase keeps that entry's generation for the (generation, lsn)
// comparisons), the role to `replica`, and removes p/boot.
//
// Consistency across failures. A chunk installed is durable with its resume point, so after a
// crash of the TARGET the caller asks the source for the same snapshot from the recorded key
// (REPL_STATE_GET shows it). If the SOURCE lost the snapshot (restart, expiry: SB_REPL_SNAPSHOT_GONE),
// the caller opens a new one — at a later LSN — and installs it from its first chunk, which wipes
// what the old attempt installed: chunks of two snapshots are never mixed, because every chunk
// names its snapshot id and LSN and the target checks them against p/boot.

import type { Clock } from '../core/clock'
import { ScratchBirdError, messageOf } from '../core/errors'
import { asHlcTs, asXid, type NodeId } from '../core/ids'
import { COMMIT_END } from './commit-log'
import {
  BACK_SPACE, bytesEqual, checkTuple, compareBytes, COMMIT_PREFIX, corrupt, decodeRowKey, OPEN_TXN_PREFIX, openTxnKey, readU64, ROW_SPACE,
  TIP_GROUP_PREFIX, TIP_PREFIX, tipKey, u64OfKey, writeU64
} from './keys'
import type { KvOp, KvSnapshot } from './kv'
import { keptTablesOf, type KeptTables } from './kept-tables'
import { LOG_FLOOR_META } from './log-truncate'
import { splitCutOp } from './split-pin'
import type { MovedKeys } from './split-cleanup'
import { checkSplitState, installSplitState, sourceSplitState, type SnapshotSplitState } from './snapshot-split'
import type { ReplicaHost } from './replica-host'
import type { SplitFence } from './split-fence'
import { lastLogGeneration } from './replica-apply'
import {
  BOOT_KEY, encodeBootstrap, encodeHardState, encodeLogBase, LOG_BASE_KEY, readBootstrap, readHardState, REPL_STATE_KEY, SNAPSEQ_KEY,
  type BootstrapRecord
} from './repl-state'
import { decodeTipEntry, decodeTipGroup, encodeTipEntry } from './tip'
import { decodeVersion } from './versions'
import { HLC_META, LSN_META } from './writer'

/** Keys one chunk holds at most. */
export const MAX_SNAPSHOT_CHUNK_KEYS = 10_000
/** Bytes (keys + values) one chunk holds at most, whatever the caller asks (one larger entry still goes alone). */
export const MAX_SNAPSHOT_CHUNK_BYTES = 16 * 1024 * 1024
/** Snapshots a shard keeps open as a source. */
export const MAX_OPEN_SNAPSHOTS = 4
/** A source snapshot not read for this long is closed (LevelDB keeps its files meanwhile). */
export const SNAPSHOT_IDLE_MS = 60_000
/** Entries a chunk read takes from the snapshot's iterator per call. */
const READ_BATCH = 1000
/** Keys one batch of the wipe before an install deletes. */
export const WIPE_BATCH_KEYS = 1024

const end = (p: Uint8Array): Uint8Array => { const e = p.slice(); e[e.length - 1]!++; return e }
/** The key spaces a snapshot carries, in key order. */
export const SNAPSHOT_SPACES: ReadonlyArray<{ readonly gte: Uint8Array, readonly lt: Uint8Array }> = [
  BACK_SPACE,
  { gte: TIP_GROUP_PREFIX, lt: end(TIP_GROUP_PREFIX) },
  ROW_SPACE,
  { gte: OPEN_TXN_PREFIX, lt: end(OPEN_TXN_PREFIX) },
  { gte: TIP_PREFIX, lt: end(TIP_PREFIX) }
]
/** What an install removes first: the snapshot spaces, the log and the log's marks. */
const WIPE_SPACES = [...SNAPSHOT_SPACES, { gte: COMMIT_PREFIX, lt: COMMIT_END }]
const WIPE_KEYS = [LSN_META, LOG_FLOOR_META, LOG_BASE_KEY]

export interface SnapshotEntry { readonly key: Uint8Array, readonly value: Uint8Array }

/** Identity of a snapshot: what every chunk names and the target checks. */
export interface SnapshotIdentity {
  readonly snapshotId: bigint
  /** The shard's last LSN when the snapshot was taken: the log continues at lsn + 1. */
  readonly lsn: bigint
  /** Generation of the entry at `lsn` (0 when never replicated). */
  readonly generation: bigint
  readonly hlcHighWater: bigint
}

export interface SnapshotChunk extends SnapshotIdentity {
  readonly entries: SnapshotEntry[]
  /** No key after the last one returned. */
  readonly done: boolean
  /** The source's split state at the snapshot (snapshot-split.ts), on every chunk; null: none to carry. */
  readonly split: SnapshotSplitState | null
}

export interface SnapshotReadRequest {
  /** 0n: open a new snapshot. */
  readonly snapshotId: bigint
  /** Resume after this key; null: from the start. */
  readonly after: Uint8Array | null
  readonly maxKeys: number
  readonly maxBytes: number
  /**
   * Tables whose rows (r/, b/) the snapshot leaves out, taken when it is opened (snapshotId 0n):
   * a Mode 1 bootstrap names the shard's leaderless tables (kept-tables.ts); a backup or the
   * leaderless fill names none.
   */
  readonly skipTables?: readonly number[] | null
}

export interface SnapshotInstallRequest extends SnapshotIdentity {
  /** The key this chunk follows (the last one installed); null: the first chunk. */
  readonly after: Uint8Array | null
  readonly entries: readonly SnapshotEntry[]
  readonly done: boolean
  /**
   * The group's voters at the snapshot's LSN (the source's machine knows them), read with the last
   * chunk: the installed hard state records them as its config (repl-state.ts). Absent or null (a
   * source of the previous release): recorded as not known.
   */
  readonly voters?: readonly NodeId[] | null
  /**
   * Tables this replica keeps through the bootstrap (kept-tables.ts: the shard's leaderless
   * tables): the wipe leaves their rows and back versions, and entries of theirs a source sends
   * anyway (one of the previous release) are not installed. Absent: none (a full restore).
   */
  readonly keepTables?: readonly number[] | null
  /**
   * The source's split state at the snapshot (snapshot-split.ts), read with the last chunk: the
   * install records its fence and cleanup state. Absent or null: the source sent none (see there).
   */
  readonly split?: SnapshotSplitState | null
}

export interface InstallReport {
  readonly installedKeys: number
  /** The resume point: the last key installed (null before the first). */
  readonly lastKey: Uint8Array | null
  /** true once the last chunk is in: the replica serves again, its log at lsn. */
  readonly complete: boolean
}

interface Session extends SnapshotIdentity {
  readonly cursor: KvSnapshot
  lastUsed: number
  /** Reads of one snapshot run one at a time (a LevelDB iterator takes one call at a time). */
  busy: Promise<unknown>
  /** Keys a split moved out of the shard whose cleanup was under way when the snapshot was taken (split-cleanup.ts): not streamed. */
  readonly moved: MovedKeys | null
  /** What the snapshot carries of a split (snapshot-split.ts). */
  readonly split: SnapshotSplitState | null
  /** The request's skipTables: not streamed. */
  readonly skip: KeptTables
}

function badArg (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', message, details)
}

function checkLimit (name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw badArg(`${name} must be a positive integer`, { [name]: v })
}

/** Index of the snapshot space holding `key`, or -1. */
function spaceOf (key: Uint8Array): number {
  for (let i = 0; i < SNAPSHOT_SPACES.length; i++) {
    const s = SNAPSHOT_SPACES[i]!
    if (compareBytes(key, s.gte) >= 0 && compareBytes(key, s.lt) < 0) return i
  }
  return -1
}

function successor (key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1)
  out.set(key, 0)
  return out
}

function u64 (v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, v)
  return b
}

/** The source side: the snapshots this shard keeps open for replicas being bootstrapped. */
export class SnapshotSource {
  private readonly sessions = new Map<bigint, Session>()

  constructor (private readonly clock: Clock) {}

  /** `armed`: the engine's split-cleanup filter now (taken with a new snapshot when no record of it is stored yet: snapshot-split.ts). */
  async read (h: ReplicaHost, req: SnapshotReadRequest, armed: MovedKeys | null = null): Promise<SnapshotChunk> {
    checkLimit('maxKeys', req.maxKeys)
    checkLimit('maxBytes', req.maxBytes)
    if (req.after !== null && !(req.after instanceof Uint8Array)) throw badArg('after must be a key or null')
    await this.expire()
    const s = req.snapshotId === 0n ? await this.open(h, armed, keptTablesOf(req.skipTables)) : this.sessions.get(req.snapshotId)
    if (s === undefined) {
      throw new ScratchBirdError('SB_REPL_SNAPSHOT_GONE', `snapshot ${req.snapshotId} of shard ${h.shardId} is not open (expired or the source restarted)`,
        { shard: h.shardId, snapshot_id: String(req.snapshotId) })
    }
    s.lastUsed = this.clock.monotonic()
    const run = s.busy.then(async () => await this.chunk(s, req.after, Math.min(req.maxKeys, MAX_SNAPSHOT_CHUNK_KEYS), Math.min(req.maxBytes, MAX_SNAPSHOT_CHUNK_BYTES)))
    s.busy = run.catch(() => {})
    return await run
  }

  /** Close every open snapshot (the engine is closing). */
  async close (): Promise<void> {
    const all = [...this.sessions.values()]
    this.sessions.clear()
    await Promise.allSettled(all.map(async s => { await s.busy; await s.cursor.close() }))
  }

  get openSnapshots (): number { return this.sessions.size }

  private async expire (): Promise<void> {
    const now = this.clock.monotonic()
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsed > SNAPSHOT_IDLE_MS) await this.drop(id, s)
    }
  }

  private async drop (id: bigint, s: Session): Promise<void> {
    this.sessions.delete(id)
    await s.busy
    await s.cursor.close()
  }

  private async open (h: ReplicaHost, armed: MovedKeys | null, skip: KeptTables): Promise<Session> {
    if (this.sessions.size >= MAX_OPEN_SNAPSHOTS) {
      let lru: [bigint, Session] | undefined
      for (const e of this.sessions) if (lru === undefined || e[1].lastUsed < lru[1].lastUsed) lru = e
      await this.drop(lru![0], lru![1])
    }
    const s = await h.exclusive(async () => {
      const raw = await h.kv.get(SNAPSEQ_KEY)
      if (raw !== undefined && raw.length !== 8) throw corrupt('snapshot id counter', { length: raw.length })
      const seq = (raw === undefined ? 0n : readU64(raw, 0)) + 1n
      await h.kv.batch([{ type: 'put', key: SNAPSEQ_KEY, value: u64(seq) }], { sync: true })
      const generation = await lastLogGeneration(h) ?? 0n
      // Read in the same job as the snapshot: the split state of exactly the rows streamed.
      const { state, moved } = await sourceSplitState(h.kv, h.shardId, armed)
      // Taken synchronously here: every pass before this job landed, none runs until it ends.
      const cursor = h.kv.snapshot()
      return {
        snapshotId: (BigInt(h.nodeId) << 48n) | (seq & ((1n << 48n) - 1n)),
        lsn: h.st.lsn,
        generation,
        hlcHighWater: h.st.hlcHigh,
        cursor,
        lastUsed: this.clock.monotonic(),
        busy: Promise.resolve(),
        moved,
        split: state,
        skip
      }
    })
    this.sessions.set(s.snapshotId, s)
    return s
  }

  private async chunk (s: Session, after: Uint8Array | null, maxKeys: number, maxBytes: number): Promise<SnapshotChunk> {
    const head = { snapshotId: s.snapshotId, lsn: s.lsn, generation: s.generation, hlcHighWater: s.hlcHighWater, split: s.split }
    const entries: SnapshotEntry[] = []
    const spaces = SNAPSHOT_SPACES
    let start = after === null ? spaces[0]!.gte : successor(after)
    let i = 0
    while (i < spaces.length && compareBytes(start, spaces[i]!.lt) >= 0) i++
    if (i === spaces.length) return { ...head, entries, done: true }
    if (compareBytes(start, spaces[i]!.gte) < 0) start = spaces[i]!.gte
    s.cursor.seek(start)
    let bytes = 0
    // Read in batches (one call per READ_BATCH entries, not one per entry); what a batch holds
    // past this chunk's end or past a space is dropped: the next chunk seeks to its own start.
    for (;;) {
      if (entries.length >= maxKeys) return { ...head, entries, done: false }
      const batch = await s.cursor.nextMany(Math.min(READ_BATCH, maxKeys - entries.length))
      if (batch.length === 0) return { ...head, entries, done: true }
      for (const [key, value] of batch) {
        if (compareBytes(key, spaces[i]!.lt) >= 0) {
          while (i < spaces.length && compareBytes(key, spaces[i]!.lt) >= 0) i++
          if (i === spaces.length) return { ...head, entries, done: true }
          if (compareBytes(key, spaces[i]!.gte) < 0) { s.cursor.seek(spaces[i]!.gte); break }
        }
        // A split's leftover is not this shard's: a replica bootstrapped from here never holds it.
        if (s.moved?.movedAny(key) === true) continue
        // Not the group's rows (kept-tables.ts): the target keeps its own copy of them.
        if (s.skip.size > 0 && s.skip.holds(key)) continue
        const size = key.length + value.length
        if (entries.length > 0 && bytes + size > maxBytes) return { ...head, entries, done: false }
        bytes += size
        entries.push({ key, value })
      }
    }
  }
}

// ---- target --------------------------------------------------------------------------------------

/** A chunk entry as the target accepts it: in a snapshot space, its value decodable. */
function checkEntry (h: ReplicaHost, e: SnapshotEntry): void {
  if (e === null || typeof e !== 'object' || !(e.key instanceof Uint8Array) || !(e.value instanceof Uint8Array)) throw badArg('a snapshot entry is a key and a value (bytes)')
  const space = spaceOf(e.key)
  const bad = (why: string): never => { throw badArg(`snapshot entry ${Buffer.from(e.key).toString('hex')}: ${why}`, { shard: h.shardId }) }
  try {
    switch (space) {
      case 0: { // b/<table><pk><uuid tag><version>
        if (e.key.length < 20 || e.key[e.key.length - 17] !== 0x30) bad('not a back-version key')
        const rowKey = e.key.slice(0, e.key.length - 17)
        rowKey[0] = ROW_SPACE.gte[0]!
        const { pkOffset } = decodeRowKey(rowKey)
        checkTuple(rowKey, pkOffset)
        decodeVersion(e.value)
        break
      }
      case 1:
        if (e.key.length !== TIP_GROUP_PREFIX.length + 8) bad('not a TIP group key')
        for (const [xid] of decodeTipGroup(e.value)) h.xids.observe(xid)
        break
      case 2: {
        const { pkOffset } = decodeRowKey(e.key)
        checkTuple(e.key, pkOffset)
        decodeVersion(e.value)
        break
      }
      case 3:
        if (e.key.length !== OPEN_TXN_PREFIX.length + 8 || e.value.length !== 0) bad('not an open-transaction index entry')
        break
      case 4:
        if (e.key.length !== TIP_PREFIX.length + 8) bad('not a TIP key')
        decodeTipEntry(e.value)
        h.xids.observe(asXid(u64OfKey(e.key, TIP_PREFIX)))
        break
      default:
        bad('outside the key spaces a snapshot carries')
    }
  } catch (err) {
    if (err instanceof ScratchBirdError && err.code === 'SB_BAD_ARGUMENT') throw err
    bad(messageOf(err))
  }
}

function mismatch (h: ReplicaHost, why: string, rec: BootstrapRecord | undefined, req: SnapshotInstallRequest): ScratchBirdError {
  const hex = (k: Uint8Array | null | undefined): string | null => k === null || k === undefined ? null : Buffer.from(k).toString('hex')
  return new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', `snapshot chunk for shard ${h.shardId} refused: ${why}`, {
    shard: h.shardId,
    expected_snapshot_id: rec === undefined ? null : String(rec.snapshotId),
    expected_lsn: rec === undefined ? null : String(rec.lsn),
    expected_after: hex(rec?.lastKey),
    snapshot_id: String(req.snapshotId),
    lsn: String(req.lsn),
    after: hex(req.after)
  })
}

/**
 * Install one chunk (see the top) as one exclusive writer job. `setMoved`: told the split
 * cleanup's scan filter in force once the last chunk is in (snapshot-split.ts).
 */
export function installChunk (h: ReplicaHost, req: SnapshotInstallRequest, setMoved?: (m: MovedKeys | null) => void): Promise<InstallReport> {
  for (const [name, v] of [['snapshotId', req.snapshotId], ['lsn', req.lsn], ['generation', req.generation], ['hlcHighWater', req.hlcHighWater]] as const) {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw badArg(`${name} must be a u64`, { [name]: String(v) })
  }
  if (!Array.isArray(req.entries) || req.entries.length > MAX_SNAPSHOT_CHUNK_KEYS) throw badArg(`a chunk holds at most ${MAX_SNAPSHOT_CHUNK_KEYS} entries`)
  const kept = keptTablesOf(req.keepTables)
  const split = req.split ?? null
  const splitFence = split === null ? null : checkSplitState(split, h.shardId)
  return h.exclusive(async () => {
    let rec = await readBootstrap(h.kv)
    if (req.after === null) {
      rec = await begin(h, req, kept)
    } else {
      const same = rec !== undefined && rec.snapshotId === req.snapshotId && rec.lsn === req.lsn && rec.generation === req.generation
      if (!h.st.bootstrapping || !same) throw mismatch(h, 'it is not the snapshot being installed', rec, req)
      if (!rec!.wiped || rec!.lastKey === null || !bytesEqual(rec!.lastKey, req.after)) throw mismatch(h, 'it does not start right after the last key installed', rec, req)
    }
    let prev = rec!.lastKey
    for (const e of req.entries) {
      checkEntry(h, e)
      if (prev !== null && compareBytes(e.key, prev) <= 0) throw mismatch(h, 'keys out of order', rec, req)
      prev = e.key
    }
    const ops: KvOp[] = []
    for (const e of req.entries) if (kept.size === 0 || !kept.holds(e.key)) ops.push({ type: 'put', key: e.key, value: e.value })
    const next: BootstrapRecord = { ...rec!, installedKeys: rec!.installedKeys + req.entries.length, lastKey: prev }
    if (!req.done) {
      ops.push({ type: 'put', key: BOOT_KEY, value: encodeBootstrap(next) })
      await h.kv.batch(ops, { sync: h.durability === 'sync' })
      return { installedKeys: next.installedKeys, lastKey: next.lastKey, complete: false }
    }
    await finish(h, req, ops, splitFence, setMoved)
    return { installedKeys: next.installedKeys, lastKey: next.lastKey, complete: true }
  })
}

/** Start (or restart) a bootstrap: mark it durably, then remove the old contents. */
async function begin (h: ReplicaHost, req: SnapshotInstallRequest, kept: KeptTables): Promise<BootstrapRecord> {
  if (h.tip.active.size > 0) {
    throw new ScratchBirdError('SB_REPL_BOOTSTRAPPING', `shard ${h.shardId} has ${h.tip.active.size} open transactions: a bootstrap cannot start under them`, { shard: h.shardId })
  }
  const hard = await readHardState(h.kv)
  const rec: BootstrapRecord = { snapshotId: req.snapshotId, lsn: req.lsn, generation: req.generation, hlcHighWater: req.hlcHighWater, wiped: false, installedKeys: 0, lastKey: null }
  await h.kv.batch([
    { type: 'put', key: REPL_STATE_KEY, value: encodeHardState({ ...hard, role: 'bootstrapping' }) },
    { type: 'put', key: BOOT_KEY, value: encodeBootstrap(rec) }
  ], { sync: true })
  h.st.bootstrapping = true
  h.st.replRole = 'bootstrapping'
  for (const space of WIPE_SPACES.flatMap(sp => kept.without(sp))) {
    for (;;) {
      const dels: KvOp[] = []
      for await (const [k] of h.kv.iterate({ ...space, limit: WIPE_BATCH_KEYS })) dels.push({ type: 'del', key: k })
      if (dels.length === 0) break
      await h.kv.batch(dels, { sync: false })
    }
  }
  const wiped = { ...rec, wiped: true }
  // A split derive reading this shard's log copied rows the new snapshot may not hold (split-pin.ts CUT).
  const cut = await splitCutOp(h.kv)
  await h.kv.batch([...WIPE_KEYS.map((key): KvOp => ({ type: 'del', key })), { type: 'put', key: BOOT_KEY, value: encodeBootstrap(wiped) }, ...cut === undefined ? [] : [cut]], { sync: h.durability === 'sync' })
  h.tip.cache.clear()
  h.tip.limbo.clear()
  h.st.lsn = 0n
  h.st.logFloor = 1n
  return wiped
}

/** The last chunk: the log continues after the snapshot's LSN; the replica serves again. */
async function finish (h: ReplicaHost, req: SnapshotInstallRequest, ops: KvOp[], splitFence: SplitFence | null, setMoved?: (m: MovedKeys | null) => void): Promise<void> {
  const hard = await readHardState(h.kv)
  const split = await installSplitState(h.kv, h.shardId, req.split, splitFence, req.lsn, h.st.splitFence)
  ops.push(...split.ops)
  const newer = req.generation > hard.generation
  // The voters in effect at the snapshot's LSN, which is now the log's base: the config the old
  // contents implied is gone with them (repl-state.ts config).
  const config = req.voters === undefined || req.voters === null || req.voters.length === 0 ? null : { lsn: req.lsn, voters: [...req.voters] }
  const state = { generation: newer ? req.generation : hard.generation, votedFor: newer ? null : hard.votedFor, commitLsn: hard.commitLsn > req.lsn ? hard.commitLsn : req.lsn, role: 'replica' as const, config }
  ops.push({ type: 'put', key: LSN_META, value: u64(req.lsn) })
  ops.push({ type: 'put', key: LOG_FLOOR_META, value: u64(req.lsn + 1n) })
  ops.push({ type: 'put', key: LOG_BASE_KEY, value: encodeLogBase({ lsn: req.lsn, generation: req.generation }) })
  const hlc = req.hlcHighWater > h.st.hlcHigh ? req.hlcHighWater : h.st.hlcHigh
  if (hlc > h.st.hlcPersisted) ops.push({ type: 'put', key: HLC_META, value: u64(hlc) })
  ops.push({ type: 'put', key: REPL_STATE_KEY, value: encodeHardState(state) })
  ops.push({ type: 'del', key: BOOT_KEY })
  const reservation = h.xids.reservation()
  if (reservation !== undefined) ops.push(reservation)
  await h.kv.batch(ops, { sync: true })
  if (reservation !== undefined) h.xids.reserved(reservation)
  // Prepared transactions of the source stay prepared; ones it had running are dead here (they
  // would be after a crash: MGA recovery, as at open).
  const open: bigint[] = []
  for await (const [k] of h.kv.iterate({ gte: OPEN_TXN_PREFIX, lt: end(OPEN_TXN_PREFIX) })) open.push(u64OfKey(k, OPEN_TXN_PREFIX))
  const fix: KvOp[] = []
  for (const x of open) {
    const xid = asXid(x)
    const raw = await h.kv.get(tipKey(xid))
    const e = raw === undefined ? undefined : decodeTipEntry(raw)
    if (e?.state === 'limbo') { h.tip.limbo.set(xid, { xid, mutations: e.mutations ?? [] }); continue }
    if (e === undefined || e.state === 'active') fix.push({ type: 'put', key: tipKey(xid), value: encodeTipEntry('dead') })
    fix.push({ type: 'del', key: openTxnKey(xid) })
  }
  if (fix.length > 0) await h.kv.batch(fix, { sync: h.durability === 'sync' })
  h.tip.cache.clear()
  h.st.lsn = req.lsn
  h.st.logFloor = req.lsn + 1n
  h.st.hlcHigh = asHlcTs(hlc)
  h.st.hlcPersisted = asHlcTs(hlc > h.st.hlcPersisted ? hlc : h.st.hlcPersisted)
  h.st.generation = state.generation
  h.st.replRole = state.role
  h.st.splitFence = split.fence
  setMoved?.(split.moved)
  h.st.bootstrapping = false
}
