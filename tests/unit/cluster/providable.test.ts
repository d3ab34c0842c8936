import { ddlContext } from '../../../src/plan/column-default'
import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { checkProvidable } from '../../../src/cluster/catalog-sync/providable'
import type { CreateTableStatement } from '../../../src/sql/ast'
import { parse } from '../../../src/sql/parser'

function create (c: Catalog, sql: string): Catalog {
  return c.createTable(parse(sql)[0] as CreateTableStatement, ddlContext(5)).catalog
}

describe('what the cluster can provide', () => {
  it('refuses leaderless_quorum N above the configured members, naming the option', () => {
    const c = create(new Catalog(), "CREATE TABLE t (k INTEGER PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', replication_factor = 4, write_quorum = 1, read_quorum = 1)")
    expect(() => checkProvidable(c, 3)).toThrow(expect.objectContaining({ code: 'SB_INVALID_TABLE_OPTION', details: expect.objectContaining({ option: 'replication_factor', value: 4, members: 3 }) }))
    expect(() => checkProvidable(c, 4)).not.toThrow()
  })

  it('accepts primary_replica N > 1 (Mode 1 replication, issue 14) as well as N = 1', () => {
    const one = create(new Catalog(), 'CREATE TABLE a (k INTEGER PRIMARY KEY)')
    expect(() => checkProvidable(one, 3)).not.toThrow()
    const two = create(one, 'CREATE TABLE b (k INTEGER PRIMARY KEY) WITH (replication_factor = 3)')
    expect(() => checkProvidable(two, 3)).not.toThrow()
  })

  it('checks only the tables the latest version changed', () => {
    const old = create(new Catalog(), "CREATE TABLE t (k INTEGER PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', replication_factor = 4, write_quorum = 1, read_quorum = 1)")
    const next = create(old, 'CREATE TABLE u (k INTEGER PRIMARY KEY)')
    expect(() => checkProvidable(next, 3)).not.toThrow()
  })
})
