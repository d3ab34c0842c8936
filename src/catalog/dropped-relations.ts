import { FIRST_USER_TABLE_ID, type CatalogState } from './catalog'

// Which relation ids a catalog version has dropped (issue 17: their storage is purged,
// storage/purge-relations.ts). Derived, not recorded: the catalog hands out ids from nextTableId
// upwards and never reuses one, so every user id below nextTableId that no relation of this
// version holds — a table, an index relation, a move's target or retired relation — belonged to
// something dropped (DROP TABLE, DROP INDEX, a finished or cancelled move). An id at or above
// nextTableId is not dropped: this node may simply not have the version that created it yet.
// Deriving means nothing new to persist, sync or migrate, and a catalog restored from a backup
// names exactly the relations that backup's catalog had dropped. Pure.

/** Relation ids below this catalog's nextTableId held by none of its relations, ascending. */
export function droppedRelationIds (state: Pick<CatalogState, 'nextTableId' | 'tables'>): number[] {
  const live = new Set(state.tables.map(t => t.id))
  const out: number[] = []
  for (let id = FIRST_USER_TABLE_ID; id < state.nextTableId; id++) if (!live.has(id)) out.push(id)
  return out
}
