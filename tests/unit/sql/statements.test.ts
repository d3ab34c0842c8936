import { describe, expect, it } from 'vitest'
import { parse, parseOne } from '../../../src/sql/parser'
import { formatStatement } from '../../../src/sql/format'
import {
  ast, asts, bin, bool, call, col, columnDef, dec, int, item, not, nul, param, select, str, table, type
} from './helpers'

// Each statement form of the dialect (DESIGN §5) parses to the AST shape the later stages expect.

describe('SELECT', () => {
  it('without FROM', () => {
    expect(ast('SELECT gen_uuidv8_hlc()')).toEqual(select({ columns: [item(call('gen_uuidv8_hlc'))] }))
  })

  it('star, t.*, aliases with and without AS', () => {
    expect(ast('SELECT *, u.*, a AS x, b y, "Quoted" FROM users u')).toEqual(select({
      columns: [
        { kind: 'star', table: null },
        { kind: 'star', table: 'u' },
        item(col('a'), 'x'),
        item(col('b'), 'y'),
        item(col('Quoted'))
      ],
      from: table('users', 'u')
    }))
  })

  it('DISTINCT and ALL', () => {
    expect(ast('SELECT DISTINCT a FROM t')).toMatchObject({ distinct: true })
    expect(ast('SELECT ALL a FROM t')).toMatchObject({ distinct: false })
  })

  it('every clause', () => {
    const sql = `SELECT user_id, COUNT(*) AS n, SUM(amount) FROM orders AS o
      WHERE amount > 10 GROUP BY user_id, o.status HAVING COUNT(*) >= 2
      ORDER BY n DESC NULLS LAST, user_id, 2 ASC NULLS FIRST LIMIT 10 OFFSET 20`
    expect(ast(sql)).toEqual(select({
      columns: [
        item(col('user_id')),
        item({ kind: 'call', name: 'count', args: [], distinct: false, star: true }, 'n'),
        item(call('sum', col('amount')))
      ],
      from: table('orders', 'o'),
      where: bin('>', col('amount'), int(10)),
      groupBy: [col('user_id'), col('status', 'o')],
      having: bin('>=', { kind: 'call', name: 'count', args: [], distinct: false, star: true }, int(2)),
      orderBy: [
        { expr: col('n'), direction: 'desc', nulls: 'last' },
        { expr: col('user_id'), direction: 'asc', nulls: null },
        { expr: int(2), direction: 'asc', nulls: 'first' }
      ],
      limit: int(10),
      offset: int(20)
    }))
  })

  it('OFFSET before LIMIT, and parameters as LIMIT', () => {
    expect(ast('SELECT a FROM t OFFSET 5 LIMIT $1')).toMatchObject({ limit: param(1), offset: int(5) })
  })

  it('aggregates: COUNT(DISTINCT x), AVG, MIN, MAX', () => {
    expect(ast('SELECT COUNT(DISTINCT x), AVG(x), MIN(x), MAX(x) FROM t')).toMatchObject({
      columns: [
        item({ kind: 'call', name: 'count', args: [col('x')], distinct: true, star: false }),
        item(call('avg', col('x'))),
        item(call('min', col('x'))),
        item(call('max', col('x')))
      ]
    })
  })

  it('inner, left outer, cross and comma joins nest to the left', () => {
    const s = ast(`SELECT * FROM a JOIN b ON a.id = b.id INNER JOIN c ON c.id = a.id
      LEFT JOIN d ON d.id = a.id LEFT OUTER JOIN e x ON x.id = a.id CROSS JOIN f, g`)
    const on = (l: string, r: string): unknown => bin('=', col('id', l), col('id', r))
    expect(s).toMatchObject({
      from: {
        kind: 'join',
        type: 'cross',
        right: table('g'),
        on: null,
        left: {
          kind: 'join',
          type: 'cross',
          right: table('f'),
          left: {
            kind: 'join',
            type: 'left',
            right: table('e', 'x'),
            on: on('x', 'a'),
            left: {
              kind: 'join',
              type: 'left',
              right: table('d'),
              left: {
                kind: 'join',
                type: 'inner',
                right: table('c'),
                on: on('c', 'a'),
                left: { kind: 'join', type: 'inner', left: table('a'), right: table('b'), on: on('a', 'b') }
              }
            }
          }
        }
      }
    })
  })

  it('keeps the source position of each node', () => {
    const s = parseOne('SELECT a,\n  b + 1\nFROM t')
    expect(s.pos).toEqual({ line: 1, column: 1, offset: 0 })
    if (s.kind !== 'select') throw new Error('select')
    expect(s.columns[1]!.pos).toEqual({ line: 2, column: 3, offset: 12 })
    expect(s.from!.pos).toEqual({ line: 3, column: 6, offset: 23 })
  })
})

