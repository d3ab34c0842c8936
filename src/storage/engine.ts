// The shard engine: storage and MGA transactions of ONE shard replica over a KvStore
// (DESIGN §4, §6). It runs inside a shard worker; it never reads a clock to make an HLC and never
// generates ids of its own except xids — snapshot starts, commit stamps and version ids come from
// the caller as values.
//
// Model (Firebird's multi-generational architecture):
//   - a write puts a new primary version r/<table><pk>; the previous committed primary moves to
//     b/<table><pk><version>; the TIP (t/<xid>) says whose versions are visible (tip.ts);
//   - multi-statement transactions write versions as they go and flip their TIP entry at commit,
//     in the same batch as the commit-log entry c/<lsn>; autocommit statements write version,
//     TIP entry and commit-log entry in one batch, with the commit HLC stamped into the version;
//   - rollback only marks the transaction dead (no undo I/O): dead versions are invisible at
//     once, a later writer of the row overwrites them and the sweep removes them — the same path
//     a crash takes (at open every TIP entry still `active` becomes `dead`; there is no redo log);
//   - conflicts are detected at write time, no waiting (row-write.ts); all writes go through one
//     group-committing writer (writer.ts).
//   - leaderless_quorum replicas apply 'lww' autocommit writes instead (applyVersions): the highest
//     version id wins, versions committed the MGA way (back versions, TIP, commit log, sweep);
//     getVersioned reads the latest committed version with its id, tombstones included.
//
// Snapshot start vs. commits in flight: a snapshot must not see a commit with a lower HLC appear
// after it started. So (1) while a snapshot with start S is open, a commit is recorded at
// max(requested, S + 1) — the actual HLC is returned to the caller — and (2) begin() waits for the
// pass already being written, whose commits were stamped before the snapshot registered.

import type { Clock } from '../core/clock'
import { ScratchBirdError, messageOf } from '../core/errors'
import { lastLoggedLsn, readCommitLog, type CommitLogEntry, type Mutation } from './commit-log'
import {
  Arena, checkTableId, checkTuple, corrupt, decodeFenceKey, decodeTuple, encodeTupleWith, FENCE_PREFIX, fenceKey, keyString, metaKey, OPEN_TXN_PREFIX, openTxnKey, readU64, rowKey, rowPrefix,
  rowScanRange, tipKey, u64OfKey, type PkBounds, type Tuple, type TupleValue
} from './keys'
import type { KvOp, KvStore } from './kv'
import type { LwwOutcome, RowDerive, RowOp, RowOpKind } from './row-write'
import { sweep, type SweepOptions, type SweepReport } from './sweep'
import { purgeRelations, relationsPresent, type RelationPurge } from './purge-relations'
import { commitLogNeed, type CommitLogConsumer } from './commit-log'
import { LOG_FLOOR_META, truncateCommitLog } from './log-truncate'
import { decodeTipEntry, encodeTipEntry, Tip, TIP_CACHE_ENTRIES, type TipEntry } from './tip'
import { asHlcTs, asXid, type NodeId, type ShardId } from '../core/ids'
import { HLC_ZERO, type Durability, type HlcTs, type Isolation, type VersionId, type Xid } from './types'
import { READ_COMMITTED_VIEWER, readVisible, type Viewer } from './visibility'
import type { RecordVersion } from './versions'
import {
  HLC_META, LSN_META, Writer, type AutocommitResult, type CommitResult, type TxnCore, type TxnState, type WriterHost
} from './writer'
import { XidAllocator, type XidSource } from './xid'
import { TableFences } from './table-fence'
import { checkControlEntry, readCommitLogRaw, type ControlEntry, type RawLogEntry } from './commit-log'
import { appendControl, type ControlAppendReport } from './replica-control'
import { appendSplitSwitch, liftSplitFence, readSplitFence, type SplitFence } from './split-switch'
import { applyEntries, checkEntries, lastLogGeneration, type ApplyReport } from './replica-apply'
import type { ReplicaHost, ReplShardState } from './replica-host'
import { keptTablesOf } from './kept-tables'
import { truncateSuffix, type SuffixTruncateReport } from './replica-truncate'
import {
  installChunk, SnapshotSource, type InstallReport, type SnapshotChunk, type SnapshotInstallRequest, type SnapshotReadRequest
} from './replica-snapshot'
import {
  checkHardState, checkStateChange, encodeHardState, readBootstrap, readHardState, REPL_STATE_KEY, type BootstrapRecord, type ReplHardState, type ReplRole
} from './repl-state'
import { LIMITS } from '../core/limits'
import { compareVersionIds } from './lww'
import { MerkleForest, type ForestConfig, type ForestStats, type ForestWindowRoot, type ForestWrite, type LeafPage } from './merkle/forest'
import { ForestStage } from './merkle/forest-stage'

/** Runs a CPU-bound part of an anti-entropy op (the shard host measures it; shard/ae-cpu.ts). */
export type Metered = <T>(fn: () => T) => T
const unmetered: Metered = fn => fn()
import { decodeLeafKey, rowKeyOfLeafKey } from './merkle/leaf-key'
import { checkLeaf, MERKLE_BUCKETS, type MerkleLeaf } from './merkle/tree'
import { planMode1Repair, type Mode1RepairRow } from './merkle/mode1-repair'
import { mode1Scan, type Mode1ScanRequest, type Mode1ScanResult } from './merkle/mode1-scan'
import { scanVersions, type SplitScanRow } from './version-scan'
import { armCleanup, checkCleanupRule, MovedKeys, readCleanupRecord, runCleanup, type CleanupReport, type CleanupRule } from './split-cleanup'
import { initHashing } from '../core/hash'
import { applyDerived, clearDeriveProgress, readDeriveProgress, type DeriveApplyReport, type DeriveProgress, type DerivedEntry } from './split-derive'
import { pinSplitLog, unpinSplitLog, withSplitPin, type SplitPin } from './split-pin'

export type { AutocommitResult, CommitResult, TxnState } from './writer'
export type { SweepOptions, SweepReport } from './sweep'
export type { RelationPurge } from './purge-relations'
export type { CommitLogConsumer, CommitLogEntry, LoggedMutation } from './commit-log'

export interface EngineSweepOptions extends SweepOptions {
  /** The commit log's consumers (commit-log.ts): after the row sweep the log is truncated below
   *  what they all still need. Undefined: the log is not truncated. */
  commitLog?: readonly CommitLogConsumer[] | undefined
  /** Relation ids dropped from the catalog whose storage goes first (purge-relations.ts); the
   *  caller lists only ids no reader can still see. */
  purgeRelations?: readonly number[] | undefined
}

export interface EngineSweepReport extends SweepReport {
  /** What purgeRelations removed, per relation that had anything here. */
  relationsPurged: RelationPurge[]
  /** Commit-log entries (LSNs) removed. */
  logEntriesTruncated: number
  /** First LSN the commit log still holds (the next one written, when empty). */
  firstAvailableLsn: bigint
  durationMs: number
}
export type { TipEntry, TipState } from './tip'
export type { ApplyReport } from './replica-apply'
export type { SuffixTruncateReport } from './replica-truncate'
export type { InstallReport, SnapshotChunk, SnapshotEntry, SnapshotInstallRequest, SnapshotReadRequest } from './replica-snapshot'
export type { SnapshotSplitState } from './snapshot-split'
export type { BootstrapRecord, ReplHardState, ReplRole } from './repl-state'
export type { RawLogEntry } from './commit-log'

/** The replication hard state and the log position votes and appends compare. */
export interface ReplStateView extends ReplHardState {
  readonly lastLsn: bigint
  /** Generation of the entry at lastLsn (0 when unknown or never replicated). */
  readonly lastGeneration: bigint
  readonly firstAvailableLsn: bigint
  /** The snapshot bootstrap in progress, if any. */
  readonly bootstrap: BootstrapRecord | null
}
export type { ForestConfig, ForestStats, ForestWindowRoot, LeafPage } from './merkle/forest'
export type { MerkleLeaf } from './merkle/tree'
export type { LwwOutcome } from './row-write'

/** On-disk format of a shard replica (s/format); bumped on incompatible layout changes. */
export const SHARD_FORMAT = 1
/** Largest row image one version may hold. */
export const MAX_ROW_BYTES = LIMITS.rowBytes
/** Largest number of row writes in one statement. */
export const MAX_STATEMENT_ROWS = 100_000
/** Largest number of rows one getVersionedMany reads. */
export const MAX_VERSIONED_READ_ROWS = 10_000
/** Largest number of leaves one merkleAdopt takes (each is a point read). */
export const MAX_ADOPT_LEAVES = 10_000

const FORMAT_META = metaKey('format')

