// Output of scratchbird_cli: aligned tables (psql-like), JSON or CSV (RFC 4180).

export interface SqlResult { command?: string, columns?: string[], rows?: unknown[][], rowCount?: number, warnings?: string[] }

function cell (v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  return typeof v === 'object' ? JSON.stringify(v) : String(v)
}

const COUNTED = new Set(['INSERT', 'UPDATE', 'DELETE', 'SELECT'])

export function renderTable (r: SqlResult): string {
  const cols = r.columns ?? []
  const rows = (r.rows ?? []).map(row => row.map(cell))
  const out: string[] = []
  if (cols.length) {
    const widths = cols.map((c, i) => Math.max(c.length, ...rows.map(row => (row[i] ?? '').length)))
    out.push(cols.map((c, i) => c.padEnd(widths[i]!)).join(' | '))
    out.push(widths.map(w => '-'.repeat(w)).join('-+-'))
    for (const row of rows) out.push(row.map((v, i) => v.padEnd(widths[i]!)).join(' | '))
    out.push(`(${rows.length} row${rows.length === 1 ? '' : 's'})`)
  } else {
    // psql's command tags: a count only where one means something (INSERT 3, UPDATE 0, …).
    const counted = r.command !== undefined && COUNTED.has(r.command)
    out.push(`${r.command ?? 'OK'}${counted && r.rowCount !== undefined ? ` ${r.rowCount}` : ''}`)
  }
  for (const w of r.warnings ?? []) out.push(`WARNING: ${w}`)
  return out.join('\n') + '\n'
}

/** NULL is an empty unquoted field, the empty string a quoted one (`""`), as PostgreSQL's CSV. */
function csvField (v: unknown): string {
  if (v === null || v === undefined) return ''
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v)
  return s === '' || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** One result set: its header line, then its rows; '' for a result without columns (INSERT …). */
export function renderCsv (r: SqlResult): string {
  if (!r.columns?.length) return ''
  const lines = [r.columns.map(csvField).join(',')]
  for (const row of r.rows ?? []) lines.push(row.map(csvField).join(','))
  return lines.join('\r\n') + '\r\n'
}

export type OutputFormat = 'table' | 'json' | 'csv'

/** One result, as the server answers a one-statement script. */
export function render (r: SqlResult, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(r, null, 2) + '\n'
  if (format === 'csv') return renderCsv(r)
  return renderTable(r)
}

/**
 * Everything one request answered: `{ result }` when the server answered a single result object,
 * `{ results }` for the {"results": [...]} list of a multi-statement script (or the results before
 * a failing statement). json prints ONE document (that object, or the array); csv prints each
 * result set with its own header line, consecutive sets separated by an empty line (results
 * without columns, e.g. INSERT, print nothing); table prints each result in turn.
 */
export function renderAnswer (answer: { result: SqlResult } | { results: readonly SqlResult[] }, format: OutputFormat): string {
  const list = 'results' in answer ? answer.results : [answer.result]
  if (format === 'json') return JSON.stringify('results' in answer ? answer.results : answer.result, null, 2) + '\n'
  if (format === 'csv') return list.map(renderCsv).filter(s => s !== '').join('\r\n')
  return list.map(renderTable).join('')
}
