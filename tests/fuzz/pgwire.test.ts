import { connect } from 'node:net'
import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPgNode } from '../pg/helpers'
import { fe } from '../pg/wire'
import { FUZZ_RUNS, FUZZ_SEED, mutated } from './mutate'
import { checkAnswer as checkFor, exchange as exchangeWith } from './pg-exchange'

// Fuzzes the PostgreSQL protocol of ONE real node (issue 18 item 5): random bytes, and real
// frontend messages (startup, SSLRequest, CancelRequest, password/SASL, simple and extended
// query sequences) with mutated bytes, lengths and types. Every answer must be well-framed; every
// ErrorResponse must carry a SQLSTATE and our code (Detail 'D'), never SB_INTERNAL; a FATAL one
// is the last thing sent; the node answers every connection with a close, never a hang; and after
// each target the node is alive, serves a valid statement and its canary table is unchanged.

let node: Awaited<ReturnType<typeof startPgNode>>
const CANARY = [{ id: 1, v: 'one' }, { id: 2, v: 'two' }, { id: 3, v: 'three' }]

beforeAll(async () => {
  node = await startPgNode()
  const c = new pg.Client({ host: node.host, port: node.port, user: 'tester' })
  await c.connect()
  await c.query('CREATE TABLE canary (id INTEGER PRIMARY KEY, v TEXT)')
  await c.query("INSERT INTO canary VALUES (1, 'one'), (2, 'two'), (3, 'three')")
  await c.end()
}, 120_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

const exchange = async (bytes: Buffer): Promise<Awaited<ReturnType<typeof exchangeWith>>> => await exchangeWith(node.port, bytes)
const checkAnswer = (x: Awaited<ReturnType<typeof exchangeWith>>, sent: Buffer): void => checkFor(node, x, sent)

const cstr = (s: string): Buffer => Buffer.from(s + '\0', 'utf8')
const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b }

const STARTUP = fe.startup({ user: 'fuzz', database: 'db', application_name: 'fuzz' })

/** Messages a real client sends after startup (none writes: the canary must stay as it is). */
const AFTER_STARTUP: Buffer[] = [
  fe.query('SELECT * FROM canary ORDER BY id'),
  fe.query('SELECT 1; SELECT $$x$$'),
  fe.query('BEGIN; SELECT count(*) FROM canary; ROLLBACK'),
  fe.parse('s1', 'SELECT v FROM canary WHERE id = $1', [23]),
  fe.bind('', 's1', [{ value: i32(2), binary: true }], [1]),
  fe.bind('p1', 's1', [{ value: Buffer.from('3') }]),
  fe.describe('S', 's1'),
  fe.describe('P', 'p1'),
  fe.execute('', 1),
  fe.execute('p1'),
  fe.parse('', 'SELECT $1::numeric, $2::uuid, $3::timestamp, $4::bytea', [1700, 2950, 1114, 17]),
  fe.bind('', '', [
    { value: Buffer.from([0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x09, 0x29]), binary: true },
    { value: Buffer.alloc(16, 7), binary: true },
    { value: Buffer.alloc(8, 1), binary: true },
    { value: null }
  ]),
  fe.close('S', 's1'),
  fe.close('P', 'p1'),
  fe.sync(),
  fe.flush(),
  fe.raw('p', cstr('secret')), // PasswordMessage out of place
  fe.raw('p', Buffer.concat([cstr('SCRAM-SHA-256'), i32(18), Buffer.from('n,,n=,r=abcdefgh12')])), // SASLInitialResponse
  fe.raw('d', Buffer.from('1\t2\n')), // CopyData
  fe.raw('c', Buffer.alloc(0)), // CopyDone
  fe.raw('f', cstr('no copy')), // CopyFail
  fe.raw('F', Buffer.concat([i32(1234), Buffer.from([0, 0, 0, 0, 0, 0])])), // FunctionCall
  fe.terminate()
]

/** First packets: startup variants, SSLRequest, GSSENCRequest, CancelRequest. */
const FIRST: Buffer[] = [
  STARTUP,
  fe.startup({ user: 'fuzz', _pq_: 'x', '_pq_.opt': 'y' }, 196609),
  fe.startup({ user: 'fuzz', client_encoding: 'UTF8', DateStyle: 'ISO', options: '-c search_path=x' }),
  fe.startup({ database: 'db' }), // no user
  fe.startup({ user: 'fuzz' }, 131072), // protocol 2
  fe.request(80877103), // SSLRequest
  fe.request(80877104), // GSSENCRequest
  fe.request(80877102, 1, 12345) // CancelRequest
]

