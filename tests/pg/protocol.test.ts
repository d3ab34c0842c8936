import { once } from 'node:events'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPgNode } from './helpers'
import { dataRow, fe, fieldsOf, rowDescription, status, WireClient } from './wire'

// The protocol on the wire, with a bare client: binary results and parameters, transaction
// status in ReadyForQuery, Describe, row limits, error recovery at Sync, and malformed input —
// which ends that connection with an ErrorResponse and leaves the node serving the next client.

let node: Awaited<ReturnType<typeof startPgNode>>
beforeAll(async () => { node = await startPgNode() })
afterAll(() => { node?.proc.kill('SIGKILL') })

const UUID = '0190a2b3-c4d5-8e6f-8a7b-8c9d0e1f2a3b'
const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b }

async function stillServes (): Promise<void> {
  const c = new pg.Client({ host: node.host, port: node.port, user: 'tester' })
  await c.connect()
  expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  await c.end()
}

describe('PostgreSQL protocol on the wire', () => {
  it('reports the transaction status I, T and E in ReadyForQuery', async () => {
    const c = await WireClient.ready(node.port)
    c.send(fe.query('CREATE TABLE typed (id INTEGER PRIMARY KEY, s SMALLINT, b BIGINT, n DECIMAL(12,3), r REAL, d DOUBLE PRECISION, t TEXT, bo BOOLEAN, u UUID, dt DATE, ts TIMESTAMP, by BYTEA)'))
    expect(status(await c.until('Z'))).toBe('I')
    c.send(fe.query('BEGIN'))
    expect(status(await c.until('Z'))).toBe('T')
    c.send(fe.query('SELECT * FROM nowhere'))
    const failed = await c.until('Z')
    expect(fieldsOf(failed.find(m => m.type === 'E')!)).toMatchObject({ S: 'ERROR', C: '42P01', D: 'SB_UNDEFINED_TABLE {"table":"nowhere"}' })
    expect(status(failed)).toBe('E')
    c.send(fe.query('ROLLBACK'))
    expect(status(await c.until('Z'))).toBe('I')
    // an empty query string
    c.send(fe.query(' ; -- nothing\n'))
    expect((await c.until('Z')).map(m => m.type)).toEqual(['I', 'Z'])
    c.end()
  })

  it('takes binary parameters and sends binary results for every type', async () => {
    const c = await WireClient.ready(node.port)
    const num = Buffer.from([0, 4, 0, 2, 0x40, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x85, 0x04, 0xe2]) // -123456789.125
    const f4 = Buffer.alloc(4); f4.writeFloatBE(0.5)
    const f8 = Buffer.alloc(8); f8.writeDoubleBE(1.5e300)
    const i8 = Buffer.alloc(8); i8.writeBigInt64BE(-9223372036854775808n)
    const ts = Buffer.alloc(8); ts.writeBigInt64BE(762566399123456n) // 2024-02-29 23:59:59.123456
    const i2 = Buffer.alloc(2); i2.writeInt16BE(-32768)
    c.send(fe.parse('ins', 'INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)', [23, 21, 20, 1700, 700, 701, 25, 16, 2950, 1082, 1114, 17]))
    c.send(fe.bind('', 'ins', [i32(1), i2, i8, num, f4, f8, Buffer.from('héllo ✓'), Buffer.from([1]), Buffer.from(UUID.replace(/-/g, ''), 'hex'), i32(8825), ts, Buffer.from([0, 1, 254, 255])]
      .map(value => ({ value, binary: true }))))
    c.send(fe.execute(''))
    c.send(fe.bind('', 'ins', [{ value: i32(2), binary: true }, ...Array.from({ length: 11 }, () => ({ value: null }))]))
    c.send(fe.execute(''))
    c.send(fe.sync())
    const ins = await c.until('Z')
    expect(ins.map(m => m.type)).toEqual(['1', '2', 'C', '2', 'C', 'Z'])
    expect(ins[2]!.body.toString()).toBe('INSERT 0 1\0')

    c.send(fe.parse('', 'SELECT * FROM typed ORDER BY id'))
    c.send(fe.bind('', '', [], [1]))
    c.send(fe.describe('P', ''))
    c.send(fe.execute(''))
    c.send(fe.sync())
    const sel = await c.until('Z')
    expect(sel.map(m => m.type)).toEqual(['1', '2', 'T', 'D', 'D', 'C', 'Z'])
    expect(rowDescription(sel[2]!)).toEqual([['id', 23, 1], ['s', 21, 1], ['b', 20, 1], ['n', 1700, 1], ['r', 700, 1], ['d', 701, 1], ['t', 25, 1],
      ['bo', 16, 1], ['u', 2950, 1], ['dt', 1082, 1], ['ts', 1114, 1], ['by', 17, 1]])
    const row = dataRow(sel[3]!)
    expect(row[0]).toEqual(i32(1))
    expect(row[1]).toEqual(i2)
    expect(row[2]).toEqual(i8)
    expect(row[3]).toEqual(num)
    expect(row[4]).toEqual(f4)
    expect(row[5]).toEqual(f8)
    expect(row[6]!.toString()).toBe('héllo ✓')
    expect(row[7]).toEqual(Buffer.from([1]))
    expect(row[8]!.toString('hex')).toBe(UUID.replace(/-/g, ''))
    expect(row[9]).toEqual(i32(8825))
    expect(row[10]).toEqual(ts)
    expect(row[11]).toEqual(Buffer.from([0, 1, 254, 255]))
    expect(dataRow(sel[4]!).slice(1).every(v => v === null)).toBe(true)
    expect(sel[5]!.body.toString()).toBe('SELECT 2\0')

    // the same row in text, for the values PostgreSQL prints
    c.send(fe.query('SELECT n, r, dt, ts, by FROM typed WHERE id = 1'))
    const text = await c.until('Z')
    expect(dataRow(text.find(m => m.type === 'D')!).map(b => b!.toString())).toEqual(['-123456789.125', '0.5', '2024-02-29', '2024-02-29 23:59:59.123456', '\\x0001feff'])
    c.end()
  })

  it('describes statements and portals, suspends at a row limit, and skips to Sync after an error', async () => {
    const c = await WireClient.ready(node.port)
    c.send(fe.parse('q', 'SELECT id, t FROM typed WHERE id >= $1 ORDER BY id'))
    c.send(fe.describe('S', 'q'))
    c.send(fe.parse('w', 'UPDATE typed SET t = $1 WHERE id = $2'))
    c.send(fe.describe('S', 'w'))
    c.send(fe.sync())
    const d = await c.until('Z')
    expect(d.map(m => m.type)).toEqual(['1', 't', 'T', '1', 't', 'n', 'Z'])
    expect(d[1]!.body).toEqual(Buffer.concat([Buffer.from([0, 1]), i32(25)]))
    expect(rowDescription(d[2]!)).toEqual([['id', 23, 0], ['t', 25, 0]])
    expect(d[4]!.body.readInt16BE(0)).toBe(2)

    c.send(fe.bind('p', 'q', [{ value: Buffer.from('1') }]))
    c.send(fe.execute('p', 1))
    c.send(fe.execute('p', 1))
    c.send(fe.execute('p', 1))
    c.send(fe.sync())
    const rows = await c.until('Z')
    expect(rows.map(m => m.type)).toEqual(['2', 'D', 's', 'D', 's', 'C', 'Z'])
    expect(rows[5]!.body.toString()).toBe('SELECT 2\0')
    c.send(fe.bind('p2', 'q', [{ value: Buffer.from('1') }]))
    c.send(fe.execute('p2', 5))
    c.send(fe.sync())
    expect((await c.until('Z')).map(m => m.type)).toEqual(['2', 'D', 'D', 'C', 'Z'])

    // an error: the rest up to Sync is skipped, then ReadyForQuery; the statement q still exists
    c.send(fe.bind('', 'nope', []))
    c.send(fe.execute(''))
    c.send(fe.parse('', 'SELEC 1'))
    c.send(fe.sync())
    const err = await c.until('Z')
    expect(err.map(m => m.type)).toEqual(['E', 'Z'])
    expect(fieldsOf(err[0]!)).toMatchObject({ C: '26000', D: 'SB_UNDEFINED_PREPARED_STATEMENT {"statement":"nope"}' })
    c.send(fe.parse('q', 'SELECT 1'))
    c.send(fe.sync())
    expect(fieldsOf((await c.until('Z'))[0]!)).toMatchObject({ C: '42P05' })
    // Flush sends what is pending without ending the batch
    c.send(fe.close('S', 'q'))
    c.send(fe.flush())
    expect((await c.until('3')).map(m => m.type)).toEqual(['3'])
    c.send(fe.parse('q', 'SELECT 1'))
    c.send(fe.bind('', 'q', []))
    c.send(fe.execute(''))
    c.send(fe.sync())
    expect((await c.until('Z')).map(m => m.type)).toEqual(['1', '2', 'D', 'C', 'Z'])
    c.end()
  })

  it('answers SSLRequest and GSSENCRequest with N, refuses other protocol versions, ignores a cancel for nobody', async () => {
    const ssl = await WireClient.open(node.port)
    ssl.expectByte = true
    ssl.send(fe.request(80877103))
    expect((await ssl.until('byte:N')).map(m => m.type)).toEqual(['byte:N'])
    ssl.expectByte = true
    ssl.send(fe.request(80877104))
    await ssl.until('byte:N')
    ssl.send(fe.startup({ user: 'tester' }))
    expect(status(await ssl.until('Z'))).toBe('I')
    ssl.end()

    const v2 = await WireClient.open(node.port)
    v2.send(fe.startup({ user: 'tester' }, 2 << 16))
    const refused = await v2.rest()
    expect(fieldsOf(refused[0]!)).toMatchObject({ S: 'FATAL', C: '0A000' })

    const cancel = await WireClient.open(node.port)
    cancel.send(fe.request(80877102, 12345, 678))
    expect(await cancel.rest()).toEqual([])
    await stillServes()
  })

  it('gives each connection a BackendKeyData; a CancelRequest must match both pid and secret', async () => {
    const c = await WireClient.open(node.port)
    c.send(fe.startup({ user: 'tester' }))
    const key = (await c.until('Z')).find(m => m.type === 'K')!
    const pid = key.body.readInt32BE(0)
    const secret = key.body.readInt32BE(4)
    const line = `"pid":${pid},"msg":"PostgreSQL cancel request accepted`
    for (const s of [secret ^ 1, secret]) {
      const cancel = await WireClient.open(node.port)
      cancel.send(fe.request(80877102, pid, s))
      expect(await cancel.rest()).toEqual([])
    }
    while (!node.stdout().includes(line)) await once(node.proc.stdout!, 'data')
    expect(node.stdout().split(line).length - 1).toBe(1)
    // the statement is not interrupted (the executor cannot yet): the connection goes on
    c.send(fe.query('SELECT 1'))
    expect(status(await c.until('Z'))).toBe('I')
    c.end()
  })

  it('answers what came before a Terminate in the same packet, then closes', async () => {
    const c = await WireClient.ready(node.port)
    c.send(Buffer.concat([fe.query('SELECT 42 AS n'), fe.terminate()]))
    const got = await c.rest()
    expect(got.map(m => m.type)).toEqual(['T', 'D', 'C', 'Z'])
    expect(dataRow(got[1]!)[0]!.toString()).toBe('42')
  })

  it('closes the connection on malformed input with an ErrorResponse, and keeps serving', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['a length below 4', Buffer.from([0x51, 0, 0, 0, 2]), '08P01'],
      ['an unknown message type', fe.raw('?', Buffer.from('x')), '08P01'],
      ['a message over node.http.max_body_bytes', Buffer.concat([Buffer.from('Q'), i32(64 * 1024 * 1024)]), '54000'],
      ['a query that is not UTF-8', fe.raw('Q', Buffer.from([0x53, 0xff, 0xfe, 0])), '08P01'],
      ['a query without its terminator', fe.raw('Q', Buffer.from('SELECT 1')), '08P01'],
      ['a Bind with a bad parameter count', fe.raw('B', Buffer.from([0, 0, 0, 0, 0, 5])), '08P01']
    ]
    for (const [what, bytes, sqlstate] of cases) {
      const c = await WireClient.ready(node.port)
      c.send(bytes)
      const got = await c.rest()
      expect(got.map(m => m.type), what).toEqual(['E'])
      expect(fieldsOf(got[0]!), what).toMatchObject({ S: 'FATAL', C: sqlstate })
    }
    // before startup: a startup packet over PostgreSQL's 10000-byte bound
    const big = await WireClient.open(node.port)
    big.send(Buffer.concat([i32(20_000), i32(196608)]))
    expect(fieldsOf((await big.rest())[0]!)).toMatchObject({ C: '54000' })
    // a client that says nothing and goes away
    const quiet = await WireClient.open(node.port)
    quiet.send(Buffer.from([0, 0]))
    quiet.end()
    await stillServes()
    expect(node.proc.exitCode).toBe(null)
  })

  it('ends open connections with FATAL 57P01 when the node shuts down', async () => {
    const c = await WireClient.ready(node.port)
    c.send(fe.query('BEGIN'))
    await c.until('Z')
    node.proc.kill('SIGTERM')
    const got = await c.rest()
    expect(fieldsOf(got.at(-1)!)).toMatchObject({ S: 'FATAL', C: '57P01' })
    expect(await node.exited).toBe(0)
  })
})
