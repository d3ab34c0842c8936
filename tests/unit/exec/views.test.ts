import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { Catalog } from '../../../src/catalog/catalog'
import { testNode, type TestNode } from './local-shards'

// Views and derived tables (issue 19 item 4) through the executor over real shard engines:
// CREATE/DROP VIEW as catalog objects, view expansion at planning, derived tables in FROM and in
// joins, predicates moved into a derived table's query (EXPLAIN shows one shard), sys_views.

beforeAll(async () => { await initHashing() })

const SHARDS = 8

async function rows (node: TestNode, sql: string): Promise<string[]> {
  const res = await node.sql(sql)
  return res[res.length - 1]!.rows.map(r => r.map(v => v === null ? 'NULL' : String(v)).join(' '))
}

async function failure (node: TestNode, sql: string): Promise<{ code: string, message: string }> {
  return await node.sql(sql).then(() => { throw new Error(`expected ${sql} to fail`) }, (e: { code: string, message: string }) => e)
}

async function shop (): Promise<TestNode> {
  const node = await testNode(SHARDS, false)
  await node.sql(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, city TEXT);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER);
    INSERT INTO users VALUES (1, 'ann', 'oslo'), (2, 'bob', 'rome'), (3, 'cid', 'oslo');
    INSERT INTO orders VALUES (10, 1, 5), (11, 1, 7), (12, 2, 9), (13, 3, 1)`)
  return node
}

describe('views', () => {
  it('CREATE VIEW stores canonical text with * expanded, reads like a table, and sys_views lists it', async () => {
    const node = await shop()
    await node.sql('create view oslo as select * from users where city = \'oslo\'')
    expect(await rows(node, 'SELECT id, name FROM oslo ORDER BY id')).toEqual(['1 ann', '3 cid'])
    expect(await rows(node, 'SELECT view_name, definition, columns, reads FROM sys_views')).toEqual([
      'oslo SELECT users.id, users.name, users.city FROM users WHERE city = \'oslo\' id,name,city users'
    ])
    const v = node.env.catalog().view('oslo')!
    expect(v.columns).toEqual([{ name: 'id', type: 'INTEGER' }, { name: 'name', type: 'TEXT' }, { name: 'city', type: 'TEXT' }])
    // the catalog document keeps it across a round trip through JSON (disk, peers)
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(node.env.catalog().toJSON()))).view('oslo')).toEqual(v)
  })

  it('a view in a join, with a column list, over an aggregate, and views of views', async () => {
    const node = await shop()
    await node.sql(`CREATE VIEW spend (uid, total, n) AS SELECT user_id, sum(amount), count(*) FROM orders GROUP BY user_id;
      CREATE VIEW big AS SELECT uid, total FROM spend WHERE total > 5`)
    expect(await rows(node, 'SELECT u.name, s.total, s.n FROM users u JOIN spend s ON s.uid = u.id ORDER BY u.name')).toEqual(['ann 12 2', 'bob 9 1', 'cid 1 1'])
    expect(await rows(node, 'SELECT uid, total FROM big ORDER BY uid')).toEqual(['1 12', '2 9'])
    expect(await rows(node, 'SELECT count(*) FROM big b WHERE EXISTS (SELECT 1 FROM users WHERE users.id = b.uid AND city = \'rome\')')).toEqual(['1'])
    expect(await rows(node, 'SELECT name FROM users WHERE id IN (SELECT uid FROM big) ORDER BY name')).toEqual(['ann', 'bob'])
    // one view twice in a statement: each side reads it as a table of its own
    expect(await rows(node, 'SELECT a.uid, b.uid FROM big a JOIN big b ON b.total < a.total ORDER BY a.uid')).toEqual(['1 2'])
    expect(await rows(node, 'SELECT a.uid, b.uid FROM big a CROSS JOIN big b ORDER BY a.uid DESC, b.uid')).toEqual(['2 1', '2 2', '1 1', '1 2'])
  })

  it('OR REPLACE keeps the old columns and may add some; DROP VIEW is refused while a view reads it', async () => {
    const node = await shop()
    await node.sql('CREATE VIEW v AS SELECT id, name FROM users; CREATE VIEW w AS SELECT name FROM v')
    expect((await failure(node, 'CREATE VIEW v AS SELECT id FROM users')).code).toBe('SB_DUPLICATE_TABLE')
    await node.sql('CREATE OR REPLACE VIEW v AS SELECT id, name, city FROM users WHERE id < 3')
    expect(await rows(node, 'SELECT name FROM w ORDER BY name')).toEqual(['ann', 'bob'])
    expect(await failure(node, 'CREATE OR REPLACE VIEW v AS SELECT id FROM users')).toMatchObject({ code: 'SB_INVALID_TABLE_DEFINITION', message: expect.stringContaining('cannot drop columns') })
    expect(await failure(node, 'CREATE OR REPLACE VIEW v AS SELECT id, city, name FROM users')).toMatchObject({ code: 'SB_INVALID_TABLE_DEFINITION', message: expect.stringContaining('cannot change name') })
    // a view that would read itself through w
    expect(await failure(node, 'CREATE OR REPLACE VIEW v AS SELECT id, name, city FROM users WHERE name IN (SELECT name FROM w)')).toMatchObject({ code: 'SB_INVALID_TABLE_DEFINITION', message: expect.stringContaining('read itself') })
    expect(await failure(node, 'DROP VIEW v')).toMatchObject({ code: 'SB_DEPENDENT_OBJECTS_EXIST', message: expect.stringContaining('view "w" depends on it') })
    expect(await failure(node, 'DROP TABLE users')).toMatchObject({ code: 'SB_DEPENDENT_OBJECTS_EXIST' })
    await node.sql('DROP VIEW w; DROP VIEW v; DROP VIEW IF EXISTS v')
    expect((await failure(node, 'SELECT * FROM v')).code).toBe('SB_UNDEFINED_TABLE')
    await node.sql('DROP TABLE users')
  })

  it('tables, indexes and views share one name space; writing a view is refused', async () => {
    const node = await shop()
    await node.sql('CREATE VIEW v AS SELECT id FROM users')
    expect((await failure(node, 'CREATE TABLE v (a INTEGER PRIMARY KEY)')).code).toBe('SB_DUPLICATE_TABLE')
    expect((await failure(node, 'CREATE VIEW users AS SELECT 1 AS a')).code).toBe('SB_DUPLICATE_TABLE')
    expect((await failure(node, 'CREATE OR REPLACE VIEW users AS SELECT 1 AS a')).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node, 'DROP TABLE v')).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node, 'DROP VIEW users')).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node, 'DROP INDEX v')).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node, 'ALTER TABLE v SET replication_factor = 1')).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node, 'CREATE INDEX vi ON v (id)')).code).toBe('SB_WRONG_OBJECT_TYPE')
    expect((await failure(node, 'CREATE INDEX v ON users (name)')).code).toBe('SB_DUPLICATE_TABLE')
    expect((await failure(node, 'CREATE TABLE c (id INTEGER PRIMARY KEY, r INTEGER REFERENCES v (id))')).code).toBe('SB_WRONG_OBJECT_TYPE')
    for (const w of ['INSERT INTO v VALUES (4)', 'UPDATE v SET id = 5', 'DELETE FROM v']) {
      expect(await failure(node, w)).toMatchObject({ code: 'SB_WRONG_OBJECT_TYPE', message: expect.stringContaining('is a view') })
    }
    expect((await failure(node, 'CREATE VIEW x AS SELECT * FROM nope')).code).toBe('SB_UNDEFINED_TABLE')
    expect((await failure(node, 'CREATE VIEW x AS SELECT id FROM users WHERE id = $1')).code).toBe('SB_UNDEFINED_PARAMETER')
    expect((await failure(node, 'CREATE VIEW x (a, b) AS SELECT id FROM users')).code).toBe('SB_SYNTAX_ERROR')
    expect((await failure(node, 'CREATE VIEW x AS SELECT id, id FROM users')).code).toBe('SB_DUPLICATE_COLUMN')
    expect((await failure(node, 'CREATE VIEW sys_tables AS SELECT 1 AS a')).code).toBe('SB_FEATURE_NOT_SUPPORTED')
  })

  it('a WHERE on a view of one table pins its partition key: one shard (EXPLAIN)', async () => {
    const node = await shop()
    await node.sql('CREATE VIEW named AS SELECT id AS uid, upper(name) AS shout FROM users')
    expect(await rows(node, 'SELECT shout FROM named WHERE uid = 2')).toEqual(['BOB'])
    const plan = (await rows(node, 'EXPLAIN SELECT shout FROM named WHERE uid = 2')).join('\n')
    expect(plan).toMatch(/View named expanded: .*\(1 WHERE predicate\(s\) moved into its query\)/)
    expect(plan).toMatch(/Scan users \(table \d+\): shard \d+ \(partition key pinned\)/)
  })
})

describe('views of views', () => {
  it('a predicate moves down through every level to the table, and planning stays linear in the depth', async () => {
    const node = await testNode(SHARDS, false)
    await node.sql('CREATE TABLE deep (id INTEGER PRIMARY KEY, c INTEGER); INSERT INTO deep VALUES (1, 10), (2, 20), (3, 30)')
    await node.sql('CREATE VIEW deep0 AS SELECT id, c FROM deep WHERE c > 0')
    const levels = 14
    for (let i = 1; i <= levels; i++) await node.sql(`CREATE VIEW deep${i} AS SELECT id, c + 1 AS c FROM deep${i - 1} WHERE c > ${i}`)
    // Planning reads the catalog a few times per query level: count it for one query.
    const catalog = node.env.catalog
    let reads = 0
    node.env.catalog = () => { reads++; return catalog() }
    expect(await rows(node, `SELECT id, c FROM deep${levels} WHERE id = 2`)).toEqual([`2 ${20 + levels}`])
    node.env.catalog = catalog
    // Each level's query is planned again once a predicate moves into it; reusing the plans of the
    // levels below keeps that to a few plans per level (2^levels before).
    expect(reads).toBeLessThan(40 * levels)
    const plan = (await rows(node, `EXPLAIN SELECT id FROM deep${levels} WHERE id = 2`)).join('\n')
    expect(plan).toMatch(/Scan deep \(table \d+\): shard \d+ \(partition key pinned\)/)
  })
})

describe('view expansion depth', () => {
  it('a damaged catalog whose views read each other is refused with a coded error, not a stack overflow', async () => {
    const node = await shop()
    const loop = (name: string, other: string) => ({ name, definition: `SELECT x FROM ${other}`, columns: [{ name: 'x', type: 'INTEGER' }], reads: [other], version: 1 })
    const c = node.env.catalog()
    node.env.setCatalog(new Catalog({ ...c.state, version: c.version + 1, views: [loop('v1', 'v2'), loop('v2', 'v1')] }))
    expect(await failure(node, 'SELECT * FROM v1')).toMatchObject({ code: 'SB_INVALID_TABLE_DEFINITION', message: expect.stringContaining('views nest more than 32 deep') })
  })
})

describe('derived tables', () => {
  it('aliases, column lists, GROUP BY inside, joined with tables and with each other', async () => {
    const node = await shop()
    expect(await rows(node, 'SELECT d.x + 1 FROM (SELECT id AS x FROM users WHERE city = \'oslo\') AS d ORDER BY 1')).toEqual(['2', '4'])
    expect(await rows(node, 'SELECT a, b FROM (SELECT id, name FROM users) t (a, b) WHERE a = 3')).toEqual(['3 cid'])
    expect(await rows(node, 'SELECT t.* FROM (SELECT user_id, sum(amount) AS s FROM orders GROUP BY user_id) t ORDER BY s DESC')).toEqual(['1 12', '2 9', '3 1'])
    expect(await rows(node, `SELECT u.name, t.s FROM users u LEFT JOIN (SELECT user_id, sum(amount) AS s FROM orders WHERE amount > 4 GROUP BY user_id) t
      ON t.user_id = u.id ORDER BY u.name`)).toEqual(['ann 12', 'bob 9', 'cid NULL'])
    expect(await rows(node, `SELECT a.c, b.n FROM (SELECT city AS c, count(*) AS n FROM users GROUP BY city) a
      JOIN (SELECT count(*) AS n FROM orders) b ON b.n > a.n ORDER BY a.c`)).toEqual(['oslo 4', 'rome 4'])
    expect(await rows(node, 'SELECT max(s) FROM (SELECT user_id, sum(amount) AS s FROM orders GROUP BY user_id) t')).toEqual(['12'])
    expect(await rows(node, 'SELECT * FROM (SELECT * FROM (SELECT id FROM users WHERE id > 1) i) o ORDER BY id')).toEqual(['2', '3'])
    // in a correlated subquery: the derived rows are computed once, filtered per enclosing row
    expect(await rows(node, 'SELECT name, (SELECT count(*) FROM (SELECT user_id FROM orders) o WHERE o.user_id = users.id) FROM users ORDER BY id'))
      .toEqual(['ann 2', 'bob 1', 'cid 1'])
  })

  it('EXPLAIN shows a derived table joined on the coordinator, its own query beneath, and the predicate moved into it', async () => {
    const node = await shop()
    const plan = (await rows(node, 'EXPLAIN SELECT u.name, d.amount FROM users u JOIN (SELECT user_id, amount FROM orders) d ON d.user_id = u.id WHERE d.user_id = 3')).join('\n')
    expect(plan).toMatch(/Join users u, \(subquery\) d: a derived table or view is computed on the coordinator/)
    expect(plan).toMatch(/Derived table d: its query runs first.*\(1 predicate\(s\) moved into its query\)/)
    expect(plan).toMatch(/ {2}Scan orders \(table \d+\): all 8 shards/)
    expect(await rows(node, 'SELECT u.name, d.amount FROM users u JOIN (SELECT user_id, amount FROM orders) d ON d.user_id = u.id WHERE d.user_id = 3')).toEqual(['cid 1'])
  })

  it('errors: a missing alias, too many column names, repeated names, an undefined column', async () => {
    const node = await shop()
    expect((await failure(node, 'SELECT * FROM (SELECT 1)')).code).toBe('SB_SYNTAX_ERROR')
    expect((await failure(node, 'SELECT * FROM (SELECT 1) d (a, b)')).code).toBe('SB_SYNTAX_ERROR')
    expect((await failure(node, 'SELECT * FROM (SELECT id, id FROM users) d')).code).toBe('SB_DUPLICATE_COLUMN')
    expect((await failure(node, 'SELECT d.name FROM (SELECT id FROM users) d')).code).toBe('SB_UNDEFINED_COLUMN')
  })
})
