import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { SessionState } from '../../../src/exec/txn'
import { testNode, type TestNode } from './local-shards'

// Foreign keys enforced (issue 19 item 3), through the executor over real shard engines.

beforeAll(async () => { await initHashing() })

const SCHEMA = `CREATE TABLE users (user_id TEXT PRIMARY KEY, name TEXT);
  CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id TEXT REFERENCES users (user_id), amount INTEGER) PARTITION BY user_id;
  CREATE TABLE items (item_id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders ON DELETE CASCADE)`

async function rows (node: TestNode, sql: string, session?: SessionState): Promise<unknown[][]> {
  const res = await node.sql(sql, session)
  return res[res.length - 1]!.rows.map(r => r.map(v => v === null || typeof v === 'boolean' ? v : String(v)))
}

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

describe('referencing rows need the referenced row', () => {
  it('INSERT and UPDATE of a child check the parent exists (23503); NULL is not checked', async () => {
    const node = await testNode(8, false)
    await node.sql(SCHEMA)
    await node.sql("INSERT INTO users VALUES ('u1', 'Alice')")
    await node.sql("INSERT INTO orders VALUES (1, 'u1', 10), (2, NULL, 20)")
    const e = await failure(node.sql("INSERT INTO orders VALUES (3, 'u9', 30)"))
    expect(e.code).toBe('SB_FOREIGN_KEY_VIOLATION')
    expect(e.message).toContain('is not present in table "users"')
    expect((await failure(node.sql('INSERT INTO items VALUES (1, 7)'))).code).toBe('SB_FOREIGN_KEY_VIOLATION')
    await node.sql('INSERT INTO items VALUES (1, 1)')
    expect((await failure(node.sql('UPDATE items SET order_id = 5 WHERE item_id = 1'))).code).toBe('SB_FOREIGN_KEY_VIOLATION')
    expect(await rows(node, 'SELECT count(*) FROM orders')).toEqual([['2']])
  })

  it('the parent written earlier in the same transaction counts; a rolled-back parent does not', async () => {
    const node = await testNode(8, false)
    await node.sql(SCHEMA)
    const s = new SessionState()
    await node.sql("BEGIN; INSERT INTO users VALUES ('u2', 'Bob'); INSERT INTO orders VALUES (5, 'u2', 1); COMMIT", s)
    expect(await rows(node, 'SELECT order_id FROM orders')).toEqual([['5']])
    const t = new SessionState()
    await node.sql("BEGIN; INSERT INTO users VALUES ('u3', 'Eve')", t)
    // another session does not see u3 yet
    expect((await failure(node.sql("INSERT INTO orders VALUES (6, 'u3', 1)"))).code).toBe('SB_FOREIGN_KEY_VIOLATION')
    await node.sql('ROLLBACK', t)
  })

  it('a concurrent DELETE of the parent conflicts with the transaction adding a child', async () => {
    const node = await testNode(8, false)
    await node.sql(SCHEMA)
    await node.sql("INSERT INTO users VALUES ('u1', 'Alice')")
    const child = new SessionState()
    await node.sql("BEGIN; INSERT INTO orders VALUES (1, 'u1', 10)", child)
    expect((await failure(node.sql("DELETE FROM users WHERE user_id = 'u1'"))).code).toBe('SB_UPDATE_CONFLICT')
    await node.sql('COMMIT', child)
    expect(await rows(node, 'SELECT o.order_id, u.name FROM orders o JOIN users u ON o.user_id = u.user_id')).toEqual([['1', 'Alice']])
  })
})

describe('referenced rows', () => {
  it('DELETE / key UPDATE of a referenced row is refused (NO ACTION); unreferenced ones go', async () => {
    const node = await testNode(8, false)
    await node.sql(SCHEMA)
    await node.sql("INSERT INTO users VALUES ('u1', 'Alice'), ('u2', 'Bob'); INSERT INTO orders VALUES (1, 'u1', 10)")
    const e = await failure(node.sql("DELETE FROM users WHERE user_id = 'u1'"))
    expect(e.code).toBe('SB_FOREIGN_KEY_VIOLATION')
    expect(e.message).toContain('is still referenced')
    await node.sql("UPDATE users SET name = 'Al' WHERE user_id = 'u1'")
    expect((await node.sql("DELETE FROM users WHERE user_id = 'u2'"))[0]!.rowCount).toBe(1)
    expect(await rows(node, 'SELECT user_id, name FROM users')).toEqual([['u1', 'Al']])
  })

  it('a referenced UNIQUE key (found through its global index) cannot change while referenced', async () => {
    const node = await testNode(8, false)
    await node.sql('CREATE TABLE cat (id INTEGER PRIMARY KEY, code TEXT UNIQUE); CREATE TABLE prod (id INTEGER PRIMARY KEY, code TEXT REFERENCES cat (code))')
    await node.sql("INSERT INTO cat VALUES (1, 'a'), (2, 'b'); INSERT INTO prod VALUES (10, 'a')")
    expect((await failure(node.sql("INSERT INTO prod VALUES (11, 'z')"))).code).toBe('SB_FOREIGN_KEY_VIOLATION')
    expect((await failure(node.sql("UPDATE cat SET code = 'c' WHERE id = 1"))).code).toBe('SB_FOREIGN_KEY_VIOLATION')
    await node.sql("UPDATE cat SET code = 'c' WHERE id = 2")
    expect(await rows(node, 'SELECT id, code FROM cat ORDER BY id')).toEqual([['1', 'a'], ['2', 'c']])
  })

  it('ON DELETE CASCADE deletes the referencing rows in the same transaction', async () => {
    const node = await testNode(8, false)
    await node.sql(SCHEMA)
    await node.sql("INSERT INTO users VALUES ('u1', 'Alice'); INSERT INTO orders VALUES (1, 'u1', 10), (2, 'u1', 20); INSERT INTO items VALUES (10, 1), (11, 1), (12, 2)")
    expect((await node.sql('DELETE FROM orders WHERE order_id = 1'))[0]!.rowCount).toBe(1)
    expect(await rows(node, 'SELECT item_id FROM items')).toEqual([['12']])
    // the cascade stops at a NO ACTION reference further up: users → orders is not cascading
    expect((await failure(node.sql("DELETE FROM users WHERE user_id = 'u1'"))).code).toBe('SB_FOREIGN_KEY_VIOLATION')
  })

  it('a foreign key must reference a unique key; leaderless tables take no part', async () => {
    const node = await testNode(8, true)
    await node.sql('CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT)')
    expect((await failure(node.sql('CREATE TABLE c (id INTEGER PRIMARY KEY, code TEXT REFERENCES p (code))'))).code).toBe('SB_INVALID_TABLE_DEFINITION')
    expect((await failure(node.sql("CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')"))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
    await node.sql('CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p)')
    expect((await failure(node.sql("ALTER TABLE p SET replication_mode = 'leaderless_quorum'"))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect((await failure(node.sql('CREATE TABLE c2 (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p ON UPDATE CASCADE)'))).code).toBe('SB_FEATURE_NOT_SUPPORTED')
  })
})
