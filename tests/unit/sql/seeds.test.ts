import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from '../../../src/sql/parser'
import { formatStatement } from '../../../src/sql/format'
import { stripPos, syntaxErrorOf } from './helpers'

// Every SQL statement in the seed documents parses as written (issue 4, item 9); the fixture is
// a verbatim copy with the seed line numbers.

const fixture = readFileSync(new URL('../../fixtures/sql/seed-statements.sql', import.meta.url), 'utf8')

describe('seed SQL', () => {
  const statements = parse(fixture)

  it('the whole fixture parses as one script', () => {
    expect(statements).toHaveLength(46)
    expect(statements.map((s) => s.kind)).toEqual([
      ...Array(6).fill('alter_table'),
      'select', 'select', 'show', 'select',
      ...Array(5).fill('alter_table'), 'select',
      'alter_table', 'select',
      'insert', 'select', 'select', 'select',
      'begin', 'insert', 'insert', 'commit',
      'select', 'alter_table', 'alter_table',
      'drain_node', 'show', 'select',
      'select', 'select', 'select', 'select',
      'alter_table',
      'show', 'show', 'deliver_hints',
      'alter_table', 'alter_table', 'select',
      'create_table', 'create_table', 'create_table'
    ])
  })

  it('each statement also parses alone, on the line the fixture has it', () => {
    const lines = fixture.split('\n')
    for (const s of statements) {
      const line = lines[s.pos.line - 1]!
      expect(line.slice(s.pos.column - 1)).toMatch(/^[A-Z]/)
      expect(stripPos(parse(formatStatement(s))[0])).toEqual(stripPos(s))
    }
  })

  it('the colocated transaction has the shape the planner routes on', () => {
    const insert = statements.find((s) => s.kind === 'insert' && s.table === 'orders')
    expect(stripPos(insert)).toEqual({
      kind: 'insert',
      table: 'orders',
      columns: ['order_id', 'user_id', 'amount'],
      rows: [[
        { kind: 'call', name: 'gen_uuidv8_hlc', args: [], distinct: false, star: false },
        { kind: 'string', value: 'user_123' },
        { kind: 'decimal', text: '100.0' }
      ]],
      onConflict: null,
      returning: null
    })
  })

  it('the seeds\' <uuid> placeholder is not SQL', () => {
    const e = syntaxErrorOf('SELECT * FROM sensor_data WHERE sensor_id = <uuid>;')
    expect(e.details).toMatchObject({ line: 1, column: 45, token: '<' })
  })
})
