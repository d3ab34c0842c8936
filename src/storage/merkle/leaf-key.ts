import { messageOf, ScratchBirdError } from '../../core/errors'
import { decodeTuple, ROW_SPACE, type TupleValue } from '../keys'

// The key of a Merkle leaf (DESIGN §6 "Anti-entropy"): the row's key without its `r/` space
// prefix, i.e. the order-preserving tuple encoding of (table id, primary key…) — storage/keys.ts.
// Decodable back, so a repair that finds a differing leaf knows which row to read (REPLICA_READ
// takes a table id and primary keys) without any other index; and a prefix of the row key, so the
// write path takes it as a view of bytes it already has.

/** Bytes of the `r/` space prefix a row key has and its leaf key lacks. */
export const ROW_PREFIX_BYTES = ROW_SPACE.gte.length
const MAX_TABLE_ID = 0xffffffff

/** The leaf key of a row key (`r/<table><pk>`): a view of its bytes after `r/`. */
export function leafKeyOfRowKey (rowKey: Uint8Array): Uint8Array {
  return rowKey.subarray(ROW_PREFIX_BYTES)
}

/** The row key (`r/<table><pk>`) of a leaf key. */
export function rowKeyOfLeafKey (leafKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(ROW_PREFIX_BYTES + leafKey.length)
  out.set(ROW_SPACE.gte, 0)
  out.set(leafKey, ROW_PREFIX_BYTES)
  return out
}

/** A leaf key decoded: the table and the primary key tuple of its row. */
export interface DecodedLeafKey { readonly tableId: number, readonly pk: TupleValue[] }

/**
 * Decode a leaf key (it may come from a peer): SB_BAD_ARGUMENT unless it is a canonical tuple of
 * a table id (integer in [0, 2^32)) followed by at least one primary-key element.
 */
export function decodeLeafKey (leafKey: Uint8Array): DecodedLeafKey {
  if (!(leafKey instanceof Uint8Array)) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'Merkle leaf key is not bytes')
  let t: TupleValue[]
  try {
    t = decodeTuple(leafKey)
  } catch (e) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `Merkle leaf key is not a row key: ${messageOf(e)}`)
  }
  const tableId = t[0]
  if (typeof tableId !== 'bigint' || tableId < 0n || tableId > BigInt(MAX_TABLE_ID) || t.length < 2) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', 'Merkle leaf key is not (table id, primary key…)')
  }
  return { tableId: Number(tableId), pk: t.slice(1) }
}
