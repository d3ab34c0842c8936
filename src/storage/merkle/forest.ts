import { ScratchBirdError } from '../../core/errors'
import { initHashing } from '../../core/hash'
import {
  keyString, MERKLE_LEAF_PREFIX, MERKLE_MARKER_KEY, MERKLE_SUMMARY_PREFIX, MERKLE_TABLE_PREFIX, MERKLE_TREE_PREFIX, merkleLeafKey,
  merkleSummaryKey, merkleTableKey, merkleTreeKey, prefixRange, readU64
} from '../keys'
import type { KvOp, KvStore } from '../kv'
import type { VersionId } from '../types'
import { decodeTree, encodeTree } from './codec'
import {
  decodeLeafRecord, encodeLeafRecord, LEAF_VALUE_BYTES, SEALED_RECORD_OVERHEAD, sealedOps, summaryValue, type LeafRecord
} from './forest-records'
import { decodeLeafKey } from './leaf-key'
import { rebuildWindows } from './rebuild'
import { checkLeaf, MERKLE_BUCKETS, MerkleTree, type MerkleLeaf } from './tree'
import { firstUnsealable, windowOf } from './window'

// The Merkle forest of one shard replica (DESIGN §4 `m/…`, §6 "Anti-entropy"), kept by the shard
// engine next to its rows. Every version the replica receives for a leaderless table — including
// one last-writer-wins keeps as older: a write received is history — puts a leaf into the window
// of its version id, each window keeping the highest version per key. Two replicas that received
// the same writes therefore hold the same windows whatever the arrival order.
//
//   active window   its tree in memory; the leaves a write pass adds to it are also stored as ONE
//                   m/a/ record in the SAME batch as the rows (forest-stage.ts, used by the writer), so
//                   a crash never leaves a row without its leaf or a leaf without its row (one
//                   record per pass, not per leaf: a put per row would double the batch's puts);
//   sealed window   sealing_grace after its end (seal(), time from the caller): the tree is
//                   encoded (codec.ts) into one m/t/ value plus an m/s/ summary, its m/a/ records
//                   are deleted, and only root, leaf count and size stay in memory. A late write
//                   (hint, repair, healed partition) loads the tree, updates it and rewrites it in
//                   the write's batch, and counts a reseal.
//
// At open the forest is read back (active leaves from m/a/, sealed roots from the stored trees);
// a tree that is missing (its summary says it should exist), does not decode or fails its
// checksum — and a corrupt leaf record's window — is rebuilt from the rows (rebuild.ts), logged
// and counted. A changed window length (anti_entropy.merkle_tree_window_hours) makes every stored
// window meaningless: all are dropped and rebuilt from the rows as active windows.
//
// Only the shard's writer changes the forest: leaves through a pass (stage → finish → the batch
// lands → commit), everything else inside the writer's exclusive jobs, so in-memory state changes
// only after its batch landed and no two changes interleave.

export interface ForestConfig {
  /** Window length in ms (windowLengthMs of anti_entropy.merkle_tree_window_hours). */
  readonly windowMs: number
  /** Sealing grace in ms (sealingGraceMs of anti_entropy.sealing_grace_period_minutes). */
  readonly graceMs: number
}

/** One window as MERKLE_ROOTS reports it. */
export interface ForestWindowRoot {
  readonly window: number
  readonly sealed: boolean
  readonly root: bigint
  readonly leaves: number
}

/** What MERKLE_STATS and SHOW MERKLE FOREST SIZE report. */
export interface ForestStats {
  /** Windows holding leaves (active and sealed). */
  readonly windows: number
  readonly sealed: number
  /** Leaves of the active (unsealed) windows: the ones held in memory. */
  readonly activeLeaves: number
  /** Estimated heap held by the forest (see the constants below). */
  readonly bytesInMemory: number
  /** Bytes of the forest's records in the store (keys and values, before LevelDB compression). */
  readonly bytesOnDisk: number
  /** Leaves that changed a window after it was sealed, since open. */
  readonly reseals: number
  /** Windows rebuilt from the rows (missing or corrupt), since open. */
  readonly rebuilds: number
}

