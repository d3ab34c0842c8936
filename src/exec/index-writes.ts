// Index maintenance (issue 19 items 1–2): the entries a row change makes in each index of its
// table, written in the statement's transaction with the row itself — on the row's shard for a
// local index, on the shard of the key for a global one (the transaction then spans two shards
// and commits by two-phase commit). A UNIQUE index refuses a second entry because its storage key
// is the index key: the write fails with SB_UNIQUE_VIOLATION (or SB_UPDATE_CONFLICT while another
// transaction holds that key uncommitted), which names the index's constraint here.
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { TableInfo } from '../catalog/catalog'
import { encodeTuple, type Tuple } from '../storage/keys'
import { encodeRow } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import type { IndexShape } from '../plan/index-shapes'
import { pkTuple, shardOfRow } from '../plan/table-types'
import type { Generators, ShardPort } from './env'
import { addWrite, type ShardWrites } from './shard-writes'
import type { TableAccess } from './access/table-access'
import type { SqlTxn } from './txn'
import { versionId } from './write-rows'
import type { ShardId } from '../core/ids'

interface Entry { shard: ShardId, pk: Tuple, pkBytes: Uint8Array, image: Uint8Array }

/** The index entry of a row (null: no row, or a NULL in the key — such rows have none). */
export function indexEntry (ix: IndexShape, row: readonly SqlValue[] | null, shards: number): Entry | null {
  if (row === null) return null
  const values = ix.from.map(i => row[i] ?? null)
  if (ix.key.some(k => values[k] === null)) return null
  const pk = pkTuple(ix.shape, values)
  return { shard: shardOfRow(ix.shape, values, shards), pk, pkBytes: encodeTuple(pk), image: encodeRow(ix.shape.types, values) }
}

/**
 * Adds to `writes` what changing `oldRow` into `newRow` (null: none — an INSERT, a DELETE) does to
 * each index: nothing when its entry stays the same, an update when only carried columns change,
 * else the old entry deleted and the new one inserted.
 */
export function addIndexWrites (env: Pick<ShardPort, 'shards'> & Pick<Generators, 'hlc' | 'uuidV7'>, indexes: readonly IndexShape[], writes: ShardWrites,
  oldRow: readonly SqlValue[] | null, newRow: readonly SqlValue[] | null): void {
  for (const ix of indexes) {
    const o = indexEntry(ix, oldRow, env.shards)
    const n = indexEntry(ix, newRow, env.shards)
    const tableId = ix.info.id
    if (o !== null && n !== null && o.shard === n.shard && bytesEqual(o.pkBytes, n.pkBytes)) {
      if (!bytesEqual(o.image, n.image)) addWrite(writes, n.shard, { op: 'update', tableId, pk: n.pk, pkBytes: n.pkBytes, row: n.image, versionId: versionId(env, ix.shape) })
      continue
    }
    if (o !== null) addWrite(writes, o.shard, { op: 'delete', tableId, pk: o.pk, pkBytes: o.pkBytes, versionId: versionId(env, ix.shape) })
    if (n !== null) addWrite(writes, n.shard, { op: 'insert', tableId, pk: n.pk, pkBytes: n.pkBytes, row: n.image, versionId: versionId(env, ix.shape) })
  }
}

/**
 * The table access's write, with a duplicate in one of the table's UNIQUE indexes reported as the
 * violation of its constraint (the shard only knows the index relation's id).
 */
export async function writeWithIndexes (table: TableInfo, indexes: readonly IndexShape[], access: TableAccess, writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
  try {
    return await access.write(writes, txn)
  } catch (e) {
    throw uniqueViolation(table, indexes, e)
  }
}

/** A shard's SB_UNIQUE_VIOLATION on one of `table`'s index relations, as the violation of the index's key; other errors as they are. */
export function uniqueViolation (table: TableInfo, indexes: readonly IndexShape[], e: unknown): unknown {
  if (!isScratchBirdError(e, 'SB_UNIQUE_VIOLATION')) return e
  const ix = indexes.find(i => i.info.id === e.details.tableId)
  if (ix === undefined) return e
  return new ScratchBirdError('SB_UNIQUE_VIOLATION', `duplicate key value violates unique constraint "${ix.info.name}": key (${ix.index.columns.join(', ')}) already exists in "${table.name}"`,
    { ...e.details, table: table.name, constraint: ix.info.name, columns: ix.index.columns })
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
