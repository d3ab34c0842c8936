// A pg Describe of a prepared statement is checked against the session's privileges like running
// it (issue 18): a user without SELECT on a table learns nothing of it through Describe — the
// statement's column names and types stay unsent. The extended-query machine runs over the
// executor on in-process shards (tests/unit/exec/local-shards.ts).
import { describe, expect, it } from 'vitest'
import { executeScript } from '../../../../src/exec/executor'
import { SessionState } from '../../../../src/exec/txn'
import { ExtendedQuery, type QueryHost } from '../../../../src/net/pgwire/extended'
import { BodyReader } from '../../../../src/net/pgwire/frames'
import { MessageWriter } from '../../../../src/net/pgwire/writer'
import type { Principal } from '../../../../src/security/privileges'
import { encodeVerifier, newScramVerifier } from '../../../../src/security/scram-verifier'
import { SeededRng } from '../../../../src/core/rng'
import { testNode } from '../../exec/local-shards'

const cstr = (s: string): Buffer => Buffer.from(s + '\0', 'utf8')

async function setup (): Promise<{ host: (p: Principal | undefined) => QueryHost & { out: MessageWriter }, ids: Record<string, number> }> {
  const node = await testNode(2, false)
  const verifier = encodeVerifier(newScramVerifier('pw', new SeededRng(4), 16))
  await node.sql(`CREATE TABLE secret (k INTEGER PRIMARY KEY, salary INTEGER); CREATE USER boss PASSWORD '${verifier}' ADMIN; CREATE USER clerk PASSWORD '${verifier}'`)
  const ids = { boss: node.env.catalog().user('boss')!.id, clerk: node.env.catalog().user('clerk')!.id }
  const host = (p: Principal | undefined): QueryHost & { out: MessageWriter } => {
    const state = new SessionState()
    state.principal = p
    return {
      out: new MessageWriter(),
      env: node.env,
      facts: { database: 'db', version: '15.0' },
      runSql: async (text, params) => {
        const o = await executeScript(node.env, state, text, params)
        if (o.error !== null) throw o.error
        return o.results[0]!
      },
      runLocal: () => { throw new Error('not used') },
      warnings: () => {},
      flushIfLarge: () => {},
      sessionPrincipal: p
    }
  }
  return { host, ids }
}

async function describeStatement (h: QueryHost & { out: MessageWriter }, sql: string): Promise<string> {
  const x = new ExtendedQuery(h)
  x.parse(new BodyReader(Buffer.concat([cstr('s'), cstr(sql), Buffer.from([0, 0])])))
  await x.describe(new BodyReader(Buffer.concat([Buffer.from('S'), cstr('s')])))
  return h.out.take().toString('latin1')
}

describe('pg Describe and privileges', () => {
  it('refuses to describe a SELECT the user may not run, and describes it for one who may', async () => {
    const { host, ids } = await setup()
    const clerk = host({ kind: 'user', id: ids.clerk!, name: 'clerk' })
    await expect(describeStatement(clerk, 'SELECT * FROM secret')).rejects.toMatchObject({ code: 'SB_INSUFFICIENT_PRIVILEGE', details: { table: 'secret' } })
    expect(clerk.out.take().toString('latin1')).not.toContain('salary')
    await expect(describeStatement(clerk, 'INSERT INTO secret VALUES ($1, $2) RETURNING salary')).rejects.toMatchObject({ code: 'SB_INSUFFICIENT_PRIVILEGE' })
    expect(await describeStatement(host({ kind: 'user', id: ids.boss!, name: 'boss' }), 'SELECT * FROM secret')).toContain('salary')
    expect(await describeStatement(host(undefined), 'SELECT * FROM secret')).toContain('salary')
    expect(await describeStatement(clerk, 'SELECT 1 AS one')).toContain('one')
  })
})
