import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPgNode } from './helpers'

// The PostgreSQL wire protocol against real drivers: node-postgres (`pg`) and postgres.js, on a
// real node process. Types round-trip in text and binary; parameters, prepared statements,
// transactions, errors with SQLSTATE and our code, notices.

let node: Awaited<ReturnType<typeof startPgNode>>
beforeAll(async () => { node = await startPgNode() })
afterAll(() => { node?.proc.kill('SIGKILL') })

const raw = (v: unknown): unknown => v
/** Every value as the bytes or text the server sent (no driver parsing: we check the wire). */
const rawTypes = { getTypeParser: () => raw } as unknown as pg.CustomTypesConfig

async function pgClient (opts: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: node.host, port: node.port, user: 'tester', database: 'db', ...opts })
  await c.connect()
  return c
}

const TYPES_TABLE = `CREATE TABLE typed (id INTEGER PRIMARY KEY, s SMALLINT, i INTEGER, b BIGINT, n DECIMAL(12,3), r REAL, d DOUBLE PRECISION,
  t TEXT, v VARCHAR(10), c CHAR(4), bo BOOLEAN, u UUID, dt DATE, ts TIMESTAMP, by BYTEA)`
const UUID = '0190a2b3-c4d5-8e6f-8a7b-8c9d0e1f2a3b'

