import { ScratchBirdError } from '../../core/errors'
import { diffLeaves, MERKLE_BUCKETS, type LeafDiff, type MerkleLeaf } from '../../storage/merkle/tree'
import { hlcTs, type HlcTs } from '../../storage/types'

// The decisions of a Mode 1 (primary/replica) verification round (DESIGN §6 "Anti-entropy",
// issue 15 item 6), without I/O. The primary compares its stored rows with one voter's at a
// snapshot point both hold in full: now minus the voter's replication lag and a margin, so every
// entry committed before it has been applied there. Leaves are built from the stored rows
// (storage/merkle/mode1-scan.ts). The primary's committed data is the truth: a differing key is a
// divergence of the replica — unless either side has committed a newer version of it since the
// snapshot, in which case the difference may be a write still travelling and the key is left to
// a later round.

/** Added to a voter's lag when choosing the snapshot point: apply jitter, clock offset between the HLCs. */
export const MODE1_SNAPSHOT_MARGIN_MS = 2_000

/** The snapshot HLC of a round with a voter `lagMs` behind, at wall time `nowMs` (both ms). */
export function mode1SnapshotHlc (nowMs: number, lagMs: number, marginMs = MODE1_SNAPSHOT_MARGIN_MS): HlcTs {
  if (!Number.isFinite(nowMs) || !Number.isFinite(lagMs) || lagMs < 0 || marginMs < 0) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `Mode 1 snapshot point: now ${nowMs}, lag ${lagMs}, margin ${marginMs}`)
  }
  return hlcTs(Math.max(0, Math.floor(nowMs - lagMs - marginMs)))
}

/** The buckets whose hashes differ between the primary's and the replica's trees, ascending; a malformed list is SB_BAD_ARGUMENT. */
export function mode1DivergedBuckets (primary: readonly bigint[], replica: readonly bigint[]): number[] {
  for (const side of [primary, replica]) {
    if (!Array.isArray(side) || side.length !== MERKLE_BUCKETS) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `Mode 1 verification: ${Array.isArray(side) ? side.length : typeof side} bucket hashes, expected ${MERKLE_BUCKETS}`)
    }
  }
  const out: number[] = []
  for (let b = 0; b < MERKLE_BUCKETS; b++) if (primary[b] !== replica[b]) out.push(b)
  return out
}

export interface Mode1Side {
  readonly leaves: readonly MerkleLeaf[]
  /** Leaf keys whose latest committed version is at or after the snapshot (mode1-scan.ts `recent`). */
  readonly recent: readonly Uint8Array[]
}

export interface Mode1Verdict {
  /** Keys where the replica does not hold the primary's committed version: `mine` is the primary's leaf (null: none, the row is deleted), `theirs` the replica's. */
  readonly diverged: LeafDiff[]
  /** Differing keys written since the snapshot on either side: left to a later round. */
  readonly deferred: Uint8Array[]
}

function keyId (k: Uint8Array): string { return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1') }

/** Compares the leaves of the same buckets on the primary and on the replica (see the top). */
export function judgeMode1Leaves (primary: Mode1Side, replica: Mode1Side): Mode1Verdict {
  const recent = new Set<string>()
  for (const side of [primary, replica]) {
    if (!Array.isArray(side.recent)) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'Mode 1 verification: recent keys are not a list')
    for (const k of side.recent) {
      if (!(k instanceof Uint8Array)) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'Mode 1 verification: a recent key is not bytes')
      recent.add(keyId(k))
    }
  }
  const diverged: LeafDiff[] = []
  const deferred: Uint8Array[] = []
  for (const d of diffLeaves(primary.leaves, replica.leaves)) {
    if (recent.has(keyId(d.key))) deferred.push(d.key)
    else diverged.push(d)
  }
  return { diverged, deferred }
}

/**
 * Drill-down scheduling: asks `ask` for the leaves of `buckets` in groups of `groupSize`; a group
 * whose leaves overflow one reply ('too-many') is asked again as two halves; a single bucket that
 * still overflows cannot be drilled into and is counted. Answers that count (the round treats it
 * as a difference it cannot repair in place).
 */
export async function drillBuckets (buckets: readonly number[], groupSize: number, ask: (group: number[]) => Promise<'ok' | 'too-many'>): Promise<number> {
  const groups: number[][] = []
  for (let i = 0; i < buckets.length; i += groupSize) groups.push(buckets.slice(i, i + groupSize))
  let overflowing = 0
  for (let group = groups.shift(); group !== undefined; group = groups.shift()) {
    if (await ask(group) === 'ok') continue
    if (group.length > 1) groups.unshift(group.slice(0, group.length >> 1), group.slice(group.length >> 1))
    else overflowing++
  }
  return overflowing
}

/** Seeds (Phase 4): anti-entropy overhead < 2 % — a Mode 1 round scans every row of the shard's primary_replica tables on both sides. */
export const MODE1_MAX_BUSY_SHARE = 0.02

/**
 * May a shard's next Mode 1 round start `sinceLastStartMs` after the last one began? Every
 * `intervalMs`, but a round that took `lastRoundMs` (its scans are ∝ the shard's rows, not the
 * differences) holds the next back until it was at most MODE1_MAX_BUSY_SHARE of the time since;
 * a forced round (REPAIR TABLE / SHARD) starts at once.
 */
/**
 * The start a new turn of shard `shard` of `shards` counts its interval from (mode1RoundDue): its
 * first round comes (shard + 1) / shards of the interval after `now`, so the shards a node starts
 * leading together (a start, a failover, a join's move) are verified spread over one interval, not
 * all at once — a round hashes every row of its shard on both sides.
 */
export function mode1FirstStart (now: number, intervalMs: number, shard: number, shards: number): number {
  const share = (shard + 1) / Math.max(shard + 1, shards)
  return now - intervalMs * (1 - share)
}

export function mode1RoundDue (sinceLastStartMs: number | null, lastRoundMs: number, intervalMs: number, forced: boolean): boolean {
  if (forced || sinceLastStartMs === null) return true
  return sinceLastStartMs >= Math.max(intervalMs, lastRoundMs / MODE1_MAX_BUSY_SHARE)
}
