// The SQL type system (DESIGN §5): the types a column, a constant or an expression can have.
// A type's numeric code is its index in TYPE_KINDS; row images and SBLR programs store that code,
// so the list is append-only.
import { ScratchBirdError } from '../core/errors'
import { LIMITS } from '../core/limits'

export const TYPE_KINDS = [
  'null', 'boolean', 'smallint', 'integer', 'bigint', 'decimal', 'real', 'double',
  'char', 'varchar', 'text', 'bytea', 'uuid', 'date', 'timestamp'
] as const

export type TypeKind = typeof TYPE_KINDS[number]

/**
 * precision/scale only for decimal (absent = unconstrained NUMERIC); length only for char and
 * varchar (absent on varchar = unlimited; char always has one, default 1 as in SQL).
 */
export interface SqlType {
  readonly kind: TypeKind
  readonly precision?: number
  readonly scale?: number
  readonly length?: number
}

/** Largest DECIMAL precision a column may declare (PostgreSQL's limit). */
export const MAX_DECIMAL_PRECISION = LIMITS.decimalDigits
/** Largest CHAR(n)/VARCHAR(n) length, in characters (PostgreSQL's limit). */
export const MAX_CHAR_LENGTH = LIMITS.charLength

export const INT_RANGES = {
  smallint: { min: -32768n, max: 32767n },
  integer: { min: -2147483648n, max: 2147483647n },
  bigint: { min: -(1n << 63n), max: (1n << 63n) - 1n }
} as const

// Shared instances of the parameterless types.
export const T = {
  null: { kind: 'null' },
  boolean: { kind: 'boolean' },
  smallint: { kind: 'smallint' },
  integer: { kind: 'integer' },
  bigint: { kind: 'bigint' },
  numeric: { kind: 'decimal' },
  real: { kind: 'real' },
  double: { kind: 'double' },
  text: { kind: 'text' },
  varchar: { kind: 'varchar' },
  bytea: { kind: 'bytea' },
  uuid: { kind: 'uuid' },
  date: { kind: 'date' },
  timestamp: { kind: 'timestamp' }
} as const satisfies Record<string, SqlType>

function badType (message: string): ScratchBirdError {
  return new ScratchBirdError('SB_DATATYPE_MISMATCH', message)
}

export function decimalType (precision?: number, scale = 0): SqlType {
  if (precision === undefined) return T.numeric
  if (!Number.isInteger(precision) || precision < 1 || precision > MAX_DECIMAL_PRECISION) {
    throw badType(`DECIMAL precision ${precision} must be between 1 and ${MAX_DECIMAL_PRECISION}`)
  }
  if (!Number.isInteger(scale) || scale < 0 || scale > precision) {
    throw badType(`DECIMAL scale ${scale} must be between 0 and the precision ${precision}`)
  }
  return { kind: 'decimal', precision, scale }
}

export function charType (kind: 'char' | 'varchar', length?: number): SqlType {
  if (length === undefined) return kind === 'char' ? { kind, length: 1 } : T.varchar
  if (!Number.isInteger(length) || length < 1 || length > MAX_CHAR_LENGTH) {
    throw badType(`${kind.toUpperCase()} length ${length} must be between 1 and ${MAX_CHAR_LENGTH}`)
  }
  return { kind, length }
}

// Spellings the parser may meet, to their kind (lower case). Multi-word names are joined by one space.
const NAME_TO_KIND: Record<string, TypeKind> = {
  boolean: 'boolean',
  bool: 'boolean',
  smallint: 'smallint',
  int2: 'smallint',
  integer: 'integer',
  int: 'integer',
  int4: 'integer',
  bigint: 'bigint',
  int8: 'bigint',
  decimal: 'decimal',
  numeric: 'decimal',
  real: 'real',
  float4: 'real',
  'double precision': 'double',
  float8: 'double',
  float: 'double',
  char: 'char',
  character: 'char',
  varchar: 'varchar',
  'character varying': 'varchar',
  text: 'text',
  bytea: 'bytea',
  uuid: 'uuid',
  date: 'date',
  timestamp: 'timestamp'
}

/** The type kind a spelling names (`int4` → integer, `character varying` → varchar), or undefined. */
export function kindOfTypeName (name: string): Exclude<TypeKind, 'null'> | undefined {
  return NAME_TO_KIND[name.toLowerCase().replace(/\s+/g, ' ')] as Exclude<TypeKind, 'null'> | undefined
}

/** Build a type from its SQL name and modifiers, e.g. ('decimal', [10, 2]), ('varchar', [20]). */
export function typeFromName (name: string, args: readonly number[] = []): SqlType {
  const kind = kindOfTypeName(name)
  if (kind === undefined) throw badType(`unknown type ${name}`)
  if (kind === 'decimal') {
    if (args.length > 2) throw badType(`${name} takes at most 2 modifiers`)
    return decimalType(args[0], args[1] ?? 0)
  }
  if (kind === 'char' || kind === 'varchar') {
    if (args.length > 1) throw badType(`${name} takes at most 1 modifier`)
    return charType(kind, args[0])
  }
  if (args.length > 0) throw badType(`type ${name} takes no modifiers`)
  return { kind }
}

/** Canonical SQL spelling, for EXPLAIN, errors and column metadata. */
export function typeName (t: SqlType): string {
  switch (t.kind) {
    case 'decimal': return t.precision === undefined ? 'NUMERIC' : `DECIMAL(${t.precision},${t.scale ?? 0})`
    case 'char': return `CHAR(${t.length ?? 1})`
    case 'varchar': return t.length === undefined ? 'VARCHAR' : `VARCHAR(${t.length})`
    case 'double': return 'DOUBLE PRECISION'
    default: return t.kind.toUpperCase()
  }
}

export function typeCode (t: SqlType): number { return TYPE_KINDS.indexOf(t.kind) }

export function isIntegerKind (k: TypeKind): k is 'smallint' | 'integer' | 'bigint' {
  return k === 'smallint' || k === 'integer' || k === 'bigint'
}

export function isNumericKind (k: TypeKind): boolean {
  return isIntegerKind(k) || k === 'decimal' || k === 'real' || k === 'double'
}

export function isTextKind (k: TypeKind): k is 'char' | 'varchar' | 'text' {
  return k === 'char' || k === 'varchar' || k === 'text'
}

export function typesEqual (a: SqlType, b: SqlType): boolean {
  return a.kind === b.kind && a.precision === b.precision && a.scale === b.scale && a.length === b.length
}

const INT_RANK = { smallint: 1, integer: 2, bigint: 3 } as const

/**
 * Result type of + - * / % on two numeric operands (PostgreSQL's promotion): integers widen to the
 * wider integer; DECIMAL with an integer or DECIMAL is unconstrained NUMERIC; REAL with exact types
 * is REAL (DOUBLE if either side is DOUBLE). The compiler passes it as the arithmetic type operand.
 */
export function numericResultType (a: SqlType, b: SqlType): SqlType {
  if (!isNumericKind(a.kind) || !isNumericKind(b.kind)) throw badType(`operator needs numeric operands, got ${typeName(a)} and ${typeName(b)}`)
  if (a.kind === 'double' || b.kind === 'double') return T.double
  if (a.kind === 'real' || b.kind === 'real') return (a.kind === 'decimal' || b.kind === 'decimal') ? T.double : T.real
  if (a.kind === 'decimal' || b.kind === 'decimal') return T.numeric
  return INT_RANK[a.kind as 'bigint'] >= INT_RANK[b.kind as 'bigint'] ? { kind: a.kind } : { kind: b.kind }
}
