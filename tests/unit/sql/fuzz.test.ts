import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { formatStatement } from '../../../src/sql/format'
import { parse } from '../../../src/sql/parser'
import { statementText } from './generators'

// Whatever text a client sends, the parser answers with statements or SB_SYNTAX_ERROR, never a
// TypeError or RangeError that would surface as a 500 (DESIGN §11: fast-check fuzz of the parser).

function parsesOrSyntaxError (sql: string): void {
  try {
    const statements = parse(sql)
    // Whatever parsed must also print (the formatter sees the same trees EXPLAIN will).
    for (const s of statements) formatStatement(s)
  } catch (e) {
    if (!isScratchBirdError(e, 'SB_SYNTAX_ERROR')) throw e
    const { line, column, position } = e.details as { line: number, column: number, position: number }
    expect(line).toBeGreaterThanOrEqual(1)
    expect(column).toBeGreaterThanOrEqual(1)
    expect(position).toBeGreaterThanOrEqual(1)
    expect(position).toBeLessThanOrEqual(sql.length + 1)
  }
}

const fixture = readFileSync(new URL('../../fixtures/sql/seed-statements.sql', import.meta.url), 'utf8')
const seedStatements = fixture.split(';').map((s) => s.trim()).filter((s) => s !== '')

/** Words and symbols of the dialect, so random token soups get deep into the grammar. */
const vocabulary = fc.constantFrom(
  'SELECT', 'FROM', 'WHERE', 'GROUP', 'BY', 'HAVING', 'ORDER', 'LIMIT', 'OFFSET', 'JOIN', 'LEFT', 'INNER',
  'OUTER', 'CROSS', 'ON', 'AS', 'DISTINCT', 'INSERT', 'INTO', 'VALUES', 'DEFAULT', 'RETURNING', 'UPDATE',
  'SET', 'DELETE', 'CREATE', 'TABLE', 'IF', 'NOT', 'EXISTS', 'PRIMARY', 'KEY', 'FOREIGN', 'REFERENCES',
  'PARTITION', 'WITH', 'ALTER', 'ADD', 'COLUMN', 'DROP', 'BEGIN', 'START', 'TRANSACTION', 'ISOLATION',
  'LEVEL', 'SNAPSHOT', 'READ', 'COMMITTED', 'COMMIT', 'ROLLBACK', 'EXPLAIN', 'SHOW', 'CLUSTER', 'MEMBERS',
  'DELIVER', 'HINTS', 'TO', 'NODE', 'DRAIN', 'AND', 'OR', 'IS', 'NULL', 'IN', 'BETWEEN', 'LIKE', 'CASE',
  'WHEN', 'THEN', 'ELSE', 'END', 'CAST', 'TRUE', 'FALSE', 'DATE', 'TIMESTAMP', 'INT', 'VARCHAR', 'DECIMAL',
  'DOUBLE', 'PRECISION', 'NULLS', 'FIRST', 'ASC', 'DESC', 'COUNT', 'a', 't', '"Q"', "'s'", "'it''s'",
  '1', '-1', '2.5', '1e9', '$1', '$0', '(', ')', ',', ';', '.', '*', '+', '-', '/', '%', '=', '<>', '!=',
  '<', '<=', '>', '>=', '||', '::', '--', '/*', '*/', '\n', '"', "'", '$', '#', '99999999999999999999999'
)

describe('parser fuzz', () => {
  it('arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), parsesOrSyntaxError), { numRuns: 1500 })
  })

  it('random token soups', () => {
    fc.assert(fc.property(fc.array(vocabulary, { maxLength: 40 }), fc.constantFrom(' ', '', '\n'), (words, sep) => {
      parsesOrSyntaxError(words.join(sep))
    }), { numRuns: 5000 })
  })

  const mutation = fc.oneof(
    // delete a range, insert a token, replace a range, duplicate a slice, truncate
    fc.tuple(fc.constant('delete'), fc.nat(), fc.nat({ max: 10 }), vocabulary),
    fc.tuple(fc.constant('insert'), fc.nat(), fc.nat(), vocabulary),
    fc.tuple(fc.constant('replace'), fc.nat(), fc.nat({ max: 6 }), vocabulary),
    fc.tuple(fc.constant('duplicate'), fc.nat(), fc.nat({ max: 20 }), vocabulary),
    fc.tuple(fc.constant('truncate'), fc.nat(), fc.nat(), vocabulary)
  )

  function mutate (sql: string, steps: ReadonlyArray<readonly [string, number, number, string]>): string {
    let s = sql
    for (const [op, at, len, word] of steps) {
      const i = s.length === 0 ? 0 : at % (s.length + 1)
      if (op === 'delete') s = s.slice(0, i) + s.slice(i + len)
      else if (op === 'insert') s = `${s.slice(0, i)} ${word} ${s.slice(i)}`
      else if (op === 'replace') s = `${s.slice(0, i)}${word}${s.slice(i + len)}`
      else if (op === 'duplicate') s = s.slice(0, i + len) + s.slice(i)
      else s = s.slice(0, i)
    }
    return s
  }

  it('mutated seed statements', () => {
    fc.assert(fc.property(fc.constantFrom(...seedStatements), fc.array(mutation, { minLength: 1, maxLength: 4 }), (sql, steps) => {
      parsesOrSyntaxError(mutate(sql, steps))
    }), { numRuns: 3000 })
  })

  it('mutated generated statements', () => {
    fc.assert(fc.property(statementText, fc.array(mutation, { minLength: 1, maxLength: 3 }), (sql, steps) => {
      parsesOrSyntaxError(mutate(sql, steps))
    }), { numRuns: 1000 })
  })

  it('deep nesting of every recursive form', () => {
    const opens = fc.array(fc.constantFrom('(', 'NOT ', '-', 'f(', 'CAST(', 'CASE WHEN ', 'a IN (', 'count(DISTINCT '), { minLength: 150, maxLength: 600 })
    fc.assert(fc.property(opens, (list) => { parsesOrSyntaxError(`SELECT ${list.join('')}1`) }), { numRuns: 100 })
  })
})