describe('INSERT, UPDATE, DELETE', () => {
  it('multi-row INSERT with columns and RETURNING', () => {
    expect(ast("INSERT INTO t (a, b) VALUES (1, 'x'), ($1, DEFAULT) RETURNING a, *")).toEqual({
      kind: 'insert',
      table: 't',
      columns: ['a', 'b'],
      rows: [[int(1), str('x')], [param(1), { kind: 'default' }]],
      onConflict: null,
      returning: [item(col('a')), { kind: 'star', table: null }]
    })
  })

  it('INSERT without a column list', () => {
    expect(ast('INSERT INTO t VALUES (1)')).toEqual({ kind: 'insert', table: 't', columns: null, rows: [[int(1)]], onConflict: null, returning: null })
  })

  it('UPDATE with several assignments and WHERE', () => {
    expect(ast("UPDATE orders SET amount = amount * 2, status = 'done' WHERE id = $1")).toEqual({
      kind: 'update',
      table: 'orders',
      assignments: [
        { column: 'amount', value: bin('*', col('amount'), int(2)) },
        { column: 'status', value: str('done') }
      ],
      where: bin('=', col('id'), param(1)),
      returning: null
    })
  })

  it('DELETE with and without WHERE', () => {
    expect(ast('DELETE FROM t')).toEqual({ kind: 'delete', table: 't', where: null, returning: null })
    expect(ast('DELETE FROM t WHERE a IS NULL RETURNING a')).toEqual({
      kind: 'delete', table: 't', where: { kind: 'is_null', not: false, operand: col('a') }, returning: [item(col('a'))]
    })
  })
})

