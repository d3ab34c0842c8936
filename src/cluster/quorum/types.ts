// Leaderless quorum replication (DESIGN §6 "Mode 3 — leaderless_quorum"): the values and messages
// the sans-I/O coordinator machines (write.ts, read.ts) exchange with replicas. The machines are
// generic over what one request carries — a write's batch `B`, a read's query `Q` — and never look
// inside it: production sends a shard's REPLICA_APPLY batch and one key of a REPLICA_READ
// (coordinator.ts), the simulator the same. Replicas apply with the storage LWW rule
// (storage/row-write.ts, ordered by storage/lww.ts); only read replies are opened here, to pick
// the newest version. Plain data only, so the shell can encode them as it likes.
import { ScratchBirdError } from '../../core/errors'
import { UUID_BYTES } from '../../core/uuid'
import type { NodeId } from '../../core/ids'

/** One version of one key as a replica holds it (storage VersionedRow). */
export interface Versioned {
  /** UUIDv8-HLC (16 bytes). Unsigned byte order = HLC order = last-write-wins order. */
  versionId: Uint8Array
  /** The row image; null = tombstone (a delete is a version like any other). */
  row: Uint8Array | null
}

/** Coordinator → replica: apply `batch` last-writer-wins (a write; also hints and read repairs). */
export interface ApplyRequest<B> {
  type: 'apply'
  reqId: number
  batch: B
}

/** Coordinator → replica: what is your version of `query` (one key)? */
export interface ReadRequest<Q> {
  type: 'read'
  reqId: number
  query: Q
}

/** Replica → coordinator: the replica holds the batch's versions or newer ones (also for equal ones: idempotent). */
export interface ApplyAck {
  type: 'apply-ack'
  reqId: number
  from: NodeId
}

/** Replica → coordinator: its version of the key (tombstones included), null if it never saw the key. */
export interface ReadReply {
  type: 'read-reply'
  reqId: number
  from: NodeId
  version: Versioned | null
}

/** The replicas the coordinator believes alive (from gossip): a set of node ids or a predicate. */
export type AliveView = ReadonlySet<NodeId> | ((nodeId: NodeId) => boolean)

export function isAliveIn (view: AliveView, nodeId: NodeId): boolean {
  return typeof view === 'function' ? view(nodeId) : view.has(nodeId)
}

/** A failed quorum operation: what the shell answers the client with (SB_QUORUM_NOT_ACHIEVED). */
export interface QuorumFailed {
  type: 'failed'
  error: ScratchBirdError
}

/** Why a quorum operation failed (details.reason). */
export type QuorumFailReason =
  /** Fewer than W/R replicas alive when it started: nothing was sent (a write changed nothing). */
  | 'not_enough_alive'
  /** Enough replicas reported failure that W/R could no longer be reached (failed fast). */
  | 'replicas_failed'
  /** The deadline passed before W/R answers. */
  | 'timeout'

/**
 * SB_QUORUM_NOT_ACHIEVED. `available` is how many replicas could still answer (alive, or not yet
 * failed) — or, on a timeout, how many answered. `pending`: a write's replicas being filled by a
 * join or drain, each of which must acknowledge (counted in `required`).
 */
export function quorumNotAchieved (op: 'read' | 'write', required: number, available: number, reason: QuorumFailReason, pending: readonly NodeId[] = []): ScratchBirdError {
  const [Op, letter, verb, timeout] = op === 'write'
    ? ['Write', 'W', 'acknowledged', 'write_timeout_ms']
    : ['Read', 'R', 'answered', 'read_timeout_ms']
  // A write during a join or drain also needs every replica being filled (ack-rule.ts): said, with them.
  const needs = pending.length === 0
    ? `${letter}=${required}`
    : `${letter}=${required - pending.length} + ${pending.length} being filled (node${pending.length > 1 ? 's' : ''} ${pending.join(', ')}) = ${required}`
  const message = reason === 'timeout'
    ? `${Op} requires ${needs} nodes, only ${available} ${verb} within ${timeout}`
    : `${Op} requires ${needs} nodes, only ${available} available`
  return new ScratchBirdError('SB_QUORUM_NOT_ACHIEVED', message,
    { available_replicas: available, required_replicas: required, reason, ...(pending.length > 0 ? { pending_replicas: [...pending] } : {}) })
}

/** Well-formed version from a peer: 16-byte UUIDv8 id and a row or null. */
export function isVersioned (v: unknown): v is Versioned {
  if (typeof v !== 'object' || v === null) return false
  const r = v as Record<string, unknown>
  return r.versionId instanceof Uint8Array && r.versionId.length === UUID_BYTES &&
    ((r.versionId[6]! >>> 4) === 8) && ((r.versionId[8]! & 0xc0) === 0x80) &&
    (r.row === null || r.row instanceof Uint8Array)
}
