import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../src/core/errors'
import { MAX_EXPR_HEIGHT, MAX_PARSE_DEPTH, MAX_SQL_LENGTH, parse, parseOne } from '../../../src/sql/parser'
import { syntaxErrorOf } from './helpers'

// Syntax errors say where (line, column, 1-based position), what was expected and what was found.

describe('syntax errors', () => {
  it('carry code, SQLSTATE, HTTP status and details', () => {
    const e = syntaxErrorOf('SELECT * FORM t')
    expect(e.message).toBe('syntax error at line 1, column 10: expected ",", FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET or end of statement, got "FORM"')
    expect(e.sqlstate).toBe('42601')
    expect(e.httpStatus).toBe(400)
    expect(e.details).toEqual({ line: 1, column: 10, position: 10, token: 'FORM' })
  })

  const cases: Array<[string, number, number, string]> = [
    ['SELECT a FROM t WHERE', 1, 22, 'expected an expression, got end of input'],
    ['SELECT a,\n  b FROM\n  t WHER x = 1', 3, 10, 'expected ",", CROSS, JOIN, INNER, LEFT, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET or end of statement, got "x"'],
    ['SELECT 1 2', 1, 10, 'expected alias, ",", FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET or end of statement, got "2"'],
    ['SELECT a FROM t JOIN u', 1, 23, 'expected alias or ON, got end of input'],
    ['CREATE TABLE t (a INT,)', 1, 23, 'expected column name or table constraint, got ")"'],
    ['SELEKT 1', 1, 1, 'expected a statement, got "SELEKT"'],
    ['INSERT INTO t (a) VALUES (1, 2)', 1, 26, 'INSERT has 2 values for 1 columns (row 1)'],
    ['INSERT INTO t VALUES (1), (1, 2)', 1, 27, 'VALUES lists must all be the same length (row 2)'],
    ['SELECT (1 + 2', 1, 14, 'expected ")", got end of input'],
    ["SELECT 'abc", 1, 8, 'unterminated string literal'],
    ['SELECT "abc', 1, 8, 'unterminated quoted identifier'],
    ['SELECT ""', 1, 8, 'zero-length quoted identifier'],
    ['SELECT 1 /* never closed', 1, 10, 'unterminated /* comment'],
    ['SELECT a\n  FROM t\n  WHERE a = #', 3, 13, 'unexpected character "#"'],
    ['SELECT 12abc', 1, 8, 'invalid number "12abc"'],
    ['SELECT $0', 1, 8, 'parameter $0 out of range ($1 to $65535)'],
    ['CREATE TABLE t (a INT NOT NULL NULL)', 1, 32, 'NULL/NOT NULL given more than once for column "a"'],
    // (An unknown type NAME is a domain reference since issue 19 item 4: the catalog refuses it, SB_UNDEFINED_OBJECT.)
    ['CREATE TABLE t (a 42)', 1, 19, 'expected a type name, got "42"'],
    ['CREATE TABLE t (a INT) WITH (x = y)', 1, 34, 'expected a literal (string, number, TRUE, FALSE or NULL), got "y"'],
    ['ALTER TABLE t ADD COLUMN select INT', 1, 26, 'expected IF or column name, got "select"'],
    ['ALTER TABLE t SET write_quorum = 2::int', 1, 35, 'expected "," or end of statement, got "::"'],
    ['ALTER TABLE t SET write_quorum = - - 2', 1, 34, 'expected a literal (string, number, TRUE, FALSE or NULL), got "-"'],
    ['ALTER TABLE t RENAME TO u', 1, 22, 'expected COLUMN or column name, got "TO"'],
    ['ALTER TABLE t OWNER TO u', 1, 15, 'expected SET, ADD, DROP or RENAME, got "OWNER"'],
    // SHOW <word> is a session setting (SHOW TABLES: SB_UNDEFINED_SETTING when run); a number is neither.
    ['SHOW 42', 1, 6, 'expected ALL or a setting name, got "42"'],
    ['DRAIN NODE x', 1, 12, 'expected a node id (integer), got "x"'],
    ['ALTER CLUSTER SET shards = many', 1, 28, 'expected a shard count (integer), got "many"'],
    ['ALTER CLUSTER SET replicas = 3', 1, 19, 'expected SHARDS, got "replicas"'],
    ['EXPLAIN COMMIT', 1, 9, 'expected SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER or DROP, got "COMMIT"'],
    ['BEGIN ISOLATION LEVEL SERIALIZABLE', 1, 23, 'expected SNAPSHOT or READ, got "SERIALIZABLE"'],
    ['SELECT a FROM t ORDER BY a NULLS MIDDLE', 1, 34, 'expected FIRST or LAST, got "MIDDLE"'],
    ['SELECT * FROM sensor_data WHERE sensor_id = <uuid>', 1, 45, 'expected an expression, got "<"'],
    ['SELECT select FROM t', 1, 8, 'expected DISTINCT, ALL or an expression, got "select"'],
    ['SELECT count(', 1, 14, 'expected ")", DISTINCT or an expression, got end of input'],
    ['UPDATE t SET a = 1 b = 2', 1, 20, 'expected ",", WHERE, RETURNING or end of statement, got "b"']
  ]
  for (const [sql, line, column, what] of cases) {
    it(sql.replaceAll('\n', '\\n'), () => {
      const e = syntaxErrorOf(sql)
      expect(e.message).toBe(`syntax error at line ${line}, column ${column}: ${what}`)
      expect(e.details).toMatchObject({ line, column })
    })
  }

  it('parseOne wants exactly one statement', () => {
    expect(() => parseOne('')).toThrow(/expected a statement, got end of input/)
    expect(() => parseOne('SELECT 1; SELECT 2')).toThrow(/line 1, column 11: expected exactly one statement/)
    expect(parseOne('SELECT 1;').kind).toBe('select')
  })

  it('a non-string input is a syntax error, not a TypeError', () => {
    expect(() => parse(42 as unknown as string)).toThrow(ScratchBirdError)
  })
})