describe('CREATE, ALTER, DROP TABLE', () => {
  it('column constraints, table constraints, PARTITION BY and WITH', () => {
    const sql = `CREATE TABLE IF NOT EXISTS orders (
      order_id UUID PRIMARY KEY,
      user_id VARCHAR(64) NOT NULL REFERENCES users (user_id),
      amount NUMERIC(12, 2) DEFAULT 0 NULL,
      note TEXT REFERENCES notes,
      created TIMESTAMP NOT NULL DEFAULT now(),
      PRIMARY KEY (order_id, user_id),
      CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (user_id)
    ) PARTITION BY (user_id, order_id) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3,
      write_quorum = 2, read_quorum = 2, uuid_type = 'v8_hlc', future_knob = -1.5)`
    expect(ast(sql)).toEqual({
      kind: 'create_table',
      name: 'orders',
      ifNotExists: true,
      columns: [
        columnDef('order_id', type('uuid'), { primaryKey: true }),
        columnDef('user_id', type('varchar', { length: 64 }), { notNull: true, references: { table: 'users', columns: ['user_id'] } }),
        columnDef('amount', type('decimal', { precision: 12, scale: 2 }), { default: int(0) }),
        columnDef('note', type('text'), { references: { table: 'notes', columns: null } }),
        columnDef('created', type('timestamp'), { notNull: true, default: call('now') })
      ],
      constraints: [
        { kind: 'primary_key', name: null, columns: ['order_id', 'user_id'] },
        { kind: 'foreign_key', name: 'fk', columns: ['user_id'], references: { table: 'users', columns: ['user_id'] } }
      ],
      partitionBy: ['user_id', 'order_id'],
      options: [
        { name: 'replication_mode', value: str('leaderless_quorum') },
        { name: 'replication_factor', value: int(3) },
        { name: 'write_quorum', value: int(2) },
        { name: 'read_quorum', value: int(2) },
        { name: 'uuid_type', value: str('v8_hlc') },
        { name: 'future_knob', value: dec('-1.5') }
      ]
    })
  })

  it('PARTITION BY a single bare column, WITH before PARTITION BY', () => {
    expect(ast('CREATE TABLE t (a INT) PARTITION BY a')).toMatchObject({ partitionBy: ['a'], options: [], ifNotExists: false })
    expect(ast('CREATE TABLE t (a INT) WITH (x = TRUE) PARTITION BY a')).toMatchObject({
      partitionBy: ['a'], options: [{ name: 'x', value: bool(true) }]
    })
    expect(ast('CREATE TABLE t (a INT)')).toMatchObject({ partitionBy: null, options: [], constraints: [] })
  })

  it('every type, normalised', () => {
    const s = parseOne(`CREATE TABLE t (a UUID, b SMALLINT, c INTEGER, d INT, e BIGINT, f DECIMAL(10,2),
      g NUMERIC, h REAL, i DOUBLE PRECISION, j BOOLEAN, k CHAR(3), l VARCHAR(20), m TEXT, n DATE,
      o TIMESTAMP, p BYTEA, q DECIMAL(5), r CHARACTER VARYING(9), s BOOL, u CHAR, v FLOAT, w INT8)`)
    if (s.kind !== 'create_table') throw new Error('create')
    expect(s.columns.map((c) => [c.type.name, c.type.length, c.type.precision, c.type.scale])).toEqual([
      ['uuid', null, null, null], ['smallint', null, null, null], ['integer', null, null, null],
      ['integer', null, null, null], ['bigint', null, null, null], ['decimal', null, 10, 2],
      ['decimal', null, null, null], ['real', null, null, null], ['double', null, null, null],
      ['boolean', null, null, null], ['char', 3, null, null], ['varchar', 20, null, null],
      ['text', null, null, null], ['date', null, null, null], ['timestamp', null, null, null],
      ['bytea', null, null, null], ['decimal', null, 5, null], ['varchar', 9, null, null],
      ['boolean', null, null, null], ['char', null, null, null], ['double', null, null, null], ['bigint', null, null, null]
    ])
  })

  it('ALTER TABLE SET key = value (one or several)', () => {
    expect(ast("ALTER TABLE sensor_data SET replication_mode = 'leaderless_quorum'")).toEqual({
      kind: 'alter_table',
      table: 'sensor_data',
      action: { kind: 'set_options', options: [{ name: 'replication_mode', value: str('leaderless_quorum') }] }
    })
    expect(ast("ALTER TABLE t SET a = +2, b = -2.5e1, c = DATE '2026-01-09', d = false")).toMatchObject({
      action: {
        options: [
          { name: 'a', value: int(2) }, { name: 'b', value: dec('-2.5e1') },
          { name: 'c', value: { kind: 'typed_literal', type: 'date', value: '2026-01-09' } }, { name: 'd', value: bool(false) }
        ]
      }
    })
    expect(ast('ALTER TABLE t SET write_quorum = 2, read_quorum = 2, partition_key_columns = NULL')).toMatchObject({
      action: { options: [{ name: 'write_quorum', value: int(2) }, { name: 'read_quorum', value: int(2) }, { name: 'partition_key_columns', value: nul() }] }
    })
  })

  it('ALTER TABLE ADD [COLUMN] and DROP [COLUMN]', () => {
    expect(ast("ALTER TABLE sys_tables ADD COLUMN uuid_type VARCHAR(10) DEFAULT 'v7'")).toEqual({
      kind: 'alter_table',
      table: 'sys_tables',
      action: { kind: 'add_column', ifNotExists: false, column: columnDef('uuid_type', type('varchar', { length: 10 }), { default: str('v7') }) }
    })
    expect(ast('ALTER TABLE t ADD IF NOT EXISTS x INT')).toMatchObject({ action: { kind: 'add_column', ifNotExists: true } })
    expect(ast('ALTER TABLE t DROP COLUMN IF EXISTS x')).toEqual({
      kind: 'alter_table', table: 't', action: { kind: 'drop_column', column: 'x', ifExists: true }
    })
    expect(ast('ALTER TABLE t DROP x')).toMatchObject({ action: { kind: 'drop_column', column: 'x', ifExists: false } })
  })

  it('DROP TABLE [IF EXISTS]', () => {
    expect(ast('DROP TABLE t')).toEqual({ kind: 'drop_table', name: 't', ifExists: false })
    expect(ast('DROP TABLE IF EXISTS "T"')).toEqual({ kind: 'drop_table', name: 'T', ifExists: true })
  })
})

