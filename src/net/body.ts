import type { IncomingMessage } from 'node:http'
import { ScratchBirdError, messageOf } from '../core/errors'
import { LIMITS } from '../core/limits'

// Request bodies of the client API: bounded (http.max_body_bytes) and JSON only. An oversized
// body is refused as soon as the limit is crossed (413), without buffering the rest; anything
// that is not a JSON document is a 400. Nothing here can throw anything but a coded error.

export function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(tooLarge(limit))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (c: Buffer) => {
      if (done) return
      size += c.length
      if (size > limit) {
        done = true
        req.pause()
        reject(tooLarge(limit))
        return
      }
      chunks.push(c)
    })
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(chunks)) } })
    req.on('error', (e) => { if (!done) { done = true; reject(new ScratchBirdError('SB_MALFORMED_REQUEST', `request body could not be read: ${e.message}`)) } })
  })
}

function tooLarge (limit: number): ScratchBirdError {
  return new ScratchBirdError('SB_BODY_TOO_LARGE', `request body exceeds ${limit} bytes (http.max_body_bytes)`, { limit })
}

export function parseJsonBody (bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (text.trim() === '') throw new ScratchBirdError('SB_MALFORMED_REQUEST', 'request body is empty; expected a JSON object')
  try {
    return JSON.parse(text) as unknown
  } catch (e) {
    throw new ScratchBirdError('SB_MALFORMED_REQUEST', `request body is not valid JSON: ${messageOf(e)}`)
  }
}

/** A JSON scalar a `$n` parameter may carry (strings carry UUIDs, BIGINTs, DECIMALs, dates). */
export type SqlParam = string | number | boolean | null

/** `sql` is the text to run, or null when `statement` names a prepared one (prepared.ts). */
export interface SqlRequest { sql: string | null, params: SqlParam[], prepare: boolean, statement: string | null }

/** Bounded count of `$n` parameters in one request. */
export const MAX_SQL_PARAMS = LIMITS.sqlParams

/** `{"sql": "...", "params": [...], "prepare": true}` or `{"statement": "p1", "params": [...]}` → SqlRequest, or a 400 naming what is wrong. */
export function decodeSqlRequest (body: unknown): SqlRequest {
  const bad = (message: string): ScratchBirdError => new ScratchBirdError('SB_MALFORMED_REQUEST', message)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('request body must be a JSON object {"sql": "...", "params": [...]}')
  const { sql, params, prepare, statement, ...rest } = body as Record<string, unknown>
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw bad(`unknown field "${unknown[0]!}" (expected "sql" or "statement", and optionally "params" and "prepare")`)
  if (statement !== undefined) {
    if (typeof statement !== 'string') throw bad('"statement" must be a string (an id answered to "prepare": true)')
    if (sql !== undefined) throw bad('send either "sql" or "statement", not both')
    if (prepare !== undefined) throw bad('"prepare" goes with "sql": a "statement" is prepared already')
  } else if (typeof sql !== 'string') throw bad('"sql" must be a string')
  if (prepare !== undefined && typeof prepare !== 'boolean') throw bad('"prepare" must be true or false')
  const base = { sql: typeof sql === 'string' ? sql : null, prepare: prepare === true, statement: typeof statement === 'string' ? statement : null }
  if (params === undefined) return { ...base, params: [] }
  if (!Array.isArray(params)) throw bad('"params" must be an array')
  if (params.length > MAX_SQL_PARAMS) throw bad(`"params" has ${params.length} entries, at most ${MAX_SQL_PARAMS}`)
  for (const [i, p] of params.entries()) {
    if (p !== null && !['string', 'number', 'boolean'].includes(typeof p)) throw bad(`"params"[${i}] must be a string, number, boolean or null ($${i + 1})`)
  }
  return { ...base, params: params as SqlParam[] }
}
