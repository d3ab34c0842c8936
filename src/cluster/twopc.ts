import { ScratchBirdError } from '../core/errors'
import type { HlcTs, Xid } from '../storage/types'

// Two-phase commit across shards (DESIGN §6 "Transactions across shards"): presumed abort with a
// durable coordinator decision record.
//   1. PREPARE every participant shard (each moves the transaction to limbo: durable, invisible);
//   2. write the decision record — the commit point: once it is durable the transaction commits,
//      whatever crashes next;
//   3. COMMIT PREPARED every participant, then drop the decision record.
// Any failure before step 2 aborts every participant. No record is ever written for an abort:
// after a crash, a limbo transaction without a decision record is aborted (presumed abort).
// The decision record lives in a reserved system table on a shard derived from the xid alone, so
// recovery finds it from a limbo entry without knowing the other participants.
//
// This module is the protocol; `TwoPhaseIo` is the thin I/O shell (shard workers on one node
// now, cluster RPC to other nodes later), so the same logic runs in the simulator.

/** Reserved table id of the decision records (user tables are allocated far below it). */
export const DECISION_TABLE_ID = 0xfffffff0

export function decisionShard (xid: Xid, shards: number): number {
  return Number(xid % BigInt(shards))
}

export function encodeDecision (commitHlc: HlcTs): Uint8Array {
  const b = new Uint8Array(9)
  b[0] = 1 // format 1: commit
  new DataView(b.buffer).setBigUint64(1, commitHlc, false)
  return b
}

export function decodeDecision (b: Uint8Array): HlcTs {
  if (b.length !== 9 || b[0] !== 1) throw new ScratchBirdError('SB_STORAGE_CORRUPT', '2PC decision record is unreadable', { bytes: b.length })
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(1, false)
}

export interface TwoPhaseIo {
  prepare (shard: number, xid: Xid): Promise<void>
  commitPrepared (shard: number, xid: Xid, commitHlc: HlcTs): Promise<void>
  abortPrepared (shard: number, xid: Xid): Promise<void>
  /** Roll back a participant that was never prepared. */
  rollback (shard: number, xid: Xid): Promise<void>
  /** Durably records "xid committed at commitHlc" (the commit point). */
  writeDecision (xid: Xid, commitHlc: HlcTs): Promise<void>
  readDecision (xid: Xid): Promise<HlcTs | null>
  dropDecision (xid: Xid): Promise<void>
  listLimbo (shard: number): Promise<Xid[]>
}

export type TwoPhaseOutcome = { committed: true, commitHlc: HlcTs } | { committed: false, error: unknown }

/**
 * Commits `xid` on `shards` atomically. Resolves `committed: false` (everything rolled back) when
 * a participant cannot prepare or the decision cannot be written; after the decision, a failing
 * COMMIT PREPARED is retried by recovery, so the outcome is still `committed: true`.
 */
export async function commitTwoPhase (io: TwoPhaseIo, xid: Xid, shards: readonly number[], commitHlc: () => HlcTs): Promise<TwoPhaseOutcome> {
  const prepared: number[] = []
  const results = await Promise.allSettled(shards.map(async s => { await io.prepare(s, xid); prepared.push(s) }))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  let hlc: HlcTs | undefined
  if (!failed) {
    try {
      hlc = commitHlc()
      await io.writeDecision(xid, hlc)
    } catch (e) {
      await abortAll(io, xid, shards, prepared)
      return { committed: false, error: e }
    }
  } else {
    await abortAll(io, xid, shards, prepared)
    return { committed: false, error: failed.reason }
  }
  const commits = await Promise.allSettled(shards.map(s => io.commitPrepared(s, xid, hlc)))
  // A participant that missed COMMIT PREPARED stays in limbo; recovery finishes it from the record.
  if (commits.every(c => c.status === 'fulfilled')) await io.dropDecision(xid).catch(() => {})
  return { committed: true, commitHlc: hlc }
}

async function abortAll (io: TwoPhaseIo, xid: Xid, shards: readonly number[], prepared: readonly number[]): Promise<void> {
  await Promise.allSettled(shards.map(s => prepared.includes(s) ? io.abortPrepared(s, xid) : io.rollback(s, xid)))
}

export interface RecoveryReport { committed: number, aborted: number, failed: number }

/**
 * Resolves every limbo transaction on `shards` by its decision record (presumed abort). Run at
 * start, before the node serves: no coordinator of this node is running then.
 */
export async function recoverLimbo (io: TwoPhaseIo, shards: readonly number[]): Promise<RecoveryReport> {
  const report: RecoveryReport = { committed: 0, aborted: 0, failed: 0 }
  const decided = new Set<Xid>()
  for (const shard of shards) {
    for (const xid of await io.listLimbo(shard)) {
      try {
        const hlc = await io.readDecision(xid)
        if (hlc === null) {
          await io.abortPrepared(shard, xid)
          report.aborted++
        } else {
          await io.commitPrepared(shard, xid, hlc)
          decided.add(xid)
          report.committed++
        }
      } catch {
        report.failed++
      }
    }
  }
  if (report.failed === 0) for (const xid of decided) await io.dropDecision(xid).catch(() => {})
  return report
}