describe('transactions, EXPLAIN, operator statements', () => {
  it('BEGIN / START TRANSACTION with isolation levels, COMMIT, ROLLBACK', () => {
    expect(asts(`BEGIN; BEGIN TRANSACTION; BEGIN WORK; START TRANSACTION;
      BEGIN ISOLATION LEVEL SNAPSHOT; START TRANSACTION ISOLATION LEVEL READ COMMITTED;
      COMMIT; COMMIT TRANSACTION; ROLLBACK; ROLLBACK WORK; END; END TRANSACTION; ABORT`)).toEqual([
      { kind: 'begin', isolation: null },
      { kind: 'begin', isolation: null },
      { kind: 'begin', isolation: null },
      { kind: 'begin', isolation: null },
      { kind: 'begin', isolation: 'snapshot' },
      { kind: 'begin', isolation: 'read_committed' },
      { kind: 'commit' },
      { kind: 'commit' },
      { kind: 'rollback' },
      { kind: 'rollback' },
      // PostgreSQL's END and ABORT (pgbench's TPC-B script ends with END).
      { kind: 'commit' },
      { kind: 'commit' },
      { kind: 'rollback' }
    ])
  })

  it('REPAIR SHARD n / REPAIR TABLE t and SHOW ANTI_ENTROPY STATUS (anti-entropy)', () => {
    expect(asts('REPAIR SHARD 7; REPAIR TABLE "Kv"; SHOW ANTI_ENTROPY STATUS')).toEqual([
      { kind: 'repair', shard: 7, table: null },
      { kind: 'repair', shard: null, table: 'Kv' },
      { kind: 'show', target: 'anti_entropy_status' }
    ])
    expect(ast('show transactions horizon')).toEqual({ kind: 'show', target: 'transactions_horizon' })
  })

  it('EXPLAIN wraps the statement', () => {
    expect(ast('EXPLAIN SELECT 1')).toEqual({ kind: 'explain', statement: select({ columns: [item(int(1))] }) })
    expect(ast('explain delete from t')).toMatchObject({ kind: 'explain', statement: { kind: 'delete' } })
  })

  it('SHOW, DELIVER HINTS, DRAIN', () => {
    expect(asts('SHOW CLUSTER MEMBERS; show shard map; SHOW REPLICATION LAG; SHOW MERKLE FOREST SIZE; DELIVER HINTS TO NODE 3; DRAIN NODE 12')).toEqual([
      { kind: 'show', target: 'cluster_members' },
      { kind: 'show', target: 'shard_map' },
      { kind: 'show', target: 'replication_lag' },
      { kind: 'show', target: 'merkle_forest_size' },
      { kind: 'deliver_hints', node: 3 },
      { kind: 'drain_node', node: 12 }
    ])
  })

  it('DRAIN NODE n CANCEL and REMOVE NODE n [FORCE] (one statement kind, op says which)', () => {
    expect(asts('DRAIN NODE 4 CANCEL; remove node 3; REMOVE NODE 5 force')).toEqual([
      { kind: 'drain_node', node: 4, op: 'cancel' },
      { kind: 'drain_node', node: 3, op: 'remove' },
      { kind: 'drain_node', node: 5, op: 'remove', force: true }
    ])
    for (const sql of ['DRAIN NODE 4', 'DRAIN NODE 4 CANCEL', 'REMOVE NODE 3', 'REMOVE NODE 3 FORCE']) expect(formatStatement(parse(sql)[0]!)).toBe(sql)
    expect(() => parse('DRAIN NODE 4 FORCE')).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
  })

  it('ALTER CLUSTER SET shards = n (or TO n); ALTER TABLE cluster is still a table', () => {
    expect(asts('ALTER CLUSTER SET shards = 32; alter cluster set SHARDS to 8')).toEqual([
      { kind: 'alter_cluster', shards: 32 },
      { kind: 'alter_cluster', shards: 8 }
    ])
    expect(formatStatement(parse('alter cluster set shards to 8')[0]!)).toBe('ALTER CLUSTER SET shards = 8')
    expect(parseOne('ALTER TABLE cluster SET replication_factor = 2')).toMatchObject({ kind: 'alter_table', table: 'cluster' })
  })
})

describe('scripts and lexical details', () => {
  it('splits on ; and skips empty statements and comments', () => {
    const s = parse(';; SELECT 1; -- one\n /* two; */ SELECT 2 ;;')
    expect(s).toHaveLength(2)
    expect(s[1]!.pos).toEqual({ line: 2, column: 13, offset: 32 })
    expect(parse('')).toEqual([])
    expect(parse('  -- nothing\n')).toEqual([])
  })

  it('folds unquoted names and keywords, keeps quoted names', () => {
    expect(ast('SeLeCt Name, "Name", "we""ird" FrOm Users')).toEqual(select({
      columns: [item(col('name')), item(col('Name')), item(col('we"ird'))],
      from: table('users')
    }))
  })

  it('non-reserved keywords are usable as names', () => {
    expect(ast('SELECT value, date, level, key, nulls FROM sensor_data')).toMatchObject({
      columns: [item(col('value')), item(col('date')), item(col('level')), item(col('key')), item(col('nulls'))]
    })
  })

  it('literals: big integers keep every digit, decimals keep their text, strings unescape', () => {
    expect(ast("SELECT 9223372036854775807, -9223372036854775808, 123456789012345678901234567890.123456789, 1e3, .5, 'it''s', TRUE, false, NULL, DATE '2026-01-09', TIMESTAMP '2026-01-09 15:30:00'"))
      .toEqual(select({
        columns: [
          item(int(9223372036854775807n)), item(int(-9223372036854775808n)),
          item(dec('123456789012345678901234567890.123456789')), item(dec('1e3')), item(dec('.5')),
          item(str("it's")), item(bool(true)), item(bool(false)), item(nul()),
          item({ kind: 'typed_literal', type: 'date', value: '2026-01-09' }),
          item({ kind: 'typed_literal', type: 'timestamp', value: '2026-01-09 15:30:00' })
        ]
      }))
  })

  it('NOT in front of a predicate and IN lists', () => {
    expect(ast('SELECT * FROM t WHERE NOT a IN (1, 2)')).toMatchObject({
      where: not({ kind: 'in', not: false, operand: col('a'), list: [int(1), int(2)] })
    })
  })
})
