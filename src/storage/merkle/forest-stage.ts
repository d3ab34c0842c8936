import { compareVersionIds } from '../lww'
import { merkleLeafKey, merkleTableKey } from '../keys'
import type { KvOp } from '../kv'
import type { VersionId } from '../types'
import { encodeTree } from './codec'
import type { ForestWrite, MerkleForest } from './forest'
import { encodeLeafParts, sealedOps } from './forest-records'
import { leafKeyOfRowKey, ROW_PREFIX_BYTES, rowKeyOfLeafKey } from './leaf-key'
import { checkLeaf, checkVersion, rowHashHigh, rowHashLow, rowImageParts } from './tree'

// One write pass's (or one MERKLE_ADOPT's) additions to the Merkle forest (forest.ts): staged as
// the statements are applied, turned into the batch's ops by finish(), and into memory by the
// commit finish() returns, run once the batch landed.
//
// The write path adds a leaf per leaderless version (issue 15: the forest may cost at most 5 % of
// the write throughput), so a staged leaf is no object: its key, version, row hash halves and
// window go into parallel arrays, the key is looked up in its window's tree once — at the commit,
// where setIfNewer keeps the highest version per key — and the pass's leaves of an active window
// are stored as they came, in one m/a/ record per window (a leaf that turns out not to be newer
// costs its ~40 bytes in the record and nothing else: loading a record keeps the highest version
// per key too). Looking up at the commit rather than when the batch is built is also what keeps it
// right when passes overlap: a pass is built while the one before it is still landing.

/** A leaf to add: its table (recorded in m/k/), key, version and row hash. */
export interface StagedLeaf {
  readonly tableId: number
  readonly key: Uint8Array
  readonly version: VersionId
  readonly rowHash: bigint
}

/** What addVersions needs of a row version the writer applies (storage/row-write.ts RowOp). */
export interface VersionToStage {
  readonly tableId: number
  readonly rowKey: Uint8Array
  readonly versionId: VersionId
  readonly row: Uint8Array | null
}

export class ForestStage {
  /** Row keys (`r/<table><pk>`): a leaf's key is its row key after ROW_PREFIX_BYTES. */
  private readonly keys: Uint8Array[] = []
  private readonly versions: VersionId[] = []
  /** Row hash halves: [2i] high, [2i + 1] low. */
  private readonly hashes: number[] = []
  private readonly windows: number[] = []
  private readonly newTables = new Set<number>()

  constructor (private readonly forest: MerkleForest) {}

  get empty (): boolean { return this.keys.length === 0 }

  /**
   * Stage one statement's leaves from its row versions (the writer's row ops: the leaf key is the
   * row key after `r/`, the row image null for a tombstone). Every version is checked first
   * (SB_BAD_ARGUMENT, SB_UUID_INVALID): on an error none of this call's leaves is staged.
   */
  addVersions (ops: readonly VersionToStage[]): void {
    const f = this.forest
    const from = this.keys.length
    try {
      for (const op of ops) {
        checkVersion(op.versionId)
        this.windows.push(f.windowOf(op.versionId))
        rowImageParts(op.row)
        this.keys.push(op.rowKey)
        this.versions.push(op.versionId)
        this.hashes.push(rowHashHigh, rowHashLow)
      }
    } catch (e) {
      this.truncate(from)
      throw e
    }
    for (const op of ops) if (!f.hasTable(op.tableId)) this.newTables.add(op.tableId)
  }

  /** Stage leaves; every one is checked first (SB_BAD_ARGUMENT, SB_UUID_INVALID) and on an error none is staged. */
  addAll (leaves: readonly StagedLeaf[]): void {
    const windows = leaves.map(l => {
      checkLeaf(l.key, l.version, l.rowHash)
      return this.forest.windowOf(l.version)
    })
    for (let i = 0; i < leaves.length; i++) {
      const l = leaves[i]!
      if (!this.forest.hasTable(l.tableId)) this.newTables.add(l.tableId)
      this.windows.push(windows[i]!)
      this.keys.push(rowKeyOfLeafKey(l.key))
      this.versions.push(l.version)
      this.hashes.push(Number(l.rowHash >> 32n), Number(l.rowHash & 0xffff_ffffn))
    }
  }

  private truncate (n: number): void {
    this.keys.length = n
    this.versions.length = n
    this.windows.length = n
    this.hashes.length = 2 * n
  }

  /** The ops for the batch and the commit for after it landed. Loads (or rebuilds) the sealed trees late leaves go into. */
  async finish (): Promise<ForestWrite> {
    const f = this.forest
    const ops: KvOp[] = []
    const commits: Array<() => void> = []
    if (this.newTables.size > 0) {
      for (const t of this.newTables) ops.push({ type: 'put', key: merkleTableKey(t), value: new Uint8Array(0) })
      const tables = [...this.newTables]
      commits.push(() => f.noteTables(tables))
    }
    // Leaves per window (a pass nearly always has one window: the hour it runs in).
    const byWindow = new Map<number, number[]>()
    for (let i = 0; i < this.windows.length; i++) {
      const w = this.windows[i]!
      let list = byWindow.get(w)
      if (list === undefined) byWindow.set(w, list = [])
      list.push(i)
    }
    const { keys, versions, hashes } = this
    for (const [w, idx] of [...byWindow].sort((a, b) => a[0] - b[0])) {
      if (f.isSealed(w)) {
        // A late write into a sealed window (hint, repair, healed partition): rare, so the simple way.
        const loaded = await f.loadSealed(w)
        f.uncache(w)
        const tree = loaded.tree
        let changed = 0
        for (const i of idx) {
          const key = leafKeyOfRowKey(keys[i]!)
          const prev = tree.get(key)
          if (prev !== undefined && compareVersionIds(versions[i]!, prev.version) <= 0) continue
          tree.set(key, versions[i]!, (BigInt(hashes[2 * i]!) << 32n) | BigInt(hashes[2 * i + 1]!))
          changed++
        }
        if (changed === 0 && !loaded.rebuilt) continue
        const encoded = encodeTree(tree)
        ops.push(...sealedOps(w, tree, encoded))
        commits.push(() => f.noteSealed(w, tree, encoded.length, changed, loaded.rebuilt))
        continue
      }
      const key = merkleLeafKey(w, f.nextRecordSeq())
      const value = encodeLeafParts(idx, keys, ROW_PREFIX_BYTES, versions, hashes)
      ops.push({ type: 'put', key, value })
      commits.push(() => {
        const tree = f.activeTreeFor(w)
        for (const i of idx) tree.setIfNewer(keys[i]!, versions[i]!, hashes[2 * i]!, hashes[2 * i + 1]!, ROW_PREFIX_BYTES)
        f.noteRecord(w, { key, bytes: key.length + value.length })
      })
    }
    return { ops, commit: () => { for (const c of commits) c() } }
  }
}
