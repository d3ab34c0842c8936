import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../core/atomic-file'
import { ScratchBirdError, messageOf } from '../core/errors'
import { Catalog } from './catalog'

// The node's copy of the catalog: one JSON document in <data_dir>/catalog.json, replaced
// atomically (write a temp file, fsync, rename, fsync the directory). The catalog is small and
// changes only with DDL, so a whole-document write is cheaper and simpler than rows; the rename
// is a DDL statement's commit point on this node. Shards never hold catalog rows, so a node's
// catalog does not depend on which shards it serves (cluster-wide DDL ships the document).

export const CATALOG_FILE = 'catalog.json'
// Format 1 grows by optional fields only, read by Catalog.fromJSON: columns[].default (a column's
// DEFAULT as canonical SQL text) is absent in files written before defaults were stored — none;
// columns[].hidden (true on the row id of a table declared without a primary key) is absent on
// every other column; columns[].dropped and columns[].missing (alter-columns.ts) are absent on a
// column not dropped, and on one not added by ALTER TABLE … ADD COLUMN with a non-NULL DEFAULT;
// users, grants and nextUserId (user-records.ts) are absent in files written before users
// existed — none.
const FORMAT = 1

export function loadCatalog (dataDir: string): Catalog {
  const path = join(dataDir, CATALOG_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Catalog()
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `cannot read the catalog ${path}: ${messageOf(e)}`, { path })
  }
  let doc: { format?: unknown, catalog?: unknown }
  try { doc = JSON.parse(text) as typeof doc } catch (e) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the catalog ${path} is not valid JSON (${messageOf(e)}); restore it from a backup`, { path })
  }
  if (doc?.format !== FORMAT) throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the catalog ${path} has format ${String(doc?.format)}, this build reads ${FORMAT}`, { path })
  return Catalog.fromJSON(doc.catalog)
}

export function saveCatalog (dataDir: string, catalog: Catalog): void {
  writeFileAtomic(join(dataDir, CATALOG_FILE), JSON.stringify({ format: FORMAT, catalog: catalog.toJSON() }, null, 1))
}
