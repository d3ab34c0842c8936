// Indexes as the catalog keeps them (issue 19 items 1–2). An index is a hidden relation of its
// own — a TableInfo with `index` set, its own table id, rows and replication — so storage, the
// sweep, backups, replication groups and catalog sync handle index entries exactly like rows:
//  - its columns: the key columns, then whatever of the table's partition key and primary key the
//    key lacks (they locate the indexed row), then the INCLUDE columns;
//  - its primary key: the key (UNIQUE — the storage key itself refuses a second entry), else the
//    key followed by the table's primary key (one entry per row);
//  - global: partitioned by its key, so one shard holds every entry of a key value (CockroachDB's
//    and Spanner's global indexes; a row and its entry may then be on two shards: two-phase
//    commit); local: partitioned by the table's partition key, so entries sit on their row's shard.
// A UNIQUE key holding the whole partition key is enforced per shard, so it is local; one that
// does not needs a global index. A primary key holding the partition key is unique through the
// rows' own storage key; one that does not gets a hidden global unique index (`<table>_pkey`).
// Rows with a NULL in the key have no entry (SQL: NULLs are never equal, so never duplicates).
// The relation itself is built by catalog.ts (indexTable).

export interface IndexInfo {
  /** Id of the indexed table. */
  of: number
  /** Key columns, in key order. */
  columns: string[]
  /** Extra columns carried by the entries (INCLUDE). */
  include: string[]
  unique: boolean
  /** Partitioned by its key (true) or by the table's partition key (false). */
  global: boolean
  /** Which constraint made it: the primary key, a UNIQUE constraint, or CREATE INDEX (null). */
  constraint: 'primary_key' | 'unique' | null
  /** CREATE INDEX still writing the entries of the rows already there: maintained by writers, not read by the planner. */
  building?: true
}

/** An index as requested, before it is a relation. */
export type IndexSpec = Omit<IndexInfo, 'of'>

/** Does uniqueness of `key` need a global index, i.e. may equal keys land on different shards? */
export function needsGlobal (partition: readonly string[], key: readonly string[]): boolean {
  return !partition.every(p => key.includes(p))
}

/** The indexes a table's primary key and UNIQUE constraints need under its partition key. */
export function constraintIndexes (primaryKey: readonly string[], partition: readonly string[], uniques: readonly (readonly string[])[]): IndexSpec[] {
  const out: IndexSpec[] = []
  if (needsGlobal(partition, primaryKey)) out.push({ columns: [...primaryKey], include: [], unique: true, global: true, constraint: 'primary_key' })
  for (const u of uniques) {
    // A UNIQUE on the primary key's columns adds nothing; a repeated one neither.
    if (sameSet(u, primaryKey) || out.some(o => o.constraint === 'unique' && sameSet(o.columns, u))) continue
    out.push({ columns: [...u], include: [], unique: true, global: needsGlobal(partition, u), constraint: 'unique' })
  }
  return out
}

/** The name PostgreSQL would give a constraint's index: `<table>_pkey`, `<table>_<cols>_key`. */
export function constraintIndexName (table: string, spec: IndexSpec): string {
  return spec.constraint === 'primary_key' ? `${table}_pkey` : `${table}_${spec.columns.join('_')}_key`
}

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every(x => b.includes(x))
}