/** A page of MERKLE_LEAVES: whole buckets, the first `bucketsDone` of those asked for. */
export interface LeafPage {
  readonly leaves: MerkleLeaf[]
  readonly bucketsDone: number
  /** Some buckets asked for are not in this page (ask again for buckets[bucketsDone…]). */
  readonly more: boolean
}

/** Forest changes to write, and the in-memory change to make once they landed. */
export interface ForestWrite {
  readonly ops: KvOp[]
  readonly commit: () => void
}

export type ForestLog = (level: 'warn' | 'info', message: string, details: Record<string, unknown>) => void

// Memory: an active window's tree reports what it allocated (MerkleTree.heapBytes: packed typed
// arrays, spare capacity included); besides it the forest holds, per active window, the key of
// each m/a/ record (to delete it at sealing), and per sealed window a few numbers.
const SEALED_WINDOW_HEAP_BYTES = 64
/** One remembered m/a/ record: its key (a 24-byte Uint8Array and its buffer) and the list entry. */
const RECORD_HEAP_BYTES = 96

const MARKER_FORMAT = 1
const MARKER_BYTES = 1 + 8 + 8
/** Rebuild reports kept until a log hook is set (the engine opens before the shard host exists). */
const MAX_PENDING_LOG = 64

interface SealedWindow { readonly root: bigint, readonly leaves: number, readonly treeBytes: number }

function encodeMarker (windowMs: number, sealedBelow: number): Uint8Array {
  const b = new Uint8Array(MARKER_BYTES)
  const v = new DataView(b.buffer)
  b[0] = MARKER_FORMAT
  v.setFloat64(1, windowMs)
  v.setFloat64(9, sealedBelow)
  return b
}

function decodeMarker (b: Uint8Array | undefined): { windowMs: number, sealedBelow: number } | undefined {
  if (b === undefined || b.length !== MARKER_BYTES || b[0] !== MARKER_FORMAT) return undefined
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  return { windowMs: v.getFloat64(1), sealedBelow: v.getFloat64(9) }
}

function windowOfKey (k: Uint8Array, prefixLength: number): number {
  return Number(readU64(k, prefixLength))
}

export class MerkleForest {
  private readonly active = new Map<number, MerkleTree>()
  private readonly sealedWindows = new Map<number, SealedWindow>()
  private readonly tables = new Set<number>()
  /** Every window below it is sealed; -Infinity before the first seal. Never moves back. */
  private sealedBelow = -Infinity
  private resealCount = 0
  private rebuildCount = 0
  private diskBytes = 0
  /** The m/a/ records of each active window (deleted when it is sealed). */
  private readonly records = new Map<number, LeafRecord[]>()
  /** Next m/a/ record sequence number (above every stored one). */
  private recordSeq = 0
  /** The last sealed tree loaded (drill-down asks for one window's buckets, then its leaves). */
  private cached: { window: number, tree: MerkleTree } | undefined
  private logFn: ForestLog | undefined
  private readonly pendingLog: Array<Parameters<ForestLog>> = []

  private constructor (private readonly kv: KvStore, readonly config: ForestConfig) {}

  /** Load the forest stored in `kv`, rebuilding what is missing or corrupt (written with `sync`). */
  static async open (kv: KvStore, config: ForestConfig, sync: boolean): Promise<MerkleForest> {
    firstUnsealable(config.windowMs, config.graceMs, 0) // validates both (SB_BAD_ARGUMENT)
    await initHashing() // leaves hash with xxhash64 (a no-op once done in this thread)
    const f = new MerkleForest(kv, config)
    await f.load(sync)
    return f
  }

  /** Where rebuild reports go (those made before this call are passed on now). */
  setLog (log: ForestLog): void {
    this.logFn = log
    for (const args of this.pendingLog.splice(0)) log(...args)
  }

