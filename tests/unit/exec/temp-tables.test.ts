import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'
import { SessionState } from '../../../src/exec/txn'
import { PlanCache } from '../../../src/exec/plan-cache'
import { FIRST_TEMP_TABLE_ID, SessionTempTables, TEMP_ROW_OVERHEAD_BYTES } from '../../../src/exec/temp-tables'
import type { TableInfo } from '../../../src/catalog/catalog'
import { asShardId } from '../../../src/core/ids'
import { testNode, type TestNode } from './local-shards'
import { stripPos } from '../sql/helpers'

// Temporary tables (issue 19, P-001) through the executor over real shard engines: private to
// their session, hiding a permanent table of their name, transactional, bounded, and never in the
// node's catalog nor in a shard.

beforeAll(async () => { await initHashing() })

async function rows (node: TestNode, sql: string, session: SessionState): Promise<unknown[][]> {
  return (await node.sql(sql, session)).at(-1)!.rows.map(r => r.map(v => v === null ? null : String(v)))
}

async function code (node: TestNode, sql: string, session = new SessionState()): Promise<string> {
  try { await node.sql(sql, session); return 'no error' } catch (e) { return (e as { code: string }).code }
}

describe('CREATE TEMPORARY TABLE parses and prints back', () => {
  const cases: Array<[string, string]> = [
    ['CREATE TEMPORARY TABLE t (a INTEGER PRIMARY KEY)', 'CREATE TEMPORARY TABLE t (a INTEGER PRIMARY KEY) ON COMMIT PRESERVE ROWS'],
    ['create temp table t (a integer primary key) on commit delete rows', 'CREATE TEMPORARY TABLE t (a INTEGER PRIMARY KEY) ON COMMIT DELETE ROWS'],
    ['CREATE GLOBAL TEMPORARY TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY) ON COMMIT DROP', 'CREATE TEMPORARY TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY) ON COMMIT DROP'],
    ['CREATE LOCAL TEMP TABLE t (a INTEGER PRIMARY KEY) ON COMMIT PRESERVE ROWS', 'CREATE TEMPORARY TABLE t (a INTEGER PRIMARY KEY) ON COMMIT PRESERVE ROWS']
  ]
  for (const [sql, text] of cases) {
    it(sql, () => {
      const tree = parseOne(sql)
      expect(formatStatement(tree)).toBe(text)
      expect(stripPos(parseOne(text))).toEqual(stripPos(tree))
    })
  }
  it('ON COMMIT only after TEMPORARY; GLOBAL without TEMPORARY is no table', () => {
    expect(() => parseOne('CREATE TABLE t (a INTEGER PRIMARY KEY) ON COMMIT DROP')).toThrow(/syntax|expected/i)
    expect(() => parseOne('CREATE GLOBAL TABLE t (a INTEGER PRIMARY KEY)')).toThrow()
    expect(() => parseOne('CREATE TEMP TABLE t (a INTEGER PRIMARY KEY) ON COMMIT KEEP ROWS')).toThrow()
  })
})

