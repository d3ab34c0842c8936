import { ddlContext } from '../../../src/plan/column-default'
import { describe, expect, it } from 'vitest'
import { Catalog, FIRST_USER_TABLE_ID } from '../../../src/catalog/catalog'
import type { AlterTableStatement, CreateTableStatement, DropTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

const one = <T>(sql: string): T => parseOne(sql) as T
const ctx = ddlContext(3)

function create (c: Catalog, sql: string): { c: Catalog, warnings: string[] } {
  const r = c.createTable(one<CreateTableStatement>(sql), ctx)
  return { c: r.catalog, warnings: r.warnings }
}

describe('catalog', () => {
  it('creates tables with the seed\'s replication defaults and versions every change', () => {
    const { c, warnings } = create(new Catalog(), 'CREATE TABLE users (user_id TEXT PRIMARY KEY, name VARCHAR(100) NOT NULL)')
    expect(warnings).toEqual([])
    const t = c.mustTable('users')
    expect(t).toMatchObject({ id: FIRST_USER_TABLE_ID, primaryKey: ['user_id'], version: 1 })
    expect(t.replication).toEqual({ replication_mode: 'primary_replica', replication_factor: 1, write_quorum: 1, read_quorum: 1, uuid_type: 'v7', partition_key_columns: null })
    expect(t.columns.map(x => [x.name, x.type.name, x.notNull, x.position])).toEqual([['user_id', 'text', true, 1], ['name', 'varchar', true, 2]])
    expect(c.version).toBe(1)
    expect(Catalog.partitionKey(t)).toEqual(['user_id'])
  })

  it('warns "Consider PARTITION BY user_id for colocation" for a foreign key on another shard', () => {
    let { c } = create(new Catalog(), 'CREATE TABLE users (user_id TEXT PRIMARY KEY, name TEXT)')
    const apart = create(c, 'CREATE TABLE orders (order_id UUID PRIMARY KEY, user_id TEXT REFERENCES users(user_id), amount DECIMAL(10,2))')
    expect(apart.warnings).toEqual(['Consider PARTITION BY user_id for colocation'])
    const together = create(c, 'CREATE TABLE orders (order_id UUID, user_id TEXT REFERENCES users, amount DECIMAL(10,2), PRIMARY KEY (user_id, order_id)) PARTITION BY user_id')
    expect(together.warnings).toEqual([])
    c = together.c
    expect(c.mustTable('orders').foreignKeys).toEqual([{ columns: ['user_id'], table: 'users', refColumns: ['user_id'] }])
  })

  it('runs the seed\'s ALTER TABLE … SET lines and validates each result', () => {
    let { c } = create(new Catalog(), 'CREATE TABLE sensor_data (sensor_id UUID PRIMARY KEY, value DOUBLE PRECISION) WITH (uuid_type = \'v8_hlc\')')
    for (const sql of [
      "ALTER TABLE sensor_data SET replication_mode = 'leaderless_quorum'",
      'ALTER TABLE sensor_data SET replication_factor = 3',
      'ALTER TABLE sensor_data SET write_quorum = 2',
      'ALTER TABLE sensor_data SET read_quorum = 2'
    ]) c = c.alterTable(one<AlterTableStatement>(sql), ctx).catalog
    expect(c.mustTable('sensor_data').replication).toMatchObject({ replication_mode: 'leaderless_quorum', replication_factor: 3, write_quorum: 2, read_quorum: 2, uuid_type: 'v8_hlc' })
    expect(c.version).toBe(5)
    expect(() => c.alterTable(one<AlterTableStatement>('ALTER TABLE sensor_data SET write_quorum = 4'), ctx)).toThrow(expect.objectContaining({ code: 'SB_INVALID_TABLE_OPTION', details: expect.objectContaining({ option: 'write_quorum' }) }))
    const weak = c.alterTable(one<AlterTableStatement>('ALTER TABLE sensor_data SET write_quorum = 1'), ctx)
    expect(weak.warnings.join('\n')).toMatch(/W ≤ N\/2/)
    expect(() => c.alterTable(one<AlterTableStatement>('ALTER TABLE sensor_data SET replication_factor = 5'), ctx)).toThrow(/exceeds the 3 live nodes/)
  })

  it('creates a leaderless table in one statement and rejects one with an explicit v7', () => {
    const { c } = create(new Catalog(), "CREATE TABLE s (id UUID PRIMARY KEY) WITH (replication_mode='leaderless_quorum', replication_factor=3, write_quorum=2, read_quorum=2, uuid_type='v8_hlc')")
    expect(c.mustTable('s').replication.replication_mode).toBe('leaderless_quorum')
    expect(() => create(new Catalog(), "CREATE TABLE s (id UUID PRIMARY KEY) WITH (replication_mode='leaderless_quorum', uuid_type='v7')"))
      .toThrow(expect.objectContaining({ code: 'SB_INVALID_TABLE_OPTION', details: expect.objectContaining({ option: 'uuid_type' }) }))
    const implied = create(new Catalog(), "CREATE TABLE s (id UUID PRIMARY KEY) WITH (replication_mode='leaderless_quorum')")
    expect(implied.c.mustTable('s').replication.uuid_type).toBe('v8_hlc')
    expect(implied.warnings[0]).toMatch(/uuid_type set to 'v8_hlc'/)
  })

  it('runs the seed\'s migration lines in the seed\'s order on an existing v7 table', () => {
    let { c } = create(new Catalog(), 'CREATE TABLE sensor_data (sensor_id UUID PRIMARY KEY, value DOUBLE PRECISION)')
    const warnings: string[] = []
    for (const sql of [
      "ALTER TABLE sensor_data SET replication_mode = 'leaderless_quorum'",
      'ALTER TABLE sensor_data SET replication_factor = 3',
      'ALTER TABLE sensor_data SET write_quorum = 2',
      'ALTER TABLE sensor_data SET read_quorum = 2',
      "ALTER TABLE sensor_data SET uuid_type = 'v8_hlc'"
    ]) {
      const r = c.alterTable(one<AlterTableStatement>(sql), ctx)
      c = r.catalog
      warnings.push(...r.warnings)
    }
    expect(c.mustTable('sensor_data').replication).toMatchObject({ replication_mode: 'leaderless_quorum', replication_factor: 3, write_quorum: 2, read_quorum: 2, uuid_type: 'v8_hlc' })
    expect(warnings[0]).toMatch(/uuid_type set to 'v8_hlc'/)
    // … and the seed's rollback to Mode 1 in its order too
    for (const sql of ["ALTER TABLE sensor_data SET replication_mode = 'primary_replica'", "ALTER TABLE sensor_data SET uuid_type = 'v7'"]) {
      c = c.alterTable(one<AlterTableStatement>(sql), ctx).catalog
    }
    expect(c.mustTable('sensor_data').replication).toMatchObject({ replication_mode: 'primary_replica', uuid_type: 'v7' })
    // an explicit conflict is still refused
    expect(() => create(new Catalog(), "CREATE TABLE x (id INT PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v7')")).toThrow(/requires uuid_type='v8_hlc'/)
  })

  it('gives a table declared without a primary key a hidden UUID row id, its key and partition key', () => {
    let { c } = create(new Catalog(), 'CREATE TABLE t1 (a INTEGER, rowid TEXT)')
    const t = c.mustTable('t1')
    expect(t.primaryKey).toEqual(['rowid_1'])
    expect(Catalog.partitionKey(t)).toEqual(['rowid_1'])
    expect(t.columns.at(-1)).toEqual({ name: 'rowid_1', type: { name: 'uuid', length: null, precision: null, scale: null }, notNull: true, position: 3, default: 'gen_uuidv7()', hidden: true })
    expect(Catalog.visibleColumns(t).map(x => x.name)).toEqual(['a', 'rowid'])
    // PARTITION BY still chooses the partition key; a v8 table's row ids are UUIDv8-HLC.
    c = create(c, "CREATE TABLE t2 (a INTEGER, b TEXT) PARTITION BY b WITH (uuid_type = 'v8_hlc')").c
    const t2 = c.mustTable('t2')
    expect([t2.primaryKey, Catalog.partitionKey(t2), t2.columns.at(-1)!.default]).toEqual([['rowid'], ['b'], 'gen_uuidv8_hlc()'])
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).mustTable('t2').columns.at(-1)!.hidden).toBe(true)
  })

  it('rejects bad definitions with coded errors and changes nothing', () => {
    const { c } = create(new Catalog(), 'CREATE TABLE t (a INT PRIMARY KEY)')
    const bad: Array<[string, string]> = [
      ['CREATE TABLE t (a INT PRIMARY KEY)', 'SB_DUPLICATE_TABLE'],
      ['CREATE TABLE u (a INT PRIMARY KEY, a TEXT)', 'SB_DUPLICATE_COLUMN'],
      ['CREATE TABLE u (a INT PRIMARY KEY, b INT PRIMARY KEY)', 'SB_INVALID_TABLE_DEFINITION'],
      ['CREATE TABLE u (a INT, PRIMARY KEY (z))', 'SB_UNDEFINED_COLUMN'],
      ['CREATE TABLE u (a INT PRIMARY KEY) PARTITION BY z', 'SB_UNDEFINED_COLUMN'],
      ['CREATE TABLE u (a INT PRIMARY KEY, b INT REFERENCES nope)', 'SB_UNDEFINED_TABLE'],
      ['CREATE TABLE u (a INT PRIMARY KEY) WITH (write_quorum = 2)', 'SB_INVALID_TABLE_OPTION'],
      ["CREATE TABLE u (a INT PRIMARY KEY) WITH (colour = 'blue')", 'SB_INVALID_TABLE_OPTION']
    ]
    for (const [sql, code] of bad) expect(() => create(c, sql), sql).toThrow(expect.objectContaining({ code }))
    expect(c.version).toBe(1)
    expect(create(c, 'CREATE TABLE IF NOT EXISTS t (a INT PRIMARY KEY)').c).toBe(c)
  })

  it('drops tables, refusing one still referenced, and survives a JSON round trip', () => {
    let { c } = create(new Catalog(), 'CREATE TABLE users (user_id TEXT PRIMARY KEY)')
    c = create(c, 'CREATE TABLE orders (id INT PRIMARY KEY, user_id TEXT REFERENCES users)').c
    expect(() => c.dropTable(one<DropTableStatement>('DROP TABLE users'))).toThrow(/table "orders" references it/)
    const back = Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON())))
    expect(back.mustTable('orders')).toEqual(c.mustTable('orders'))
    c = c.dropTable(one<DropTableStatement>('DROP TABLE orders')).catalog
    expect(c.table('orders')).toBeUndefined()
    // ids are never reused
    expect(create(c, 'CREATE TABLE orders (id INT PRIMARY KEY)').c.mustTable('orders').id).toBe(FIRST_USER_TABLE_ID + 2)
    expect(() => Catalog.fromJSON({ version: 'x' })).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })
})

