import { connect } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postSql } from '../helpers/node-process'
import { startPgNode } from '../pg/helpers'
import { CODE, FUZZ_RUNS, FUZZ_SEED, mutated } from './mutate'

// Fuzzes the client HTTP API of ONE real node (issue 18 item 5): random and mutated bodies, JSON
// shapes, huge and deeply nested JSON, wrong content types, bad paths, parameters and headers;
// and raw bytes that are barely HTTP. Every error answer must be a coded JSON body
// {"error": {code, sqlstate, message}} (never SB_INTERNAL), no request may hang, and after each
// target the node is alive, answers a valid statement and its canary table is unchanged.

let node: Awaited<ReturnType<typeof startPgNode>>
const CANARY = [[1, 'one'], [2, 'two'], [3, 'three']]

beforeAll(async () => {
  node = await startPgNode()
  expect((await postSql(node, 'CREATE TABLE canary (id INTEGER PRIMARY KEY, v TEXT)')).error).toBeUndefined()
  expect((await postSql(node, "INSERT INTO canary VALUES (1, 'one'), (2, 'two'), (3, 'three')")).error).toBeUndefined()
}, 120_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true }

async function stillServes (): Promise<void> {
  expect((await fetch(node.url('/v1/health'))).status).toBe(200)
  const r = await postSql(node, 'SELECT id, v FROM canary ORDER BY id')
  expect(r.rows).toEqual(CANARY)
  expect(node.stdout()).not.toMatch(/internal error/i)
  expect(node.proc.exitCode).toBeNull()
}

/** An answer's status and body: an error must be a coded JSON body. */
function checkAnswer (status: number, contentType: string, text: string, what: string): void {
  expect(node.proc.exitCode, 'the node exited').toBeNull()
  if (status < 400) return
  expect(contentType, `${what}: ${status} is not JSON: ${text.slice(0, 200)}`).toMatch(/^application\/json/)
  const body = JSON.parse(text) as { error?: { code?: string, sqlstate?: string, message?: string } }
  expect(body.error?.code, `${what}: ${text.slice(0, 300)}`).toMatch(CODE)
  expect(body.error?.code, `${what}: ${text.slice(0, 300)}`).not.toBe('SB_INTERNAL')
  expect(body.error?.sqlstate).toMatch(/^[0-9A-Z]{5}$/)
  expect(typeof body.error?.message).toBe('string')
}

const PATHS = ['/v1/sql', '/v1/sql?x=1&y', '/v1/sessions', '/v1/sessions/abc', '/v1/sessions/%ZZ', '/v1/sessions/%E0%A4%A', '/v1/sessions/',
  '/v1/health', '/v1/health?%', '/v1/admin/backup/done', '/v1/rpc', '/', '/v1', '/v1/sql/', '/v1//sql', '/v1/sql%00', '/%2e%2e/etc/passwd']

const sqlText = fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('SELECT 1', 'SELECT $1', 'SELECT * FROM canary', 'BEGIN', 'SELECT 1;;;', 'SELECT \'', '/*', "SELECT 'a' || $1", 'SELECT 1e999', 'SELECT 9223372036854775808'))
const sqlBody = fc.record({
  sql: fc.oneof(sqlText, fc.jsonValue()),
  params: fc.oneof(fc.constant(undefined), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }), fc.jsonValue()),
  prepare: fc.oneof(fc.constant(undefined), fc.boolean(), fc.jsonValue()),
  statement: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 10 }), fc.jsonValue())
}, { requiredKeys: [] }).map(o => JSON.stringify(o))

const nested = fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('[', '{"a":')).map(([n, open]) =>
  open.repeat(n) + (open === '[' ? ']' : '1}').repeat(open === '[' ? n : 1) + (open === '[' ? '' : '}'.repeat(n - 1)))

