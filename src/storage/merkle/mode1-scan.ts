import { ScratchBirdError } from '../../core/errors'
import type { KvStore } from '../kv'
import { rowScanRange } from '../keys'
import type { Tip } from '../tip'
import type { HlcTs } from '../types'
import { NO_XID, READ_COMMITTED_VIEWER, readVisible, type Viewer } from '../visibility'
import type { RecordVersion } from '../versions'
import { leafKeyOfRowKey } from './leaf-key'
import { bucketOf, MERKLE_BUCKETS, MerkleTree, rowImageHash, type MerkleLeaf } from './tree'

// Mode 1 verification (DESIGN §6 "Anti-entropy", issue 15 item 6): a primary/replica shard's
// replicas apply the primary's commit log, so leaves kept on the write path would be the same on
// every replica whatever the stored bytes are — they could never see silent corruption or an
// apply bug. So the leaves here come from the stored rows themselves, read at a snapshot HLC with
// MGA visibility: a leaf is (leaf key, version id of the latest committed version visible at the
// snapshot, xxhash64 of its stored image); a row deleted (or absent) at the snapshot has no leaf.
// Two replicas that hold the same committed history below the snapshot build the same tree.

/** Leaves one MODE1_VERIFY leaves reply holds at most, whatever the request asks (buckets come whole). */
export const MAX_MODE1_LEAVES = 10_000

export interface Mode1ScanRequest {
  readonly tableIds: readonly number[]
  readonly snapshotHlc: HlcTs
  /** null: the bucket hashes of the whole tree; else the leaves of these buckets. */
  readonly buckets: readonly number[] | null
}

export interface Mode1ScanResult {
  /** MERKLE_BUCKETS hashes (empty when leaves were asked for). */
  readonly hashes: bigint[]
  /** The leaves of the requested buckets (empty when hashes were asked for). */
  readonly leaves: MerkleLeaf[]
  /**
   * Leaf keys in the requested buckets whose latest committed version (a tombstone included) is
   * at or after the snapshot: a difference there may be a write in flight, not a divergence.
   */
  readonly recent: Uint8Array[]
}

function badArg (why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', `MODE1_VERIFY: ${why}`)
}

async function commitHlcOf (tip: Tip, v: RecordVersion): Promise<HlcTs | undefined> {
  if (v.commitHlc !== undefined) return v.commitHlc
  const e = await tip.get(v.xid)
  return e.state === 'committed' ? e.commitHlc : undefined
}

/** Scans `tableIds`' stored rows at the snapshot (see the top); throws SB_BAD_ARGUMENT for a bad bucket or table list. */
export async function mode1Scan (kv: KvStore, tip: Tip, req: Mode1ScanRequest, moved?: (key: Uint8Array) => boolean): Promise<Mode1ScanResult> {
  if (req.tableIds.length === 0 || req.tableIds.length > 4096) throw badArg(`${req.tableIds.length} tables (1…4096 expected)`)
  let wanted: Set<number> | null = null
  if (req.buckets !== null) {
    wanted = new Set()
    for (const b of req.buckets) {
      if (!Number.isInteger(b) || b < 0 || b >= MERKLE_BUCKETS) throw badArg(`bucket ${b} is outside 0…${MERKLE_BUCKETS - 1}`)
      wanted.add(b)
    }
  }
  const atSnapshot: Viewer = { xid: NO_XID, snapshot: true, startHlc: req.snapshotHlc }
  const tree = new MerkleTree()
  const recent: Uint8Array[] = []
  for (const tableId of [...new Set(req.tableIds)].sort((a, b) => a - b)) {
    for await (const [k, val] of kv.iterate({ ...rowScanRange(tableId, {}), reverse: false })) {
      // A split's leftover: replicas clean at their own pace, so it is compared in the child only.
      if (moved?.(k) === true) continue
      const leafKey = leafKeyOfRowKey(k)
      if (wanted !== null && !wanted.has(bucketOf(leafKey))) continue
      const seen = await readVisible(kv, tip, k, val, atSnapshot)
      if (seen !== undefined && !seen.tombstone) tree.set(leafKey, seen.versionId, rowImageHash(seen.row))
      if (wanted === null) continue
      const latest = await readVisible(kv, tip, k, val, READ_COMMITTED_VIEWER)
      const hlc = latest === undefined ? undefined : await commitHlcOf(tip, latest)
      if (hlc !== undefined && hlc >= req.snapshotHlc) recent.push(leafKey.slice())
    }
  }
  if (wanted === null) return { hashes: tree.bucketHashes(), leaves: [], recent }
  const leaves: MerkleLeaf[] = []
  for (const b of [...wanted].sort((a, b) => a - b)) leaves.push(...tree.leavesOf(b))
  if (leaves.length > MAX_MODE1_LEAVES) {
    // `too_many_leaves` tells the caller to ask for fewer buckets (anti-entropy-mode1.ts splits).
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `MODE1_VERIFY: ${leaves.length} leaves in the requested buckets (at most ${MAX_MODE1_LEAVES}: ask for fewer buckets)`, { too_many_leaves: leaves.length })
  }
  return { hashes: [], leaves, recent }
}
