import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ROOT, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// The SQL API against a real node process: the seed's single-node statements, sessions carrying a
// transaction across requests, error shapes, and the catalog surviving a restart.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

async function start (dataDir: string): Promise<RunningNode> {
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args)
  running.push(n)
  return n
}

type Json = Record<string, any>

async function sql (n: RunningNode, text: string, opts: { params?: unknown[], session?: string } = {}): Promise<{ status: number, body: Json }> {
  const res = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.session ? { 'x-scratchbird-session': opts.session } : {}) },
    body: JSON.stringify(opts.params ? { sql: text, params: opts.params } : { sql: text })
  })
  return { status: res.status, body: await res.json() as Json }
}

describe('POST /v1/sql', () => {
  it('runs the seed statements that need no cluster', async () => {
    const dir = join(tempDir(), 'data')
    const n = await start(dir)
    const one = await sql(n, 'SELECT gen_uuidv8_hlc()')
    expect(one.status).toBe(200)
    expect(one.body).toMatchObject({ command: 'SELECT', columns: ['gen_uuidv8_hlc'], rowCount: 1, warnings: [] })
    expect(one.body.rows[0][0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const ts = await sql(n, 'SELECT uuidv8_timestamp(gen_uuidv8_hlc())')
    expect(Math.abs(Date.parse(ts.body.rows[0][0] as string) - Date.now())).toBeLessThan(60_000)

    const ddl = await sql(n, `CREATE TABLE users (user_id VARCHAR(50) PRIMARY KEY, name TEXT NOT NULL);
      CREATE TABLE orders (order_id UUID PRIMARY KEY, user_id VARCHAR(50) REFERENCES users (user_id), amount DECIMAL(10,2));
      CREATE TABLE sensor_data (sensor_id UUID PRIMARY KEY, value DOUBLE PRECISION) WITH (uuid_type = 'v8_hlc')`)
    expect(ddl.status).toBe(200)
    expect(ddl.body.results[1].warnings).toEqual(['Consider PARTITION BY user_id for colocation'])

    const alter = await sql(n, `ALTER TABLE sensor_data SET replication_mode = 'leaderless_quorum';
      ALTER TABLE sensor_data SET uuid_type = 'v8_hlc';
      ALTER TABLE orders SET partition_key_columns = 'user_id'`)
    expect(alter.body.results.map((r: Json) => r.command)).toEqual(['ALTER TABLE', 'ALTER TABLE', 'ALTER TABLE'])
    expect((await sql(n, 'ALTER TABLE sensor_data SET write_quorum = 3')).body.error).toMatchObject({ code: 'SB_INVALID_TABLE_OPTION', option: 'write_quorum' })

    const list = await sql(n, 'SELECT table_name, replication_mode, uuid_type FROM sys_tables LIMIT 10')
    expect(list.body.rows).toEqual([['users', 'primary_replica', 'v7'], ['orders', 'primary_replica', 'v7'], ['sensor_data', 'leaderless_quorum', 'v8_hlc']])
    const verify = await sql(n, "SELECT table_name, replication_mode, write_quorum, read_quorum, uuid_type FROM sys_tables WHERE table_name = 'sensor_data'")
    expect(verify.body.rows).toEqual([['sensor_data', 'leaderless_quorum', 1, 1, 'v8_hlc']])
    const coloc = await sql(n, "SELECT table_name, partition_key_columns FROM sys_tables WHERE table_name IN ('users', 'orders')")
    expect(coloc.body.rows).toEqual([['users', null], ['orders', 'user_id']])

    const ins = await sql(n, 'INSERT INTO sensor_data (sensor_id, value) VALUES (gen_uuidv8_hlc(), 42.5)')
    expect(ins.body).toMatchObject({ command: 'INSERT', rowCount: 1 })
    const id = (await sql(n, 'SELECT sensor_id FROM sensor_data')).body.rows[0][0] as string
    const point = await sql(n, 'SELECT * FROM sensor_data WHERE sensor_id = $1', { params: [id] })
    expect(point.body.rows).toEqual([[id, 42.5]])

    const txn = await sql(n, `BEGIN TRANSACTION;
      INSERT INTO users (user_id, name) VALUES ('user_123', 'Alice');
      INSERT INTO orders (order_id, user_id, amount) VALUES (gen_uuidv8_hlc(), 'user_123', 100.0);
      COMMIT;`)
    expect(txn.body.results.map((r: Json) => r.command)).toEqual(['BEGIN', 'INSERT', 'INSERT', 'COMMIT'])
    // colocated: both rows on the shard of 'user_123' (7 of 16), so the commit was local
    const plan = await sql(n, "EXPLAIN SELECT * FROM orders WHERE user_id = 'user_123'")
    expect(plan.body.rows[0][0]).toContain('shard 7 (partition key pinned)')
    expect(plan.body.rows.map((r: string[]) => r[0]).join('\n')).toMatch(/LOAD_COLUMN/)
    const explainInsert = await sql(n, "EXPLAIN INSERT INTO users VALUES ('user_1', 'a'), ('user_2', 'b'), ('user_3', 'c')")
    expect(explainInsert.body.rows.map((r: string[]) => r[0]).join('\n')).toContain('two-phase commit')
    expect((await sql(n, "SELECT amount FROM orders WHERE user_id = 'user_123'")).body.rows).toEqual([['100.00']])

    const upd = await sql(n, "UPDATE orders SET user_id = 'user_9'")
    expect(upd.status).toBe(400)
    expect(upd.body.error).toMatchObject({ code: 'SB_PARTITION_KEY_UPDATE', message: "Cannot update partition key column 'user_id'" })
    const dup = await sql(n, "INSERT INTO users VALUES ('user_123', 'again')")
    expect(dup.status).toBe(409)
    expect(dup.body.error).toMatchObject({ code: 'SB_UNIQUE_VIOLATION', sqlstate: '23505' })

    // the catalog and the rows survive a restart
    n.proc.kill('SIGTERM')
    await n.exited
    const again = await start(dir)
    expect((await sql(again, "SELECT name FROM users WHERE user_id = 'user_123'")).body.rows).toEqual([['Alice']])
    expect((await sql(again, 'SELECT count(*) FROM sys_tables')).body.rows).toEqual([['3']])
  })

  it('answers malformed requests and SQL with coded errors, never 500', async () => {
    const n = await start(join(tempDir(), 'data'))
    const syntax = await sql(n, 'SELECT 1;\nSELEC 2')
    expect(syntax.status).toBe(400)
    expect(syntax.body.error).toMatchObject({ code: 'SB_SYNTAX_ERROR', sqlstate: '42601', position: { line: 2, column: 1 } })
    for (const body of ['not json', '[]', '{"sql": 1}', '{"sql": "SELECT 1", "extra": 1}']) {
      const res = await fetch(n.url('/v1/sql'), { method: 'POST', body })
      expect(res.status).toBe(400)
      expect((await res.json() as Json).error.code).toBe('SB_MALFORMED_REQUEST')
    }
    const big = await fetch(n.url('/v1/sql'), { method: 'POST', body: JSON.stringify({ sql: `SELECT '${'x'.repeat(2 * 1024 * 1024)}'` }) })
    expect(big.status).toBe(413)
    const partial = await sql(n, 'SELECT 1; SELECT 1/0; SELECT 3')
    expect(partial.status).toBe(400)
    expect(partial.body.error.code).toBe('SB_DIVISION_BY_ZERO')
    expect(partial.body.results).toHaveLength(1)
    for (const bad of ['SELECT * FROM nowhere', "SELECT 'x'::uuid", 'SELECT $3', 'INSERT INTO sys_tables VALUES (1)', 'SHOW REPLICATION LAG', 'DRAIN NODE 3']) {
      const r = await sql(n, bad)
      expect(r.status, bad).toBeGreaterThanOrEqual(400)
      expect(r.status, bad).toBeLessThan(500)
    }
    const members = await sql(n, 'SHOW CLUSTER MEMBERS')
    expect(members.body.rows).toEqual([[1, n.listen, 'dc1', 'normal', '0', '0', 16]])
  })

  it('prepares a statement ("prepare": true → an id) and runs it by id with new parameters, across DDL', async () => {
    const n = await start(join(tempDir(), 'data'))
    const post = async (body: Json): Promise<{ status: number, body: Json }> => {
      const res = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, body: await res.json() as Json }
    }
    await sql(n, "CREATE TABLE kv (k BIGINT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    const prepared = await post({ sql: 'SELECT * FROM kv WHERE k = $1', params: [1], prepare: true })
    expect(prepared.status).toBe(200)
    expect(prepared.body).toMatchObject({ command: 'SELECT', rows: [['1', 'a']], statement: expect.stringMatching(/^p\d+$/) })
    const id = prepared.body.statement as string
    expect((await post({ sql: 'SELECT * FROM kv WHERE k = $1', prepare: true, params: [2] })).body.statement).toBe(id) // same text, same id
    expect((await post({ statement: id, params: [3] })).body).toMatchObject({ columns: ['k', 'v'], rows: [['3', 'c']] })
    expect((await post({ statement: id, params: [2] })).body.rows).toEqual([['2', 'b']])
    // the table changes shape: the prepared statement is planned again and answers by the new one
    await sql(n, "DROP TABLE kv; CREATE TABLE kv (k BIGINT PRIMARY KEY, v TEXT, w INTEGER); INSERT INTO kv VALUES (2, 'B', 7)")
    expect((await post({ statement: id, params: [2] })).body).toMatchObject({ columns: ['k', 'v', 'w'], rows: [['2', 'B', 7]] })
    await sql(n, 'DROP TABLE kv')
    expect((await post({ statement: id, params: [2] })).body.error.code).toBe('SB_UNDEFINED_TABLE')
    const unknown = await post({ statement: 'p999999', params: [] })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error).toMatchObject({ code: 'SB_UNDEFINED_PREPARED_STATEMENT', sqlstate: '26000' })
    expect((await post({ sql: 'SELEC 1', prepare: true })).body).not.toHaveProperty('statement')
    for (const bad of [{ statement: 1 }, { statement: id, sql: 'SELECT 1' }, { sql: 'SELECT 1', prepare: 'yes' }, { statement: id, prepare: true }]) {
      expect((await post(bad)).body.error.code, JSON.stringify(bad)).toBe('SB_MALFORMED_REQUEST')
    }
  })

  it('keeps a transaction open across requests in a session; DELETE closes and rolls back', async () => {
    const n = await start(join(tempDir(), 'data'))
    await sql(n, 'CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)')
    const { id } = await (await fetch(n.url('/v1/sessions'), { method: 'POST' })).json() as { id: string }
    expect((await sql(n, "BEGIN; INSERT INTO kv VALUES ('a', 1)", { session: id })).status).toBe(200)
    // not visible outside before COMMIT; visible inside
    expect((await sql(n, 'SELECT count(*) FROM kv')).body.rows).toEqual([['0']])
    expect((await sql(n, 'SELECT count(*) FROM kv', { session: id })).body.rows).toEqual([['1']])
    // an autocommit UPDATE reads committed rows only: the uncommitted insert is not there to update
    const conflict = await sql(n, "UPDATE kv SET v = 2 WHERE k = 'a'")
    expect(conflict.body).toMatchObject({ rowCount: 0 })
    expect((await sql(n, "INSERT INTO kv VALUES ('b', 1), ('c', 2)", { session: id })).status).toBe(200)
    expect((await sql(n, 'COMMIT', { session: id })).body.command).toBe('COMMIT')
    expect((await sql(n, 'SELECT k, v FROM kv ORDER BY k')).body.rows).toEqual([['a', 1], ['b', 1], ['c', 2]])

    await sql(n, "BEGIN; UPDATE kv SET v = 10 WHERE k = 'a'", { session: id })
    const blocked = await sql(n, "UPDATE kv SET v = 20 WHERE k = 'a'")
    expect(blocked.status).toBe(409)
    expect(blocked.body.error.code).toBe('SB_UPDATE_CONFLICT')
    const closed = await fetch(n.url(`/v1/sessions/${id}`), { method: 'DELETE' })
    expect(closed.status).toBe(200)
    expect((await sql(n, "SELECT v FROM kv WHERE k = 'a'")).body.rows).toEqual([[1]])
    const gone = await sql(n, 'SELECT 1', { session: id })
    expect(gone.status).toBe(404)
    expect(gone.body.error.code).toBe('SB_SESSION_NOT_FOUND')
  })
})