describe('bounds', () => {
  it(`parentheses deeper than ${MAX_PARSE_DEPTH} levels are refused, not a stack overflow`, () => {
    const ok = `SELECT ${'('.repeat(MAX_PARSE_DEPTH - 2)}1${')'.repeat(MAX_PARSE_DEPTH - 2)}`
    expect(parseOne(ok).kind).toBe('select')
    for (const n of [MAX_PARSE_DEPTH + 1, 100_000]) {
      const e = syntaxErrorOf(`SELECT ${'('.repeat(n)}1${')'.repeat(n)}`)
      expect(e.message).toMatch(/statement nested too deeply/)
    }
  })

  it(`${MAX_PARSE_DEPTH} levels count the same for calls, CASE and parentheses`, () => {
    const n = MAX_PARSE_DEPTH - 2
    expect(parseOne(`SELECT ${'f('.repeat(n)}1${')'.repeat(n)}`).kind).toBe('select')
    expect(parseOne(`SELECT ${'CASE WHEN a THEN '.repeat(n)}1${' END'.repeat(n)}`).kind).toBe('select')
    expect(parseOne(`SELECT ${'NOT '.repeat(n)}a`).kind).toBe('select')
  })

  it('deep NOT, unary minus, function and CASE nesting are refused too', () => {
    const n = 20_000
    for (const sql of [
      `SELECT ${'NOT '.repeat(n)}a`,
      `SELECT ${'- '.repeat(n)}a`,
      `SELECT ${'f('.repeat(n)}1${')'.repeat(n)}`,
      `SELECT ${'CASE WHEN a THEN '.repeat(n)}1${' END'.repeat(n)}`,
      `SELECT ${'CAST('.repeat(n)}1${' AS INT)'.repeat(n)}`,
      `SELECT a FROM t WHERE a IN (${'a IN ('.repeat(n)}1${')'.repeat(n)})`
    ]) {
      expect(syntaxErrorOf(sql).message).toMatch(/statement nested too deeply/)
    }
  })

  it(`operator chains taller than ${MAX_EXPR_HEIGHT} are refused; shorter ones parse`, () => {
    expect(parseOne(`SELECT ${Array(MAX_EXPR_HEIGHT - 1).fill('a').join(' + ')}`).kind).toBe('select')
    expect(syntaxErrorOf(`SELECT ${Array(100_000).fill('a').join(' OR ')}`).message).toMatch(/nested too deeply/)
    expect(syntaxErrorOf(`SELECT a${'::int'.repeat(MAX_EXPR_HEIGHT + 1)}`).message).toMatch(/nested too deeply/)
  })

  it(`text longer than ${MAX_SQL_LENGTH} characters is refused before tokenizing`, () => {
    const e = syntaxErrorOf(`SELECT '${'x'.repeat(MAX_SQL_LENGTH)}'`)
    expect(e.message).toMatch(/statement text too long/)
  })

  it('number literals are bounded', () => {
    expect(syntaxErrorOf(`SELECT ${'9'.repeat(1001)}`).message).toMatch(/number literal longer than 1000/)
  })
})
