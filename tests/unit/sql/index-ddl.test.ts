import { describe, expect, it } from 'vitest'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'
import { ast, stripPos, syntaxErrorOf } from './helpers'

// The SQL of issue 19 items 1–3: UNIQUE, referential actions, CREATE / DROP / ALTER INDEX — parsed,
// and formatted back to text that parses to the same tree (DDL travels between nodes as that text).

const roundTrip = (sql: string): void => {
  const tree = parseOne(sql)
  expect(stripPos(parseOne(formatStatement(tree)))).toEqual(stripPos(tree))
}

describe('keys and index DDL', () => {
  it('UNIQUE on a column and as a table constraint', () => {
    expect(ast('CREATE TABLE t (a INT UNIQUE, b TEXT, CONSTRAINT bu UNIQUE (b, a))')).toMatchObject({
      columns: [{ name: 'a', unique: true }, { name: 'b' }],
      constraints: [{ kind: 'unique', name: 'bu', columns: ['b', 'a'] }]
    })
    expect((ast('CREATE TABLE t (a INT)') as { columns: Array<Record<string, unknown>> }).columns[0]).not.toHaveProperty('unique')
    expect(syntaxErrorOf('CREATE TABLE t (a INT UNIQUE UNIQUE)').message).toContain('UNIQUE given more than once')
  })

  it('ON DELETE / ON UPDATE actions of REFERENCES', () => {
    expect(ast('CREATE TABLE c (p INT REFERENCES p ON DELETE CASCADE ON UPDATE NO ACTION)')).toMatchObject({
      columns: [{ references: { table: 'p', columns: null, onDelete: 'cascade', onUpdate: 'no_action' } }]
    })
    expect(ast('CREATE TABLE c (p INT, FOREIGN KEY (p) REFERENCES p (id) ON DELETE RESTRICT)')).toMatchObject({
      constraints: [{ kind: 'foreign_key', references: { onDelete: 'restrict' } }]
    })
    expect(syntaxErrorOf('CREATE TABLE c (p INT REFERENCES p ON DELETE SET NULL)').message).toContain('expected CASCADE, RESTRICT or NO')
    expect(syntaxErrorOf('CREATE TABLE c (p INT REFERENCES p ON DELETE CASCADE ON DELETE RESTRICT)').message).toContain('ON DELETE given more than once')
  })

  it('CREATE [UNIQUE] INDEX, DROP INDEX, ALTER INDEX … SET READY', () => {
    expect(ast('CREATE UNIQUE INDEX IF NOT EXISTS e ON people (email) INCLUDE (name, age) GLOBAL')).toEqual({
      kind: 'create_index', name: 'e', table: 'people', unique: true, ifNotExists: true, columns: ['email'], include: ['name', 'age'], scope: 'global'
    })
    expect(ast('CREATE INDEX c ON people (city, age)')).toMatchObject({ unique: false, include: [], scope: null })
    expect(ast('DROP INDEX IF EXISTS c')).toEqual({ kind: 'drop_index', name: 'c', ifExists: true })
    expect(ast('ALTER INDEX c SET READY')).toEqual({ kind: 'alter_index', name: 'c' })
  })

  it('formats each back to the same tree', () => {
    for (const sql of [
      'CREATE TABLE t (a INT UNIQUE, b TEXT REFERENCES p (x) ON DELETE CASCADE, UNIQUE (b), FOREIGN KEY (a) REFERENCES q ON UPDATE RESTRICT ON DELETE NO ACTION)',
      'CREATE UNIQUE INDEX e ON people (email) INCLUDE (name) LOCAL',
      'CREATE INDEX IF NOT EXISTS "Mixed" ON people (city)',
      'DROP INDEX e', 'ALTER INDEX e SET READY', 'EXPLAIN CREATE INDEX e ON t (a)'
    ]) roundTrip(sql)
  })
})
