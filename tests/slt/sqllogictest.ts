// A sqllogictest runner (the format of https://www.sqlite.org/sqllogictest, as
// ../shared/sqllogictest/README.md summarises it) against a running node's HTTP API.
//
// Records are separated by blank lines:
//   statement ok | statement error          one statement follows
//   query <types> [nosort|rowsort|valuesort] [label]
//   <SQL>  ----  <expected values, one per line, or "N values hashing to <md5>">
//   hash-threshold N                         results with more values than N are compared by md5
//   skipif <engine> / onlyif <engine>        guard the next record; we are engine ENGINE
//   halt                                     stop reading the file
// Values are printed as the reference runner prints them: I → integer (a real truncated toward
// zero), R → three decimals, T → text with "(empty)" for '' and control characters as '@', NULL →
// NULL. This file is pure (parsing, formatting, comparing) except runRecords, which talks HTTP.
import { createHash } from 'node:crypto'

export const ENGINE = 'scratchbird'

export type SortMode = 'nosort' | 'rowsort' | 'valuesort'

export interface Record {
  /** 1-based line of the record's first line (the statement/query line). */
  readonly line: number
  readonly kind: 'ok' | 'error' | 'query'
  readonly sql: string
  readonly types: string
  readonly sort: SortMode
  /** Expected values (one per line as written), or null for a hashed result. */
  readonly expected: readonly string[] | null
  readonly hash: { readonly count: number, readonly md5: string } | null
  /** hash-threshold in force for this record (0 = never hash). */
  readonly hashThreshold: number
}

export interface ParsedFile { readonly records: readonly Record[], readonly skipped: number }

const HASHED = /^(\d+) values hashing to ([0-9a-f]{32})$/

/** Parses a .test file; records guarded for another engine are counted in `skipped`, not returned. */
export function parseTestFile (text: string): ParsedFile {
  const lines = text.split(/\r?\n/)
  const records: Record[] = []
  let skipped = 0
  let hashThreshold = 0
  let i = 0
  while (i < lines.length) {
    // Conditions apply to the record that follows them (several may stack).
    let run = true
    let line = lines[i]!.trim()
    if (line === '' || line.startsWith('#')) { i++; continue }
    while (/^(skipif|onlyif)\s/.test(line)) {
      const [cond, engine] = line.split(/\s+/)
      if (cond === 'skipif' && engine === ENGINE) run = false
      if (cond === 'onlyif' && engine !== ENGINE) run = false
      line = lines[++i]?.trim() ?? ''
    }
    const start = i + 1
    const words = line.split(/\s+/)
    i++
    if (words[0] === 'halt') { if (run) break; continue }
    if (words[0] === 'hash-threshold') { hashThreshold = Number(words[1]); continue }
    const sql: string[] = []
    while (i < lines.length && lines[i]!.trim() !== '' && lines[i]!.trim() !== '----') sql.push(lines[i++]!)
    const values: string[] = []
    if (lines[i]?.trim() === '----') {
      i++
      while (i < lines.length && lines[i]!.trim() !== '') values.push(lines[i++]!.trim())
    }
    if (!run) { skipped++; continue }
    const base = { line: start, sql: sql.join('\n'), hashThreshold }
    if (words[0] === 'statement' && (words[1] === 'ok' || words[1] === 'error')) {
      records.push({ ...base, kind: words[1], types: '', sort: 'nosort', expected: [], hash: null })
    } else if (words[0] === 'query') {
      const sort = (words[2] ?? 'nosort') as SortMode
      if (!['nosort', 'rowsort', 'valuesort'].includes(sort)) throw new Error(`line ${start}: unknown sort mode "${sort}"`)
      const m = values.length === 1 ? HASHED.exec(values[0]!) : null
      const hash = m === null ? null : { count: Number(m[1]), md5: m[2]! }
      // Expected values may also be written a row per line, values separated by spaces.
      const expected = m === null ? values.flatMap(v => v.split(/\s+/)) : null
      records.push({ ...base, kind: 'query', types: words[1] ?? '', sort, expected, hash })
    } else {
      throw new Error(`line ${start}: unknown record "${line}"`)
    }
  }
  return { records, skipped }
}

