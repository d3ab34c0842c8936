import { describe, expect, it } from 'vitest'
import { formatStatement } from '../../../src/sql/format'
import { parse, parseOne } from '../../../src/sql/parser'

// CREATE/ALTER/DROP USER, GRANT, REVOKE (issue 18 item 2): parse → format → parse gives the same
// statement; passwords are printed only when asked (audit lines and logs never hold them).
const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, x: unknown) => k === 'pos' ? undefined : x))

describe('user and grant statements', () => {
  const cases = [
    "CREATE USER alice PASSWORD 'pw'",
    "CREATE USER \"Bob\" PASSWORD 'it''s' SUPERUSER",
    "create user ops password 'x' admin",
    "ALTER USER alice PASSWORD 'new'",
    'ALTER USER alice RENAME TO alicia',
    'DROP USER alice',
    'DROP USER IF EXISTS alice',
    'GRANT SELECT ON TABLE t TO alice',
    'GRANT insert, update, insert ON t TO alice',
    'GRANT ALL PRIVILEGES ON t TO alice',
    'GRANT ALL ON TABLE t TO alice',
    'REVOKE DELETE ON t FROM alice',
    'GRANT ADMIN TO alice',
    'REVOKE SUPERUSER FROM alice'
  ]

  it('round-trips through the formatter (with secrets)', () => {
    for (const sql of cases) {
      const s = parseOne(sql)
      const text = formatStatement(s, { secrets: true })
      expect([sql, strip(parseOne(text))]).toEqual([sql, strip(s)])
    }
    expect(formatStatement(parseOne('GRANT ALL ON t TO alice'))).toBe('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE t TO alice')
    expect(formatStatement(parseOne('GRANT insert, update, insert ON t TO alice'))).toBe('GRANT INSERT, UPDATE ON TABLE t TO alice')
  })

  it('prints passwords as ******** unless secrets are asked for', () => {
    expect(formatStatement(parseOne("CREATE USER a PASSWORD 'hunter2' ADMIN"))).toBe("CREATE USER a PASSWORD '********' ADMIN")
    expect(formatStatement(parseOne("ALTER USER a PASSWORD 'hunter2'"))).toBe("ALTER USER a PASSWORD '********'")
    expect(formatStatement(parseOne("CREATE USER a PASSWORD 'hunter2'"), { secrets: true })).toBe("CREATE USER a PASSWORD 'hunter2'")
  })

  it('keeps CREATE/ALTER/DROP TABLE parsing, and refuses malformed user statements with SB_SYNTAX_ERROR', () => {
    expect(parse('CREATE TABLE user (k INTEGER PRIMARY KEY); DROP TABLE user')[1]!.kind).toBe('drop_table')
    for (const bad of ["CREATE USER a PASSWORD ''", 'CREATE USER a', 'GRANT SELECT TO a', 'GRANT SELECT ON t', 'GRANT TRUNCATE ON t TO a', 'ALTER USER a SET x', 'REVOKE ADMIN TO a']) {
      expect(() => parseOne(bad), bad).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
    }
  })
})
