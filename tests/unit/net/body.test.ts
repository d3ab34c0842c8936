import fc from 'fast-check'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { decodeSqlRequest, parseJsonBody, readBody } from '../../../src/net/body'
import { sendError, sendJson } from '../../../src/net/http-server'

// The client API's body decoder over a real socket, and fuzzed: every body gets a SqlRequest or
// a coded 400/413, never a crash.

const LIMIT = 1024
let server: Server
let port = 0

beforeAll(async () => {
  server = createServer((req, res) => {
    readBody(req, LIMIT).then(b => decodeSqlRequest(parseJsonBody(b))).then(r => sendJson(res, 200, r), (e: unknown) => {
      if (isScratchBirdError(e)) sendError(res, e)
      else { res.statusCode = 500; res.end() }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})
afterAll(() => { server.close() })

function post (body: string | Buffer, chunked = false): Promise<{ status: number, json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) } }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }))
    })
    req.on('error', reject)
    if (chunked) { for (let i = 0; i < 4; i++) req.write(body) } else req.write(body)
    req.end()
  })
}

describe('SQL request bodies', () => {
  it('accepts {"sql", "params"}', async () => {
    const r = await post(JSON.stringify({ sql: 'SELECT $1', params: ['a', 1, true, null] }))
    expect(r).toEqual({ status: 200, json: { sql: 'SELECT $1', params: ['a', 1, true, null], prepare: false, statement: null } })
  })

  it('refuses oversized bodies with 413, declared or streamed', async () => {
    const big = JSON.stringify({ sql: 'x'.repeat(LIMIT) })
    expect(await post(big)).toMatchObject({ status: 413, json: { error: { code: 'SB_BODY_TOO_LARGE' } } })
    expect(await post('x'.repeat(400), true)).toMatchObject({ status: 413, json: { error: { code: 'SB_BODY_TOO_LARGE' } } })
  })

  it('answers malformed bodies with 400 and what is wrong', async () => {
    expect(await post('{"sql": ')).toMatchObject({ status: 400, json: { error: { code: 'SB_MALFORMED_REQUEST', sqlstate: '08P01' } } })
    expect((await post('[1]')).json).toMatchObject({ error: { message: expect.stringContaining('JSON object') } })
    expect((await post('{"sql": 1}')).json).toMatchObject({ error: { message: '"sql" must be a string' } })
    expect((await post('{"sql": "x", "params": [{}]}')).json).toMatchObject({ error: { message: expect.stringContaining('($1)') } })
    expect((await post('{"sql": "x", "extra": 1}')).json).toMatchObject({ error: { message: expect.stringContaining('unknown field "extra"') } })
    expect((await post('')).status).toBe(400)
    expect((await post('{"statement": "p1", "sql": "SELECT 1"}')).json).toMatchObject({ error: { message: 'send either "sql" or "statement", not both' } })
    expect((await post('{"sql": "SELECT 1", "prepare": 1}')).json).toMatchObject({ error: { message: '"prepare" must be true or false' } })
  })

  it('decodes prepared-statement requests: "prepare" with "sql", or a "statement" id', () => {
    expect(decodeSqlRequest({ sql: 'SELECT $1', params: [1], prepare: true })).toEqual({ sql: 'SELECT $1', params: [1], prepare: true, statement: null })
    expect(decodeSqlRequest({ statement: 'p7', params: ['x'] })).toEqual({ sql: null, params: ['x'], prepare: false, statement: 'p7' })
    expect(decodeSqlRequest({ sql: 'SELECT 1' })).toEqual({ sql: 'SELECT 1', params: [], prepare: false, statement: null })
  })

  it('never throws anything but a coded error, whatever the bytes', () => {
    const check = (bytes: Uint8Array): void => {
      try {
        const r = decodeSqlRequest(parseJsonBody(bytes))
        expect(typeof (r.sql ?? r.statement)).toBe('string')
      } catch (e) {
        expect(isScratchBirdError(e, 'SB_MALFORMED_REQUEST')).toBe(true)
      }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 2000 })
    fc.assert(fc.property(fc.json(), (j) => check(Buffer.from(j))), { numRuns: 2000 })
    fc.assert(fc.property(fc.record({ sql: fc.anything(), params: fc.anything() }, { requiredKeys: [] }), (o) => {
      let text: string
      try { text = JSON.stringify(o) } catch { return }
      if (text !== undefined) check(Buffer.from(text))
    }), { numRuns: 1000 })
  })
})
