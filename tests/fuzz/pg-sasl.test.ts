import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { fe, fieldsOf, WireClient } from '../pg/wire'
import { FUZZ_RUNS, FUZZ_SEED, mutated } from './mutate'
import { checkAnswer, exchange } from './pg-exchange'

// Fuzzes SCRAM-SHA-256 authentication on the PostgreSQL protocol (issue 18 item 5) on ONE real
// node with security.pg_password: mutated SASLInitialResponse / SASLResponse messages sent blind,
// and, interactively, client-final messages carrying the server's real nonce with mutated proofs
// and attributes. Every answer is coded and ends FATAL; no random proof is ever admitted; the
// node still admits the right password afterwards.

let node: RunningNode
let port: number
const PASSWORD = 'fuzz-pencil'

beforeAll(async () => {
  const dir = tempDir('sb-fuzz-sasl-')
  const config = join(dir, 'scratchbird.yaml')
  // Throttling off: this fuzzes the exchange itself, hundreds of failed logins from one address
  // (tests/node/login-throttle.test.ts covers the lockout).
  writeFileSync(config, `security:\n  pg_password: '${PASSWORD}'\n  login_failures_max: 0\n`)
  const [cmd, args] = sourceCommand(['--config', config, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0'])
  node = await startNode(cmd, args)
  port = Number(node.pg.split(':').pop())
}, 120_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true }
const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b }
const STARTUP = fe.startup({ user: 'fuzz', database: 'db' })

function saslInitial (data: string, mechanism = 'SCRAM-SHA-256'): Buffer {
  const d = Buffer.from(data)
  return fe.raw('p', Buffer.concat([Buffer.from(mechanism + '\0'), i32(d.length), d]))
}
const saslResponse = (data: string): Buffer => fe.raw('p', Buffer.from(data))

const clientFirst = fc.constantFrom('n,,n=,r=rOprNGfwEbeRWgbNEkqO', 'y,,n=fuzz,r=abc', 'n,a=fuzz,n=,r=xyz', 'p=tls-server-end-point,,n=,r=q', 'n,,n=,r=', 'n,,m=ext,n=,r=a')
const clientFinal = fc.tuple(fc.string({ maxLength: 30 }), fc.uint8Array({ minLength: 0, maxLength: 40 }))
  .map(([nonce, proof]) => `c=biws,r=${nonce},p=${Buffer.from(proof).toString('base64')}`)

async function stillServes (): Promise<void> {
  expect((await fetch(node.url('/v1/health'))).status).toBe(200)
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'anyone', password: PASSWORD })
  await c.connect()
  expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  await c.end()
  expect(node.stdout()).not.toMatch(/internal error/i)
}

describe('fuzzing SCRAM-SHA-256 authentication', () => {
  it('mutated SASL messages sent blind', async () => {
    const session = fc.tuple(clientFirst, clientFinal, fc.constantFrom('SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS', 'PLAIN', ''))
      .map(([first, final, mech]) => Buffer.concat([STARTUP, saslInitial(first, mech), saslResponse(final)]))
    await fc.assert(fc.asyncProperty(fc.oneof(session, mutated(session)), async (bytes) => {
      const x = await exchange(port, bytes)
      checkAnswer(node, x, bytes)
      // Without the password nobody gets in: never AuthenticationOk (R with code 0).
      expect(x.msgs.some(m => m.type === 'R' && m.body.length >= 4 && m.body.readInt32BE(0) === 0), bytes.toString('hex')).toBe(false)
    }), params)
    await stillServes()
  })

  it('a client-final with the server\'s real nonce and a mutated proof', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 48 }), fc.array(fc.nat(), { maxLength: 3 }), fc.boolean(), async (proof, cuts, extra) => {
      const c = await WireClient.open(port)
      const nonce = randomBytes(12).toString('base64')
      c.send(STARTUP)
      await c.until('R')
      c.send(saslInitial(`n,,n=,r=${nonce}`))
      const serverFirst = (await c.until('R')).at(-1)!.body.subarray(4).toString()
      const r = /r=([^,]*)/.exec(serverFirst)![1]!
      let final = `c=biws,r=${r}${extra ? ',x=ext' : ''},p=${Buffer.from(proof).toString('base64')}`
      for (const cut of cuts) final = final.slice(0, cut % (final.length + 1)) + final.slice((cut % (final.length + 1)) + 1)
      c.send(saslResponse(final))
      const rest = await c.rest()
      expect(rest.some(m => m.type === 'R' && m.body.readInt32BE(0) === 0), final).toBe(false)
      const err = rest.find(m => m.type === 'E')
      expect(err, final).toBeDefined()
      const f = fieldsOf(err!)
      expect(f.S).toBe('FATAL')
      expect(f.D, final).toMatch(/^SB_(AUTH_FAILED|MALFORMED_REQUEST)\b/)
    }), { ...params, numRuns: Math.min(FUZZ_RUNS, 100) })
    await stillServes()
  })
})
