// A sqllogictest-style runner against a running node's HTTP API. File format (blank-line separated):
//   statement ok              statement error <SB_CODE>
//   <SQL, may span lines>     <SQL>
//
//   query <types> [rowsort]   types: one letter per column (I integer, T text, R real, B bool, U uuid …; informative)
//   <SQL>
//   ----
//   <expected rows, one per line, values separated by single spaces; NULL as NULL>
// Lines starting with # are comments.
import { readFileSync } from 'node:fs'

export interface SltRecord { line: number, kind: 'ok' | 'error' | 'query', code?: string, sort: boolean, sql: string, expected: string[] }

export function parseSlt (text: string): SltRecord[] {
  const out: SltRecord[] = []
  const lines = text.split('\n')
  let i = 0
  while (i < lines.length) {
    const head = lines[i]!.trim()
    if (head === '' || head.startsWith('#')) { i++; continue }
    const start = i + 1
    const words = head.split(/\s+/)
    i++
    const sql: string[] = []
    while (i < lines.length && lines[i]!.trim() !== '' && lines[i]!.trim() !== '----') sql.push(lines[i++]!)
    const expected: string[] = []
    if (lines[i]?.trim() === '----') {
      i++
      while (i < lines.length && lines[i]!.trim() !== '') expected.push(lines[i++]!.trim())
    }
    if (words[0] === 'statement' && words[1] === 'ok') out.push({ line: start, kind: 'ok', sort: false, sql: sql.join('\n'), expected })
    else if (words[0] === 'statement' && words[1] === 'error') out.push({ line: start, kind: 'error', code: words[2], sort: false, sql: sql.join('\n'), expected })
    else if (words[0] === 'query') out.push({ line: start, kind: 'query', sort: words.includes('rowsort'), sql: sql.join('\n'), expected })
    else throw new Error(`line ${start}: unknown record "${head}"`)
  }
  return out
}

function cell (v: unknown): string {
  return v === null ? 'NULL' : String(v)
}

/** Runs every record; returns the mismatches (empty = pass). */
export async function runSlt (file: string, url: string): Promise<string[]> {
  const failures: string[] = []
  for (const r of parseSlt(readFileSync(file, 'utf8'))) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: r.sql }) })
    const body = await res.json() as { error?: { code: string, message: string }, rows?: unknown[][], results?: Array<{ rows?: unknown[][] }> }
    // A script of several statements (SET …; SHOW …, in one request: one session's worth) answers with its last result's rows.
    body.rows ??= body.results?.at(-1)?.rows
    const where = `${file}:${r.line}`
    if (r.kind === 'error') {
      if (body.error?.code !== r.code) failures.push(`${where}: expected ${r.code ?? '?'}, got ${JSON.stringify(body).slice(0, 300)}`)
      continue
    }
    if (body.error) { failures.push(`${where}: ${body.error.code}: ${body.error.message}`); continue }
    if (r.kind === 'query') {
      let got = (body.rows ?? []).map(row => row.map(cell).join(' '))
      let want = r.expected
      if (r.sort) { got = [...got].sort(); want = [...want].sort() }
      if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${where}: expected\n  ${want.join('\n  ')}\ngot\n  ${got.join('\n  ')}`)
    }
  }
  return failures
}
