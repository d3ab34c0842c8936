import { compareVersionIds } from '../lww'
import { merkleLeafKey, merkleTableKey } from '../keys'
import type { KvOp } from '../kv'
import type { VersionId } from '../types'
import { encodeTree } from './codec'
import type { ForestWrite, MerkleForest } from './forest'
import { encodeLeafRecord, sealedOps, type SlottedLeaf } from './forest-records'
import { checkLeaf, leafSlot } from './tree'

// One write pass's (or one MERKLE_ADOPT's) additions to the Merkle forest (forest.ts): staged as
// the statements are applied, turned into the batch's ops by finish(), and into memory by the
// commit finish() returns, run once the batch landed.

/** A leaf to add: its table (recorded in m/k/), key, version and row hash. */
export interface StagedLeaf {
  readonly tableId: number
  readonly key: Uint8Array
  readonly version: VersionId
  readonly rowHash: bigint
}

/**
 * The leaves of one write pass (or one MERKLE_ADOPT), highest per window and key, turned into
 * the batch's ops by finish() and into memory by the commit it returns once the batch landed.
 */
export class ForestStage {
  private readonly windows = new Map<number, Map<string, SlottedLeaf>>()
  private readonly newTables = new Set<number>()

  constructor (private readonly forest: MerkleForest) {}

  get empty (): boolean { return this.windows.size === 0 }

  /** Stage leaves; every one is checked first (SB_BAD_ARGUMENT, SB_UUID_INVALID) and on an error none is staged. */
  addAll (leaves: readonly StagedLeaf[]): void {
    const windows = leaves.map(l => {
      checkLeaf(l.key, l.version, l.rowHash)
      return this.forest.windowOf(l.version)
    })
    for (let i = 0; i < leaves.length; i++) {
      const l = leaves[i]!
      if (!this.forest.hasTable(l.tableId)) this.newTables.add(l.tableId)
      let m = this.windows.get(windows[i]!)
      if (m === undefined) this.windows.set(windows[i]!, m = new Map())
      const slot = leafSlot(l.key)
      const prev = m.get(slot.id)
      if (prev === undefined || compareVersionIds(l.version, prev.version) > 0) m.set(slot.id, { key: l.key, version: l.version, rowHash: l.rowHash, slot })
    }
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
    for (const [w, leaves] of [...this.windows].sort((a, b) => a[0] - b[0])) {
      if (f.isSealed(w)) {
        const loaded = await f.loadSealed(w)
        f.uncache(w)
        const tree = loaded.tree
        let changed = 0
        for (const l of leaves.values()) {
          const prev = tree.get(l.key)
          if (prev !== undefined && compareVersionIds(l.version, prev.version) <= 0) continue
          tree.set(l.key, l.version, l.rowHash)
          changed++
        }
        if (changed === 0 && !loaded.rebuilt) continue
        const encoded = encodeTree(tree)
        ops.push(...sealedOps(w, tree, encoded))
        commits.push(() => f.noteSealed(w, tree, encoded.length, changed, loaded.rebuilt))
        continue
      }
      const tree = f.activeTree(w)
      const fresh: SlottedLeaf[] = []
      for (const l of leaves.values()) if (tree === undefined || tree.isNewerAt(l.slot, l.version)) fresh.push(l)
      if (fresh.length === 0) continue
      const key = merkleLeafKey(w, f.nextRecordSeq())
      const value = encodeLeafRecord(fresh)
      ops.push({ type: 'put', key, value })
      commits.push(() => f.noteActive(w, fresh, { key, bytes: key.length + value.length }))
    }
    return { ops, commit: () => { for (const c of commits) c() } }
  }
}
