// View expansion at planning (issue 19 item 4, P-009 "view expansion"), as PostgreSQL's rewriter
// does it: a view named in FROM is replaced by its SELECT as a derived table under the view's name
// (or the alias written), which the planner then plans like any (derived-plan.ts). Views of views
// expand in turn when their derived table is planned. A view can only name objects that exist
// when it is created, and OR REPLACE refuses one that would read itself (catalog/views.ts), so no
// cycle can form; the depth is still bounded, so a damaged catalog cannot recurse without end.
import type { Catalog } from '../catalog/catalog'
import type { ViewInfo } from '../catalog/view-records'
import { ScratchBirdError } from '../core/errors'
import type { DerivedTable, FromItem, SelectStatement, TableRef } from '../sql/ast'
import { parseOne } from '../sql/parser'
import { posDetails } from './compile-expr'

/** Views expanded inside one another at most this deep. */
export const MAX_VIEW_DEPTH = 32

// Parsed once per stored view version (a ViewInfo object is replaced when the view is).
const parsed = new WeakMap<ViewInfo, SelectStatement>()

function definitionOf (v: ViewInfo): SelectStatement {
  let s = parsed.get(v)
  if (s === undefined) {
    const tree = parseOne(v.definition)
    if (tree.kind !== 'select') throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: view "${v.name}" is not a SELECT`, { view: v.name })
    s = tree
    parsed.set(v, s)
  }
  return s
}

/** `ref` as the derived table of the view it names, or `ref` itself when it names no view. */
function expandRef (c: Catalog, ref: TableRef, depth: number): TableRef | DerivedTable {
  const v = c.view(ref.name)
  if (v === undefined) return ref
  if (depth >= MAX_VIEW_DEPTH) {
    throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `views nest more than ${MAX_VIEW_DEPTH} deep (at view "${v.name}")`, { view: v.name, ...posDetails(ref.pos) })
  }
  return { kind: 'derived', pos: ref.pos, select: definitionOf(v), alias: ref.alias ?? ref.name, columns: v.columns.map(col => col.name), view: v.name }
}

/** A FROM clause with the views it names (at this level) expanded; `depth`: views already expanded around it. */
export function expandViews (c: Catalog, from: FromItem, depth: number): FromItem {
  if (c.views.length === 0) return from
  if (from.kind === 'table_ref') return expandRef(c, from, depth)
  if (from.kind === 'derived') return from
  const right = from.right.kind === 'table_ref' ? expandRef(c, from.right, depth) : from.right
  return { ...from, left: expandViews(c, from.left, depth), right }
}
