import { ScratchBirdError } from '../core/errors'
import type { AddColumnAction, DataType, DropColumnAction, Expr, RenameColumnAction } from '../sql/ast'
import { LIMITS } from '../core/limits'
import type { DomainAdmission, DomainInfo } from './domains'

// ALTER TABLE … ADD COLUMN / DROP COLUMN on tables that may hold rows, without rewriting them —
// PostgreSQL's way (attmissingval, attisdropped). A row image (types/row-codec.ts) stores column
// i at slot i, so:
//   · ADD COLUMN appends a slot. Rows stored before lack it and read the column's `missing`
//     value: its DEFAULT evaluated once by the statement (PostgreSQL evaluates a non-volatile
//     default once too; a volatile one, different per row, would need a rewrite: refused).
//   · DROP COLUMN keeps the slot and its type (rows stored before still decode and check) but
//     empties its name, which no identifier spells (a zero-length quoted identifier is a syntax
//     error), and hides it: its values are never read again, not even when a column of the same
//     name is added later (that one gets a new slot).
// Both change how the table's rows are written, so they run under the write fence and raise the
// layout floor (exec/ddl-needs-empty.ts): no node writes the table with the old columns after.
// Pure: the catalog (catalog.ts) installs the columns this returns. Structural types here keep
// this module a leaf (catalog.ts imports it; it cannot import catalog.ts back).

/** A column as the catalog keeps it (catalog.ts ColumnInfo). */
export interface CatalogColumn {
  name: string
  type: { name: DataType['name'], length: number | null, precision: number | null, scale: number | null }
  notNull: boolean
  position: number
  default: string | null
  hidden?: true
  dropped?: true
  missing?: string
  domain?: string
}

/** What the change needs to know of the table (catalog.ts TableInfo and its relations). */
export interface ColumnChangeTarget<C extends CatalogColumn> {
  readonly name: string
  readonly columns: readonly C[]
  readonly primaryKey: readonly string[]
  readonly partitionKey: readonly string[]
  readonly foreignKeys: readonly { readonly columns: readonly string[], readonly table: string }[]
  /** Index relations of the table: their name, key and INCLUDE columns, and the constraint they serve. */
  readonly indexes: readonly { readonly name: string, readonly columns: readonly string[], readonly include: readonly string[], readonly constraint: 'primary_key' | 'unique' | null }[]
  /** Foreign keys of other tables referencing this one: the referencing table and the referenced columns. */
  readonly referencedBy: readonly { readonly table: string, readonly refColumns: readonly string[] }[]
}

type Target = { table: string, column: string, type: CatalogColumn['type'], notNull: boolean, admit?: DomainAdmission['admit'] }

export interface ColumnContext {
  checkDefault: (t: Target, e: Expr) => string
  missingValue: (t: Target, e: Expr) => string | null
  /** Domain `name` (the catalog resolves it; SB_UNDEFINED_OBJECT when there is none) and what its values must pass. */
  domain: (name: string, table: string, column: string) => DomainAdmission & { info: DomainInfo }
}

/** The table's columns after the change, or null when IF [NOT] EXISTS made it a no-op (with its warning). */
export interface ColumnChange<C> { columns: C[] | null, warnings: string[] }

const live = <C extends CatalogColumn>(cs: readonly C[]): C[] => cs.filter(c => c.dropped !== true)

export function addColumnChange<C extends CatalogColumn> (t: ColumnChangeTarget<C>, a: AddColumnAction, ctx: ColumnContext): ColumnChange<C> {
  const c = a.column
  if (live(t.columns).some(x => x.name === c.name)) {
    if (a.ifNotExists) return { columns: null, warnings: [`column "${c.name}" of relation "${t.name}" already exists, skipping`] }
    throw new ScratchBirdError('SB_DUPLICATE_COLUMN', `column "${c.name}" of relation "${t.name}" already exists`, { table: t.name, column: c.name })
  }
  const refuse = (what: string, instead: string): ScratchBirdError =>
    new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `ALTER TABLE ${t.name} ADD COLUMN ${c.name}: ${what}; ${instead}`, { table: t.name, column: c.name })
  if (c.primaryKey) throw refuse('a table\'s primary key is fixed when it is created', 'create a new table with the key and copy the rows into it')
  if (c.unique === true) throw refuse('UNIQUE needs an index built over the rows already stored', 'add the column, then CREATE UNIQUE INDEX on it')
  if (c.references !== null) throw refuse('REFERENCES on an added column is not supported', 'create a new table with the foreign key and copy the rows into it')
  // A column of a domain stores the domain's storage type; the rows already stored read its
  // DEFAULT (the column's own, else the domain's) or NULL, which must pass the domain's rules.
  const domain = c.type.domain === undefined ? undefined : ctx.domain(c.type.domain, t.name, c.name)
  // Dropped columns keep their slots, so they count (as in PostgreSQL).
  if (t.columns.length + 1 > LIMITS.columns) {
    throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `table "${t.name}" would have ${t.columns.length + 1} columns (dropped ones included), at most ${LIMITS.columns}`, { table: t.name })
  }
  if (c.notNull && c.default === null && domain?.default == null) {
    throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `column "${c.name}" of relation "${t.name}" is NOT NULL without a DEFAULT: the rows already stored would hold NULL in it; give it a DEFAULT`,
      { table: t.name, column: c.name })
  }
  const type = domain !== undefined ? { ...domain.info.type } : { name: c.type.name, length: c.type.length, precision: c.type.precision, scale: c.type.scale }
  const target: Target = { table: t.name, column: c.name, type, notNull: c.notNull }
  const col: CatalogColumn = { name: c.name, type, notNull: c.notNull, position: t.columns.length + 1, default: null, ...(domain !== undefined ? { domain: domain.info.name } : {}) }
  if (c.default !== null) col.default = ctx.checkDefault(target, c.default)
  // What the rows already stored read: the column's DEFAULT, else its domain's, evaluated once.
  const filler = c.default ?? domain?.default ?? null
  if (filler !== null) {
    const missing = ctx.missingValue(domain === undefined ? target : { ...target, admit: domain.admit }, filler)
    if (missing !== null) col.missing = missing
  } else if (domain !== undefined) {
    domain.admit(null) // NULL passes CHECKs; a NOT NULL domain refuses it (SB_NOT_NULL_VIOLATION)
  }
  // C is the catalog's column type, of which CatalogColumn is the structure.
  return { columns: [...t.columns, col as C], warnings: [] }
}

