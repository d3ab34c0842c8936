import type { NodeId, ShardId } from '../../core/ids'
import type { LwwOutcome } from '../../storage/row-write'
import type { MerkleLeaf } from '../../storage/merkle/tree'
import type { VersionId } from '../../storage/types'

// The I/O vocabulary of one anti-entropy repair round (DESIGN §6 "Anti-entropy"). The round
// machine (round.ts) emits requests addressed to a side — this node's replica of the shard
// ('local', a shard op over the rings) or the peer's ('peer', the same op over cluster RPC) —
// and consumes their replies. Each request maps one for one onto a shard op:
//
//   request   shard op          reply
//   roots     MERKLE_ROOTS      every window the replica has: window, sealed, root, leaf count
//   buckets   MERKLE_BUCKETS    the MERKLE_BUCKETS bucket hashes of one window (all 0 if unknown)
//   leaves    MERKLE_LEAVES     the leaves of some buckets of one window, bounded, `more` when cut
//   adopt     MERKLE_ADOPT      per leaf: recorded (the replica holds that version or a newer
//                               one of the key) or needsData (it holds an older one or none)
//   read      REPLICA_READ      per key: the latest committed version (row or tombstone) or null
//   apply     REPLICA_APPLY     per version: LWW outcome (newer written, same/older kept)
//
// Keys are row keys (storage/keys.ts rowKey: table id + encoded primary key), what a Merkle leaf
// holds; the shell decodes them (decodeRowKey) to group a read or an apply by table.
//
// `leaves` with `more`: the replica walks the requested buckets in ascending order and stops at
// its count/bytes bound; the last bucket present in a cut reply may be partial, every requested
// bucket below it is complete. The machine asks again from that bucket on.

export type Side = 'local' | 'peer'

/** One window of a replica's forest, as MERKLE_ROOTS lists it. */
export interface WindowRoot {
  readonly window: number
  readonly sealed: boolean
  /** u64 root hash; 0 for an empty window. */
  readonly root: bigint
  readonly leaves: number
}

/** A version shipped by a repair: the row key, its version id and image (null: tombstone). */
export interface RepairVersion {
  readonly key: Uint8Array
  readonly versionId: VersionId
  readonly row: Uint8Array | null
}

export type AeRequestBody =
  | { readonly op: 'roots' }
  | { readonly op: 'buckets', readonly window: number }
  | { readonly op: 'leaves', readonly window: number, readonly buckets: readonly number[] }
  | { readonly op: 'adopt', readonly leaves: readonly MerkleLeaf[] }
  | { readonly op: 'read', readonly keys: readonly Uint8Array[] }
  | { readonly op: 'apply', readonly versions: readonly RepairVersion[] }

/** A request the shell carries out; `id` is unique within the round. */
export type AeRequest = AeRequestBody & { readonly id: number, readonly side: Side }

export type AeReply =
  | { readonly op: 'roots', readonly windows: readonly WindowRoot[] }
  | { readonly op: 'buckets', readonly hashes: readonly bigint[] }
  | { readonly op: 'leaves', readonly leaves: readonly MerkleLeaf[], readonly more: boolean }
  /** One flag per requested leaf, in request order. */
  | { readonly op: 'adopt', readonly needsData: readonly boolean[] }
  /** One entry per requested key, in request order; null: no committed version. */
  | { readonly op: 'read', readonly versions: ReadonlyArray<{ readonly versionId: VersionId, readonly row: Uint8Array | null } | null> }
  /** One outcome per shipped version, in request order. */
  | { readonly op: 'apply', readonly applied: readonly LwwOutcome[] }

/** Why a round stopped before comparing everything. */
export type AbortReason =
  /** Gossip marked the peer down, or the shell could not reach it. */
  | 'peer-down'
  /** A request got no reply within requestTimeoutMs. */
  | 'timeout'
  /** The round reached one of its budgets (leaves, bytes, time). */
  | 'budget'
  /** The peer's or the local replica's op failed. */
  | 'peer-error'
  /**
   * The peer keeps no Merkle forest (anti_entropy.enabled false there: SB_FEATURE_NOT_SUPPORTED):
   * no round with it can complete, so leaderless tombstones of the shard are not purged (and a
   * stale replica of it does not serve again) until it is enabled or the peer leaves the shard.
   */
  | 'peer-disabled'
  | 'local-error'
  /** A reply was not well-formed (SB_RPC_MALFORMED); nothing of it was used. */
  | 'bad-reply'
  /** One bucket holds more leaves than one MERKLE_LEAVES reply carries. */
  | 'bucket-too-large'
  /** The shell stopped it (shutdown, shard moved). */
  | 'cancelled'

/** What one window of a round came to. */
export interface WindowReport {
  readonly window: number
  /** Keys whose newer leaf is younger than the in-flight tolerance: left alone. */
  readonly inFlight: number
  /** Versions written by REPLICA_APPLY as newer (both sides together). */
  readonly rowsRepaired: number
  /** Leaves recorded by MERKLE_ADOPT (history the lagging side had superseded). */
  readonly leavesAdopted: number
  /** Same version id with different row hashes: one copy is damaged; LWW cannot say which. */
  readonly conflicts: number
  /** Keys the holder could not supply (no version, or an older one than its leaf). */
  readonly unrepairable: number
}

export interface RoundResult {
  readonly shard: ShardId
  readonly peer: NodeId
  /** completed: every window was compared and every divergent one walked through. */
  readonly outcome: 'completed' | 'aborted'
  readonly reason: AbortReason | undefined
  readonly error: unknown
  /** Wall-clock ms when the round took its first roots (the snapshot it compared). */
  readonly startedAtMs: number
  readonly finishedAtMs: number
  /**
   * Completed with nothing left unresolved (no conflict, nothing unrepairable): every version
   * either side held with a timestamp below this is held, or superseded, on the other side too.
   * = round start − in-flight tolerance. null otherwise. Tombstone purge reads this.
   */
  readonly verifiedThroughMs: number | null
  /** Windows either replica listed (all of them are compared by root). */
  readonly windowsCompared: number
  /** Windows with a difference to repair or a conflict (differences only in flight do not count). */
  readonly windowsDiverged: number
  readonly rowsRepaired: number
  readonly windows: readonly WindowReport[]
  /** Bytes to and from the peer (estimated from the payloads: keys, hashes, ids, rows). */
  readonly bytesExchanged: number
  readonly leavesExchanged: number
  /** Time its requests were outstanding (or the cost the shell measured): the duty cycle's numerator. */
  readonly busyMs: number
  /** Highest window fully walked; the next round with this peer starts after it (budget rotation). */
  readonly lastWindow: number | undefined
}

export type AeEvent =
  | { readonly type: 'window-diverged', readonly shard: ShardId, readonly peer: NodeId, readonly window: number }
  | { readonly type: 'window-repaired', readonly shard: ShardId, readonly peer: NodeId, readonly report: WindowReport }
  | { readonly type: 'round-finished', readonly result: RoundResult }
