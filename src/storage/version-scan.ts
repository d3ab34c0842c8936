import { ScratchBirdError } from '../core/errors'
import type { KvStore } from './kv'
import { decodeTuple, rowPrefix, rowScanRange, type Tuple } from './keys'
import type { Tip } from './tip'
import type { HlcTs, VersionId, Xid } from './types'
import { READ_COMMITTED_VIEWER, readVisible } from './visibility'

// A page of a table's rows with their versions, tombstones included (shard op VERSION_SCAN): what a
// move changing a populated table's replication_mode reads (exec/table-move-source.ts). Each key's
// latest committed version with its commit HLC — inline when the version is stamped, else the
// TIP's — because a Mode 1 row's leaderless version is derived from the HLC its transaction
// committed at (not from "now": a later write must still win), and a leaderless key's winner
// across replicas is the highest version id, a tombstone included (a deleted key stays deleted).

/** Rows one VERSION_SCAN page holds at most, whatever the request asks. */
export const MAX_VERSION_SCAN_ROWS = 2_000

export interface VersionScanRow {
  readonly pk: Tuple
  readonly versionId: VersionId
  /** Row image; null: the key's latest committed version is a tombstone. */
  readonly row: Uint8Array | null
  readonly commitHlc: HlcTs
}

/** A VERSION_SCAN row with the xid that wrote its version (SPLIT_SCAN: the child records the version under it). */
export interface SplitScanRow extends VersionScanRow {
  readonly xid: Xid
}

/** Up to `limit` keys of `tableId` after `after` (null: from the first), in key order; `moved`:
 *  keys a split moved away, not this shard's any more (split-cleanup.ts). */
export async function scanVersions (kv: KvStore, tip: Tip, tableId: number, after: Tuple | null, limit: number, moved?: (key: Uint8Array) => boolean): Promise<SplitScanRow[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VERSION_SCAN_ROWS) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `VERSION_SCAN: limit ${limit} is outside 1…${MAX_VERSION_SCAN_ROWS}`)
  }
  if (after !== null && !Array.isArray(after)) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'VERSION_SCAN: after must be a tuple (array) or null')
  const range = rowScanRange(tableId, after === null ? {} : { gt: after })
  const pkOffset = rowPrefix(tableId).length
  const out: SplitScanRow[] = []
  for await (const [k, val] of kv.iterate({ ...range, reverse: false })) {
    if (moved?.(k) === true) continue
    const v = await readVisible(kv, tip, k, val, READ_COMMITTED_VIEWER)
    if (v === undefined) continue
    let commitHlc = v.commitHlc
    if (commitHlc === undefined) {
      const e = await tip.get(v.xid)
      // Visible under read committed: its transaction committed (readVisible looked it up).
      if (e.state !== 'committed' || e.commitHlc === undefined) continue
      commitHlc = e.commitHlc
    }
    out.push({ pk: decodeTuple(k, pkOffset), versionId: v.versionId.slice(), row: v.tombstone ? null : v.row.slice(), commitHlc, xid: v.xid })
    if (out.length >= limit) break
  }
  return out
}
