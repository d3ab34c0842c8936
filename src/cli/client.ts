import { appendFileSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { request } from 'undici'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError, messageOf } from '../core/errors'
import type { ParsedFlags } from './args'
import { renderAnswer, type OutputFormat, type SqlResult } from './render'
import { isComplete } from './statement-buffer'
import { authHeaders } from './credentials'
import { trustCa, usesTls } from './tls-client'

// scratchbird_cli: sends statements to a node's HTTP API (undici) and prints the answers — from
// --command, from --file, from standard input, or at an interactive prompt with history.

const DEFAULT_URL = 'http://127.0.0.1:8080'
const TIMEOUT_MS = 30_000
const HISTORY_FILE = join(homedir(), '.scratchbird_cli_history')
const HISTORY_LINES = 1000

export function baseUrl (flags: ParsedFlags): string {
  if (typeof flags.url === 'string') {
    let u: URL
    try { u = new URL(flags.url) } catch { throw new ScratchBirdError('SB_BAD_ARGUMENT', `--url: not a URL: "${flags.url}"`) }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ScratchBirdError('SB_BAD_ARGUMENT', `--url: expected http://HOST:PORT or https://HOST:PORT, got "${flags.url}"`)
    return u.origin
  }
  // A node with security.tls_enabled serves https only (tls-client.ts).
  const scheme = usesTls(flags) ? 'https' : 'http'
  if (typeof flags.host === 'string') return `${scheme}://${flags.host}`
  if (typeof flags.config === 'string') return `${scheme}://${loadConfig({ file: flags.config }).node.listen}`
  return usesTls(flags) ? DEFAULT_URL.replace('http:', 'https:') : DEFAULT_URL
}

class Unreachable extends Error {}

/** The Authorization header of this run (--user; credentials.ts), set once by runCli: the CLI is one process per run. */
let credentials: Record<string, string> = {}

interface Answer { status: number, body: unknown, text: string }

async function call (url: string, method: 'GET' | 'POST' | 'DELETE', body?: unknown, session?: string): Promise<Answer> {
  let res
  try {
    res = await request(url, {
      method,
      headers: { 'content-type': 'application/json', ...credentials, ...(session ? { 'x-scratchbird-session': session } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS
    })
  } catch (e) {
    throw new Unreachable(messageOf(e))
  }
  const text = await res.body.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch { /* not JSON: shown as text */ }
  return { status: res.statusCode, body: parsed, text }
}

function errorLine (a: Answer): string {
  const err = (a.body as { error?: { code?: string, message?: string, position?: unknown } } | null)?.error
  return `ERROR: ${err?.message ?? a.text} [${err?.code ?? a.status}]\n`
}

/** Runs one script; prints results; returns the code of an error answer, null on success. */
async function runScript (base: string, sql: string, format: OutputFormat, session?: string): Promise<string | null> {
  const a = await call(`${base}/v1/sql`, 'POST', { sql }, session)
  if (a.status >= 400) {
    // A multi-statement script answers the results before the failing statement too.
    const done = (a.body as { results?: SqlResult[] } | null)?.results
    if (Array.isArray(done) && done.length > 0) process.stdout.write(renderAnswer({ results: done }, format))
    process.stderr.write(errorLine(a))
    return (a.body as { error?: { code?: string } } | null)?.error?.code ?? String(a.status)
  }
  const b = a.body as SqlResult & { results?: SqlResult[] }
  process.stdout.write(renderAnswer(Array.isArray(b.results) ? { results: b.results } : { result: b }, format))
  return null
}

function loadHistory (): string[] {
  try { return readFileSync(HISTORY_FILE, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_LINES).reverse() } catch { return [] }
}

async function prompt (base: string, format: OutputFormat): Promise<number> {
  // A session keeps BEGIN … COMMIT together across prompts; without one, each line autocommits.
  const openSession = async (): Promise<string | undefined> => {
    const s = await call(`${base}/v1/sessions`, 'POST', {}).catch(() => null)
    return s && s.status < 400 ? (s.body as { id?: string }).id : undefined
  }
  let session = await openSession()
  const rl = createInterface({ input: process.stdin, output: process.stdout, history: loadHistory(), historySize: HISTORY_LINES, terminal: true })
  let buffer = ''
  const ask = (): void => { rl.setPrompt(buffer ? 'scratchbird-> ' : 'scratchbird> '); rl.prompt() }
  process.stdout.write(`Connected to ${base}${session ? '' : ' (no session: every statement autocommits)'}. End statements with ; — \\q quits.\n`)
  ask()
  for await (const line of rl) {
    if (!buffer && line.trim() === '\\q') break
    buffer += (buffer ? '\n' : '') + line
    if (isComplete(buffer)) {
      try { appendFileSync(HISTORY_FILE, buffer.replace(/\n/g, ' ') + '\n') } catch { /* history is best effort */ }
      try {
        if (await runScript(base, buffer, format, session) === 'SB_SESSION_NOT_FOUND') {
          // The node closed the session as idle (rolling back its transaction): go on in a new one.
          session = await openSession()
          process.stderr.write(`the session had expired (an open transaction was rolled back); ${session ? 'a new session is open' : 'no new session: every statement autocommits'}\n`)
        }
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e
        process.stderr.write(`cannot reach ${base}: ${e.message}\n`)
      }
      buffer = ''
    }
    ask()
  }
  rl.close()
  // Close the session so a transaction left open rolls back now, not after the idle timeout.
  if (session) await call(`${base}/v1/sessions/${encodeURIComponent(session)}`, 'DELETE').catch(() => null)
  return 0
}

async function readStdin (): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) text += String(chunk)
  return text
}

export async function runCli (flags: ParsedFlags): Promise<number> {
  const format = (flags.format ?? 'table') as OutputFormat
  if (!['table', 'json', 'csv'].includes(format)) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `--format: expected table, json or csv, got "${String(flags.format)}"`)
  }
  const base = baseUrl(flags)
  credentials = authHeaders(flags, process.env)
  trustCa(flags)
  try {
    if (flags.health) {
      const a = await call(`${base}/v1/health`, 'GET')
      if (a.status >= 400) { process.stderr.write(errorLine(a)); return 1 }
      process.stdout.write(JSON.stringify(a.body, null, 2) + '\n')
      return 0
    }
    let sql: string
    if (typeof flags.command === 'string') sql = flags.command
    else if (typeof flags.file === 'string') {
      try { sql = readFileSync(flags.file, 'utf8') } catch (e) {
        throw new ScratchBirdError('SB_BAD_ARGUMENT', `--file: cannot read ${flags.file}: ${messageOf(e)}`)
      }
    } else if (process.stdin.isTTY) return await prompt(base, format)
    else sql = await readStdin()
    if (sql.trim() === '') { process.stderr.write('scratchbird_cli: no statements given\n'); return 2 }
    return (await runScript(base, sql, format)) === null ? 0 : 1
  } catch (e) {
    if (!(e instanceof Unreachable)) throw e
    process.stderr.write(`scratchbird_cli: cannot reach ${base}: ${e.message}\n`)
    return 3
  }
}
