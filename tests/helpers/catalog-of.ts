import { Catalog } from '../../src/catalog/catalog'
import { ddlContext } from '../../src/plan/column-default'
import type { TableDdlStatement } from '../../src/sql/ast'
import { parseOne } from '../../src/sql/parser'

/** A catalog built by applying DDL statements in order, as node 3 would (tests that need relations, not a node). */
export function catalogOf (statements: readonly string[]): Catalog {
  let c = new Catalog()
  for (const sql of statements) c = c.apply(parseOne(sql) as TableDdlStatement, ddlContext(3)).catalog
  return c
}