  private log (...args: Parameters<ForestLog>): void {
    if (this.logFn !== undefined) this.logFn(...args)
    else if (this.pendingLog.length < MAX_PENDING_LOG) this.pendingLog.push(args)
  }

  /** The window of a version id (SB_UUID_INVALID unless a UUIDv8-HLC or v7). */
  windowOf (version: VersionId): number { return windowOf(version, this.config.windowMs) }

  /** Whether window `w` is sealed: its leaves live in a stored tree, not in memory. */
  isSealed (w: number): boolean {
    return !this.active.has(w) && (w < this.sealedBelow || this.sealedWindows.has(w))
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** Every window holding leaves, ascending. */
  roots (): ForestWindowRoot[] {
    const out: ForestWindowRoot[] = []
    for (const [w, t] of this.active) out.push({ window: w, sealed: false, root: t.root(), leaves: t.size })
    for (const [w, s] of this.sealedWindows) if (!this.active.has(w)) out.push({ window: w, sealed: true, root: s.root, leaves: s.leaves })
    return out.sort((a, b) => a.window - b.window)
  }

  stats (): ForestStats {
    let activeLeaves = 0
    let treeBytes = 0
    for (const t of this.active.values()) { activeLeaves += t.size; treeBytes += t.heapBytes() }
    let records = 0
    for (const list of this.records.values()) records += list.length
    return {
      windows: this.active.size + this.sealedWindows.size,
      sealed: this.sealedWindows.size,
      activeLeaves,
      bytesInMemory: treeBytes + records * RECORD_HEAP_BYTES + this.sealedWindows.size * SEALED_WINDOW_HEAP_BYTES,
      bytesOnDisk: this.diskBytes,
      reseals: this.resealCount,
      rebuilds: this.rebuildCount
    }
  }

  /**
   * Window `w`'s tree for drill-down: the active one, a sealed one loaded from the store (rebuilt
   * when missing or corrupt: `write` then holds what stores it again), or undefined when the
   * window holds no leaves. Run where nothing else changes the forest (a writer exclusive job).
   */
  async readTree (w: number, metered: <T>(fn: () => T) => T = fn => fn()): Promise<{ tree: MerkleTree | undefined, write?: ForestWrite }> {
    checkWindow(w)
    const t = this.active.get(w)
    if (t !== undefined) return { tree: t }
    if (!this.sealedWindows.has(w)) return { tree: undefined }
    const loaded = await this.loadSealed(w, metered)
    if (!loaded.rebuilt) {
      this.cached = { window: w, tree: loaded.tree }
      return { tree: loaded.tree }
    }
    const encoded = encodeTree(loaded.tree)
    return { tree: loaded.tree, write: { ops: sealedOps(w, loaded.tree, encoded), commit: () => this.noteSealed(w, loaded.tree, encoded.length, 0, true) } }
  }

  /**
   * A sealed window's tree from the store; a missing or corrupt one rebuilt from the rows
   * (`rebuilt`: the caller stores it again). A sealed window with no stored tree and no summary
   * held no leaves when it was sealed: an empty tree.
   */
  async loadSealed (w: number, metered: <T>(fn: () => T) => T = fn => fn()): Promise<{ tree: MerkleTree, rebuilt: boolean }> {
    if (this.cached?.window === w) return { tree: this.cached.tree, rebuilt: false }
    const bytes = await this.kv.get(merkleTreeKey(w))
    if (bytes === undefined && !this.sealedWindows.has(w)) return { tree: new MerkleTree(), rebuilt: false }
    let why: string
    try {
      if (bytes !== undefined) return { tree: metered(() => decodeTree(bytes)), rebuilt: false }
      why = 'its tree is missing'
    } catch (e) {
      why = (e as Error).message
    }
    const { trees } = await rebuildWindows(this.kv, this.tables, this.config.windowMs, x => x === w)
    this.log('warn', `Merkle window ${w} rebuilt from the rows: ${why}`, { window: w })
    return { tree: trees.get(w) ?? new MerkleTree(), rebuilt: true }
  }

  // ---- changing (the engine's writer calls these; see the top) ----------------------------------

  /**
   * Seal every active window sealable at `nowMs` (its end + grace ≤ now); undefined when the
   * boundary does not move. Windows are listed ascending.
   */
  sealDue (nowMs: number): { windows: number[], write: ForestWrite } | undefined {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle seal: now ${nowMs} ms is not a non-negative integer`)
    const next = firstUnsealable(this.config.windowMs, this.config.graceMs, nowMs)
    if (next <= this.sealedBelow) return undefined
    const windows = [...this.active.keys()].filter(w => w < next).sort((a, b) => a - b)
    const ops: KvOp[] = []
    const encoded = new Map<number, Uint8Array>()
    for (const w of windows) {
      const tree = this.active.get(w)!
      const bytes = encodeTree(tree)
      encoded.set(w, bytes)
      ops.push(...sealedOps(w, tree, bytes))
      for (const rec of this.records.get(w) ?? []) ops.push({ type: 'del', key: rec.key })
    }
    ops.push({ type: 'put', key: MERKLE_MARKER_KEY, value: encodeMarker(this.config.windowMs, next) })
    return {
      windows,
      write: {
        ops,
        commit: () => {
          for (const w of windows) {
            const tree = this.active.get(w)!
            this.dropActive(w)
            this.noteSealed(w, tree, encoded.get(w)!.length, 0, false)
          }
          this.sealedBelow = next
        }
      }
    }
  }

  // ---- dropped relations (storage/purge-relations.ts) --------------------------------------------

  /** Of `tables`, those that have leaves here (m/k/): the ones whose leaves a purge must remove. */
  tablesWithLeaves (tables: Iterable<number>): Set<number> {
    const out = new Set<number>()
    for (const t of tables) if (this.tables.has(t)) out.add(t)
    return out
  }

  /**
   * Remove from window `w` every leaf of `tables` (relations dropped from the catalog): undefined
   * when the window holds none. An active window's m/a/ records are replaced by one record of the
   * leaves that stay; a sealed window's tree and summary are rewritten — or deleted when nothing
   * stays, so a replica that purged and one that never held the window list the same windows.
   * Run as a writer exclusive job (like sealDue). `removed` counts leaves per table.
   */
  async purgeWindow (w: number, tables: ReadonlySet<number>): Promise<{ removed: Map<number, number>, write: ForestWrite } | undefined> {
    checkWindow(w)
    const active = this.active.get(w)
    const sealed = active === undefined && this.sealedWindows.has(w)
    if (active === undefined && !sealed) return undefined
    const loaded = active === undefined ? await this.loadSealed(w) : { tree: active, rebuilt: false }
    const removed = new Map<number, number>()
    const kept: MerkleLeaf[] = []
    for (const l of loaded.tree.leaves()) {
      const t = leafTable(l.key)
      if (t !== undefined && tables.has(t)) removed.set(t, (removed.get(t) ?? 0) + 1)
      else kept.push(l)
    }
    if (removed.size === 0) return undefined
    const ops: KvOp[] = []
    if (!sealed) {
      for (const rec of this.records.get(w) ?? []) ops.push({ type: 'del', key: rec.key })
      const key = kept.length > 0 ? merkleLeafKey(w, this.nextRecordSeq()) : undefined
      const value = key === undefined ? undefined : encodeLeafRecord(kept)
      if (key !== undefined) ops.push({ type: 'put', key, value: value! })
      return {
        removed,
        write: {
          ops,
          commit: () => {
            this.dropActive(w)
            if (key !== undefined) this.noteActive(w, kept, { key, bytes: key.length + value!.length })
          }
        }
      }
    }
    const tree = new MerkleTree()
    for (const l of kept) tree.set(l.key, l.version, l.rowHash)
    if (tree.size > 0) {
      const encoded = encodeTree(tree)
      ops.push(...sealedOps(w, tree, encoded))
      return { removed, write: { ops, commit: () => this.noteSealed(w, tree, encoded.length, 0, loaded.rebuilt) } }
    }
    ops.push({ type: 'del', key: merkleTreeKey(w) }, { type: 'del', key: merkleSummaryKey(w) })
    return {
      removed,
      write: {
        ops,
        commit: () => {
          const prev = this.sealedWindows.get(w)
          if (prev !== undefined) this.diskBytes -= prev.treeBytes + SEALED_RECORD_OVERHEAD
          this.sealedWindows.delete(w)
          this.uncache(w)
        }
      }
    }
  }

  /**
   * Forget `tables` (their m/k/ entries: a rebuild no longer reads their rows) once purgeWindow
   * removed their leaves from every window. Tables that still have a leaf in an active window (a
   * late write that landed after that window was purged) are kept, for the next purge.
   */
  forgetTables (tables: ReadonlySet<number>): ForestWrite {
    const still = new Set<number>()
    for (const tree of this.active.values()) {
      for (const l of tree.leaves()) {
        const t = leafTable(l.key)
        if (t !== undefined && tables.has(t)) still.add(t)
      }
    }
    const gone = [...tables].filter(t => !still.has(t) && this.tables.has(t))
    return { ops: gone.map(t => ({ type: 'del', key: merkleTableKey(t) })), commit: () => { for (const t of gone) this.tables.delete(t) } }
  }

  /** A page of window `w`'s leaves of `buckets` (see LeafPage). */
  static leafPage (tree: MerkleTree | undefined, buckets: readonly number[], maxLeaves: number, maxBytes: number): LeafPage {
    if (!Array.isArray(buckets) || buckets.length > MERKLE_BUCKETS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle leaves: at most ${MERKLE_BUCKETS} buckets`)
    for (const b of buckets) {
      if (!Number.isInteger(b) || b < 0 || b >= MERKLE_BUCKETS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle leaves: bucket ${b} is not in 0..${MERKLE_BUCKETS - 1}`)
    }
    const leaves: MerkleLeaf[] = []
    let bytes = 0
    let done = 0
    for (const b of buckets) {
      const ls = tree?.leavesOf(b) ?? []
      let size = 0
      for (const l of ls) size += l.key.length + LEAF_VALUE_BYTES + 2
      // Whole buckets only (a bucket is compared as a whole); always at least one, so a caller
      // that asks again for the rest always makes progress.
      if (done > 0 && (leaves.length + ls.length > maxLeaves || bytes + size > maxBytes)) break
      leaves.push(...ls)
      bytes += size
      done++
    }
    return { leaves, bucketsDone: done, more: done < buckets.length }
  }

  // In-memory changes after a batch landed (ForestStage, sealDue, readTree).

  /** @internal */
  noteTables (ids: Iterable<number>): void { for (const t of ids) this.tables.add(t) }

  /** @internal */
  hasTable (id: number): boolean { return this.tables.has(id) }

  /** @internal */
  activeTree (w: number): MerkleTree | undefined { return this.active.get(w) }

  /** @internal The cached sealed tree is about to change: drop it until the change landed. */
  uncache (w: number): void { if (this.cached?.window === w) this.cached = undefined }

  /** @internal A new m/a/ record's sequence number. */
  nextRecordSeq (): number { return this.recordSeq++ }

  /**
   * @internal Window `w`'s leaves in memory and the record that stores them. Only leaves above
   * the key's current one are kept (the write path stages only those; a load replays records in
   * any order).
   */
  noteActive (w: number, leaves: readonly MerkleLeaf[], record: LeafRecord | undefined): void {
    const tree = this.activeTreeFor(w)
    for (const l of leaves) tree.setIfNewer(l.key, l.version, Number(l.rowHash >> 32n), Number(l.rowHash & 0xffff_ffffn))
    if (record !== undefined) this.noteRecord(w, record)
  }

  /** @internal Window `w`'s active tree, made empty if it has none yet. */
  activeTreeFor (w: number): MerkleTree {
    let tree = this.active.get(w)
    if (tree === undefined) this.active.set(w, tree = new MerkleTree())
    return tree
  }

  /** @internal An m/a/ record stored for active window `w` (deleted when it is sealed). */
  noteRecord (w: number, record: LeafRecord): void {
    let list = this.records.get(w)
    if (list === undefined) this.records.set(w, list = [])
    list.push(record)
    this.diskBytes += record.bytes
  }

  /** @internal */
  noteSealed (w: number, tree: MerkleTree, treeBytes: number, reseals: number, rebuilt: boolean): void {
    const prev = this.sealedWindows.get(w)
    if (prev !== undefined) this.diskBytes -= prev.treeBytes + SEALED_RECORD_OVERHEAD
    this.diskBytes += treeBytes + SEALED_RECORD_OVERHEAD
    this.sealedWindows.set(w, { root: tree.root(), leaves: tree.size, treeBytes })
    this.resealCount += reseals
    if (rebuilt) this.rebuildCount++
    this.cached = { window: w, tree }
  }

  // ---- open -------------------------------------------------------------------------------------

  private async load (sync: boolean): Promise<void> {
    const kv = this.kv
    const ops: KvOp[] = []
    const tablePrefix = MERKLE_TABLE_PREFIX.length
    for await (const [k] of kv.iterate(prefixRange(MERKLE_TABLE_PREFIX))) {
      if (k.length === tablePrefix + 4) this.tables.add(new DataView(k.buffer, k.byteOffset, k.byteLength).getUint32(tablePrefix))
    }
    const marker = decodeMarker(await kv.get(MERKLE_MARKER_KEY))
    const rebuild = new Map<number, string>() // window → why
    let writeMarker = marker === undefined
    if (marker !== undefined && marker.windowMs !== this.config.windowMs) {
      // Every stored window has the old length: drop them all, rebuild every window from the rows.
      for (const prefix of [MERKLE_LEAF_PREFIX, MERKLE_TREE_PREFIX, MERKLE_SUMMARY_PREFIX]) {
        for await (const [k] of kv.iterate(prefixRange(prefix))) ops.push({ type: 'del', key: k })
      }
      writeMarker = true
      const { trees } = await rebuildWindows(kv, this.tables, this.config.windowMs, () => true)
      for (const [w, tree] of trees) this.putActive(w, tree, ops)
      this.rebuildCount += trees.size
      this.log('info', `Merkle forest: window length changed from ${marker.windowMs} to ${this.config.windowMs} ms; ${trees.size} window(s) rebuilt from the rows`,
        { fromMs: marker.windowMs, toMs: this.config.windowMs, windows: trees.size })
    } else {
      if (marker !== undefined) this.sealedBelow = marker.sealedBelow
      await this.loadActiveLeaves(rebuild, ops)
      await this.loadSealedTrees(rebuild, ops)
    }
    if (rebuild.size > 0) {
      const { trees } = await rebuildWindows(kv, this.tables, this.config.windowMs, w => rebuild.has(w))
      for (const [w, why] of [...rebuild].sort((a, b) => a[0] - b[0])) {
        const tree = trees.get(w) ?? new MerkleTree()
        if (this.active.has(w) || w >= this.sealedBelow) {
          for await (const [k] of kv.iterate({ gte: merkleLeafKey(w, 0), lt: merkleLeafKey(w + 1, 0) })) ops.push({ type: 'del', key: k })
          this.dropActive(w)
          this.putActive(w, tree, ops)
        } else {
          const encoded = encodeTree(tree)
          ops.push(...sealedOps(w, tree, encoded))
          this.noteSealed(w, tree, encoded.length, 0, false)
          this.cached = undefined
        }
        this.rebuildCount++
        this.log('warn', `Merkle window ${w} rebuilt from the rows: ${why}`, { window: w, leaves: tree.size })
      }
    }
    if (writeMarker) ops.push({ type: 'put', key: MERKLE_MARKER_KEY, value: encodeMarker(this.config.windowMs, this.sealedBelow) })
    if (ops.length > 0) await kv.batch(ops, { sync })
  }

  private async loadActiveLeaves (rebuild: Map<number, string>, ops: KvOp[]): Promise<void> {
    const p = MERKLE_LEAF_PREFIX.length
    for await (const [k, v] of this.kv.iterate(prefixRange(MERKLE_LEAF_PREFIX))) {
      if (k.length !== p + 16) { ops.push({ type: 'del', key: k }); continue }
      const w = windowOfKey(k, p)
      const seq = Number(readU64(k, p + 8))
      if (seq >= this.recordSeq) this.recordSeq = seq + 1
      let leaves: MerkleLeaf[]
      try {
        leaves = decodeLeafRecord(v)
        for (const l of leaves) {
          checkLeaf(l.key, l.version, l.rowHash)
          if (windowOf(l.version, this.config.windowMs) !== w) throw new Error('leaf in the wrong window')
        }
      } catch (e) {
        rebuild.set(w, `a leaf record is corrupt (${(e as Error).message})`)
        continue
      }
      this.noteActive(w, leaves, { key: k.slice(), bytes: k.length + v.length })
    }
  }

  private async loadSealedTrees (rebuild: Map<number, string>, ops: KvOp[]): Promise<void> {
    const kv = this.kv
    const summaries = new Map<number, Uint8Array>()
    for await (const [k, v] of kv.iterate(prefixRange(MERKLE_SUMMARY_PREFIX))) {
      if (k.length === MERKLE_SUMMARY_PREFIX.length + 8) summaries.set(windowOfKey(k, MERKLE_SUMMARY_PREFIX.length), v)
    }
    for await (const [k, v] of kv.iterate(prefixRange(MERKLE_TREE_PREFIX))) {
      if (k.length !== MERKLE_TREE_PREFIX.length + 8) { ops.push({ type: 'del', key: k }); continue }
      const w = windowOfKey(k, MERKLE_TREE_PREFIX.length)
      let tree: MerkleTree
      try {
        tree = decodeTree(v)
      } catch (e) {
        rebuild.set(w, (e as Error).message)
        continue
      }
      const summary = summaries.get(w)
      summaries.delete(w)
      const want = summaryValue(tree)
      if (summary === undefined || keyString(summary) !== keyString(want)) ops.push({ type: 'put', key: merkleSummaryKey(w), value: want })
      this.noteSealed(w, tree, v.length, 0, false)
    }
    this.cached = undefined
    for (const w of summaries.keys()) if (!rebuild.has(w)) rebuild.set(w, 'its tree is missing')
  }

  private putActive (w: number, tree: MerkleTree, ops: KvOp[]): void {
    const leaves = [...tree.leaves()]
    if (leaves.length === 0) return
    const key = merkleLeafKey(w, this.nextRecordSeq())
    const value = encodeLeafRecord(leaves)
    ops.push({ type: 'put', key, value })
    this.noteActive(w, leaves, { key, bytes: key.length + value.length })
  }

  /** Forget an active window (sealed, or about to be rebuilt). */
  private dropActive (w: number): void {
    for (const rec of this.records.get(w) ?? []) this.diskBytes -= rec.bytes
    this.records.delete(w)
    this.active.delete(w)
  }
}

/** The table id a leaf key starts with (leaf-key.ts), or undefined when it does not decode. */
function leafTable (key: Uint8Array): number | undefined {
  try {
    return decodeLeafKey(key).tableId
  } catch {
    return undefined
  }
}

function checkWindow (w: number): void {
  if (!Number.isSafeInteger(w) || w < 0) throw new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle window ${w} is not a non-negative integer`)
}
