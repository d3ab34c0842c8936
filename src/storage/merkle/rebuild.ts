import { BACK_SPACE, decodeRowKey, ROW_SPACE } from '../keys'
import type { KvStore } from '../kv'
import { compareVersionIds } from '../lww'
import { decodeVersion } from '../versions'
import { leafKeyOfRowKey } from './leaf-key'
import { MerkleTree, rowImageHash } from './tree'
import { windowOf } from './window'

// Rebuilding windows of the Merkle forest from the shard's rows (DESIGN §6 "Anti-entropy": "rebuilt
// from the data if its files are missing or corrupt"). The forest is derived data: every version
// the shard still holds — primary (r/) and back versions (b/) — of the tables that have leaves
// gives a leaf in its version id's window, the highest per key and window, as the write path would
// have put it. Only stamped versions count (committed in their writing batch: every leaderless
// write is); a multi-statement transaction's versions are not leaves.
//
// What the rows no longer hold cannot come back: history the sweep removed (a superseded version
// below the horizon) is missing from the rebuilt window, which then differs from its peers' — the
// repair round's MERKLE_ADOPT puts those leaves back without moving any data, since this replica
// holds a newer version of each such key.

/** Back-version key suffix: UUID tag + 16-byte version id (keys.ts backKey). */
const BACK_SUFFIX = 17

/**
 * The trees of the windows `want` accepts, rebuilt from every row version of `tables`. Versions
 * that do not decode, or whose id is not a UUIDv8-HLC/v7, are skipped and counted.
 */
export async function rebuildWindows (kv: KvStore, tables: ReadonlySet<number>, windowMs: number,
  want: (window: number) => boolean): Promise<{ trees: Map<number, MerkleTree>, skipped: number }> {
  const trees = new Map<number, MerkleTree>()
  let skipped = 0
  if (tables.size === 0) return { trees, skipped }
  for (const space of [ROW_SPACE, BACK_SPACE]) {
    const back = space === BACK_SPACE
    for await (const [k, v] of kv.iterate({ gte: space.gte, lt: space.lt })) {
      let rowKey = k
      if (back) {
        if (k.length <= BACK_SUFFIX + 2) { skipped++; continue }
        rowKey = k.slice(0, k.length - BACK_SUFFIX)
        rowKey[0] = ROW_SPACE.gte[0]!
      }
      let tableId: number
      let window: number
      let leaf: { version: Uint8Array, rowHash: bigint }
      try {
        tableId = decodeRowKey(rowKey).tableId
        if (!tables.has(tableId)) continue
        const rv = decodeVersion(v)
        if (rv.commitHlc === undefined) continue
        window = windowOf(rv.versionId, windowMs)
        leaf = { version: rv.versionId.slice(), rowHash: rowImageHash(rv.tombstone ? null : rv.row) }
      } catch {
        skipped++
        continue
      }
      if (!want(window)) continue
      const key = leafKeyOfRowKey(rowKey)
      let tree = trees.get(window)
      if (tree === undefined) trees.set(window, tree = new MerkleTree())
      const prev = tree.get(key)
      if (prev === undefined || compareVersionIds(leaf.version, prev.version) > 0) tree.set(key, leaf.version, leaf.rowHash)
    }
  }
  return { trees, skipped }
}
