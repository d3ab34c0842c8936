import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CHAIN_BREAK, GENESIS, headPath, lineHash, parseHead, parseLine, type AuditEvent } from '../../../src/ops/audit/chain'
import { AuditFile } from '../../../src/ops/audit/file'
import { splitLines, verifyAuditLog } from '../../../src/ops/audit/verify'

const ddl = (n: number): AuditEvent => ({ event: 'CREATE TABLE', user: 'app', client: '127.0.0.1:5000', protocol: 'pg', statement: `CREATE TABLE t${n} (k INTEGER PRIMARY KEY)`, outcome: 'ok' })

let dir: string
let path: string
let t = 1_700_000_000_000
const open = (): AuditFile => { const f = new AuditFile({ path, node: 1, now: () => t++ }); f.open(); return f }
const text = (): string => readFileSync(path, 'utf8')
const head = () => parseHead(readFileSync(headPath(path), 'utf8'))
const verify = (s = text()) => verifyAuditLog(s, head())
const lines = (): string[] => splitLines(text())
const writeLines = (ls: string[]): void => writeFileSync(path, ls.join('\n') + '\n')

function writeFive (): void {
  const f = open()
  for (let i = 1; i <= 5; i++) f.append(ddl(i))
  f.close()
}

beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sb-audit-')); path = join(dir, 'logs', 'audit.log') })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('audit log hash chain', () => {
  it('writes one JSON line per event, each carrying seq and the sha256 of the line before', () => {
    writeFive()
    const ls = lines()
    expect(ls).toHaveLength(5)
    const recs = ls.map(parseLine) as Array<Record<string, unknown>>
    expect(recs[0]).toMatchObject({ seq: 1, node: 1, event: 'CREATE TABLE', user: 'app', client: '127.0.0.1:5000', protocol: 'pg', outcome: 'ok', prev: GENESIS })
    expect(recs[0]!.time).toBe(new Date(1_700_000_000_000).toISOString().slice(0, 19) + '.000Z')
    for (let i = 1; i < 5; i++) expect(recs[i]!.prev).toBe(lineHash(ls[i - 1]!))
    expect(head()).toEqual({ seq: 5, hash: lineHash(ls[4]!) })
    expect(verify()).toEqual({ ok: true, lines: 5, breaks: [], head: 'matched' })
  })

  it('continues the chain across a restart', () => {
    writeFive()
    const f = open()
    f.append(ddl(6))
    f.close()
    expect(f.openedWith).toEqual([])
    const ls = lines()
    expect(parseLine(ls[5]!)).toMatchObject({ seq: 6, prev: lineHash(ls[4]!) })
    expect(verify()).toMatchObject({ ok: true, lines: 6 })
  })

  it('detects an edited line (naming the line after it, whose prev no longer matches)', () => {
    writeFive()
    const ls = lines()
    ls[2] = ls[2]!.replace('"user":"app"', '"user":"eve"')
    writeLines(ls)
    expect(verify()).toMatchObject({ ok: false, line: 4 })
    expect((verify() as { reason: string }).reason).toMatch(/line 3 was edited/)
  })

  it('detects an edited last line through the head file', () => {
    writeFive()
    const ls = lines()
    ls[4] = ls[4]!.replace('t5', 'tX')
    writeLines(ls)
    expect(verify()).toMatchObject({ ok: false, line: 5 })
  })

  it('detects a deleted line', () => {
    writeFive()
    const ls = lines()
    ls.splice(1, 1)
    writeLines(ls)
    expect(verify()).toMatchObject({ ok: false, line: 2 })
  })

  it('detects reordered lines', () => {
    writeFive()
    const ls = lines();
    [ls[1], ls[2]] = [ls[2]!, ls[1]!]
    writeLines(ls)
    expect(verify()).toMatchObject({ ok: false, line: 2 })
  })

  it('detects the first lines removed', () => {
    writeFive()
    writeLines(lines().slice(1))
    expect(verify()).toMatchObject({ ok: false, line: 1 })
  })

  it('detects whole lines cut from the end (head file), and a file cut mid-line', () => {
    writeFive()
    const whole = lines()
    writeLines(whole.slice(0, 3))
    expect(verify()).toMatchObject({ ok: false, line: 3 })
    expect((verify() as { reason: string }).reason).toMatch(/cut from the end/)
    // Without the head file the shorter chain is consistent: the head is the anchor.
    expect(verifyAuditLog(text(), null)).toMatchObject({ ok: true, lines: 3, head: 'absent' })
    writeFileSync(path, whole.join('\n').slice(0, -20))
    expect(verify()).toMatchObject({ ok: false, line: 5 })
    expect((verify() as { reason: string }).reason).toMatch(/cut short/)
  })

  it('after a torn last line, a restart records a CHAIN BREAK and the chain verifies again', () => {
    writeFive()
    const size = readFileSync(path).length
    truncateSync(path, size - 15)
    expect(verify().ok).toBe(false)
    const f = open()
    expect(f.openedWith).toHaveLength(1)
    f.append(ddl(6))
    f.close()
    const ls = lines()
    expect(ls).toHaveLength(7)
    expect(parseLine(ls[5]!)).toMatchObject({ seq: 6, event: CHAIN_BREAK, prev: lineHash(ls[4]!) })
    expect(parseLine(ls[6]!)).toMatchObject({ seq: 7, event: 'CREATE TABLE' })
    const v = verify()
    expect(v).toMatchObject({ ok: true, lines: 7 })
    expect(v.ok && v.breaks[0]!.line).toBe(6)
    expect(v.ok && v.breaks[0]!.reason).toMatch(/line 5 was damaged/)
    // An edit after the break is still caught.
    ls[6] = ls[6]!.replace('t6', 't7')
    writeLines(ls)
    expect(verify()).toMatchObject({ ok: false, line: 7 })
  })

  it('a damaged line in the middle without the node\'s CHAIN BREAK after it fails', () => {
    writeFive()
    const ls = lines()
    ls[1] = ls[1]!.slice(0, 30)
    writeLines(ls)
    expect(verify()).toMatchObject({ ok: false, line: 2 })
  })

  it('lines removed from the end are recorded as a CHAIN BREAK at the next start', () => {
    writeFive()
    writeLines(lines().slice(0, 3))
    const f = open()
    f.close()
    expect(f.openedWith[0]).toMatch(/ends at line 3 but its head file recorded line 5/)
    const v = verify()
    expect(v).toMatchObject({ ok: true, lines: 4 })
    expect(v.ok && v.breaks.map(b => b.line)).toEqual([4])
  })

  it('bounds the statement text of a line', () => {
    const f = open()
    f.append({ ...ddl(1), statement: 'x'.repeat(10_000) })
    f.close()
    expect((parseLine(lines()[0]!) as { statement: string }).statement.length).toBe(4000)
  })

  it('an empty file verifies; text appended by someone else does not', () => {
    writeFileSync(path.replace('logs/audit.log', 'empty.log'), '')
    expect(verifyAuditLog('', null)).toEqual({ ok: true, lines: 0, breaks: [], head: 'absent' })
    writeFive()
    appendFileSync(path, '{"seq":6}\n')
    expect(verify()).toMatchObject({ ok: false, line: 6 })
  })
})
