import { deserialize, serialize } from 'node:v8'
import type { LwwOutcome, ReplicaWrite, ScanOptions, SweepReport, RowWrite, VersionedRow } from '../../storage/engine'
import type { CommitLogEntry } from '../../storage/commit-log'
import type { Tuple, TupleValue } from '../../storage/keys'
import type { HlcTs, Isolation, Xid } from '../../storage/types'
import { ScratchBirdError } from '../../core/errors'
import type { JoinQueryOptions } from '../drivers/join-driver'
import type { QueryOptions } from '../drivers/query-driver'
import {
  decodeAutocommit, decodeAutocommitReply, decodeReplicaApply, decodeReplicaApplyReply, encodeAutocommit, encodeAutocommitReply,
  encodeReplicaApply, encodeReplicaApplyReply
} from './codec'

// The one table of requests the main thread sends a shard worker through the rings (DESIGN §2).
// Frame type = op code; payloads are V8-serialised objects (bigints, Uint8Arrays and nested arrays
// survive, and it is several times faster than JSON with base64 for row images) — except the two
// write paths, AUTOCOMMIT and REPLICA_APPLY, which have a binary codec (shard-codec.ts).

export const SHARD_OPS = {
  PING: { code: 1, synopsis: 'liveness check; answers the worker index and its shards' },
  AUTOCOMMIT: { code: 2, synopsis: 'one statement\'s row writes + TIP commit + commit-log entry in one group-committed batch' },
  BEGIN: { code: 3, synopsis: 'start a transaction (snapshot or read committed) on a shard' },
  GET: { code: 4, synopsis: 'point read with MGA visibility (in a transaction or read committed)' },
  SCAN: { code: 5, synopsis: 'range scan in key order with MGA visibility' },
  WRITE: { code: 6, synopsis: 'row writes inside an open transaction' },
  COMMIT: { code: 7, synopsis: 'commit an open transaction at a commit HLC' },
  ROLLBACK: { code: 8, synopsis: 'roll back an open transaction' },
  PREPARE: { code: 9, synopsis: '2PC: move an open transaction to limbo' },
  COMMIT_PREPARED: { code: 10, synopsis: '2PC: commit a limbo transaction' },
  ABORT_PREPARED: { code: 11, synopsis: '2PC: abort a limbo transaction' },
  LIST_LIMBO: { code: 12, synopsis: '2PC: list limbo transactions' },
  READ_COMMIT_LOG: { code: 13, synopsis: 'commit-log entries from an LSN (streaming, backup, PITR)' },
  SWEEP: { code: 14, synopsis: 'garbage-collect versions below an HLC horizon' },
  STATS: { code: 15, synopsis: 'shard counters: last LSN, HLC high-water mark, open transactions' },
  QUERY: { code: 16, synopsis: 'scan a table running an SBLR program on each visible row (filter, project, partial aggregates)' },
  JOIN_QUERY: { code: 17, synopsis: 'join tables colocated on the join key inside the shard, then run an SBLR program on each joined row as QUERY does' },
  REPLICA_APPLY: { code: 18, synopsis: 'leaderless_quorum replica write: apply versions last-writer-wins (newer written, same/older acknowledged) as one group-committed statement' },
  REPLICA_READ: { code: 19, synopsis: 'leaderless_quorum replica read: latest committed version (id + row, tombstones included) of each key' }
} as const

export type ShardOpName = keyof typeof SHARD_OPS
export const SHARD_OP_BY_CODE: ReadonlyMap<number, ShardOpName> = new Map(
  (Object.keys(SHARD_OPS) as ShardOpName[]).map(name => [SHARD_OPS[name].code, name]))

/** Request payload of each op. Every request names the shard it is for. */
export interface ShardRequests {
  PING: { shard: number }
  AUTOCOMMIT: { shard: number, writes: RowWrite[], commitHlc: HlcTs, xid?: Xid }
  BEGIN: { shard: number, isolation: Isolation, startHlc: HlcTs, xid?: Xid }
  GET: { shard: number, tableId: number, pk: Tuple, xid?: Xid }
  SCAN: { shard: number, tableId: number, options: ScanOptions, xid?: Xid }
  WRITE: { shard: number, xid: Xid, writes: RowWrite[] }
  COMMIT: { shard: number, xid: Xid, commitHlc: HlcTs }
  ROLLBACK: { shard: number, xid: Xid }
  PREPARE: { shard: number, xid: Xid }
  COMMIT_PREPARED: { shard: number, xid: Xid, commitHlc: HlcTs }
  ABORT_PREPARED: { shard: number, xid: Xid }
  LIST_LIMBO: { shard: number }
  READ_COMMIT_LOG: { shard: number, fromLsn: bigint, limit: number }
  SWEEP: { shard: number, horizonHlc: HlcTs }
  STATS: { shard: number }
  QUERY: { shard: number, tableId: number, options: ScanOptions, xid?: Xid } & QueryOptions
  JOIN_QUERY: { shard: number, xid?: Xid } & JoinQueryOptions
  /** xid: the coordinator's (kept here; may already be committed here — retries, hints). */
  REPLICA_APPLY: { shard: number, writes: ReplicaWrite[], commitHlc: HlcTs, xid?: Xid }
  REPLICA_READ: { shard: number, tableId: number, pks: Tuple[] }
}