export interface ShardEngineOptions {
  shardId: ShardId
  /** This node's id (1–65535): the high 16 bits of the xids it hands out. */
  nodeId: NodeId
  /** Default 'sync'. */
  durability?: Durability | undefined
  /** Used for durations only (sweep timing); HLCs come from the caller. */
  clock: Clock
  /** Node-wide xid allocator; default: one persisted in this shard (see xid.ts). */
  xids?: XidSource | undefined
  tipCacheEntries?: number | undefined
  /** Keep the Merkle forest of the shard's leaderless writes (DESIGN §6 "Anti-entropy") with
   *  these windows; undefined: keep none (anti_entropy.enabled false). */
  merkle?: ForestConfig | undefined
  /**
   * Told the last logged LSN whenever it changes — right after a batch lands, before its commits
   * become visible, so a read served after a call sees no commit above the LSN told (the Mode 1
   * primary's read hold uses it: node/replication/shard-group.ts readSettled).
   */
  onLsn?: ((lsn: bigint) => void) | undefined
}

/** What merkleAdopt did: leaves recorded, and those this replica holds no version ≥ of (it needs their data). */
export interface AdoptResult {
  readonly adopted: number
  readonly needsData: MerkleLeaf[]
}

/** What merkleSeal did: windows sealed now (ascending) and the reseals counted since open. */
export interface SealResult {
  readonly sealed: number[]
  readonly reseals: number
}

export interface BeginOptions {
  /** Default 'snapshot'. */
  isolation?: Isolation | undefined
  /** Snapshot point: versions committed with a commit HLC below it are visible. Read-committed
   *  transactions record it but read the latest committed state. */
  startHlc: HlcTs
  /** Keep an xid assigned elsewhere (replica applying the origin's transaction, 2PC participant). */
  xid?: Xid | undefined
}

interface RowWriteBase {
  readonly tableId: number
  readonly pk: Tuple
  /** The pk already in tuple encoding (e.g. straight from the ring codec). When present it is
   *  used instead of `pk` (which is then not read) after checkTuple() proved it canonical; it
   *  must encode the same key as `pk`. Copied, like the row image. */
  readonly pkBytes?: Uint8Array | undefined
  readonly versionId: VersionId
}

export type RowWrite =
  | RowWriteBase & { readonly op: 'insert', readonly row: Uint8Array }
  | RowWriteBase & { readonly op: 'update', readonly row: Uint8Array }
  | RowWriteBase & { readonly op: 'delete' }
  /** Unconditional write (replication, upsert); row null writes a tombstone. */
  | RowWriteBase & { readonly op: 'put', readonly row: Uint8Array | null }
  /** Last-writer-wins write of a leaderless_quorum table (row null: tombstone): applied only when
   *  `versionId` is above the row's current committed version id (row-write.ts). Autocommit
   *  statements only, and a statement holding one holds nothing but 'lww' writes. */
  | RowWriteBase & { readonly op: 'lww', readonly row: Uint8Array | null }

/**
 * An UPDATE or DELETE of one row whose new image is computed IN the writer's job from the version
 * it replaces (row-write.ts RowDerive): the read, the statement's WHERE and SET and the write are
 * one decision, so no commit can come between them (a read committed increment is never lost).
 */
export interface DerivedWrite {
  readonly tableId: number
  readonly pk: Tuple
  readonly versionId: VersionId
  readonly derive: RowDerive
}

/** One version shipped to a replica of a leaderless_quorum table (an 'lww' RowWrite without op). */
export interface ReplicaWrite {
  readonly tableId: number
  readonly pk: Tuple
  /** As RowWrite.pkBytes. */
  readonly pkBytes?: Uint8Array | undefined
  /** The coordinator's UUIDv8-HLC: unsigned byte order = HLC order = last-writer-wins order. */
  readonly versionId: VersionId
  /** Row image; null: tombstone. */
  readonly row: Uint8Array | null
}

export interface ReplicaApplyRequest {
  readonly writes: readonly ReplicaWrite[]
  readonly commitHlc: HlcTs
  /** The coordinator's xid (DESIGN §6: one per write, kept by every replica); default: fresh. */
  readonly xid?: Xid | undefined
}

export interface ReplicaApplyResult {
  readonly xid: Xid
  /** Commit-log position; null when no write was newer here (nothing changed, nothing logged). */
  readonly lsn: bigint | null
  /** The commit HLC stamped into the written versions (pushed above open snapshots). */
  readonly commitHlc: HlcTs
  /** Per write: 'newer' written, 'same' already held, 'older' a newer version is held. All ack. */
  readonly applied: LwwOutcome[]
}

/** The latest committed version of a row, tombstones included (read repair, anti-entropy). */
export interface VersionedRow {
  readonly versionId: VersionId
  /** Row image; null: the row is deleted (tombstone). */
  readonly row: Uint8Array | null
}

export interface AutocommitRequest {
  readonly writes: readonly RowWrite[]
  readonly commitHlc: HlcTs
  /** Keep an xid assigned elsewhere (replicated write); default: a fresh one. */
  readonly xid?: Xid | undefined
}

/** Receives the outcome of one autocommit statement (see ShardEngine.autocommitTo). */
export interface AutocommitSink {
  resolve (result: AutocommitResult): void
  reject (error: unknown): void
}

export type AutocommitOutcome =
  | { readonly ok: true, readonly result: AutocommitResult }
  | { readonly ok: false, readonly error: unknown }

export interface ScanOptions extends PkBounds {
  /** `gte` is a complete primary key: at most one row, read with one get instead of an iterator
   *  (a LevelDB iterator costs far more to open than a point read). */
  exact?: boolean | undefined
  reverse?: boolean | undefined
  /** Visible rows returned at most. */
  limit?: number | undefined
}

export interface Row {
  readonly pk: TupleValue[]
  /** Row image (do not modify). */
  readonly row: Uint8Array
}

export interface LimboInfo {
  readonly xid: Xid
  /** Rows the prepared transaction changed. */
  readonly rows: number
}

export interface RecoveryReport {
  /** Transactions found active at open and marked dead. */
  readonly markedDead: number
  /** Prepared transactions found at open, still in limbo. */
  readonly limbo: number
}

