import { describe, expect, it } from 'vitest'
import { baseUrl } from '../../../src/cli/client'
import { renderCsv, renderTable } from '../../../src/cli/render'
import { isComplete } from '../../../src/cli/statement-buffer'
import { runToExit, sourceCommand } from '../../helpers/node-process'

describe('scratchbird_cli pieces', () => {
  it('knows when typed lines hold a complete statement', () => {
    expect(isComplete('SELECT 1;')).toBe(true)
    expect(isComplete('SELECT 1')).toBe(false)
    expect(isComplete("SELECT 'a;b'")).toBe(false)
    expect(isComplete("SELECT 'unterminated;")).toBe(false)
    expect(isComplete('SELECT 1 /* ; */')).toBe(false)
    expect(isComplete('SELECT 1 -- ;')).toBe(false)
    expect(isComplete('BEGIN;\nINSERT INTO t VALUES (1);')).toBe(true)
    expect(isComplete('   ')).toBe(false)
  })

  it('renders CSV per RFC 4180 and tables with NULLs', () => {
    const r = { columns: ['a', 'b'], rows: [['x,y', null], ['say "hi"', 2]] }
    expect(renderCsv(r)).toBe('a,b\r\n"x,y",\r\n"say ""hi""",2\r\n')
    expect(renderTable(r)).toContain('NULL')
    expect(renderTable({ command: 'INSERT', rowCount: 3, warnings: ['Consider PARTITION BY user_id for colocation'] }))
      .toBe('INSERT 3\nWARNING: Consider PARTITION BY user_id for colocation\n')
  })

  it('takes the node address from --url, --host or the default', () => {
    expect(baseUrl({ url: 'http://10.0.0.1:8080/' })).toBe('http://10.0.0.1:8080')
    expect(baseUrl({ host: 'db:9000' })).toBe('http://db:9000')
    expect(baseUrl({})).toBe('http://127.0.0.1:8080')
    expect(() => baseUrl({ url: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })
})

describe('scratchbird_cli process', () => {
  it('exits 3 with a message when the node cannot be reached', async () => {
    const [cmd, args] = sourceCommand(['cli', '--url', 'http://127.0.0.1:1', '--command', 'SELECT 1'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1/)
  })

  it('exits 2 on a file it cannot read and on bad flags', async () => {
    const [cmd, args] = sourceCommand(['cli', '-f', '/nonexistent.sql'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--file: cannot read \/nonexistent\.sql.*SB_BAD_ARGUMENT/)
    const [c2, a2] = sourceCommand(['cli', '--format', 'xml', '--command', 'x'])
    expect((await runToExit(c2, a2)).code).toBe(2)
  })
})

describe('command tags', () => {
  it('shows a count only for commands that count rows', () => {
    expect(renderTable({ command: 'CREATE TABLE', rowCount: 0 })).toBe('CREATE TABLE\n')
    expect(renderTable({ command: 'DELETE', rowCount: 0 })).toBe('DELETE 0\n')
  })
})