describe('node-postgres (pg)', () => {
  it('a named prepared statement is planned once, routes by each Bind, and is planned again after DDL', async () => {
    const c = await pgClient()
    await c.query("CREATE TABLE pc (k BIGINT PRIMARY KEY, v TEXT); INSERT INTO pc VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    const q = { name: 'pc_get', text: 'SELECT * FROM pc WHERE k = $1' }
    for (const [k, v] of [[1, 'a'], [2, 'b'], [3, 'c'], [1, 'a']] as const) expect((await c.query({ ...q, values: [k] })).rows).toEqual([{ k: String(k), v }])
    await c.query('DROP TABLE pc')
    await expect(c.query({ ...q, values: [1] })).rejects.toMatchObject({ code: '42P01' })
    await c.query("CREATE TABLE pc (k BIGINT PRIMARY KEY, v TEXT, w INTEGER); INSERT INTO pc VALUES (1, 'x', 5)")
    const again = await c.query({ ...q, values: [1] })
    expect(again.rows).toEqual([{ k: '1', v: 'x', w: 5 }])
    expect(again.fields.map(f => f.name)).toEqual(['k', 'v', 'w'])
    await c.query('DROP TABLE pc')
    await c.end()
  })

  it('connects, runs simple and parameterised queries, and reports notices', async () => {
    const c = await pgClient()
    const notices: string[] = []
    c.on('notice', (n) => notices.push(n.message ?? ''))
    const id = await c.query('SELECT gen_uuidv8_hlc()')
    expect(id.rows[0].gen_uuidv8_hlc).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(id.fields[0]).toMatchObject({ name: 'gen_uuidv8_hlc', dataTypeID: 2950 })
    await c.query('CREATE TABLE users (user_id VARCHAR(50) PRIMARY KEY, name TEXT NOT NULL)')
    const orders = await c.query('CREATE TABLE orders (order_id UUID PRIMARY KEY, user_id VARCHAR(50) REFERENCES users (user_id), amount DECIMAL(10,2))')
    expect(orders.command).toBe('CREATE')
    expect(notices).toEqual(['Consider PARTITION BY user_id for colocation'])
    const ins = await c.query('INSERT INTO users (user_id, name) VALUES ($1, $2), ($3, $4)', ['u1', 'Alice', 'u2', 'Bob'])
    expect(ins).toMatchObject({ command: 'INSERT', rowCount: 2 })
    const sel = await c.query('SELECT name FROM users WHERE user_id = $1', ['u2'])
    expect(sel.rows).toEqual([{ name: 'Bob' }])
    const upd = await c.query('UPDATE users SET name = $1 WHERE user_id = $2', ['Robert', 'u2'])
    expect(upd).toMatchObject({ command: 'UPDATE', rowCount: 1 })
    // several statements in one simple query: one result each
    const multi = await c.query("SELECT 1 AS a; SELECT 'x' AS b; DELETE FROM users WHERE user_id = 'u1'") as unknown as pg.QueryResult[]
    expect(multi.map(r => r.command)).toEqual(['SELECT', 'SELECT', 'DELETE'])
    expect(multi[2]!.rowCount).toBe(1)
    // a named prepared statement, run twice with different parameters
    const q = { name: 'by_id', text: 'SELECT name FROM users WHERE user_id = $1' }
    expect((await c.query({ ...q, values: ['u2'] })).rows).toEqual([{ name: 'Robert' }])
    expect((await c.query({ ...q, values: ['u1'] })).rows).toEqual([])
    // what drivers and tools ask on connect
    expect((await c.query('SELECT version()')).rows[0].version).toMatch(/^PostgreSQL 15\.0 \(ScratchBird /)
    expect((await c.query("SELECT current_setting('standard_conforming_strings')")).rows).toEqual([{ current_setting: 'on' }])
    await c.query("SET application_name = 'pgwire-test'")
    expect((await c.query('SHOW application_name')).rows).toEqual([{ application_name: 'pgwire-test' }])
    await c.end()
  })

  it('round-trips every type and NULL in text format, parameters in text', async () => {
    const c = await pgClient({ types: rawTypes })
    await c.query(TYPES_TABLE)
    await c.query('INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)',
      [1, -32768, 2147483647, '-9223372036854775808', '-123456789.125', 0.1, 1.5e300, 'héllo ✓', 'ten chars!', 'ab', true, UUID, '2024-02-29', '2024-02-29 23:59:59.123456', Buffer.from([0, 1, 254, 255])])
    await c.query('INSERT INTO typed (id) VALUES ($1)', [2])
    const r = await c.query('SELECT * FROM typed ORDER BY id')
    expect(Object.entries(r.rows[0])).toEqual([
      ['id', '1'], ['s', '-32768'], ['i', '2147483647'], ['b', '-9223372036854775808'], ['n', '-123456789.125'], ['r', '0.1'], ['d', '1.5e+300'],
      ['t', 'héllo ✓'], ['v', 'ten chars!'], ['c', 'ab  '], ['bo', 't'], ['u', UUID], ['dt', '2024-02-29'], ['ts', '2024-02-29 23:59:59.123456'], ['by', '\\x0001feff']
    ])
    expect(Object.values(r.rows[1]).slice(1).every(v => v === null)).toBe(true)
    expect(r.fields.map(f => f.dataTypeID)).toEqual([23, 21, 23, 20, 1700, 700, 701, 25, 1043, 1042, 16, 2950, 1082, 1114, 17])
    await c.end()
  })

  it('runs transactions: BEGIN/COMMIT/ROLLBACK, invisible to others until COMMIT, aborted after an error', async () => {
    const a = await pgClient()
    const b = await pgClient()
    await a.query('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)')
    await a.query('BEGIN')
    await a.query('INSERT INTO kv VALUES ($1, $2)', ['a', 1])
    expect((await a.query('SELECT count(*) AS n FROM kv')).rows).toEqual([{ n: '1' }])
    expect((await b.query('SELECT count(*) AS n FROM kv')).rows).toEqual([{ n: '0' }])
    expect((await a.query('COMMIT')).command).toBe('COMMIT')
    expect((await b.query('SELECT v FROM kv WHERE k = $1', ['a'])).rows).toEqual([{ v: 1 }])

    await a.query('BEGIN')
    await a.query("UPDATE kv SET v = 5 WHERE k = 'a'")
    expect((await a.query('ROLLBACK')).command).toBe('ROLLBACK')
    expect((await b.query("SELECT v FROM kv WHERE k = 'a'")).rows).toEqual([{ v: 1 }])

    await a.query('BEGIN')
    await expect(a.query('SELECT * FROM nowhere')).rejects.toMatchObject({ code: '42P01' })
    await expect(a.query('SELECT 1')).rejects.toMatchObject({ code: '25P02', detail: 'SB_TXN_ABORTED' })
    // COMMIT of a failed transaction rolls back, as in PostgreSQL
    expect((await a.query('COMMIT')).command).toBe('ROLLBACK')
    expect((await a.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    await a.end()
    await b.end()
  })

  it('reports errors with their SQLSTATE, our code in the detail, and the position of a syntax error', async () => {
    const c = await pgClient()
    await expect(c.query('SELECT * FROM nowhere')).rejects.toMatchObject({ code: '42P01', detail: 'SB_UNDEFINED_TABLE {"table":"nowhere"}', severity: 'ERROR' })
    await expect(c.query("INSERT INTO kv VALUES ('a', 2)")).rejects.toMatchObject({ code: '23505' })
    await expect(c.query('SELECT 1 / 0')).rejects.toMatchObject({ code: '22012', detail: 'SB_DIVISION_BY_ZERO' })
    const syntax = await c.query('SELECT 1;\nSELEC 2').catch((e: unknown) => e)
    expect(syntax).toMatchObject({ code: '42601', position: '11' })
    await expect(c.query({ text: 'SELEC $1', values: [1] })).rejects.toMatchObject({ code: '42601' })
    await expect(c.query('SHOW no_such_parameter')).rejects.toMatchObject({ code: '42704' })
    await expect(c.query("SET client_encoding = 'LATIN1'")).rejects.toMatchObject({ code: '0A000' })
    // the connection is still usable after every error
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }])
    await c.end()
  })
})

describe('postgres.js', () => {
  it('runs tagged-template queries with prepared statements, transactions, cursors and errors', async () => {
    const sql = postgres({ host: node.host, port: node.port, user: 'tester', database: 'db', onnotice: () => {} })
    try {
      await sql`CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, price DECIMAL(8,2), seen TIMESTAMP)`
      for (let i = 1; i <= 5; i++) await sql`INSERT INTO items (id, label, price) VALUES (${i}, ${'item ' + i}, ${i * 1.25})`
      // the same statement text twice: postgres.js prepares it once (a named statement) and reuses it
      const one = await sql`SELECT label, price FROM items WHERE id = ${2}`
      const again = await sql`SELECT label, price FROM items WHERE id = ${3}`
      expect([...one, ...again]).toEqual([{ label: 'item 2', price: '2.50' }, { label: 'item 3', price: '3.75' }])
      expect((await sql`SELECT id FROM items WHERE label IS NULL`).count).toBe(0)
      const nulls = await sql`SELECT seen FROM items WHERE id = ${1}`
      expect(nulls).toEqual([{ seen: null }])
      // a Date: postgres.js declares it timestamptz in Parse and sends ISO text
      await sql`UPDATE items SET seen = ${new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 123))} WHERE id = ${2}`
      expect(await sql`SELECT CAST(seen AS TEXT) AS seen FROM items WHERE id = ${2}`).toEqual([{ seen: '2024-01-02 03:04:05.123' }])

      await sql.begin(async tx => {
        await tx`UPDATE items SET label = ${'changed'} WHERE id = ${1}`
        expect((await tx`SELECT label FROM items WHERE id = ${1}`)[0]).toEqual({ label: 'changed' })
      })
      expect((await sql`SELECT label FROM items WHERE id = ${1}`)[0]).toEqual({ label: 'changed' })
      await expect(sql.begin(async tx => {
        await tx`UPDATE items SET label = ${'lost'} WHERE id = ${1}`
        throw new Error('roll back')
      })).rejects.toThrow('roll back')
      expect((await sql`SELECT label FROM items WHERE id = ${1}`)[0]).toEqual({ label: 'changed' })

      // a cursor fetches with Execute row limits: PortalSuspended between batches
      const batches: number[] = []
      for await (const rows of sql`SELECT id FROM items ORDER BY id`.cursor(2)) batches.push(rows.length)
      expect(batches).toEqual([2, 2, 1])

      await expect(sql`INSERT INTO items (id) VALUES (${1})`).rejects.toMatchObject({ code: '23505', detail: expect.stringMatching(/^SB_UNIQUE_VIOLATION/) })
      const simple = await sql.unsafe('SELECT 1 AS a; SELECT 2 AS b').simple()
      expect(simple).toEqual([[{ a: 1 }], [{ b: 2 }]])
    } finally {
      await sql.end()
    }
  })
})