function notActive (xid: Xid, state: string): ScratchBirdError {
  return new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not active (${state})`, { xid: String(xid), state })
}

function badArg (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', message, details)
}

function checkHlc (name: string, v: unknown): asserts v is HlcTs {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw badArg(`${name} must be a bigint HLC timestamp`, { [name]: String(v) })
}

function checkXid (v: unknown): asserts v is Xid {
  if (typeof v !== 'bigint' || v < 1n || v >= 1n << 64n) throw badArg('xid must be a positive 64-bit bigint', { xid: String(v) })
}

const KINDS: ReadonlySet<string> = new Set<RowOpKind>(['insert', 'update', 'delete', 'put', 'lww'])

/** Copies of row images of autocommit statements: they live until their pass landed. */
const autocommitArena = new Arena()

function toRowOp (w: RowWrite, arena: Arena | undefined): RowOp {
  if (w === null || typeof w !== 'object' || !KINDS.has(w.op)) throw badArg('unknown row write op', { op: String((w as { op?: unknown })?.op) })
  if (!(w.versionId instanceof Uint8Array) || w.versionId.length !== 16) throw badArg('versionId must be 16 bytes')
  let row: Uint8Array | null
  if (w.op === 'delete') {
    row = null
  } else {
    row = w.row
    if (row === null ? w.op !== 'put' && w.op !== 'lww' : !(row instanceof Uint8Array)) throw badArg(`${w.op} needs a row image (Uint8Array)`)
    if (row !== null && row.length > MAX_ROW_BYTES) throw badArg(`row image exceeds ${MAX_ROW_BYTES} bytes`, { bytes: row.length, limit: MAX_ROW_BYTES })
    // Copied: the caller may reuse its buffers (a ring slot) as soon as the call returns, and a
    // transaction keeps its row images until commit for the commit log.
    if (row !== null) row = arena !== undefined ? arena.copy(row) : row.slice()
  }
  const prefix = rowPrefix(w.tableId)
  let rowKey: Uint8Array
  const given = w.pkBytes
  if (given !== undefined) {
    if (!(given instanceof Uint8Array)) throw badArg('pkBytes must be a Uint8Array')
    try {
      checkTuple(given)
    } catch (e) {
      throw badArg('pkBytes is not a canonical tuple encoding', { reason: messageOf(e) })
    }
    rowKey = new Uint8Array(prefix.length + given.length)
    rowKey.set(prefix, 0)
    rowKey.set(given, prefix.length)
  } else {
    if (!Array.isArray(w.pk)) throw badArg('pk must be a tuple (array)')
    rowKey = encodeTupleWith(prefix, w.pk)
  }
  // pkBytes is a view of the row key: one allocation for both.
  const pkBytes = rowKey.subarray(prefix.length)
  return { kind: w.op, tableId: w.tableId, pkBytes, rowKey, ks: keyString(rowKey), row, versionId: w.versionId.slice() }
}

/** The one op of a DerivedWrite: an 'update' whose image the writer derives (its size is checked then). */
function derivedOps (w: DerivedWrite): RowOp[] {
  if (typeof w.derive !== 'function') throw badArg('a derived write needs its derive function')
  const op = toRowOp({ op: 'update', tableId: w.tableId, pk: w.pk, versionId: w.versionId, row: EMPTY_ROW }, undefined)
  const derive: RowDerive = row => {
    const out = w.derive(row)
    if (out instanceof Uint8Array && out.length > MAX_ROW_BYTES) throw badArg(`row image exceeds ${MAX_ROW_BYTES} bytes`, { bytes: out.length, limit: MAX_ROW_BYTES })
    return out
  }
  return [{ ...op, derive }]
}
const EMPTY_ROW = new Uint8Array(0)

/** Validate and encode a statement's writes. `arena` (autocommit) holds the row copies; a
 *  transaction's copies are separate arrays since it keeps them until commit. Without an arena
 *  (a transaction's statement) 'lww' writes are refused: their comparison is with committed
 *  versions and their version is committed by the statement itself. */
function toRowOps (writes: readonly RowWrite[], arena?: Arena): RowOp[] {
  if (!Array.isArray(writes)) throw badArg('writes must be an array')
  if (writes.length > MAX_STATEMENT_ROWS) throw badArg(`a statement writes at most ${MAX_STATEMENT_ROWS} rows`, { rows: writes.length })
  const ops = new Array<RowOp>(writes.length)
  let lww = 0
  for (let i = 0; i < writes.length; i++) if ((ops[i] = toRowOp(writes[i]!, arena)).kind === 'lww') lww++
  if (lww > 0) {
    if (arena === undefined) throw badArg("'lww' writes are autocommit only (not inside a transaction)")
    if (lww !== ops.length) throw badArg("a statement with 'lww' writes holds only 'lww' writes")
  }
  return ops
}

async function readU64Meta (kv: KvStore, key: Uint8Array, what: string): Promise<bigint> {
  const raw = await kv.get(key)
  if (raw === undefined) return 0n
  if (raw.length !== 8) throw corrupt(what, { length: raw.length })
  return readU64(raw, 0)
}

/** snapshotFloor() with no snapshot open: below every start HLC. */
const NO_SNAPSHOT = asHlcTs(-1n)

/** Engine state shared with the writer and the sweep. */
class ShardState implements WriterHost, ReplShardState {
  private lastLsn = 0n
  /** ShardEngineOptions.onLsn: told every change of the last logged LSN. */
  onLsn: ((lsn: bigint) => void) | undefined = undefined
  /** The last LSN of the shard's commit log (its readers see every commit up to it). */
  get lsn (): bigint { return this.lastLsn }
  set lsn (v: bigint) {
    this.lastLsn = v
    this.onLsn?.(v)
  }

  /** Generation local commits are logged at: the replication hard state's (repl-state.ts). */
  generation = 0n
  /** The hard state's role: on a replicated shard only the primary commits locally (writer.ts). */
  replRole: ReplRole = 'none'
  /** A snapshot install is in progress (replica-snapshot.ts): nothing else is served. */
  bootstrapping = false
  /** This parent shard's switched split: its writes are refused (split-switch.ts); null: none. */
  splitFence: SplitFence | null = null
  /** First LSN the commit log still holds (log-truncate.ts). */
  logFloor = 1n
  hlcHigh = HLC_ZERO
  hlcPersisted = HLC_ZERO
  forest: MerkleForest | undefined = undefined
  /** Open snapshot transactions' start HLCs. */
  readonly snapshots = new Map<Xid, HlcTs>()
  private maxStart = NO_SNAPSHOT
  private maxStale = false

  constructor (readonly shardId: number, readonly kv: KvStore, readonly tip: Tip, readonly xids: XidSource, readonly durability: Durability) {}

  /** Highest HLC a statement's snapshot read (scan readHlc) was served at: commits go above it. */
  readHigh = HLC_ZERO

  noteRead (at: HlcTs): void {
    if (at > this.readHigh) this.readHigh = at
  }

  /**
   * The HLC every commit made here from now on must exceed: the open snapshot transactions'
   * starts and the statement snapshots already served (a reader that did not see a transaction
   * must never find it committed below its HLC later).
   */
  commitFloor (): HlcTs {
    const s = this.snapshotFloor()
    return s > this.readHigh ? s : this.readHigh
  }

  addSnapshot (xid: Xid, start: HlcTs): void {
    this.snapshots.set(xid, start)
    if (start > this.maxStart) this.maxStart = start
  }

  snapshotFloor (): HlcTs {
    if (this.maxStale) {
      this.maxStart = NO_SNAPSHOT
      for (const s of this.snapshots.values()) if (s > this.maxStart) this.maxStart = s
      this.maxStale = false
    }
    return this.maxStart
  }

  oldestSnapshot (): HlcTs | undefined {
    let min: HlcTs | undefined
    for (const s of this.snapshots.values()) if (min === undefined || s < min) min = s
    return min
  }

  txnEnded (xid: Xid): void {
    const s = this.snapshots.get(xid)
    if (s === undefined) return
    this.snapshots.delete(xid)
    if (s >= this.maxStart) this.maxStale = true
  }
}

export class ShardEngine {
  readonly shardId: ShardId
  readonly nodeId: NodeId
  readonly durability: Durability
  readonly recovery: RecoveryReport
  private readonly kv: KvStore
  private readonly st: ShardState
  private readonly tip: Tip
  private readonly writer: Writer
  private readonly clock: Clock
  /** Prepared transactions started here, so a decision by xid updates their objects too. */
  private readonly prepared = new Map<Xid, Txn>()
  /** Tables a DDL fenced here (table-fence.ts): their writes and commits are refused. */
  private readonly fences = new TableFences()
  /** Snapshots kept open for replicas being bootstrapped from this one (replica-snapshot.ts). */
  private readonly snapSource: SnapshotSource
  /** A split's cleanup under way (split-cleanup.ts): the keys scans skip until it ends. */
  private moved: MovedKeys | null = null
  private closed = false

  private constructor (kv: KvStore, opts: ShardEngineOptions, st: ShardState, recovery: RecoveryReport) {
    this.kv = kv
    this.shardId = opts.shardId
    this.nodeId = opts.nodeId
    this.durability = st.durability
    this.clock = opts.clock
    this.st = st
    this.tip = st.tip
    this.writer = new Writer(st)
    this.recovery = recovery
    this.snapSource = new SnapshotSource(opts.clock)
  }

  /** Open the shard replica stored in `kv` (the engine owns it from now on; close() closes it),
   *  running crash recovery: active TIP entries become dead, limbo ones are reloaded. */
  static async open (kv: KvStore, opts: ShardEngineOptions): Promise<ShardEngine> {
    if (!Number.isInteger(opts.shardId) || opts.shardId < 0 || opts.shardId > 0xffffffff) throw badArg('shardId must be a non-negative integer', { shardId: opts.shardId })
    const durability = opts.durability ?? 'sync'
    if (durability !== 'sync' && durability !== 'none') throw badArg("durability must be 'sync' or 'none'", { durability })
    const ops: KvOp[] = []

    const format = await kv.get(FORMAT_META)
    if (format === undefined) {
      const f = new Uint8Array(5)
      f[0] = SHARD_FORMAT
      new DataView(f.buffer).setUint32(1, opts.shardId)
      ops.push({ type: 'put', key: FORMAT_META, value: f })
    } else {
      if (format.length !== 5 || format[0] !== SHARD_FORMAT) throw corrupt('shard format marker', { format: Buffer.from(format).toString('hex') })
      const stored = new DataView(format.buffer, format.byteOffset, format.byteLength).getUint32(1)
      if (stored !== opts.shardId) throw corrupt(`shard store belongs to shard ${stored}, not ${opts.shardId}`, { stored, shardId: opts.shardId })
    }

    const xids = opts.xids ?? await XidAllocator.open(kv, opts.nodeId)
    const tip = new Tip(kv, opts.tipCacheEntries ?? TIP_CACHE_ENTRIES)
    const st = new ShardState(opts.shardId, kv, tip, xids, durability)
    st.onLsn = opts.onLsn
    st.hlcHigh = st.hlcPersisted = asHlcTs(await readU64Meta(kv, HLC_META, 'HLC high-water mark'))
    const loggedLsn = await lastLoggedLsn(kv)
    const markLsn = await readU64Meta(kv, LSN_META, 'LSN mark')
    st.lsn = loggedLsn > markLsn ? loggedLsn : markLsn
    const floor = await readU64Meta(kv, LOG_FLOOR_META, 'commit log floor')
    if (floor > 1n) st.logFloor = floor
    // A log truncated to empty still numbers on from where it was.
    if (st.logFloor - 1n > st.lsn) st.lsn = st.logFloor - 1n
    const hard = await readHardState(kv)
    st.generation = hard.generation
    st.replRole = hard.role
    st.bootstrapping = hard.role === 'bootstrapping'
    // A split switched before the restart keeps its parent fenced until the node lifts it.
    st.splitFence = await readSplitFence(kv)

    // Crash recovery: only transactions indexed under s/o/ can be non-final. Not while a snapshot
    // is being installed: its s/o/ entries may be in before their TIP entries (the install
    // recovers them when it completes, replica-snapshot.ts).
    const openXids: Xid[] = []
    const end = OPEN_TXN_PREFIX.slice()
    end[end.length - 1]!++
    if (!st.bootstrapping) for await (const [k] of kv.iterate({ gte: OPEN_TXN_PREFIX, lt: end })) openXids.push(asXid(u64OfKey(k, OPEN_TXN_PREFIX)))
    const entries = openXids.length > 0 ? await kv.getMany(openXids.map(tipKey)) : []
    let markedDead = 0
    for (let i = 0; i < openXids.length; i++) {
      const xid = openXids[i]!
      const raw = entries[i]
      const e = raw === undefined ? undefined : decodeTipEntry(raw)
      if (e?.state === 'limbo') {
        tip.limbo.set(xid, { xid, mutations: e.mutations ?? [] })
        continue
      }
      if (e === undefined || e.state === 'active') {
        ops.push({ type: 'put', key: tipKey(xid), value: encodeTipEntry('dead') })
        markedDead++
      }
      ops.push({ type: 'del', key: openTxnKey(xid) })
    }
    const reservation = xids.reservation()
    if (reservation !== undefined) ops.push(reservation)
    if (ops.length > 0) await kv.batch(ops, { sync: durability === 'sync' })
    if (reservation !== undefined) xids.reserved(reservation)
    if (opts.merkle !== undefined) st.forest = await MerkleForest.open(kv, opts.merkle, durability === 'sync')
    const engine = new ShardEngine(kv, { ...opts, durability }, st, { markedDead, limbo: tip.limbo.size })
    // Fences a DDL set before a restart hold until their node releases them (table-fence.ts).
    const fenceEnd = FENCE_PREFIX.slice()
    fenceEnd[fenceEnd.length - 1]!++
    for await (const [k] of kv.iterate({ gte: FENCE_PREFIX, lt: fenceEnd })) {
      const f = decodeFenceKey(k)
      engine.fences.fence(f.tableId, f.token)
    }
    // A split's cleanup that was under way goes on filtering reads from the first one (split-cleanup.ts).
    // Hashing is ready in every engine's thread, so a cleanup armed later (armCleanup) filters
    // from the very request that arms it, with no await before the filter is set.
    await initHashing()
    const cleanup = await readCleanupRecord(kv)
    if (cleanup !== null) engine.moved = new MovedKeys(cleanup, opts.shardId)
    return engine
  }

  /** Open and serving: a replica being bootstrapped serves nothing but the replication ops. */
  private checkOpen (): void {
    this.checkNotClosed()
    if (this.st.bootstrapping) throw bootstrapping(this.shardId)
  }

  private checkNotClosed (): void {
    if (this.closed) throw new ScratchBirdError('SB_SHUTTING_DOWN', `shard ${this.shardId} engine is closed`, { shardId: this.shardId })
  }

  /** Run `fn` as an exclusive writer job: no pass interleaves, every earlier one has landed. */
  private exclusive<T> (fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.writer.enqueue({ t: 'exclusive', fn, d: { resolve: resolve as (v: unknown) => void, reject } }))
  }

  private get repl (): ReplicaHost {
    return { shardId: this.shardId, nodeId: this.nodeId, kv: this.kv, tip: this.tip, xids: this.st.xids, durability: this.durability, st: this.st, exclusive: (fn) => this.exclusive(fn) }
  }

  // ---- transactions --------------------------------------------------------------------------

  /** Start a transaction. With an explicit xid (replica, 2PC participant) the xid must not be
   *  known here yet. A snapshot transaction waits for the write pass in flight (see top). */
  async begin (opts: BeginOptions): Promise<Txn> {
    this.checkOpen()
    const isolation = opts.isolation ?? 'snapshot'
    if (isolation !== 'snapshot' && isolation !== 'read_committed') throw badArg("isolation must be 'snapshot' or 'read_committed'", { isolation })
    checkHlc('startHlc', opts.startHlc)
    let xid: Xid
    if (opts.xid !== undefined) {
      checkXid(opts.xid)
      xid = opts.xid
      const inUse = (): boolean => this.tip.active.has(xid) || this.tip.limbo.has(xid)
      if (inUse()) throw notActive(xid, 'in use')
      if (await this.tip.recorded(xid)) throw notActive(xid, 'already finished')
      if (inUse()) throw notActive(xid, 'in use')
    } else {
      xid = this.st.xids.next()
    }
    this.tip.active.add(xid)
    const txn = new Txn(this, xid, isolation, opts.startHlc)
    if (isolation === 'snapshot') {
      this.st.addSnapshot(xid, opts.startHlc)
      const inFlight = this.writer.current
      if (inFlight !== undefined) await inFlight
    }
    return txn
  }

  /** Write rows as one statement of `txn` (all or nothing). Resolves per row: false when an
   *  update/delete found no live row. `readHlc`: a read committed statement read the rows it
   *  updates or deletes at that HLC (scan readHlc); one committed since is SB_UPDATE_CONFLICT
   *  (row-write.ts). Ignored in a snapshot transaction. */
  write (txn: Txn, writes: readonly RowWrite[], readHlc?: HlcTs): Promise<boolean[]> {
    return this.statement(txn, () => {
      if (readHlc !== undefined) checkHlc('readHlc', readHlc)
      return toRowOps(writes)
    }, readHlc)
  }

  /** A statement of `txn` made of the row ops `opsOf` returns (checked after the transaction). */
  private statement (txn: Txn, opsOf: () => RowOp[], readHlc?: HlcTs): Promise<boolean[]> {
    try {
      this.checkOpen()
      this.checkOwn(txn)
      if (txn.state !== 'active') throw notActive(txn.xid, txn.state)
      const ops = opsOf()
      this.fences.check(ops, 'the write')
      for (const op of ops) if (!txn.fenceGenerations.has(op.tableId)) txn.fenceGenerations.set(op.tableId, this.fences.generation(op.tableId))
      return new Promise((resolve, reject) => this.writer.enqueue({ t: 'stmt', txn, ops, readHlc, d: { resolve, reject } }))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** One derived write (DerivedWrite) as a statement of `txn`: true when it changed the row. A
   *  snapshot transaction must not use it — its conflict is decided on the version its snapshot
   *  sees, before the WHERE (shard/drivers/modify-driver.ts keeps two steps for it). */
  async writeDerived (txn: Txn, w: DerivedWrite): Promise<boolean> {
    return (await this.statement(txn, () => {
      if (txn.snapshot) throw badArg('a derived write runs in a read committed transaction')
      return derivedOps(w)
    }))[0] === true
  }

  /** One derived write as an autocommit statement (read committed): read, WHERE, SET, write and
   *  commit in ONE writer job. */
  autocommitDerived (w: DerivedWrite, commitHlc: HlcTs): Promise<AutocommitResult> {
    return new Promise((resolve, reject) => {
      try {
        this.checkOpen()
        checkHlc('commitHlc', commitHlc)
        const ops = derivedOps(w)
        this.fences.check(ops, 'the write')
        this.writer.enqueue({ t: 'auto', xid: this.st.xids.next(), explicitXid: false, lww: false, commitHlc, ops, d: { resolve, reject } })
      } catch (e) {
        reject(e)
      }
    })
  }

  async commit (txn: Txn, commitHlc: HlcTs): Promise<CommitResult> {
    this.checkOpen()
    this.checkOwn(txn)
    checkHlc('commitHlc', commitHlc)
    if (txn.state === 'prepared') return this.commitPrepared(txn.xid, commitHlc)
    if (txn.state !== 'active') throw notActive(txn.xid, txn.state)
    this.fences.check(txn.mutations.values(), 'the commit')
    this.fences.checkSince(txn.fenceGenerations, 'the commit')
    txn.state = 'committing'
    return new Promise((resolve, reject) => this.writer.enqueue({ t: 'commit', txn, commitHlc, d: { resolve, reject } }))
  }

  /** Roll back: the TIP entry becomes dead (the versions stay until overwritten or swept). A
   *  prepared transaction is aborted. Rolling back twice is a no-op. */
  async rollback (txn: Txn): Promise<void> {
    this.checkOpen()
    this.checkOwn(txn)
    if (txn.state === 'rolled_back') return
    if (txn.state === 'prepared') { await this.abortPrepared(txn.xid); return }
    if (txn.state !== 'active' && txn.state !== 'failed') throw notActive(txn.xid, txn.state)
    txn.state = 'rolling_back'
    await new Promise<void>((resolve, reject) => this.writer.enqueue({ t: 'rollback', txn, d: { resolve, reject } }))
  }

  /** 2PC phase one: TIP → limbo, durably, with the mutation list (to log the commit later).
   *  Returns the LSN of its log entry on a replicated shard's primary (writer.ts), else null. */
  async prepare (txn: Txn): Promise<bigint | null> {
    this.checkOpen()
    this.checkOwn(txn)
    if (txn.state !== 'active') throw notActive(txn.xid, txn.state)
    this.fences.check(txn.mutations.values(), 'the prepare')
    this.fences.checkSince(txn.fenceGenerations, 'the prepare')
    txn.state = 'preparing'
    const lsn = await new Promise<bigint | null>((resolve, reject) => this.writer.enqueue({ t: 'prepare', txn, d: { resolve, reject } }))
    this.prepared.set(txn.xid, txn)
    return lsn
  }

  /**
   * What a two-phase commit's HLC must exceed on this shard (asked right after PREPARE): every
   * statement snapshot served and snapshot transaction open here so far did not see the
   * prepared transaction, so it must commit above them all (cluster/twopc/coordinator.ts).
   */
  commitFloor (): HlcTs {
    return this.st.commitFloor()
  }

  /** 2PC phase two, commit: works after a restart too (the xid is in listLimbo()). */
  async commitPrepared (xid: Xid, commitHlc: HlcTs): Promise<CommitResult> {
    this.checkOpen()
    checkXid(xid)
    checkHlc('commitHlc', commitHlc)
    const txn = this.prepared.get(xid)
    const r = await new Promise<CommitResult>((resolve, reject) =>
      this.writer.enqueue({ t: 'resolve', xid, commitHlc, txn, d: { resolve, reject } }))
    this.prepared.delete(xid)
    return r
  }

  /** 2PC phase two, abort (presumed abort after a coordinator crash). Returns the LSN of its
   *  log entry on a replicated shard's primary (writer.ts), else null. */
  async abortPrepared (xid: Xid): Promise<bigint | null> {
    this.checkOpen()
    checkXid(xid)
    const txn = this.prepared.get(xid)
    const r = await new Promise<CommitResult>((resolve, reject) =>
      this.writer.enqueue({ t: 'resolve', xid, commitHlc: undefined, txn, d: { resolve, reject } }))
    this.prepared.delete(xid)
    return r.lsn
  }

  /** Prepared transactions awaiting a decision (includes those recovered at open). */
  listLimbo (): LimboInfo[] {
    return [...this.tip.limbo.values()].map(l => ({ xid: l.xid, rows: l.mutations.length }))
  }

  /** TIP state of an xid here (never seen → dead: it committed nothing here). */
  tipState (xid: Xid): Promise<TipEntry> {
    checkXid(xid)
    return this.tip.get(xid)
  }

  private checkOwn (txn: Txn): void {
    if (!(txn instanceof Txn) || txn.engine !== this) throw badArg('transaction belongs to another engine')
  }

  // ---- autocommit / group commit --------------------------------------------------------------

  /** One autocommit statement: versions, TIP entry and commit-log entry in one batch. Its rows
   *  behave as a read-committed transaction's (conflict only with uncommitted writers). */
  autocommit (req: AutocommitRequest): Promise<AutocommitResult> {
    return new Promise((resolve, reject) => {
      try {
        this.enqueueAuto(req, { resolve, reject })
      } catch (e) {
        reject(e)
      }
    })
  }

  /** Many autocommit statements queued together: they share write passes (one batch, one fsync
   *  per pass). Each succeeds or fails on its own, in order. */
  commitMany (reqs: readonly AutocommitRequest[]): Promise<AutocommitOutcome[]> {
    if (reqs.length === 0) return Promise.resolve([])
    return new Promise(resolve => {
      const group = new OutcomeGroup(reqs.length, resolve)
      for (let i = 0; i < reqs.length; i++) {
        const slot = new OutcomeSlot(group, i)
        try {
          this.enqueueAuto(reqs[i]!, slot)
        } catch (e) {
          slot.reject(e)
        }
      }
    })
  }

  /** As autocommit(), for a caller that wants no promise per statement (the shard worker's ring
   *  path): the outcome is reported to `sink` exactly once, after the batch landed. Arguments
   *  that autocommit() would reject are thrown here synchronously, and `sink` is not called. */
  autocommitTo (req: AutocommitRequest, sink: AutocommitSink): void {
    this.enqueueAuto(req, sink)
  }

  private enqueueAuto (req: AutocommitRequest, d: AutocommitSink): void {
    this.checkOpen()
    checkHlc('commitHlc', req.commitHlc)
    const ops = toRowOps(req.writes, autocommitArena)
    this.fences.check(ops, 'the write')
    let xid: Xid
    if (req.xid !== undefined) {
      checkXid(req.xid)
      xid = req.xid
    } else {
      xid = this.st.xids.next()
    }
    const lww = ops.length > 0 && ops[0]!.kind === 'lww'
    this.writer.enqueue({ t: 'auto', xid, explicitXid: req.xid !== undefined, lww, commitHlc: req.commitHlc, ops, d })
  }

  // ---- leaderless_quorum replica side (DESIGN §6 Mode 3) ----------------------------------------

  /**
   * Apply versions shipped by a coordinator, last writer wins: each write lands only when its
   * version id is above the row's current committed one ('newer'); the same version is an
   * idempotent no-op ('same'), a lower one is ignored ('older') — both acknowledge. The newer
   * ones commit as ONE autocommit statement (versions, TIP entry under the coordinator's xid,
   * commit-log entry, one group-committed batch). Never SB_UPDATE_CONFLICT against committed
   * versions; against an uncommitted local transaction's version of a row it is (see row-write.ts).
   * The xid may be one this replica already committed (retry, hint, repair); it is refused while
   * a local transaction runs under it or when it is recorded dead here (SB_TXN_NOT_ACTIVE).
   */
  async applyVersions (req: ReplicaApplyRequest): Promise<ReplicaApplyResult> {
    if (req === null || typeof req !== 'object' || !Array.isArray(req.writes)) throw badArg('writes must be an array')
    const writes = req.writes.map(lwwWrite)
    const r = await this.autocommit({ writes, commitHlc: req.commitHlc, xid: req.xid })
    return { xid: r.xid, lsn: r.lsn, commitHlc: r.commitHlc, applied: r.lww ?? [] }
  }

  // ---- write fences (table-fence.ts) -----------------------------------------------------------

  /**
   * Fences `tableId` under `token`, then answers whether this replica holds a row of it: a
   * committed row visible now, or a row of a prepared (limbo) transaction, whose decision cannot
   * be refused. The fence is set before this returns its promise, so every write queued after
   * it is refused; the probe runs as a writer job behind every write queued before it, so each
   * of those has landed (or failed) when it looks.
   */
  async fenceTable (tableId: number, token: string): Promise<{ rows: boolean }> {
    this.checkOpen()
    this.fences.fence(tableId, token)
    const rows = await this.exclusive(async () => {
      // Durable before the probe answers: a restarted replica still refuses the table's writes.
      await this.kv.batch([{ type: 'put', key: fenceKey(tableId, token), value: new Uint8Array(0) }], { sync: this.durability === 'sync' })
      for (const l of this.tip.limbo.values()) if (l.mutations.some(m => m.tableId === tableId)) return true
      const it = this.scan(tableId, { limit: 1 })[Symbol.asyncIterator]()
      try {
        return (await it.next()).done !== true
      } finally {
        await it.return?.() // closes the store iterator behind it
      }
    })
    return { rows }
  }

  /** Releases `token`'s fence on `tableId`; false when this replica did not hold it. */
  async releaseTableFence (tableId: number, token: string): Promise<boolean> {
    this.checkOpen()
    const held = this.fences.release(tableId, token)
    // Not synced: a release lost in a crash is a fence the node lifts again after its restart.
    await this.kv.batch([{ type: 'del', key: fenceKey(tableId, token) }], { sync: false })
    return held
  }

  /** The fences this replica holds (its node reloads them into its registry at start). */
  heldTableFences (): Array<{ tableId: number, token: string }> {
    return this.fences.list()
  }

  // ---- the Merkle forest (DESIGN §6 "Anti-entropy"; merkle/forest.ts) ----------------------------
  // Leaves are added by the writer ('lww' statements). What may change the forest runs as a writer
  // exclusive job: between passes, so its in-memory state is never seen half-changed.

  /** The forest, for its log hook; undefined when none is kept. */
  get merkleForest (): MerkleForest | undefined { return this.st.forest }

  private forestOf (): MerkleForest {
    this.checkOpen()
    const f = this.st.forest
    if (f === undefined) {
      throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `shard ${this.shardId} keeps no Merkle forest (anti_entropy.enabled is false)`, { shardId: this.shardId })
    }
    return f
  }

  private async landForest (w: ForestWrite | undefined): Promise<void> {
    if (w === undefined) return
    if (w.ops.length > 0) await this.kv.batch(w.ops, { sync: this.durability === 'sync' })
    w.commit()
  }

  /** Every window holding leaves, ascending, with root and leaf count (MERKLE_ROOTS). */
  merkleRoots (): ForestWindowRoot[] { return this.forestOf().roots() }

  /** MERKLE_STATS, SHOW MERKLE FOREST SIZE. */
  merkleStats (): ForestStats { return this.forestOf().stats() }

  /**
   * The MERKLE_BUCKETS bucket hashes of window `w` (all 0 for a window without leaves). `metered`
   * runs the CPU-bound parts (the shard host charges them to anti-entropy: shard/ae-cpu.ts).
   */
  merkleBuckets (w: number, metered: Metered = unmetered): Promise<bigint[]> {
    const f = this.forestOf()
    return this.exclusive(async () => {
      const r = await f.readTree(w, metered)
      await this.landForest(r.write)
      return metered(() => r.tree?.bucketHashes() ?? new Array<bigint>(MERKLE_BUCKETS).fill(0n))
    })
  }

  /** Window `w`'s leaves in `buckets`: whole buckets, stopping before `maxLeaves` / `maxBytes` (at least one bucket). */
  merkleLeaves (w: number, buckets: readonly number[], maxLeaves: number, maxBytes: number, metered: Metered = unmetered): Promise<LeafPage> {
    const f = this.forestOf()
    MerkleForest.leafPage(undefined, buckets, maxLeaves, maxBytes) // validates the buckets before queueing
    return this.exclusive(async () => {
      const r = await f.readTree(w, metered)
      await this.landForest(r.write)
      return metered(() => MerkleForest.leafPage(r.tree, buckets, maxLeaves, maxBytes))
    })
  }

  /**
   * Record leaves of versions this replica has already superseded (MERKLE_ADOPT): a leaf goes into
   * its window only when the replica's latest committed version of the key (tombstones included)
   * is ≥ the leaf's version — its data is at least as new, only history is missing. Any other leaf
   * comes back in `needsData` and changes nothing. Every leaf is checked before anything changes.
   */
  merkleAdopt (leaves: readonly MerkleLeaf[], metered: Metered = unmetered): Promise<AdoptResult> {
    const f = this.forestOf()
    if (!Array.isArray(leaves)) throw badArg('leaves must be an array')
    if (leaves.length > MAX_ADOPT_LEAVES) throw badArg(`a Merkle adopt takes at most ${MAX_ADOPT_LEAVES} leaves`, { leaves: leaves.length, limit: MAX_ADOPT_LEAVES })
    const checked = leaves.map(l => {
      if (l === null || typeof l !== 'object') throw badArg('a Merkle leaf must be an object')
      checkLeaf(l.key, l.version, l.rowHash)
      f.windowOf(l.version)
      return { tableId: decodeLeafKey(l.key).tableId, key: l.key.slice(), version: l.version.slice(), rowHash: l.rowHash }
    })
    return this.exclusive(async () => {
      const rowKeys = checked.map(l => rowKeyOfLeafKey(l.key))
      const primaries = rowKeys.length > 0 ? await this.kv.getMany(rowKeys) : []
      const adopt: typeof checked = []
      const needsData: MerkleLeaf[] = []
      for (let i = 0; i < checked.length; i++) {
        const l = checked[i]!
        const held = await readVisible(this.kv, this.tip, rowKeys[i]!, primaries[i], READ_COMMITTED_VIEWER)
        if (held !== undefined && compareVersionIds(held.versionId, l.version) >= 0) adopt.push(l)
        else needsData.push({ key: l.key, version: l.version, rowHash: l.rowHash })
      }
      if (adopt.length > 0) {
        const stage = new ForestStage(f)
        metered(() => stage.addAll(adopt))
        await this.landForest(await stage.finish())
      }
      return { adopted: adopt.length, needsData }
    })
  }

  /** Seal every window whose end + sealing grace is ≤ `nowMs` (the caller's clock: MERKLE_SEAL). */
  merkleSeal (nowMs: number): Promise<SealResult> {
    const f = this.forestOf()
    return this.exclusive(async () => {
      const r = f.sealDue(nowMs)
      await this.landForest(r?.write)
      return { sealed: r?.windows ?? [], reseals: f.stats().reseals }
    })
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Row image visible to `txn` (read committed, latest committed state, without one). */
  /** Mode 1 verification: the stored rows of some tables at a snapshot, as Merkle buckets or leaves (merkle/mode1-scan.ts). */
  mode1Verify (req: Mode1ScanRequest): Promise<Mode1ScanResult> {
    this.checkOpen()
    return mode1Scan(this.kv, this.tip, req, this.movedKey())
  }

  /**
   * Mode 1 repair (merkle/mode1-repair.ts): give rows' latest versions the primary's images. Only
   * a replica following the primary at `generation` takes it (SB_MODE1_REPAIR_REFUSED otherwise,
   * nothing changed): a stale old primary, or a node that became primary since, cannot be written.
   */
  async mode1Repair (generation: bigint, rows: readonly Mode1RepairRow[]): Promise<{ repaired: number, skipped: number }> {
    this.checkOpen()
    if (typeof generation !== 'bigint' || generation < 0n || generation >= 1n << 64n) throw badArg('generation must be a u64', { generation: String(generation) })
    return await this.exclusive(async () => {
      if (this.st.replRole !== 'replica' || this.st.generation !== generation) {
        throw new ScratchBirdError('SB_MODE1_REPAIR_REFUSED', `shard ${this.shardId}: a Mode 1 repair at generation ${generation} refused (this replica is ${this.st.replRole} at generation ${this.st.generation})`,
          { shard: this.shardId, generation: String(generation), role: this.st.replRole, replica_generation: String(this.st.generation) })
      }
      const plan = await planMode1Repair(this.kv, rows)
      if (plan.ops.length > 0) await this.kv.batch(plan.ops, { sync: true })
      return { repaired: plan.repaired, skipped: plan.skipped }
    })
  }

  /** A page of a table's latest committed versions with their commit HLCs, tombstones included (storage/version-scan.ts). */
  scanVersions (tableId: number, after: Tuple | null, limit: number): Promise<SplitScanRow[]> {
    this.checkOpen()
    return scanVersions(this.kv, this.tip, tableId, after, limit, this.movedKey())
  }

  async get (tableId: number, pk: Tuple, txn?: Txn): Promise<Uint8Array | undefined> {
    this.checkOpen()
    const viewer = this.viewerOf(txn)
    if (!Array.isArray(pk)) throw badArg('pk must be a tuple (array)')
    const key = rowKey(tableId, pk)
    const v = await readVisible(this.kv, this.tip, key, await this.pointGet(key), viewer)
    return v === undefined || v.tombstone ? undefined : v.row
  }

  /**
   * The latest committed version of a row — tombstones included — with its version id, as read
   * repair and anti-entropy compare them (uncommitted and dead versions are skipped; a
   * transaction's own writes are not considered). undefined: no committed version at all.
   */
  async getVersioned (tableId: number, pk: Tuple): Promise<VersionedRow | undefined> {
    this.checkOpen()
    if (!Array.isArray(pk)) throw badArg('pk must be a tuple (array)')
    const key = rowKey(tableId, pk)
    return versionedOf(await readVisible(this.kv, this.tip, key, await this.kv.get(key), READ_COMMITTED_VIEWER))
  }

  /** getVersioned of many rows of one table: the primaries in one getMany. */
  async getVersionedMany (tableId: number, pks: readonly Tuple[]): Promise<Array<VersionedRow | undefined>> {
    this.checkOpen()
    if (!Array.isArray(pks)) throw badArg('pks must be an array of tuples')
    if (pks.length > MAX_VERSIONED_READ_ROWS) throw badArg(`a versioned read reads at most ${MAX_VERSIONED_READ_ROWS} rows`, { rows: pks.length, limit: MAX_VERSIONED_READ_ROWS })
    const keys = pks.map(pk => {
      if (!Array.isArray(pk)) throw badArg('pk must be a tuple (array)')
      return rowKey(tableId, pk)
    })
    if (keys.length === 0) return []
    const primaries = await this.kv.getMany(keys)
    const out = new Array<VersionedRow | undefined>(keys.length)
    for (let i = 0; i < keys.length; i++) {
      out[i] = versionedOf(await readVisible(this.kv, this.tip, keys[i]!, primaries[i], READ_COMMITTED_VIEWER))
    }
    return out
  }

  /**
   * Visible rows of a table in primary-key order (descending with `reverse`). `readHlc` (no
   * transaction): a statement's snapshot read at that HLC (it reads several shards and must see
   * one cut of them, exec/statement-snapshot.ts); it is noted as read here first, so every commit
   * this shard makes from now on lands above it (writer.ts pushed, prepareJob). In a read
   * committed transaction the same cut plus the transaction's own writes (PostgreSQL's statement
   * snapshot); a snapshot transaction keeps its own start and ignores readHlc.
   */
  async * scan (tableId: number, opts: ScanOptions = {}, txn?: Txn, readHlc?: HlcTs): AsyncIterable<Row> {
    this.checkOpen()
    let viewer = this.viewerOf(txn)
    if (readHlc !== undefined && !viewer.snapshot) {
      this.st.noteRead(readHlc)
      viewer = { xid: viewer.xid, snapshot: true, startHlc: readHlc, waitLimbo: true }
      // Inside a read committed transaction the read may be an UPDATE's or DELETE's, whose WRITE
      // then refuses what committed at or above readHlc (row-write.ts): everything below it must
      // be visible now, so the pass in flight — whose commits were stamped before the note — lands first.
      const inFlight = txn === undefined ? undefined : this.writer.current
      if (inFlight !== undefined) await inFlight
    }
    const range = rowScanRange(tableId, opts)
    const pkOffset = rowPrefix(tableId).length
    const limit = opts.limit ?? Infinity
    if (limit <= 0) return
    if (opts.exact === true && opts.gte !== undefined) {
      const key = rowKey(tableId, opts.gte)
      const v = await readVisible(this.kv, this.tip, key, await this.pointGet(key), viewer)
      if (v !== undefined && !v.tombstone) yield { pk: decodeTuple(key, pkOffset), row: v.row }
      return
    }
    let n = 0
    const moved = this.moved?.ofTable(tableId) ?? null
    for await (const [k, val] of this.kv.iterate({ ...range, reverse: opts.reverse === true })) {
      // A split's leftover (split-cleanup.ts): the row is the child's now, read there.
      if (moved !== null && moved(k, pkOffset)) continue
      const v = await readVisible(this.kv, this.tip, k, val, viewer)
      if (v === undefined || v.tombstone) continue
      yield { pk: decodeTuple(k, pkOffset), row: v.row }
      if (++n >= limit) return
    }
  }

  /** The primary of one row for a point query: on this thread where the store can (KvStore.getNow). */
  private pointGet (key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.kv.getNow !== undefined ? this.kv.getNow(key) : this.kv.get(key)
  }

  private viewerOf (txn: Txn | undefined): Viewer {
    if (txn === undefined) return READ_COMMITTED_VIEWER
    this.checkOwn(txn)
    if (txn.state !== 'active') throw notActive(txn.xid, txn.state)
    return txn
  }

  // ---- commit log, marks, maintenance ---------------------------------------------------------

  /** Commit-log entries with LSN ≥ fromLsn, in order (at most `limit`, capped). A range that
   *  was truncated is SB_COMMIT_LOG_TRUNCATED naming the first LSN still available. */
  async readCommitLog (fromLsn: bigint, limit = 1000): Promise<CommitLogEntry[]> {
    this.checkOpen()
    this.checkLogFloor(fromLsn)
    const out = await readCommitLog(this.kv, fromLsn, limit)
    // A truncation may have landed while this read ran (it is not a writer job).
    this.checkLogFloor(fromLsn)
    return out
  }

  private checkLogFloor (fromLsn: bigint): void {
    const floor = this.st.logFloor
    if (fromLsn < floor && floor > 1n) {
      throw new ScratchBirdError('SB_COMMIT_LOG_TRUNCATED',
        `the commit log of shard ${this.shardId} was truncated below LSN ${floor}; LSN ${fromLsn} is no longer available (first available: ${floor})`,
        { shard: this.shardId, requested_lsn: String(fromLsn), first_available_lsn: String(floor) })
    }
  }

  /** First LSN the commit log still holds (1n until truncated; the next LSN once all of it was). */
  firstAvailableLsn (): bigint { return this.st.logFloor }

  /** LSN of the last commit landed (0n before the first). */
  lastLsn (): bigint { return this.st.lsn }

  /** Record an HLC the node has issued or seen; persisted (s/hlc) with the next write batch. */
  noteHlc (ts: HlcTs): void {
    checkHlc('ts', ts)
    if (ts > this.st.hlcHigh) this.st.hlcHigh = ts
  }

  /** Highest HLC noted or committed here; at open, the persisted mark (restore the HLC from it). */
  hlcHighWater (): HlcTs { return this.st.hlcHigh }

  /** Persist the marks now (fsynced with durability 'sync'). */
  flush (): Promise<void> {
    this.checkOpen()
    return new Promise((resolve, reject) => this.writer.enqueue({ t: 'flush', d: { resolve, reject } }))
  }

  /** Remove versions no reader can see below `horizonHlc` (see sweep.ts), then truncate the
   *  commit log below what its consumers still need (log-truncate.ts). */
  async sweep (horizonHlc: HlcTs, opts: EngineSweepOptions = {}): Promise<EngineSweepReport> {
    this.checkOpen()
    checkHlc('horizonHlc', horizonHlc)
    const t0 = this.clock.monotonic()
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => new Promise<T>((resolve, reject) =>
      this.writer.enqueue({ t: 'exclusive', fn, d: { resolve: resolve as (v: unknown) => void, reject } }))
    // Dropped relations first: the row sweep then has nothing of theirs to walk.
    const relationsPurged = await this.purgeRelations(opts.purgeRelations ?? [])
    const report = await sweep({ kv: this.kv, tip: this.tip, exclusive, oldestSnapshot: () => this.st.oldestSnapshot() }, horizonHlc, opts)
    const log = opts.commitLog === undefined
      ? { entriesTruncated: 0, firstAvailableLsn: this.st.logFloor }
      : await truncateCommitLog({ kv: this.kv, exclusive, floor: () => this.st.logFloor, setFloor: (lsn) => { this.st.logFloor = lsn } }, commitLogNeed(await withSplitPin(this.kv, opts.commitLog)))
    return { ...report, relationsPurged, logEntriesTruncated: log.entriesTruncated, firstAvailableLsn: log.firstAvailableLsn, durationMs: this.clock.monotonic() - t0 }
  }

  /** Delete the rows, back versions and forest leaves of dropped relations `ids` (purge-relations.ts). */
  async purgeRelations (ids: readonly number[]): Promise<RelationPurge[]> {
    this.checkOpen()
    if (!Array.isArray(ids)) throw badArg('relation ids must be an array')
    for (const id of ids) checkTableId(id)
    return await purgeRelations({ kv: this.kv, exclusive: (fn) => this.exclusive(fn), forest: this.st.forest, land: (w) => this.landForest(w) }, new Set(ids))
  }

  // ---- shard split, COPY (cluster/shard-split.ts): parent pin, child derive -----------------------

  /** The key filter of a split's cleanup under way, or undefined. */
  private movedKey (): ((key: Uint8Array) => boolean) | undefined {
    const m = this.moved
    return m === null ? undefined : (key) => m.moved(key)
  }

  /** Delete, up to `maxChunks` chunks, the keys that moved away in a split to `rule.shards` shards (split-cleanup.ts). */
  async splitCleanup (rule: CleanupRule, maxChunks: number): Promise<CleanupReport> {
    this.checkOpen()
    if (!Number.isInteger(maxChunks) || maxChunks < 0) throw badArg('maxChunks must be a non-negative integer', { maxChunks })
    const host = { shardId: this.shardId, kv: this.kv, sync: this.durability === 'sync', exclusive: <T>(fn: () => Promise<T>) => this.exclusive(fn), setMoved: (m: MovedKeys | null) => { this.moved = m } }
    // 0 chunks: arm the scan filter only, before any await (split-cleanup.ts armCleanup).
    if (maxChunks === 0) return await armCleanup(host, rule)
    await initHashing()
    return await runCleanup(host, rule, maxChunks)
  }

  /** Pin this (parent) shard's log after its last applied LSN and answer it with whether the log
   *  was cut back since, or release the pin, answering the one released (null: none) (split-pin.ts). */
  async splitPin (pin: boolean): Promise<SplitPin | null> {
    this.checkOpen()
    if (!pin) return await unpinSplitLog(this.repl)
    return await pinSplitLog(this.repl)
  }

  /** Append this (parent) shard's split switch entry and fence its child-side writes by `rule`
   *  (null: all of its writes): S, or null while a prepared transaction waits (split-switch.ts). */
  async splitSwitch (shards: number, rule: CleanupRule | null): Promise<bigint | null> {
    this.checkOpen()
    checkControlEntry(rule === null ? { kind: 'split_switch', shards } : { kind: 'split_switch', shards, rule })
    if (rule !== null) checkCleanupRule(rule, this.shardId)
    return await appendSplitSwitch(this.repl, shards, rule)
  }

  /** Lift the fence of the split of `shards` (the node adopted 2n); false: none was held for it. */
  async splitLift (shards: number): Promise<boolean> {
    this.checkOpen()
    return await liftSplitFence(this.repl, shards)
  }

  /** The fence held (split-switch.ts), or null. */
  get splitFence (): SplitFence | null {
    return this.st.splitFence
  }

  /** Apply derived entries to this (child) shard with its progress (split-derive.ts). */
  async deriveApply (from: DeriveProgress | null, to: DeriveProgress, entries: readonly DerivedEntry[]): Promise<DeriveApplyReport> {
    this.checkOpen()
    if (!Array.isArray(entries)) throw badArg('derived entries must be an array')
    return await applyDerived(this.repl, from, to, entries)
  }

  /**
   * Empty this (child) shard before a derive from scratch (a cancelled or stale one left rows):
   * its derive progress first, then every relation's rows and back versions. In that order, so a
   * crash in between leaves no progress over a partial child, and the next derive (which starts
   * with this when the child records no progress) empties it again. TIP entries stay: an xid
   * committed at its HLC with no rows left is harmless, and a new derive commits it the same.
   * Refused on a shard with a commit log of its own: it is served (switched), not being derived.
   */
  async clearDerivedChild (): Promise<{ relations: number, rows: number }> {
    this.checkOpen()
    if (this.st.lsn > 0n) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard ${this.shardId} has a commit log of its own (LSN ${this.st.lsn}): it is served, not a split child being derived; not cleared`, { shard: this.shardId })
    }
    if (await readDeriveProgress(this.repl) !== null) await clearDeriveProgress(this.repl)
    const purged = await this.purgeRelations([...await relationsPresent(this.kv)])
    return { relations: purged.length, rows: purged.reduce((n, p) => n + p.rows, 0) }
  }

  /** This (child) shard's derive progress; `clear`: remove it after reading. */
  async deriveState (clear: boolean): Promise<DeriveProgress | null> {
    this.checkOpen()
    const p = await readDeriveProgress(this.repl)
    if (clear && p !== null) await clearDeriveProgress(this.repl)
    return p
  }

  // ---- Mode 1 replication (DESIGN §6): the shard-worker side of the replicated log ----------------

  /** Apply the primary's entries in LSN order (replica-apply.ts): skipped when held, refused on a
   *  gap, one atomic batch. */
  async replApply (entries: readonly RawLogEntry[], keepTables?: readonly number[] | null): Promise<ApplyReport> {
    this.checkOpen()
    checkEntries(entries)
    return await applyEntries(this.repl, entries, keptTablesOf(keepTables))
  }

  /** Entries with LSN ≥ fromLsn with their generations and encoded mutations, what a primary
   *  ships (at most `limit`, stopping at about `maxBytes`; the first always comes). */
  async replLogRead (fromLsn: bigint, limit: number, maxBytes: number): Promise<RawLogEntry[]> {
    this.checkOpen()
    this.checkLogFloor(fromLsn)
    const out = await readCommitLogRaw(this.kv, fromLsn, limit, maxBytes)
    this.checkLogFloor(fromLsn)
    return out
  }

  /** Drop the log's entries above `afterLsn` and their effects (replica-truncate.ts). */
  async replTruncate (afterLsn: bigint, committedLsn: bigint, keepTables?: readonly number[] | null): Promise<SuffixTruncateReport> {
    this.checkOpen()
    for (const [name, v] of [['afterLsn', afterLsn], ['committedLsn', committedLsn]] as const) {
      if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw badArg(`${name} must be a u64`, { [name]: String(v) })
    }
    return await truncateSuffix(this.repl, afterLsn, committedLsn, keptTablesOf(keepTables))
  }

  /** The replication hard state with the log position a vote or an append compares. */
  async replState (): Promise<ReplStateView> {
    this.checkNotClosed()
    return await this.exclusive(async () => ({
      ...await readHardState(this.kv),
      lastLsn: this.st.lsn,
      lastGeneration: await lastLogGeneration(this.repl) ?? 0n,
      firstAvailableLsn: this.st.logFloor,
      bootstrap: await readBootstrap(this.kv) ?? null
    }))
  }

  /** Replace the hard state (repl-state.ts checkStateChange), fsynced before it resolves; local
   *  commits queued after it are logged at its generation. */
  async setReplState (next: ReplHardState): Promise<void> {
    this.checkNotClosed()
    checkHardState(next)
    await this.exclusive(async () => {
      const cur = await readHardState(this.kv)
      checkStateChange(this.shardId, cur, next)
      // A change that does not name the voters keeps the ones stored (repl-state.ts config).
      const state = next.config === undefined ? { ...next, config: cur.config ?? null } : next
      await this.kv.batch([{ type: 'put', key: REPL_STATE_KEY, value: encodeHardState(state) }], { sync: true })
      this.st.generation = next.generation
      this.st.replRole = next.role
    })
  }

  /** Append a replication control entry (noop, config) at the next LSN, at `generation`
   *  (replica-control.ts): the machine's own entries in the one log. */
  async replAppendControl (generation: bigint, control: ControlEntry): Promise<ControlAppendReport> {
    this.checkOpen()
    if (typeof generation !== 'bigint' || generation < 0n || generation >= 1n << 64n) throw badArg('generation must be a u64', { generation: String(generation) })
    checkControlEntry(control)
    return await appendControl(this.repl, generation, control)
  }

  /** A chunk of a consistent snapshot of this shard for a replica being bootstrapped
   *  (replica-snapshot.ts); snapshotId 0n opens a new snapshot. */
  async snapshotRead (req: SnapshotReadRequest): Promise<SnapshotChunk> {
    this.checkOpen()
    return await this.snapSource.read(this.repl, req, this.moved)
  }

  /** Install a chunk of another replica's snapshot (replica-snapshot.ts): the first one starts
   *  (or restarts) the bootstrap, the last one makes the shard serve again. */
  async snapshotInstall (req: SnapshotInstallRequest): Promise<InstallReport> {
    this.checkNotClosed()
    return await installChunk(this.repl, req, (m) => { this.moved = m })
  }

  /** Finish queued work, persist the HLC mark, close the store. Open transactions are left as
   *  they are: the next open marks them dead. */
  async close (): Promise<void> {
    if (this.closed) return
    if (this.st.hlcHigh > this.st.hlcPersisted) await this.flush().catch(() => {})
    this.closed = true
    await this.snapSource.close()
    await this.writer.drained()
    await this.kv.close()
  }
}