export function dropColumnChange<C extends CatalogColumn> (t: ColumnChangeTarget<C>, a: DropColumnAction): ColumnChange<C> {
  const name = a.column
  const at = t.columns.findIndex(c => c.name === name && c.dropped !== true)
  if (at < 0) {
    if (a.ifExists) return { columns: null, warnings: [`column "${name}" of relation "${t.name}" does not exist, skipping`] }
    throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${name}" of relation "${t.name}" does not exist`, { table: t.name, column: name })
  }
  const by = usedBy(t, t.columns[at]!)
  if (by !== null) throw new ScratchBirdError('SB_COLUMN_IN_USE', `cannot drop column "${name}" of table "${t.name}": ${by} needs it`, { table: t.name, column: name })
  if (live(t.columns).filter(c => c.hidden !== true).length === 1) {
    throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `cannot drop column "${name}": it is the last column of table "${t.name}"`, { table: t.name, column: name })
  }
  const { missing: _, ...rest } = t.columns[at]!
  // The slot stays: its type still checks the payloads of rows stored before; new rows store NULL.
  const gone = { ...rest, name: '', notNull: false, default: null, hidden: true, dropped: true } as CatalogColumn as C
  return { columns: t.columns.map((c, i) => i === at ? gone : c), warnings: [] }
}

/** What of the table names column `c` (and would break without it), or null: nothing. */
function usedBy<C extends CatalogColumn> (t: ColumnChangeTarget<C>, c: C): string | null {
  const name = c.name
  if (t.primaryKey.includes(name)) return c.hidden === true ? 'the row id keying the table' : 'the primary key'
  if (t.partitionKey.includes(name)) return 'the partition key (partition_key_columns)'
  const index = t.indexes.find(i => i.columns.includes(name) || i.include.includes(name))
  if (index !== undefined) return index.constraint === 'unique' ? `the UNIQUE constraint (index "${index.name}")` : `index "${index.name}" (drop it first)`
  if (t.foreignKeys.some(fk => fk.columns.includes(name))) return 'a foreign key of the table'
  const ref = t.referencedBy.find(r => r.refColumns.includes(name))
  if (ref !== undefined) return `the foreign key of table "${ref.table}" referencing it`
  return null
}

/**
 * RENAME COLUMN: the same slot under a new name, so rows stored before read the same (nothing is
 * rewritten, and the row layout does not change). Refused for a column the table's keys, indexes
 * or foreign keys name: they hold it by name (an index relation copies its columns' names), and
 * renaming them all is not done yet. A view reading it is the caller's to refuse (it needs the
 * planner: exec/view-columns.ts).
 */
export function renameColumnChange<C extends CatalogColumn> (t: ColumnChangeTarget<C>, a: RenameColumnAction): ColumnChange<C> {
  const at = t.columns.findIndex(c => c.name === a.column && c.dropped !== true)
  if (at < 0) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${a.column}" of relation "${t.name}" does not exist`, { table: t.name, column: a.column })
  if (live(t.columns).some(c => c.name === a.to)) throw new ScratchBirdError('SB_DUPLICATE_COLUMN', `column "${a.to}" of relation "${t.name}" already exists`, { table: t.name, column: a.to })
  const by = usedBy(t, t.columns[at]!)
  if (by !== null) {
    throw new ScratchBirdError('SB_COLUMN_IN_USE', `cannot rename column "${a.column}" of table "${t.name}": ${by} names it (renaming a key or indexed column is not supported)`,
      { table: t.name, column: a.column })
  }
  return { columns: t.columns.map((c, i) => i === at ? { ...c, name: a.to } : c), warnings: [] }
}
