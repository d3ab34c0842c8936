// Purging the storage of dropped relations (issue 17): the rows, back versions and Merkle leaves
// of table and index ids the catalog no longer holds (DROP TABLE, DROP INDEX, the relations a
// table move retired). The catalog never reuses an id (nextTableId only grows), so nothing can
// ever read or write these keys again as another relation's: deleting them changes no answer.
// Which ids are dropped, and when no reader can still see them, is the caller's (node/sweeper.ts
// with catalog/dropped-relations.ts); this only deletes.
//
// Where the keys are: a relation's rows are one contiguous range r/<id>…, its back versions
// b/<id>… (storage/keys.ts), so the purge skips from relation to relation (one seek each) and
// deletes a dropped one's range in chunks of PURGE_CHUNK_KEYS, each an exclusive writer job
// followed by the queued writes — the sweep's rhythm, never a long exclusive section. Index
// entries are rows of the index's own relation id, so an index goes the same way. The Merkle
// forest's leaves of the relations go after the rows, one window per exclusive job, then the
// forest forgets the relations (m/k/): a crash anywhere leaves either rows still to delete or a
// relation the forest still lists, and the next purge finds and finishes either — the purge is
// idempotent and keeps no state of its own. Rows that arrive for a dropped relation after its
// purge (a Mode 1 log entry applied late, a hint, a restore replaying a log) are found by the
// next one the same way.

import { BACK_SPACE, decodeRowKey, encodeTupleWith, KEY_END, ROW_SPACE } from './keys'
import type { KvOp, KvStore } from './kv'
import type { ForestWrite, MerkleForest } from './merkle/forest'

/** Keys one purge step deletes before letting queued writes run. */
export const PURGE_CHUNK_KEYS = 512
const MAX_TABLE_ID = 0xffffffff

/** What one purge removed of one dropped relation on this shard replica. */
export interface RelationPurge {
  readonly tableId: number
  /** Primary record versions (r/): rows, tombstones, index entries. */
  rows: number
  backVersions: number
  /** Merkle forest leaves (leaderless relations). */
  leaves: number
}

export interface PurgeHost {
  readonly kv: KvStore
  /** Run `fn` as an exclusive writer job. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  /** The shard's forest, when it keeps one. */
  readonly forest: MerkleForest | undefined
  /** Land a forest change (its batch, then its in-memory commit). */
  land (w: ForestWrite): Promise<void>
}

/** `r/<id>` or `b/<id>`: the prefix of every key of relation `id` in that space. */
function spacePrefix (space: typeof ROW_SPACE, id: number): Uint8Array {
  return encodeTupleWith(space.gte, [BigInt(id)])
}

/** The relation id of a key of r/ or b/ (same layout after the space letter). */
function relationOf (key: Uint8Array): number {
  if (key[0] === ROW_SPACE.gte[0]) return decodeRowKey(key).tableId
  const asRow = key.slice()
  asRow[0] = ROW_SPACE.gte[0]!
  return decodeRowKey(asRow).tableId
}

async function firstKey (kv: KvStore, gte: Uint8Array, lt: Uint8Array): Promise<Uint8Array | undefined> {
  let first: Uint8Array | undefined
  for await (const [k] of kv.iterate({ gte, lt, limit: 1 })) first = k
  return first
}

/** Delete every key starting with `prefix`, PURGE_CHUNK_KEYS per exclusive job; the count deleted. */
async function deleteRange (host: PurgeHost, prefix: Uint8Array): Promise<number> {
  // Every key of the relation extends the prefix with a tag below KEY_END (prefixRange's "last
  // byte + 1" would wrap on an id whose encoding ends in 0xff).
  const range = { gte: prefix, lt: Uint8Array.from([...prefix, KEY_END]) }
  let total = 0
  for (;;) {
    const n = await host.exclusive(async () => {
      const ops: KvOp[] = []
      for await (const [k] of host.kv.iterate({ ...range, limit: PURGE_CHUNK_KEYS })) ops.push({ type: 'del', key: k })
      if (ops.length > 0) await host.kv.batch(ops, { sync: false })
      return ops.length
    })
    total += n
    if (n < PURGE_CHUNK_KEYS) return total
  }
}

/** The relation ids with a key in r/ or b/ of this store (one seek per relation). */
export async function relationsPresent (kv: KvStore): Promise<Set<number>> {
  const ids = new Set<number>()
  for (const space of [ROW_SPACE, BACK_SPACE]) {
    let from = space.gte
    for (;;) {
      const k = await firstKey(kv, from, space.lt)
      if (k === undefined) break
      const id = relationOf(k)
      ids.add(id)
      if (id >= MAX_TABLE_ID) break
      from = spacePrefix(space, id + 1)
    }
  }
  return ids
}

/**
 * Delete the rows, back versions and forest leaves of the relations in `dropped` held by this
 * shard replica. Returns one entry per relation that had anything here (none: nothing to do).
 */
export async function purgeRelations (host: PurgeHost, dropped: ReadonlySet<number>): Promise<RelationPurge[]> {
  const out = new Map<number, RelationPurge>()
  const entry = (id: number): RelationPurge => {
    let e = out.get(id)
    if (e === undefined) out.set(id, e = { tableId: id, rows: 0, backVersions: 0, leaves: 0 })
    return e
  }
  if (dropped.size === 0) return []
  for (const space of [ROW_SPACE, BACK_SPACE]) {
    // Skip scan: the first key at or after `from` names a relation present here; a dropped one's
    // range is deleted, then the scan jumps past it.
    let from = space.gte
    for (;;) {
      const k = await firstKey(host.kv, from, space.lt)
      if (k === undefined) break
      const id = relationOf(k)
      if (dropped.has(id)) {
        const n = await deleteRange(host, spacePrefix(space, id))
        if (space === ROW_SPACE) entry(id).rows += n
        else entry(id).backVersions += n
      }
      if (id >= MAX_TABLE_ID) break
      from = spacePrefix(space, id + 1)
    }
  }
  const forest = host.forest
  const withLeaves = forest?.tablesWithLeaves(dropped) ?? new Set<number>()
  if (forest !== undefined && withLeaves.size > 0) {
    for (const { window } of forest.roots()) {
      // Re-read per window inside the job: the window may have been sealed since roots().
      const removed = await host.exclusive(async () => {
        const r = await forest.purgeWindow(window, withLeaves)
        if (r !== undefined) await host.land(r.write)
        return r?.removed
      })
      for (const [id, n] of removed ?? []) entry(id).leaves += n
    }
    await host.exclusive(async () => { await host.land(forest.forgetTables(withLeaves)) })
  }
  return [...out.values()].filter(e => e.rows + e.backVersions + e.leaves > 0).sort((a, b) => a.tableId - b.tableId)
}