function bootstrapping (shard: ShardId): ScratchBirdError {
  return new ScratchBirdError('SB_REPL_BOOTSTRAPPING', `shard ${shard} is being bootstrapped from a snapshot and serves nothing until it is installed`, { shard })
}

function lwwWrite (w: ReplicaWrite): RowWrite {
  if (w === null || typeof w !== 'object') throw badArg('a replica write must be an object')
  return { op: 'lww', tableId: w.tableId, pk: w.pk, pkBytes: w.pkBytes, versionId: w.versionId, row: w.row }
}

function versionedOf (v: RecordVersion | undefined): VersionedRow | undefined {
  if (v === undefined) return undefined
  return { versionId: v.versionId.slice(), row: v.tombstone ? null : v.row }
}

/** Collects commitMany outcomes; one object per request instead of promises and closures. */
class OutcomeGroup {
  readonly out: AutocommitOutcome[]
  private left: number
  constructor (n: number, private readonly done: (out: AutocommitOutcome[]) => void) {
    this.out = new Array<AutocommitOutcome>(n)
    this.left = n
  }

  set (i: number, o: AutocommitOutcome): void {
    this.out[i] = o
    if (--this.left === 0) this.done(this.out)
  }
}

class OutcomeSlot {
  constructor (private readonly group: OutcomeGroup, private readonly i: number) {}
  resolve (result: AutocommitResult): void { this.group.set(this.i, { ok: true, result }) }
  reject (error: unknown): void { this.group.set(this.i, { ok: false, error }) }
}

