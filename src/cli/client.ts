import { request } from 'undici'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError } from '../core/errors'
import type { ParsedFlags } from './args'

// scratchbird_cli: sends statements to a node's HTTP API (undici) and prints the answer.

const DEFAULT_HOST = '127.0.0.1:8080'
const TIMEOUT_MS = 30_000

function hostFrom (flags: ParsedFlags): string {
  if (typeof flags.host === 'string') return flags.host
  if (typeof flags.config === 'string') return loadConfig({ file: flags.config }).node.listen
  return DEFAULT_HOST
}

interface SqlResult { command?: string, columns?: string[], rows?: unknown[][], rowCount?: number, warnings?: string[] }

export function renderTable (r: SqlResult): string {
  const cols = r.columns ?? []
  const rows = (r.rows ?? []).map(row => row.map(v => v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v)))
  const out: string[] = []
  if (cols.length) {
    const widths = cols.map((c, i) => Math.max(c.length, ...rows.map(row => (row[i] ?? '').length)))
    out.push(cols.map((c, i) => c.padEnd(widths[i]!)).join(' | '))
    out.push(widths.map(w => '-'.repeat(w)).join('-+-'))
    for (const row of rows) out.push(row.map((v, i) => v.padEnd(widths[i]!)).join(' | '))
    out.push(`(${rows.length} row${rows.length === 1 ? '' : 's'})`)
  } else {
    out.push(`${r.command ?? 'OK'}${r.rowCount !== undefined ? ` ${r.rowCount}` : ''}`)
  }
  for (const w of r.warnings ?? []) out.push(`WARNING: ${w}`)
  return out.join('\n') + '\n'
}

export async function runCli (flags: ParsedFlags): Promise<number> {
  const host = hostFrom(flags)
  const base = `http://${host}`
  const json = flags.format === 'json'
  if (flags.format !== undefined && flags.format !== 'json' && flags.format !== 'table') {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `--format: expected table or json, got "${String(flags.format)}"`)
  }
  let res
  try {
    res = flags.health
      ? await request(`${base}/v1/health`, { headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
      : typeof flags.command === 'string'
        ? await request(`${base}/v1/sql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sql: flags.command }),
          headersTimeout: TIMEOUT_MS,
          bodyTimeout: TIMEOUT_MS
        })
        : null
  } catch (e) {
    process.stderr.write(`scratchbird_cli: cannot reach ${host}: ${(e as Error).message}\n`)
    return 3
  }
  if (!res) { process.stderr.write('scratchbird_cli: nothing to do: give --command SQL or --health (see --help)\n'); return 2 }
  const text = await res.body.text()
  let body: unknown
  try { body = JSON.parse(text) } catch { body = text }
  if (res.statusCode >= 400) {
    const err = (body as { error?: { code?: string, message?: string } }).error
    process.stderr.write(`ERROR: ${err?.message ?? text} [${err?.code ?? res.statusCode}]\n`)
    return 1
  }
  if (json || flags.health) { process.stdout.write(JSON.stringify(body, null, 2) + '\n'); return 0 }
  const b = body as SqlResult & { results?: SqlResult[] }
  for (const r of b.results ?? [b]) process.stdout.write(renderTable(r))
  return 0
}
