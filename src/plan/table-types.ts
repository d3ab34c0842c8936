// A catalog table as the executors see it: SQL types per column (row image layout = table
// column order), primary-key and partition-key column indexes, and how key values become the
// storage pk tuple and the shard (DESIGN §5 "Partition keys").
import { Catalog, type ColumnInfo, type ColumnType, type TableInfo } from '../catalog/catalog'
import { messageOf, ScratchBirdError } from '../core/errors'
import { decodeRow } from '../types/row-codec'
import { shardOf, type PartitionValue } from '../core/partition'
import { encodeTuple, type TupleValue } from '../storage/keys'
import type { ProgramColumn } from '../sblr/program'
import { valueToKey } from '../types/key-codec'
import { charType, decimalType, isIntegerKind, isTextKind, type SqlType } from '../types/sql-types'
import { SqlUuid, type SqlValue } from '../types/values'
import type { ShardId } from '../core/ids'

/**
 * A column as expressions see it: its name, SQL type and the table (alias) it comes from; `hidden`
 * for a table's row id (catalog addRowId), which SELECT * leaves out.
 */
export interface ScopeColumn { readonly name: string, readonly type: SqlType, readonly table: string, readonly hidden?: boolean }

export function sqlTypeOf (c: ColumnType): SqlType {
  switch (c.name) {
    case 'decimal': return decimalType(c.precision ?? undefined, c.scale ?? 0)
    case 'char': case 'varchar': return charType(c.name, c.length ?? undefined)
    default: return { kind: c.name }
  }
}

export interface TableShape {
  readonly info: TableInfo
  readonly types: readonly SqlType[]
  /** What each column reads in a stored row that lacks it (catalog ColumnInfo.missing); NULL for most. */
  readonly missing: readonly SqlValue[]
  readonly programColumns: readonly ProgramColumn[]
  /** Column indexes of the primary key, in key order. */
  readonly pk: readonly number[]
  /** Column indexes of the partition key. */
  readonly partition: readonly number[]
}

export function tableShape (info: TableInfo): TableShape {
  const types = info.columns.map(c => sqlTypeOf(c.type))
  const missing = info.columns.map((c, i) => missingValue(info, c, types[i]!))
  const index = (name: string): number => info.columns.findIndex(c => c.name === name)
  return {
    info,
    types,
    missing,
    programColumns: info.columns.map((c, i) => missing[i] === null ? { name: c.name, type: types[i]! } : { name: c.name, type: types[i]!, missing: missing[i]! }),
    pk: info.primaryKey.map(index),
    partition: Catalog.partitionKey(info).map(index)
  }
}

/** The value rows stored before column `c` was added read for it (a one-column row image in the catalog). */
function missingValue (info: TableInfo, c: ColumnInfo, type: SqlType): SqlValue {
  if (c.missing === undefined) return null
  try {
    return decodeRow([type], Buffer.from(c.missing, 'base64'))[0] ?? null
  } catch (e) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the catalog's value of column "${c.name}" of table "${info.name}" for rows stored before it was added is unreadable: ${messageOf(e)}`,
      { table: info.name, column: c.name })
  }
}

/** A dropped column (catalog/alter-columns.ts) keeps its slot but is hidden, and its empty name matches no identifier. */
export function scopeOf (t: TableShape, alias: string): ScopeColumn[] {
  return t.programColumns.map((c, i) => t.info.columns[i]!.hidden === true || t.info.columns[i]!.dropped === true
    ? { name: c.name, type: c.type, table: alias, hidden: true }
    : { name: c.name, type: c.type, table: alias })
}

/** Storage pk tuple of a row (values already of the column types). */
export function pkTuple (t: TableShape, row: readonly SqlValue[]): TupleValue[] {
  return t.pk.map(i => valueToKey(row[i]!, t.types[i]!))
}

/**
 * Routing bytes of one partition-key value: text as UTF-8, integers 8-byte big-endian, UUIDs their
 * 16 bytes (as the design fixes them); other types as their order-preserving key encoding.
 */
function partitionValue (v: SqlValue, type: SqlType): PartitionValue {
  if (typeof v === 'string' && isTextKind(type.kind)) return { type: 'text', value: v }
  if (typeof v === 'bigint' && isIntegerKind(type.kind)) return { type: 'int', value: v }
  if (v instanceof SqlUuid) return { type: 'uuid', value: v.uuid }
  return { type: 'bytes', value: encodeTuple([valueToKey(v, type)]) }
}

/** The shard of a row, or of a partition key given as values in partition-key order. */
export function shardOfValues (t: TableShape, keyValues: readonly SqlValue[], shards: number): ShardId {
  return shardOf(keyValues.map((v, k) => partitionValue(v, t.types[t.partition[k]!]!)), shards)
}

export function shardOfRow (t: TableShape, row: readonly SqlValue[], shards: number): ShardId {
  return shardOfValues(t, t.partition.map(i => row[i]!), shards)
}