describe('catalog store', () => {
  it('persists atomically and reloads; an empty data dir has an empty catalog; garbage is refused', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { loadCatalog, saveCatalog } = await import('../../../src/catalog/store')
    const dir = mkdtempSync(join(tmpdir(), 'sb-cat-'))
    expect(loadCatalog(dir).version).toBe(0)
    const { c } = create(new Catalog(), 'CREATE TABLE users (user_id TEXT PRIMARY KEY)')
    saveCatalog(dir, c)
    expect(loadCatalog(dir).mustTable('users')).toEqual(c.mustTable('users'))
    writeFileSync(join(dir, 'catalog.json'), '{"format": 1, "catalog": ')
    expect(() => loadCatalog(dir)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })
})

describe('layout floor (issue 13 write fence)', () => {
  it('survives later CREATE TABLEs: a node with a catalog older than a re-layout stays refused', () => {
    let { c } = create(new Catalog(), 'CREATE TABLE orders (order_id INT, user_id TEXT, PRIMARY KEY (user_id, order_id))')
    c = c.alterTable(one<AlterTableStatement>("ALTER TABLE orders SET partition_key_columns = 'user_id'"), ctx).catalog
    const floor = c.layoutFloor
    expect(floor).toBe(c.version)
    c = create(c, 'CREATE TABLE other (id INT PRIMARY KEY)').c
    expect(c.layoutFloor).toBe(floor)
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).layoutFloor).toBe(floor)
  })
})
