import { describe, expect, it } from 'vitest'
import { renderAnswer, renderCsv, renderTable, type SqlResult } from '../../../src/cli/render'

// scratchbird_cli output: one JSON document per request, CSV result sets each with a header and
// separated by an empty line, tables unchanged.

const select: SqlResult = { command: 'SELECT', columns: ['k', 'v'], rows: [['a', 1], ['b', null]], rowCount: 2, warnings: [] }
const insert: SqlResult = { command: 'INSERT', rowCount: 1, warnings: [] }
const count: SqlResult = { command: 'SELECT', columns: ['c'], rows: [[2]], rowCount: 1, warnings: [] }

describe('--format json', () => {
  it('prints the single result object when the server answered one', () => {
    const out = renderAnswer({ result: select }, 'json')
    expect(JSON.parse(out)).toEqual(select)
    expect(out.endsWith('}\n')).toBe(true)
  })

  it('prints one array for a multi-statement answer, parseable as a whole', () => {
    const out = renderAnswer({ results: [select, insert, count] }, 'json')
    const doc = JSON.parse(out) as SqlResult[]
    expect(doc).toEqual([select, insert, count])
    expect(JSON.parse(renderAnswer({ results: [] }, 'json'))).toEqual([])
  })
})

describe('--format csv', () => {
  it('quotes commas, quotes and newlines (RFC 4180); NULL is an empty field, \'\' a quoted one', () => {
    const r: SqlResult = { columns: ['a', 'b,c'], rows: [['x,y', null], ['say "hi"', 2], ['line1\nline2', ''], ['cr\r', true]] }
    expect(renderCsv(r)).toBe('a,"b,c"\r\n"x,y",\r\n"say ""hi""",2\r\n"line1\nline2",""\r\n"cr\r",true\r\n')
  })

  it('separates consecutive result sets by an empty line, each with its own header', () => {
    const out = renderAnswer({ results: [select, insert, count] }, 'csv')
    expect(out).toBe('k,v\r\na,1\r\nb,\r\n\r\nc\r\n2\r\n')
    expect(renderAnswer({ result: select }, 'csv')).toBe('k,v\r\na,1\r\nb,\r\n')
    expect(renderAnswer({ results: [insert] }, 'csv')).toBe('')
  })

  it('keeps a result set without rows as its header line', () => {
    expect(renderAnswer({ results: [{ columns: ['x'], rows: [] }, count] }, 'csv')).toBe('x\r\n\r\nc\r\n2\r\n')
  })
})

describe('--format table', () => {
  it('prints each result in turn, as before', () => {
    expect(renderAnswer({ results: [select, insert, count] }, 'table')).toBe(renderTable(select) + renderTable(insert) + renderTable(count))
    expect(renderAnswer({ result: insert }, 'table')).toBe('INSERT 1\n')
    expect(renderTable(select)).toBe('k | v   \n--+-----\na | 1   \nb | NULL\n(2 rows)\n')
  })
})
