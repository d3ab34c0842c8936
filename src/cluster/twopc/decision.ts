import { isScratchBirdError, ScratchBirdError } from '../../core/errors'
import { asHlcTs, asShardId, type ShardId } from '../../core/ids'
import type { HlcTs, Xid } from '../../storage/types'

// The coordinator's decision record (DESIGN §6 "Transactions across shards"): one row per xid in a
// reserved system table, on a shard derived from the xid alone, so recovery finds it from a limbo
// entry without knowing the other participants or the coordinator.
//
// The record is written with insert-if-absent semantics, which makes its slot a one-shot choice:
//  - format 1, commit at an HLC: the commit point, written only by the coordinator;
//  - format 2, abort: a fence written by limbo recovery (or by a coordinator unsure whether its
//    own commit record landed). Once it is there the coordinator's commit record can no longer
//    appear, so every participant may be aborted. Presumed abort still holds: a transaction
//    aborted in the normal way writes no record at all; fences exist only after failures.

/** Reserved table id of the decision records (user tables are allocated far below it). */
export const DECISION_TABLE_ID = 0xfffffff0

const FORMAT_COMMIT = 1
const FORMAT_ABORT = 2

export type Decision = { readonly outcome: 'commit', readonly commitHlc: HlcTs } | { readonly outcome: 'abort' }

export const ABORT_DECISION: Decision = Object.freeze({ outcome: 'abort' })

export function decisionShard (xid: Xid, shards: number): ShardId {
  return asShardId(Number(xid % BigInt(shards)), shards)
}

export function encodeDecision (d: Decision): Uint8Array {
  if (d.outcome === 'abort') return Uint8Array.of(FORMAT_ABORT)
  const b = new Uint8Array(9)
  b[0] = FORMAT_COMMIT
  new DataView(b.buffer).setBigUint64(1, d.commitHlc, false)
  return b
}

export function decodeDecision (b: Uint8Array): Decision {
  if (b.length === 9 && b[0] === FORMAT_COMMIT) {
    return { outcome: 'commit', commitHlc: asHlcTs(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(1, false)) }
  }
  if (b.length === 1 && b[0] === FORMAT_ABORT) return ABORT_DECISION
  throw new ScratchBirdError('SB_STORAGE_CORRUPT', '2PC decision record is unreadable', { bytes: b.length, format: b[0] ?? null })
}

/**
 * Did writing a decision fail because the slot already holds one (the insert met a live row)?
 * That failure is definite — nothing was written — unlike a lost reply, whose outcome is unknown.
 */
export function decisionSlotTaken (e: unknown): boolean {
  // Rebuilt with its code when it comes from a worker ring or a peer (net/rpc/remote-error.ts).
  return isScratchBirdError(e, 'SB_UNIQUE_VIOLATION')
}