/** One result value as the reference runner prints it for column type `type`. */
export function formatValue (v: unknown, type: string): string {
  if (v === null || v === undefined) return 'NULL'
  if (type === 'I') {
    if (typeof v === 'boolean') return v ? '1' : '0'
    const s = String(v).trim()
    if (/^[+-]?\d+$/.test(s)) return BigInt(s).toString()
    const n = Number(s)
    return Number.isFinite(n) ? BigInt(Math.trunc(n)).toString() : '0'
  }
  if (type === 'R') {
    if (typeof v === 'boolean') return v ? '1.000' : '0.000'
    const n = Number(v)
    return Number.isFinite(n) ? n.toFixed(3) : '0.000'
  }
  const s = typeof v === 'string' ? v : String(v)
  if (s === '') return '(empty)'
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, '@')
}

/** The printed values of a result in comparison order (rows kept for nosort, sorted otherwise). */
export function resultValues (rows: readonly (readonly unknown[])[], types: string, sort: SortMode): string[] {
  const printed = rows.map(r => r.map((v, i) => formatValue(v, types[i] ?? 'T')))
  if (sort === 'rowsort') {
    // The reference runner sorts rows by their values compared as strings, column by column.
    printed.sort((a, b) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        if (a[i]! < b[i]!) return -1
        if (a[i]! > b[i]!) return 1
      }
      return a.length - b.length
    })
  }
  const flat = printed.flat()
  if (sort === 'valuesort') flat.sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  return flat
}

/** md5 of every value followed by a newline (the reference runner's result hash). */
export function hashValues (values: readonly string[]): string {
  const h = createHash('md5')
  for (const v of values) h.update(`${v}\n`)
  return h.digest('hex')
}

/** Null when the result matches the record, else why not. */
export function checkQuery (r: Record, rows: readonly (readonly unknown[])[], columns: number): string | null {
  if (r.types.length !== columns) return `expected ${r.types.length} column(s), got ${columns}`
  const got = resultValues(rows, r.types, r.sort)
  if (r.hash !== null) {
    if (got.length !== r.hash.count) return `expected ${r.hash.count} values, got ${got.length}`
    const md5 = hashValues(got)
    return md5 === r.hash.md5 ? null : `expected values hashing to ${r.hash.md5}, got ${md5}: ${got.slice(0, 12).join(' ')}${got.length > 12 ? ' …' : ''}`
  }
  const want = r.expected!
  if (got.length === want.length && got.every((v, i) => v === want[i])) return null
  return `expected ${want.slice(0, 12).join(' ')}${want.length > 12 ? ' …' : ''}; got ${got.slice(0, 12).join(' ')}${got.length > 12 ? ' …' : ''}`
}

interface ApiResult { columns?: string[], rows?: unknown[][] }
interface ApiBody extends ApiResult { error?: { code: string, message: string }, results?: ApiResult[] }

export interface Outcome { readonly line: number, readonly pass: boolean, readonly why: string | null }

/**
 * Runs the records in order against `url` (POST /v1/sql), up to `batch` records per request:
 * a request answers the statements before the first failing one, so the failing record is known
 * and the run resumes after it. A script that does not parse runs nothing, so that batch is
 * retried a record at a time.
 */
export async function runRecords (records: readonly Record[], url: string, batch = 40): Promise<Outcome[]> {
  const out: Outcome[] = []
  const post = async (sql: string): Promise<ApiBody> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql }) })
    return await res.json() as ApiBody
  }
  const judge = (r: Record, result: ApiResult | null, error: { code: string, message: string } | null): Outcome => {
    if (r.kind === 'error') return { line: r.line, pass: error !== null, why: error === null ? 'expected an error' : null }
    if (error !== null) return { line: r.line, pass: false, why: `${error.code}: ${error.message}` }
    if (r.kind === 'ok') return { line: r.line, pass: true, why: null }
    const why = checkQuery(r, result?.rows ?? [], result?.columns?.length ?? 0)
    return { line: r.line, pass: why === null, why }
  }
  const runChunk = async (chunk: readonly Record[]): Promise<number> => {
    const body = await post(chunk.map(r => r.sql).join(';\n'))
    const results = body.results ?? (body.error === undefined ? [body] : [])
    if (body.error !== undefined && results.length === 0 && chunk.length > 1 && body.error.code === 'SB_SYNTAX_ERROR') {
      for (const r of chunk) await runChunk([r]) // nothing ran: find the record that does not parse
      return chunk.length
    }
    results.forEach((res, k) => out.push(judge(chunk[k]!, res, null)))
    if (body.error === undefined) return results.length
    out.push(judge(chunk[results.length]!, null, body.error))
    return results.length + 1
  }
  let i = 0
  while (i < records.length) i += await runChunk(records.slice(i, i + batch))
  return out
}