export interface ShardStats { shard: number, lastLsn: bigint, hlcHighWater: HlcTs, openTxns: number, limbo: number }

/** Reply payload of each op. */
export interface ShardReplies {
  PING: { worker: number, shards: number[] }
  /** lsn null: nothing changed (nothing logged); commitHlc may be pushed above an open snapshot. */
  AUTOCOMMIT: { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, affected: boolean[] }
  BEGIN: { xid: Xid }
  GET: { row: Uint8Array | null }
  SCAN: { rows: { pk: TupleValue[], row: Uint8Array }[] }
  WRITE: { affected: boolean[] }
  COMMIT: { lsn: bigint | null, commitHlc: HlcTs }
  ROLLBACK: Record<string, never>
  PREPARE: Record<string, never>
  COMMIT_PREPARED: { lsn: bigint | null, commitHlc: HlcTs }
  ABORT_PREPARED: Record<string, never>
  LIST_LIMBO: { limbo: { xid: Xid, rows: number }[] }
  READ_COMMIT_LOG: { entries: CommitLogEntry[] }
  SWEEP: SweepReport & { durationMs: number }
  STATS: ShardStats
  /** rows: encoded output rows (src/shard/protocol/value-rows.ts); scanned: visible rows read. */
  QUERY: { rows: Uint8Array, scanned: number }
  /** As QUERY; scanned counts the visible rows read of every table. */
  JOIN_QUERY: { rows: Uint8Array, scanned: number }
  /** applied: per write, 'newer' (written), 'same' (already held), 'older' (a newer version is
   *  held and kept) — every one is an acknowledgement. lsn null: nothing was newer here. */
  REPLICA_APPLY: { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, applied: LwwOutcome[] }
  /** Per pk: its latest committed version (row null: tombstone), or null when it has none. */
  REPLICA_READ: { versions: (VersionedRow | null)[] }
}

export function encodePayload (value: unknown): Uint8Array {
  return serialize(value)
}

/** Decodes a request/reply; garbage (a bug or a corrupted frame) is a coded error, not a crash. */
export function decodePayload<T> (bytes: Uint8Array): T {
  try {
    return deserialize(bytes) as T
  } catch (e) {
    throw new ScratchBirdError('SB_MALFORMED_REQUEST', `undecodable shard message: ${(e as Error).message}`)
  }
}

export interface OpCodec<Req, Rep> {
  encodeRequest (r: Req): Uint8Array
  decodeRequest (b: Uint8Array): Req
  encodeReply (r: Rep): Uint8Array
  decodeReply (b: Uint8Array): Rep
}

const v8Codec: OpCodec<unknown, unknown> = {
  encodeRequest: encodePayload,
  decodeRequest: decodePayload,
  encodeReply: encodePayload,
  decodeReply: decodePayload
}

/** How each op's payloads travel: the hot write path has its own binary codec (shard-codec.ts). */
export function codecOf<K extends ShardOpName> (op: K): OpCodec<ShardRequests[K], ShardReplies[K]> {
  if (op === 'AUTOCOMMIT') {
    return { encodeRequest: encodeAutocommit, decodeRequest: decodeAutocommit, encodeReply: encodeAutocommitReply, decodeReply: decodeAutocommitReply } as unknown as OpCodec<ShardRequests[K], ShardReplies[K]>
  }
  if (op === 'REPLICA_APPLY') {
    return { encodeRequest: encodeReplicaApply, decodeRequest: decodeReplicaApply, encodeReply: encodeReplicaApplyReply, decodeReply: decodeReplicaApplyReply } as unknown as OpCodec<ShardRequests[K], ShardReplies[K]>
  }
  return v8Codec as OpCodec<ShardRequests[K], ShardReplies[K]>
}
