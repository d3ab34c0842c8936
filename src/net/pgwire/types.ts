// PostgreSQL type OIDs of the ScratchBird SQL types (src/types/sql-types.ts), and the column
// metadata a RowDescription carries: OID, fixed size (typlen) and type modifier (atttypmod).
// Clients pick their value parsers by OID, so each of our types maps to PostgreSQL's own.
import type { SqlType, TypeKind } from '../../types/sql-types'

export const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  numeric: 1700,
  uuid: 2950
} as const

const KIND_OID: Record<TypeKind, number> = {
  // An untyped NULL (SELECT NULL) is reported as text, as PostgreSQL reports an unknown literal.
  null: OID.text,
  boolean: OID.bool,
  smallint: OID.int2,
  integer: OID.int4,
  bigint: OID.int8,
  decimal: OID.numeric,
  real: OID.float4,
  double: OID.float8,
  char: OID.bpchar,
  varchar: OID.varchar,
  text: OID.text,
  bytea: OID.bytea,
  uuid: OID.uuid,
  date: OID.date,
  timestamp: OID.timestamp
}

/** typlen of each OID we send (-1: variable length). */
const OID_SIZE: ReadonlyMap<number, number> = new Map([
  [OID.bool, 1], [OID.int2, 2], [OID.int4, 4], [OID.int8, 8], [OID.oid, 4], [OID.float4, 4], [OID.float8, 8],
  [OID.date, 4], [OID.timestamp, 8], [OID.uuid, 16]
])

export function oidOf (t: SqlType): number { return KIND_OID[t.kind] }

export function typeSize (oid: number): number { return OID_SIZE.get(oid) ?? -1 }

/** atttypmod as PostgreSQL encodes it: n + 4 for CHAR(n)/VARCHAR(n), ((p << 16) | s) + 4 for NUMERIC(p,s). */
export function typeModifier (t: SqlType): number {
  if ((t.kind === 'char' || t.kind === 'varchar') && t.length !== undefined) return t.length + 4
  if (t.kind === 'decimal' && t.precision !== undefined) return ((t.precision << 16) | (t.scale ?? 0)) + 4
  return -1
}
