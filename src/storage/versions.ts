// Record versions (DESIGN §4, MGA): the value stored under r/<table><pk> (the primary, newest
// version) and b/<table><pk><version> (back versions). Fixed binary layout, no JSON:
//
//   offset  size  field
//   0       1     format (RECORD_FORMAT)
//   1       1     flags: TOMBSTONE | HAS_PREV | STAMPED (no other bit may be set)
//   2       8     xid of the writing transaction (u64 BE)
//   10      16    version id (UUID chosen by the writer; replicas keep it)
//   26      8     commit HLC (u64 BE) — only with STAMPED
//   …       16    version id of the previous version (the next one back) — only with HAS_PREV
//   …       rest  row image (empty for a tombstone)
//
// STAMPED versions carry their commit HLC inline: autocommit writes and replicated writes are
// committed in the same batch that writes them, so readers need no TIP lookup for them. Versions
// of multi-statement transactions are written before the outcome is known and are resolved
// through the TIP.
//
// HAS_PREV links the chain primary → back → back …; the chain is followed by point reads, so it
// never depends on version ids being ordered. Invariant kept by the writer: every version behind
// the primary is committed (nobody writes over an uncommitted version — that is an update
// conflict — and a dead primary is overwritten, not moved back).

import { corrupt, readU64 as getU64, writeU64 as putU64, type Arena } from './keys'
import { asHlcTs, asXid } from '../core/ids'
import type { HlcTs, VersionId, Xid } from './types'

export const RECORD_FORMAT = 1
export const FLAG_TOMBSTONE = 0x01
export const FLAG_HAS_PREV = 0x02
export const FLAG_STAMPED = 0x04
const KNOWN_FLAGS = FLAG_TOMBSTONE | FLAG_HAS_PREV | FLAG_STAMPED
const HEADER = 26

export interface RecordVersion {
  readonly xid: Xid
  readonly versionId: VersionId
  readonly tombstone: boolean
  /** Commit HLC when stamped inline (committed in the writing batch), else undefined. */
  readonly commitHlc: HlcTs | undefined
  /** Version id of the next older version, if there is one. */
  readonly prev: VersionId | undefined
  /** Row image; empty for tombstones. */
  readonly row: Uint8Array
}

export function encodeVersion (v: RecordVersion): Uint8Array {
  return encodeVersionOf(v.xid, v.versionId, v.tombstone, v.commitHlc, v.prev, v.row)
}

/** encodeVersion with the fields as arguments (the write path builds no intermediate object). */
export function encodeVersionOf (xid: Xid, versionId: VersionId, tombstone: boolean, commitHlc: HlcTs | undefined,
  prev: VersionId | undefined, row: Uint8Array, arena?: Arena): Uint8Array {
  const stamped = commitHlc !== undefined
  const hasPrev = prev !== undefined
  const rowLen = tombstone ? 0 : row.length
  const size = HEADER + (stamped ? 8 : 0) + (hasPrev ? 16 : 0) + rowLen
  const out = arena !== undefined ? arena.alloc(size) : new Uint8Array(size)
  out[0] = RECORD_FORMAT
  out[1] = (tombstone ? FLAG_TOMBSTONE : 0) | (hasPrev ? FLAG_HAS_PREV : 0) | (stamped ? FLAG_STAMPED : 0)
  putU64(out, 2, xid)
  out.set(versionId, 10)
  let p = HEADER
  if (stamped) { putU64(out, p, commitHlc); p += 8 }
  if (hasPrev) { out.set(prev, p); p += 16 }
  if (rowLen > 0) out.set(row, p)
  return out
}

/** Decode and validate; anything malformed is SB_STORAGE_CORRUPT (never a crash). */
export function decodeVersion (b: Uint8Array): RecordVersion {
  if (b.length < HEADER) throw corrupt('record version: too short', { length: b.length })
  if (b[0] !== RECORD_FORMAT) throw corrupt('record version: unknown format', { format: b[0] })
  const flags = b[1]!
  if ((flags & ~KNOWN_FLAGS) !== 0) throw corrupt('record version: unknown flags', { flags })
  const tombstone = (flags & FLAG_TOMBSTONE) !== 0
  let p = HEADER
  let commitHlc: HlcTs | undefined
  if ((flags & FLAG_STAMPED) !== 0) {
    if (b.length < p + 8) throw corrupt('record version: truncated commit HLC')
    commitHlc = asHlcTs(getU64(b, p))
    p += 8
  }
  let prev: VersionId | undefined
  if ((flags & FLAG_HAS_PREV) !== 0) {
    if (b.length < p + 16) throw corrupt('record version: truncated previous version id')
    prev = b.subarray(p, p + 16)
    p += 16
  }
  if (tombstone && b.length !== p) throw corrupt('record version: tombstone with a row image')
  return { xid: asXid(getU64(b, 2)), versionId: b.subarray(10, 26), tombstone, commitHlc, prev, row: b.subarray(p) }
}

/** Xid of an encoded version without decoding the rest (hot path of the writer). */
export function versionXid (b: Uint8Array): Xid {
  if (b.length < HEADER || b[0] !== RECORD_FORMAT) throw corrupt('record version: bad header')
  return asXid(getU64(b, 2))
}

/** The same version with its back link cut (the sweep removed everything behind it). */
export function withoutPrev (v: RecordVersion): Uint8Array {
  return encodeVersion({ ...v, prev: undefined })
}
