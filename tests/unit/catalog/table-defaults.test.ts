import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import type { TableDefaults } from '../../../src/catalog/replication-options'
import { ddlContext } from '../../../src/plan/column-default'
import type { CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// The config's replication.default_* as the options of a new table whose CREATE TABLE does not
// set them (issue 13 item 7); the statement's WITH (…) options win.

const LEADERLESS: TableDefaults = { replication_mode: 'leaderless_quorum', replication_factor: 3, write_quorum: 2, read_quorum: 2 }

function create (sql: string, defaults: TableDefaults, live = 3): { c: Catalog, warnings: string[] } {
  const r = new Catalog().createTable(parseOne(sql) as CreateTableStatement, ddlContext(live, defaults))
  return { c: r.catalog, warnings: r.warnings }
}

describe('CREATE TABLE takes the configured defaults', () => {
  it('a table without options gets them, with the uuid_type its mode needs', () => {
    const { c, warnings } = create('CREATE TABLE t (id UUID PRIMARY KEY)', LEADERLESS)
    expect(c.mustTable('t').replication).toEqual({ replication_mode: 'leaderless_quorum', replication_factor: 3, write_quorum: 2, read_quorum: 2, uuid_type: 'v8_hlc', partition_key_columns: null })
    expect(warnings).toEqual([])
  })

  it('the statement\'s options win; a default quorum above the N it chose is lowered to it, with a warning', () => {
    const small = create('CREATE TABLE t (id UUID PRIMARY KEY) WITH (replication_factor = 1)', LEADERLESS)
    expect(small.c.mustTable('t').replication).toMatchObject({ replication_mode: 'leaderless_quorum', replication_factor: 1, write_quorum: 1, read_quorum: 1 })
    expect(small.warnings).toEqual([
      'write_quorum lowered from the configured default 2 (replication.write_quorum) to replication_factor=1',
      'read_quorum lowered from the configured default 2 (replication.read_quorum) to replication_factor=1'
    ])
    const named = create('CREATE TABLE t (id UUID PRIMARY KEY) WITH (write_quorum = 3)', LEADERLESS)
    expect(named.c.mustTable('t').replication).toMatchObject({ replication_factor: 3, write_quorum: 3, read_quorum: 2 })
    // A quorum the statement names is validated, not lowered.
    expect(() => create('CREATE TABLE t (id UUID PRIMARY KEY) WITH (replication_factor = 2, write_quorum = 3)', LEADERLESS)).toThrow(/W must be ≤ N/)
  })

  it('primary_replica named under a leaderless default keeps UUIDv7; leaderless named under the seed\'s default switches it', () => {
    const p = create("CREATE TABLE t (id UUID PRIMARY KEY) WITH (replication_mode = 'primary_replica', replication_factor = 1)", LEADERLESS)
    expect(p.c.mustTable('t').replication).toMatchObject({ replication_mode: 'primary_replica', replication_factor: 1, uuid_type: 'v7' })
    const q = create("CREATE TABLE t (id UUID PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum')", { replication_mode: 'primary_replica', replication_factor: 1, write_quorum: 1, read_quorum: 1 })
    expect(q.c.mustTable('t').replication).toMatchObject({ replication_mode: 'leaderless_quorum', uuid_type: 'v8_hlc' })
    expect(q.warnings[0]).toMatch(/uuid_type set to 'v8_hlc'/)
  })

  it('a default N above the live nodes refuses the CREATE, naming replication_factor; the statement can ask for fewer', () => {
    expect(() => create('CREATE TABLE t (id UUID PRIMARY KEY)', LEADERLESS, 2)).toThrow(expect.objectContaining({ code: 'SB_INVALID_TABLE_OPTION', details: expect.objectContaining({ option: 'replication_factor' }) }))
    expect(create('CREATE TABLE t (id UUID PRIMARY KEY) WITH (replication_factor = 2, write_quorum = 2, read_quorum = 1)', LEADERLESS, 2).c.mustTable('t').replication).toMatchObject({ replication_factor: 2, write_quorum: 2, read_quorum: 1 })
  })
})
