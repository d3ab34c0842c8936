import { describe, expect, it } from 'vitest'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'
import { ast, stripPos, syntaxErrorOf } from './helpers'

// The domain DDL of issue 19 item 4 (P-002…P-006): parsed, and formatted back to text that parses
// to the same tree (DDL travels to the catalog coordinator as that text).

const roundTrip = (sql: string): void => {
  const tree = parseOne(sql)
  expect(stripPos(parseOne(formatStatement(tree)))).toEqual(stripPos(tree))
}

describe('domain DDL', () => {
  it('CREATE DOMAIN over a base type with DEFAULT, NOT NULL and CHECKs', () => {
    expect(ast('CREATE DOMAIN qty AS INTEGER DEFAULT 1 NOT NULL CHECK (VALUE > 0) CONSTRAINT small CHECK (VALUE < 100)')).toMatchObject({
      kind: 'create_domain',
      name: 'qty',
      domainKind: 'base',
      base: { name: 'integer' },
      members: [],
      variants: [],
      notNull: true,
      default: { kind: 'integer', value: 1n },
      checks: [{ name: null, expr: { kind: 'binary', op: '>', left: { kind: 'column', name: 'value' } } }, { name: 'small' }]
    })
    expect(ast('CREATE DOMAIN d VARCHAR(8)')).toMatchObject({ domainKind: 'base', base: { name: 'varchar', length: 8 }, notNull: false, default: null, checks: [] })
    expect(syntaxErrorOf('CREATE DOMAIN d AS INTEGER NOT NULL NULL').message).toContain('NULL/NOT NULL given more than once')
    expect(syntaxErrorOf('CREATE DOMAIN d AS INTEGER DEFAULT 1 DEFAULT 2').message).toContain('DEFAULT given more than once')
  })

  it('ENUM, SET and VARIANT domains', () => {
    expect(ast("CREATE DOMAIN mood AS ENUM ('sad', 'ok') DEFAULT 'ok'")).toMatchObject({ domainKind: 'enum', base: null, members: ['sad', 'ok'] })
    expect(ast("CREATE DOMAIN perms SET ('r', 'w')")).toMatchObject({ domainKind: 'set', members: ['r', 'w'] })
    expect(ast('CREATE DOMAIN v AS VARIANT (INTEGER, TEXT, DECIMAL(10, 2))')).toMatchObject({
      domainKind: 'variant', variants: [{ name: 'integer' }, { name: 'text' }, { name: 'decimal', precision: 10, scale: 2 }]
    })
    expect(syntaxErrorOf('CREATE DOMAIN m AS ENUM (1, 2)').message).toContain('a quoted label')
  })

  it('ALTER DOMAIN actions and DROP DOMAIN', () => {
    expect(ast('ALTER DOMAIN d SET DEFAULT 3')).toMatchObject({ kind: 'alter_domain', name: 'd', action: { kind: 'set_default' } })
    expect(ast('ALTER DOMAIN d DROP DEFAULT')).toMatchObject({ action: { kind: 'drop_default' } })
    expect(ast('ALTER DOMAIN d SET NOT NULL')).toMatchObject({ action: { kind: 'set_not_null' } })
    expect(ast('ALTER DOMAIN d DROP NOT NULL')).toMatchObject({ action: { kind: 'drop_not_null' } })
    expect(ast('ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE <> 0)')).toMatchObject({ action: { kind: 'add_check', check: { name: 'c' } } })
    expect(ast('ALTER DOMAIN d DROP CONSTRAINT IF EXISTS c')).toMatchObject({ action: { kind: 'drop_constraint', name: 'c', ifExists: true } })
    expect(ast("ALTER DOMAIN d ADD VALUE IF NOT EXISTS 'x' BEFORE 'y'")).toMatchObject({ action: { kind: 'add_value', value: 'x', ifNotExists: true, before: 'y', after: null } })
    expect(ast('DROP DOMAIN IF EXISTS d RESTRICT')).toEqual({ kind: 'drop_domain', name: 'd', ifExists: true })
  })

  it('a column type that is no base type names a domain; so does a CAST\'s (plan/domain-cast.ts checks it)', () => {
    expect(ast('CREATE TABLE t (a INT PRIMARY KEY, m mood NOT NULL)')).toMatchObject({
      columns: [{ name: 'a', type: { name: 'integer' } }, { name: 'm', notNull: true, type: { domain: 'mood' } }]
    })
    expect((ast('CREATE TABLE t (a INT)') as { columns: Array<{ type: Record<string, unknown> }> }).columns[0]!.type).not.toHaveProperty('domain')
    expect(ast('SELECT CAST(1 AS mood), 2::mood')).toMatchObject({
      columns: [{ expr: { kind: 'cast', type: { domain: 'mood' } } }, { expr: { kind: 'cast', type: { domain: 'mood' } } }]
    })
    expect(formatStatement(parseOne('SELECT CAST(1 AS mood)'))).toBe('SELECT CAST(1 AS mood)')
    expect(syntaxErrorOf('SELECT CAST(1 AS)').message).toContain('a type')
  })

  it('formats back to SQL that parses to the same statement', () => {
    for (const sql of [
      'CREATE DOMAIN qty AS INTEGER DEFAULT 1 NOT NULL CHECK (VALUE > 0) CONSTRAINT small CHECK (VALUE < 100)',
      "CREATE DOMAIN \"Mood\" AS ENUM ('sad', 'it''s ok')",
      "CREATE DOMAIN p AS SET ('r', 'w') DEFAULT 'r'",
      'CREATE DOMAIN v AS VARIANT (INTEGER, DOUBLE PRECISION, VARCHAR(3))',
      'CREATE TABLE t (a INT PRIMARY KEY, m "Mood", q qty DEFAULT 2)',
      'ALTER DOMAIN d SET DEFAULT upper(\'x\')', 'ALTER DOMAIN d DROP DEFAULT', 'ALTER DOMAIN d SET NOT NULL', 'ALTER DOMAIN d DROP NOT NULL',
      'ALTER DOMAIN d ADD CHECK (length(VALUE) < 4)', 'ALTER DOMAIN d DROP CONSTRAINT c',
      "ALTER DOMAIN d ADD VALUE 'x'", "ALTER DOMAIN d ADD VALUE 'x' AFTER 'y'", 'DROP DOMAIN d'
    ]) roundTrip(sql)
  })
})
