import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientErrorAnswer, closeServer, createHttpServer, listen } from '../../../src/net/http-server'

// A request node:http's parser refuses never reaches a route: without our 'clientError' answer
// the client got Node's bare "400 Bad Request" with no body, not the coded JSON every other error
// has (found by tests/fuzz/http.test.ts).

const server = createHttpServer({
  '/v1/health': { GET: () => ({ ok: true }) },
  '/echo': { POST: async (req) => { let n = 0; for await (const c of req) n += (c as Buffer).length; return { n } } }
}, () => {})
let port: number
beforeAll(async () => { port = (await listen(server, '127.0.0.1:0') as AddressInfo).port })
afterAll(async () => { await closeServer(server) })

function raw (bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', reject)
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    s.end(bytes)
  })
}

function parse (text: string): { status: number, type: string, body: any } {
  const [head, body] = text.split('\r\n\r\n', 2) as [string, string]
  return { status: Number(head.split(' ')[1]), type: /content-type: ([^\r]*)/i.exec(head)?.[1] ?? '', body: JSON.parse(body) }
}

describe('HTTP requests the parser refuses', () => {
  it('garbage bytes: 400 with a coded JSON body, connection closed', async () => {
    const a = parse(await raw(Buffer.from([0xfe, 0x8f, 0x0d, 0x0a, 0x0d, 0x0a])))
    expect(a.status).toBe(400)
    expect(a.type).toMatch(/^application\/json/)
    expect(a.body.error).toMatchObject({ code: 'SB_MALFORMED_REQUEST', sqlstate: '08P01' })
  })

  it('a broken chunked body after a valid request line', async () => {
    const a = parse(await raw('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'))
    expect(a.status).toBe(400)
    expect(a.body.error.code).toBe('SB_MALFORMED_REQUEST')
  })

  it('headers beyond the limit', async () => {
    const a = parse(await raw(`GET /v1/health HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`))
    expect(a.status).toBe(400)
    expect(a.body.error).toMatchObject({ code: 'SB_MALFORMED_REQUEST', message: 'request headers are too large' })
  })

  it('maps the parser errors to codes (a reset gets no answer)', () => {
    expect(clientErrorAnswer(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBeNull()
    expect(clientErrorAnswer(Object.assign(new Error('x'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }))?.httpStatus).toBe(408)
    expect(clientErrorAnswer(Object.assign(new Error('x'), { code: 'HPE_INVALID_METHOD' }))?.code).toBe('SB_MALFORMED_REQUEST')
  })
})

describe('an HTTP/1.1 request without a Host header', () => {
  it('is refused with a coded JSON 400 (not Node\'s bare one)', async () => {
    const a = parse(await raw('GET /v1/health HTTP/1.1\r\nx-host: x\r\n\r\n'))
    expect(a.status).toBe(400)
    expect(a.type).toMatch(/^application\/json/)
    expect(a.body.error).toMatchObject({ code: 'SB_MALFORMED_REQUEST', message: 'an HTTP/1.1 request must carry a Host header' })
  })

  it('HTTP/1.0 needs none', async () => {
    expect((await raw('GET /v1/health HTTP/1.0\r\n\r\n')).split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
  })
})