const body = fc.oneof(
  sqlBody,
  fc.jsonValue().map(v => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  nested,
  fc.integer({ min: 1, max: 3 }).map(n => JSON.stringify({ sql: 'SELECT 1', params: Array.from({ length: n * 40_000 }, () => 1) })),
  fc.constant('x'.repeat(1_100_000)), // beyond http.max_body_bytes
  mutated(sqlBody.map(s => Buffer.from(s))).map(b => b.toString('latin1'))
)

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  path: fc.oneof(fc.constantFrom(...PATHS), fc.webPath()),
  contentType: fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '\u00ff'),
  session: fc.option(fc.string({ maxLength: 40 }).map(s => encodeURIComponent(s)), { nil: undefined }),
  authorization: fc.option(fc.oneof(fc.constant('Basic'), fc.constant('Basic !!!'), fc.base64String({ maxLength: 40 }).map(s => `Basic ${s}`), fc.string({ maxLength: 30 }).map(s => `Bearer ${encodeURIComponent(s)}`)), { nil: undefined }),
  body
})

describe('fuzzing the HTTP API', () => {
  it('random requests: methods, paths, content types, headers, bodies', async () => {
    await fc.assert(fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = {}
      if (r.contentType !== undefined) headers['content-type'] = r.contentType
      if (r.session !== undefined) headers['x-scratchbird-session'] = r.session
      if (r.authorization !== undefined) headers.authorization = r.authorization
      const withBody = r.method !== 'GET'
      let res: Response
      try {
        res = await fetch(node.url(r.path), { method: r.method, headers, ...(withBody ? { body: r.body } : {}), signal: AbortSignal.timeout(20_000) })
      } catch (e) {
        // The node may cut a refused oversized body short (the client sees a reset): not a crash.
        if (r.body.length > 1_000_000) return
        throw e
      }
      checkAnswer(res.status, res.headers.get('content-type') ?? '', await res.text(), `${r.method} ${r.path} (${r.body.length} bytes)`)
    }), { ...params, numRuns: Math.min(FUZZ_RUNS, 150) })
    await stillServes()
  })

  it('every method on every edge-case path, with a bad body', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of PATHS) {
        const res = await fetch(node.url(path), { method, ...(method === 'GET' ? {} : { body: '{"sql": 1}' }), signal: AbortSignal.timeout(20_000) })
        checkAnswer(res.status, res.headers.get('content-type') ?? '', await res.text(), `${method} ${path}`)
      }
    }
    await stillServes()
  })

  it('raw bytes that are barely HTTP', async () => {
    const real = Buffer.from('POST /v1/sql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n{"sql":"SELECT 1"}\n')
    const chunked = Buffer.from('POST /v1/sql HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n12\r\n{"sql":"SELECT 1"}\r\n0\r\n\r\n')
    const raw = fc.oneof(mutated(fc.constantFrom(real, chunked)), fc.uint8Array({ maxLength: 200 }).map(b => Buffer.from(b)))
    await fc.assert(fc.asyncProperty(raw, async (bytes) => {
      const socket = connect(Number(node.listen.split(':')[1]), '127.0.0.1')
      const chunks: Buffer[] = []
      socket.on('data', (d: Buffer) => chunks.push(d))
      socket.on('error', () => {})
      const closed = new Promise<void>(resolve => socket.on('close', () => resolve()))
      const hang = setTimeout(() => socket.destroy(new Error('hang')), 15_000)
      await new Promise<void>(resolve => socket.once('connect', resolve))
      socket.end(bytes)
      await closed
      clearTimeout(hang)
      // Every answer on the connection (keep-alive may carry several): a coded JSON error for each 4xx/5xx.
      const text = Buffer.concat(chunks).toString('latin1')
      for (const m of text.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/g)) {
        const status = Number(m[1])
        const head = m[2]!.toLowerCase()
        const len = Number(/content-length: (\d+)/.exec(head)?.[1] ?? 0)
        const start = m.index + m[0].length
        checkAnswer(status, /content-type: ([^\r\n]*)/.exec(head)?.[1] ?? '', text.slice(start, start + len), `raw ${bytes.toString('hex').slice(0, 200)}`)
      }
    }), params)
    await stillServes()
  })
})