describe('temporary tables through the executor', () => {
  it('are seen by their session only, hide a permanent table of their name, and stay out of the catalog and the shards', async () => {
    const node = await testNode(4, false)
    const a = new SessionState()
    const b = new SessionState()
    await node.sql('CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (1, \'shared\')')
    const version = node.env.catalog().version
    await node.sql('CREATE TEMP TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (2, \'mine\'); CREATE TEMP TABLE q (id INTEGER PRIMARY KEY)', a)
    expect(await rows(node, 'SELECT id, v FROM p', a)).toEqual([['2', 'mine']])
    expect(await rows(node, 'SELECT id, v FROM p', b)).toEqual([['1', 'shared']])
    expect(await code(node, 'SELECT * FROM q', b)).toBe('SB_UNDEFINED_TABLE')
    expect(await rows(node, "SELECT count(*) FROM sys_tables WHERE table_name = 'q'", a)).toEqual([['1']])
    expect(await rows(node, "SELECT count(*) FROM sys_tables WHERE table_name = 'q'", b)).toEqual([['0']])
    // nothing in the node's catalog, no catalog version spent
    expect(node.env.catalog().version).toBe(version)
    expect(node.env.catalog().table('q')).toBeUndefined()
    expect(node.env.catalog().table('p')!.temporary).toBeUndefined()
    // no shard was asked to write the temporary rows: the permanent table holds its one row
    expect(await rows(node, 'SELECT id FROM p', new SessionState())).toEqual([['1']])
    // the session ends: its tables go
    a.temp.dropAll()
    expect(await rows(node, 'SELECT id, v FROM p', a)).toEqual([['1', 'shared']])
    expect(await code(node, 'SELECT * FROM q', a)).toBe('SB_UNDEFINED_TABLE')
  })

  it('read and write with the shards\' semantics: point lookups, scans, UPDATE, DELETE, joins with a permanent table', async () => {
    const node = await testNode(4, false)
    const s = new SessionState()
    await node.sql("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    await node.sql('CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (1, 10), (2, 20), (3, 30), (4, 40)', s)
    expect(await rows(node, 'SELECT n FROM t WHERE id = 3', s)).toEqual([['30']])
    expect(await rows(node, 'SELECT id FROM t WHERE n >= 20 ORDER BY id', s)).toEqual([['2'], ['3'], ['4']])
    expect((await node.sql('UPDATE t SET n = n + 1 WHERE n < 25', s))[0]!.rowCount).toBe(2)
    expect((await node.sql('DELETE FROM t WHERE id = 4', s))[0]!.rowCount).toBe(1)
    expect(await rows(node, 'SELECT sum(n), count(*) FROM t', s)).toEqual([['62', '3']])
    expect(await rows(node, 'SELECT p.v, t.n FROM p JOIN t ON p.id = t.id ORDER BY p.id', s)).toEqual([['a', '11'], ['b', '21'], ['c', '30']])
    // subqueries and derived tables over it
    expect(await rows(node, 'SELECT v FROM p WHERE id IN (SELECT id FROM t WHERE n > 20) ORDER BY v', s)).toEqual([['b'], ['c']])
    expect(await rows(node, 'SELECT d.m FROM (SELECT max(n) AS m FROM t) d', s)).toEqual([['30']])
    const explain = (await rows(node, 'EXPLAIN SELECT p.v FROM p JOIN t ON p.id = t.id', s)).map(r => r[0])
    expect(explain[0]).toMatch(/a temporary table is read on the coordinator, so the join runs there/)
    const scan = (await rows(node, 'EXPLAIN SELECT * FROM t', s)).map(r => r[0])
    expect(scan).toContain('Temporary table: this session\'s rows in this node\'s memory; the program runs on the coordinator')
  })

  it('EXPLAIN says the rows are in the session\'s memory, on no shard; a join with one has no colocated step', async () => {
    const node = await testNode(4, false)
    const s = new SessionState()
    await node.sql("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (1, 'a')")
    await node.sql('CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (1, 10)', s)
    const explain = async (sql: string): Promise<unknown[]> => (await rows(node, `EXPLAIN ${sql}`, s)).map(r => r[0])
    const mem = 'this session\'s memory on this node (temporary table: on no shard)'
    expect((await explain('SELECT * FROM t'))[0]).toBe(`Scan t (table ${FIRST_TEMP_TABLE_ID}): ${mem}, every row`)
    expect((await explain('SELECT * FROM t WHERE id = 1'))[0]).toBe(`Scan t (table ${FIRST_TEMP_TABLE_ID}): ${mem}, point lookup on the primary key`)
    // no primary-key range is planned (the filter reads every row)
    expect((await explain('SELECT * FROM t WHERE id > 1'))[0]).toBe(`Scan t (table ${FIRST_TEMP_TABLE_ID}): ${mem}, every row`)
    expect((await explain('UPDATE t SET n = 2'))[0]).toBe(`Update t (table ${FIRST_TEMP_TABLE_ID}): ${mem}, every row`)
    expect((await explain('DELETE FROM t WHERE id = 1'))[0]).toBe(`Delete t (table ${FIRST_TEMP_TABLE_ID}): ${mem}, point lookup on the primary key`)
    expect((await explain('INSERT INTO t VALUES (2, 3)'))[0]).toBe(`Insert into t (table ${FIRST_TEMP_TABLE_ID}): 1 row(s) to ${mem}`)
    const join = await explain('SELECT p.v FROM p JOIN t ON p.id = t.id')
    expect(join).toContain(`Table t (table ${FIRST_TEMP_TABLE_ID}): ${mem}, every row`)
    expect(join).toContain('Table p (table 1024): all 4 shards (scatter)')
    expect(join).toContain('Step 1: INNER JOIN t, hash join on p.id = t.id')
    expect(join.join('\n')).not.toMatch(/colocated\)|Table t .*shards/)
  })

  it('ROLLBACK undoes rows, CREATE and DROP; COMMIT keeps them; a failed statement outside a transaction changes nothing', async () => {
    const node = await testNode(2, false)
    const s = new SessionState()
    await node.sql('CREATE TEMP TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)', s)
    await node.sql('BEGIN; INSERT INTO t VALUES (2); DELETE FROM t WHERE id = 1; CREATE TEMP TABLE u (id INTEGER PRIMARY KEY); ROLLBACK', s)
    expect(await rows(node, 'SELECT id FROM t', s)).toEqual([['1']])
    expect(await code(node, 'SELECT * FROM u', s)).toBe('SB_UNDEFINED_TABLE')
    await node.sql('BEGIN; DROP TABLE t; ROLLBACK', s)
    expect(await rows(node, 'SELECT id FROM t', s)).toEqual([['1']])
    await node.sql('BEGIN; INSERT INTO t VALUES (3); COMMIT', s)
    expect(await rows(node, 'SELECT id FROM t ORDER BY id', s)).toEqual([['1'], ['3']])
    // (5) is written before (1) collides: the statement is undone as a whole
    expect(await code(node, 'INSERT INTO t VALUES (5), (1)', s)).toBe('SB_UNIQUE_VIOLATION')
    expect(await rows(node, 'SELECT id FROM t ORDER BY id', s)).toEqual([['1'], ['3']])
    // inside a transaction the failure poisons it, and the ROLLBACK undoes everything
    await node.sql('BEGIN; INSERT INTO t VALUES (7)', s)
    expect(await code(node, 'INSERT INTO t VALUES (1)', s)).toBe('SB_UNIQUE_VIOLATION')
    await node.sql('COMMIT', s)
    expect(await rows(node, 'SELECT id FROM t ORDER BY id', s)).toEqual([['1'], ['3']])
  })

  it('ON COMMIT DELETE ROWS and ON COMMIT DROP act at each commit, autocommit statements included', async () => {
    const node = await testNode(2, false)
    const s = new SessionState()
    await node.sql('CREATE TEMP TABLE d (id INTEGER PRIMARY KEY) ON COMMIT DELETE ROWS', s)
    await node.sql('INSERT INTO d VALUES (1)', s)
    expect(await rows(node, 'SELECT count(*) FROM d', s)).toEqual([['0']])
    await node.sql('BEGIN; INSERT INTO d VALUES (1), (2)', s)
    expect(await rows(node, 'SELECT count(*) FROM d', s)).toEqual([['2']])
    await node.sql('COMMIT', s)
    expect(await rows(node, 'SELECT count(*) FROM d', s)).toEqual([['0']])
    await node.sql('BEGIN; CREATE TEMP TABLE x (id INTEGER PRIMARY KEY) ON COMMIT DROP; INSERT INTO x VALUES (1)', s)
    expect(await rows(node, 'SELECT count(*) FROM x', s)).toEqual([['1']])
    await node.sql('COMMIT', s)
    expect(await code(node, 'SELECT * FROM x', s)).toBe('SB_UNDEFINED_TABLE')
  })

  it('refuses what it does not support with coded errors', async () => {
    const node = await testNode(2, false)
    await node.sql('CREATE TABLE p (id INTEGER PRIMARY KEY)')
    const s = new SessionState()
    await node.sql('CREATE TEMP TABLE t (id INTEGER PRIMARY KEY)', s)
    expect(await code(node, 'CREATE TEMP TABLE t (id INTEGER PRIMARY KEY)', s)).toBe('SB_DUPLICATE_TABLE')
    expect(await code(node, 'CREATE TEMP TABLE r (id INTEGER PRIMARY KEY REFERENCES p (id))', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'CREATE TEMP TABLE r (id INTEGER PRIMARY KEY, u TEXT UNIQUE)', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'CREATE TEMP TABLE r (id INTEGER PRIMARY KEY) PARTITION BY id', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'CREATE INDEX ti ON t (id)', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'ALTER TABLE t ADD COLUMN w TEXT', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'CREATE VIEW tv AS SELECT id FROM t', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'CREATE TABLE c (id INTEGER PRIMARY KEY REFERENCES t (id))', s)).toBe('SB_UNDEFINED_TABLE')
    expect(await code(node, 'CREATE TEMP TABLE sys_tables (id INTEGER PRIMARY KEY)', s)).toBe('SB_FEATURE_NOT_SUPPORTED')
  })

  it('foreign keys keep meaning the permanent tables when a temporary table hides the parent\'s name', async () => {
    const node = await testNode(4, false)
    await node.sql('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent (id) ON DELETE CASCADE); INSERT INTO parent VALUES (1); INSERT INTO child VALUES (10, 1)')
    const s = new SessionState()
    await node.sql('CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY); INSERT INTO parent VALUES (1), (2)', s)
    // the child's parent is the permanent table: 2 is not there
    expect(await code(node, 'INSERT INTO child VALUES (11, 2)', s)).toBe('SB_FOREIGN_KEY_VIOLATION')
    await node.sql('INSERT INTO child VALUES (12, 1)', s)
    // deleting the temporary rows neither is refused by nor cascades into the permanent children
    await node.sql('DELETE FROM parent WHERE id = 1', s)
    expect(await rows(node, 'SELECT id FROM child ORDER BY id', new SessionState())).toEqual([['10'], ['12']])
  })

  it('SB_TEMP_TABLE_FULL past node.temp_table_bytes_per_session, the statement undone', async () => {
    const node = await testNode(2, false)
    let limit = 1024
    node.env.tempTableBytesPerSession = () => limit
    const s = new SessionState()
    await node.sql('CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, v TEXT)', s)
    await node.sql("INSERT INTO t VALUES (1, 'x')", s)
    const big = 'y'.repeat(400)
    expect(await code(node, `INSERT INTO t VALUES (2, '${big}'), (3, '${big}'), (4, '${big}')`, s)).toBe('SB_TEMP_TABLE_FULL')
    expect(await rows(node, 'SELECT id FROM t', s)).toEqual([['1']])
    limit = 1024 * 1024
    await node.sql(`INSERT INTO t VALUES (2, '${big}'), (3, '${big}'), (4, '${big}')`, s)
    expect(await rows(node, 'SELECT count(*) FROM t', s)).toEqual([['4']])
  })

  it('plans cached for one session are not used by another', async () => {
    const node = await testNode(2, false, undefined, { planCache: new PlanCache() })
    await node.sql("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (1, 'shared')")
    const a = new SessionState()
    await node.sql("CREATE TEMP TABLE p (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO p VALUES (2, 'mine')", a)
    for (let i = 0; i < 3; i++) {
      expect(await rows(node, 'SELECT v FROM p', a)).toEqual([['mine']])
      expect(await rows(node, 'SELECT v FROM p', new SessionState())).toEqual([['shared']])
    }
  })
})

