import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postSqlAnswer, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Concurrent read committed increments of one row over HTTP against one real node (issue 16):
// K clients each run M autocommit `UPDATE … SET x = x + 1`; the final value must be K·M. On c
// the statement pins the primary key and runs as one shard request (read, SET and write in one
// writer job): none may fail. On i (an index keeps it in two steps) a statement may be refused
// with SB_UPDATE_CONFLICT (409, 40001) when another committed after its read — the client retries,
// as it is told to — but an acknowledged increment is never lost.

let n: RunningNode

beforeAll(async () => {
  const dir = tempDir('sb-increments-')
  const [cmd, args] = sourceCommand(['--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  n = await startNode(cmd, args)
}, 120_000)
afterAll(() => { n?.proc.kill('SIGKILL') })

type Json = Record<string, any>

async function sql (text: string): Promise<Json> {
  const { status, body } = await postSqlAnswer(n, text)
  expect(status, JSON.stringify(body)).toBe(200)
  return body
}

const K = 8
const M = 12

describe('concurrent read committed increments over HTTP', () => {
  it('count every acknowledged increment: K clients x M increments = K·M', async () => {
    await sql('CREATE TABLE c (id BIGINT PRIMARY KEY, x BIGINT NOT NULL, tag TEXT)')
    await sql('CREATE TABLE i (id BIGINT PRIMARY KEY, x BIGINT NOT NULL, tag TEXT)')
    await sql('CREATE INDEX i_tag ON i (tag)')
    await sql("INSERT INTO c VALUES (1, 0, 'a'); INSERT INTO i VALUES (1, 0, 'a')")
    for (const t of ['c', 'i']) {
      const refusals: Json[] = []
      await Promise.all(Array.from({ length: K }, async () => {
        for (let m = 0; m < M; m++) {
          for (;;) {
            const { status, body } = await postSqlAnswer(n, `UPDATE ${t} SET x = x + 1 WHERE id = 1`)
            if (status === 200) {
              expect(body, JSON.stringify(body)).toMatchObject({ command: 'UPDATE', rowCount: 1 })
              break
            }
            refusals.push(body.error)
            // only the documented, retryable refusal
            expect(body.error, JSON.stringify(body)).toMatchObject({ code: 'SB_UPDATE_CONFLICT', sqlstate: '40001' })
          }
        }
      }))
      if (t === 'c') expect(refusals, t).toEqual([])
      expect((await sql(`SELECT x FROM ${t} WHERE id = 1`)).rows, t).toEqual([[String(K * M)]])
    }
  }, 300_000)

  it('an INSERT whose foreign key locks the referenced row never writes over an increment committed after its check', async () => {
    // Every INSERT into ch writes its p row back as a lock write; before, that write carried the
    // version the check read, so an increment committed in between was lost.
    await sql('CREATE TABLE p (id BIGINT PRIMARY KEY, x BIGINT NOT NULL)')
    await sql('CREATE TABLE ch (id BIGINT PRIMARY KEY, pid BIGINT NOT NULL REFERENCES p (id))')
    await sql('INSERT INTO p VALUES (1, 0)')
    let next = 0
    const retry = async (text: string, command: string): Promise<void> => {
      for (;;) {
        const { status, body } = await postSqlAnswer(n, text)
        if (status === 200) { expect(body, JSON.stringify(body)).toMatchObject({ command, rowCount: 1 }); return }
        expect(body.error, JSON.stringify(body)).toMatchObject({ code: 'SB_UPDATE_CONFLICT', sqlstate: '40001' })
      }
    }
    const half = K / 2
    await Promise.all([
      ...Array.from({ length: half }, async () => { for (let m = 0; m < M; m++) await retry('UPDATE p SET x = x + 1 WHERE id = 1', 'UPDATE') }),
      ...Array.from({ length: half }, async () => { for (let m = 0; m < M; m++) await retry(`INSERT INTO ch VALUES (${next++}, 1)`, 'INSERT') })
    ])
    expect((await sql('SELECT x FROM p WHERE id = 1')).rows).toEqual([[String(half * M)]])
    expect((await sql('SELECT count(*) FROM ch')).rows).toEqual([[String(half * M)]])
  }, 300_000)

  it('an upsert counter (INSERT … ON CONFLICT DO UPDATE SET n = n + 1) counts every acknowledged increment', async () => {
    // The statement reads the existing row, then writes its update: in read committed both go at
    // one read point, so an increment committed in between is refused (SB_UPDATE_CONFLICT, the
    // client retries), never overwritten with the value read before it (a lost update).
    await sql('CREATE TABLE u (id BIGINT PRIMARY KEY, x BIGINT NOT NULL)')
    const refusals: Json[] = []
    await Promise.all(Array.from({ length: K }, async () => {
      for (let m = 0; m < M; m++) {
        for (;;) {
          const { status, body } = await postSqlAnswer(n, 'INSERT INTO u (id, x) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET x = u.x + 1')
          if (status === 200) {
            expect(body, JSON.stringify(body)).toMatchObject({ command: 'INSERT', rowCount: 1 })
            break
          }
          refusals.push(body.error)
          // the documented retryable refusals: a newer commit (update), or a concurrent first insert of the key
          expect(['SB_UPDATE_CONFLICT', 'SB_UNIQUE_VIOLATION'], JSON.stringify(body)).toContain(body.error?.code)
        }
      }
    }))
    expect((await sql('SELECT x FROM u WHERE id = 1')).rows).toEqual([[String(K * M)]])
  }, 300_000)

  it('a refused INSERT leaves none of its writes behind: the same INSERT, retried, succeeds at once', async () => {
    // The INSERT writes on two shards (its row, and the lock write of the row it references); the
    // lock write is refused while a session holds that row. Before, the ROLLBACK overtook the other
    // shard's write still on its way, which then stayed as an open transaction's version: every
    // retry of the same key was refused for good.
    await sql('CREATE TABLE rp (id BIGINT PRIMARY KEY, x BIGINT NOT NULL)')
    await sql('CREATE TABLE rc (id BIGINT PRIMARY KEY, pid BIGINT NOT NULL REFERENCES rp (id))')
    await sql('INSERT INTO rp VALUES (1, 0)')
    const { id } = await (await fetch(n.url('/v1/sessions'), { method: 'POST' })).json() as { id: string }
    expect((await postSqlAnswer(n, 'BEGIN', id)).status).toBe(200)
    expect((await postSqlAnswer(n, 'UPDATE rp SET x = x + 1 WHERE id = 1', id)).status).toBe(200)
    const refused = await postSqlAnswer(n, 'INSERT INTO rc VALUES (5, 1)')
    expect(refused.body.error, JSON.stringify(refused.body)).toMatchObject({ code: 'SB_UPDATE_CONFLICT', sqlstate: '40001' })
    expect((await postSqlAnswer(n, 'COMMIT', id)).status).toBe(200)
    expect((await postSqlAnswer(n, 'INSERT INTO rc VALUES (5, 1)')).body).toMatchObject({ command: 'INSERT', rowCount: 1 })
    expect((await sql('SELECT id, pid FROM rc')).rows).toEqual([['5', '1']])
    expect((await sql('SELECT x FROM rp WHERE id = 1')).rows).toEqual([['1']])
  }, 120_000)
})
