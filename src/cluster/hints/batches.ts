import type { ReplicaWrite } from '../../storage/engine'
import { decodeTuple, encodeTuple } from '../../storage/keys'
import type { Xid } from '../../storage/types'
import type { Hint, StoredHint } from '../../storage/hint-store'
import type { NodeId, ShardId } from '../../core/ids'

// Between quorum batches and hint records (DESIGN §6 Mode 3 "Hints"), pure: a shard batch a
// replica did not acknowledge becomes one hint per row for that replica (hints never count toward
// W), and a delivery batch read back from the store goes out again as one REPLICA_APPLY per
// (shard, xid) — the replica records each coordinator xid committed in its TIP, so rows of
// different statements are not merged under one xid. Applying is idempotent (same version = ack),
// so a delivery that fails halfway is simply delivered again.

/** The rows of one shard batch under one coordinator xid. */
export interface HintedBatch {
  readonly shard: ShardId
  readonly xid: Xid
  readonly writes: readonly ReplicaWrite[]
}

/** One hint per row of `batch` for replica `target`, stamped `createdAtMs` (wall clock: expiry). */
export function hintsOf (target: NodeId, batch: HintedBatch, createdAtMs: number): Hint[] {
  return batch.writes.map(w => ({
    target,
    shard: batch.shard,
    tableId: w.tableId,
    key: w.pkBytes ?? encodeTuple(w.pk),
    xid: batch.xid,
    versionId: w.versionId,
    row: w.row,
    createdAtMs
  }))
}

/**
 * The REPLICA_APPLY batches delivering `hints` (one target's): one per (shard, xid), in order of
 * first appearance. `homeShard`: the shard a row's key belongs in now — a hint stored under a
 * parent shard before a split is delivered to the shard its key moved to (cluster/shard-split.ts
 * "hints"); undefined from it (or no function): the shard the hint was stored under.
 */
export function deliveryBatches (hints: readonly StoredHint[], homeShard?: (tableId: number, key: Uint8Array) => ShardId | undefined): HintedBatch[] {
  const groups = new Map<string, { shard: ShardId, xid: Xid, writes: ReplicaWrite[] }>()
  for (const h of hints) {
    const shard = homeShard?.(h.tableId, h.key) ?? h.shard
    const k = `${shard}/${h.xid}`
    const w: ReplicaWrite = { tableId: h.tableId, pk: decodeTuple(h.key), pkBytes: h.key, versionId: h.versionId, row: h.row }
    const g = groups.get(k)
    if (g === undefined) groups.set(k, { shard, xid: h.xid, writes: [w] })
    else g.writes.push(w)
  }
  return [...groups.values()]
}