describe('SessionTempTables (the store)', () => {
  const info = { id: 0xf000_0001, name: 't', columns: [], primaryKey: [], foreignKeys: [], replication: {}, version: 0, temporary: true } as unknown as TableInfo
  const put = (id: number, bytes: number): { op: 'insert', tableId: number, pk: bigint[], versionId: Uint8Array, row: Uint8Array } =>
    ({ op: 'insert', tableId: info.id, pk: [BigInt(id)], versionId: new Uint8Array(16), row: new Uint8Array(bytes) })

  it('each session counts its own table ids, from the top of the id space (no module-level counter)', () => {
    const a = new SessionTempTables()
    const b = new SessionTempTables()
    expect([a.nextTableId(), a.nextTableId()]).toEqual([FIRST_TEMP_TABLE_ID, FIRST_TEMP_TABLE_ID + 1])
    // another session's tables do not move this one's counter
    expect(b.nextTableId()).toBe(FIRST_TEMP_TABLE_ID)
  })

  it('counts bytes, gives them back on undo and at the session end', () => {
    const store = new SessionTempTables()
    const t = store.create(info, 'preserve_rows')
    store.beginTxn()
    store.apply(t, asShardId(0), [put(1, 100) as never])
    expect(store.bytes).toBeGreaterThan(100 + TEMP_ROW_OVERHEAD_BYTES)
    store.endTxn(false)
    expect(store.bytes).toBe(0)
    expect(t.rows.size).toBe(0)
    store.apply(t, asShardId(0), [put(1, 100) as never])
    store.dropAll()
    expect(store.bytes).toBe(0)
    expect(store.size).toBe(0)
    // the rows are let go of even where the table is still referenced (a cached plan)
    expect(t.rows.size).toBe(0)
  })
})