/** A real session: first packet(s), then up to 8 messages of the corpus, as one byte string. */
const session: fc.Arbitrary<Buffer> = fc.tuple(
  fc.array(fc.constantFrom(...FIRST), { minLength: 1, maxLength: 2 }),
  fc.array(fc.constantFrom(...AFTER_STARTUP), { maxLength: 8 })
).map(([first, rest]) => Buffer.concat([...first, ...rest]))

async function stillServes (): Promise<void> {
  expect((await fetch(node.url('/v1/health'))).status).toBe(200)
  const c = new pg.Client({ host: node.host, port: node.port, user: 'tester' })
  await c.connect()
  expect((await c.query('SELECT id, v FROM canary ORDER BY id')).rows).toEqual(CANARY)
  await c.end()
  expect(node.stdout()).not.toMatch(/internal error/i)
}

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true }

describe('fuzzing the PostgreSQL protocol', () => {
  it('random bytes as a first packet', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 256 }).map(b => Buffer.from(b)), async (bytes) => {
      checkAnswer(await exchange(bytes), bytes)
    }), params)
    await stillServes()
  })

  it('real sessions with mutated bytes, lengths and types', async () => {
    await fc.assert(fc.asyncProperty(mutated(session), async (bytes) => {
      checkAnswer(await exchange(bytes), bytes)
    }), params)
    await stillServes()
  })

  it('a valid startup, then random typed frames', async () => {
    const frame = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }))
      .map(([t, b]) => fe.raw(String.fromCharCode(t), Buffer.from(b)))
    await fc.assert(fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 6 }), async (frames) => {
      const bytes = Buffer.concat([STARTUP, ...frames])
      checkAnswer(await exchange(bytes), bytes)
    }), params)
    await stillServes()
  })

  it('a client that goes away while its script runs: no internal error, the node serves on', async () => {
    // Found by the session fuzzer: the close arrived while a statement ran, the connection forgot
    // its session at once, and the statement's continuation read it (TypeError, logged as an
    // internal error) — and a BEGIN finishing after the close left a transaction open for good.
    for (let i = 0; i < 40; i++) {
      const bytes = Buffer.concat([STARTUP, fe.query('SELECT * FROM canary; BEGIN; SELECT count(*) FROM canary; SELECT 1')])
      checkAnswer(await exchange(bytes), bytes)
    }
    await stillServes()
  })

  it('a length the node must not wait for: FATAL and closed by the node, without our half-close', async () => {
    // Oversize (beyond node.max_message_bytes / the startup bound) and impossible (< 4) lengths
    // are refused on the header alone: the node closes even though the client keeps its side open.
    const bad = fc.constantFrom(-1, 0, 3, 0x7fffffff, -0x80000000, (1 << 20) + 5)
    const cases = fc.oneof(
      fc.oneof(bad, fc.constant(10_005)).map(len => i32(len)),
      fc.tuple(fc.integer({ min: 0x41, max: 0x7a }), bad).map(([t, len]) => Buffer.concat([STARTUP, Buffer.from([t]), i32(len)]))
    )
    await fc.assert(fc.asyncProperty(cases, async (bytes) => {
      const socket = connect(node.port, '127.0.0.1')
      const chunks: Buffer[] = []
      socket.on('data', (d: Buffer) => chunks.push(d))
      socket.on('error', () => {})
      const closed = new Promise<void>(resolve => socket.on('close', () => resolve()))
      const hang = setTimeout(() => socket.destroy(), 15_000)
      socket.write(Buffer.concat([bytes, Buffer.alloc(8)]))
      await closed
      clearTimeout(hang)
      const buf = Buffer.concat(chunks)
      const at = buf.lastIndexOf(Buffer.from('SFATAL\0'))
      expect(at, `no FATAL ErrorResponse for ${bytes.toString('hex')}`).toBeGreaterThan(0)
      expect(buf.subarray(at).toString()).toMatch(/D(SB_MALFORMED_REQUEST|SB_BODY_TOO_LARGE)/)
    }), { ...params, numRuns: Math.min(FUZZ_RUNS, 60) })
    await stillServes()
  })
})