/** A transaction of one ShardEngine. Methods delegate to the engine. */
export class Txn implements TxnCore, Viewer {
  state: TxnState = 'active'
  persisted = false
  readonly mutations = new Map<string, Mutation>()
  /** Per table written, its fence generation at the first write (storage/table-fence.ts checkSince). */
  readonly fenceGenerations = new Map<number, number>()
  failure: unknown = undefined
  readonly snapshot: boolean
  /** A snapshot transaction does not guess a prepared version's outcome (visibility.ts). */
  readonly waitLimbo: boolean
  readonly stamp = undefined

  constructor (readonly engine: ShardEngine, readonly xid: Xid, readonly isolation: Isolation, readonly startHlc: HlcTs) {
    this.snapshot = isolation === 'snapshot'
    this.waitLimbo = this.snapshot
  }

  get (tableId: number, pk: Tuple): Promise<Uint8Array | undefined> { return this.engine.get(tableId, pk, this) }
  scan (tableId: number, opts: ScanOptions = {}): AsyncIterable<Row> { return this.engine.scan(tableId, opts, this) }

  write (writes: readonly RowWrite[]): Promise<boolean[]> { return this.engine.write(this, writes) }

  /** Throws SB_UNIQUE_VIOLATION when a live row with this key is visible. */
  async insert (tableId: number, pk: Tuple, row: Uint8Array, versionId: VersionId): Promise<void> {
    await this.engine.write(this, [{ op: 'insert', tableId, pk, row, versionId }])
  }

  /** false when no live row with this key is visible. */
  async update (tableId: number, pk: Tuple, row: Uint8Array, versionId: VersionId): Promise<boolean> {
    return (await this.engine.write(this, [{ op: 'update', tableId, pk, row, versionId }]))[0]!
  }

  /** Writes a tombstone; false when no live row with this key is visible. */
  async delete (tableId: number, pk: Tuple, versionId: VersionId): Promise<boolean> {
    return (await this.engine.write(this, [{ op: 'delete', tableId, pk, versionId }]))[0]!
  }

  async put (tableId: number, pk: Tuple, row: Uint8Array | null, versionId: VersionId): Promise<void> {
    await this.engine.write(this, [{ op: 'put', tableId, pk, row, versionId }])
  }

  commit (commitHlc: HlcTs): Promise<CommitResult> { return this.engine.commit(this, commitHlc) }
  rollback (): Promise<void> { return this.engine.rollback(this) }
  prepare (): Promise<bigint | null> { return this.engine.prepare(this) }
}
