import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { ManualClock } from '../../../src/core/clock'
import { asShardId } from '../../../src/core/ids'
import { executeScript } from '../../../src/exec/executor'
import { SessionState } from '../../../src/exec/txn'
import { ShardWorkers } from '../../../src/node/shard-workers'
import type { ShardOpName, ShardReplies, ShardRequests } from '../../../src/shard/protocol/ops'
import type { SqlValue } from '../../../src/types/values'
import { testNode, type TestNode } from '../exec/local-shards'
import { testWorkerOptions } from './worker-fixtures'

// A pk-pinned UPDATE / DELETE as ONE shard request (exec/point-modify.ts, MODIFY_ROW), through the
// executor over real worker threads, rings and LevelDB. Each case runs twice: on table f as the
// one request, and on its twin s (same rows) with RETURNING, which keeps the two-step path
// (QUERY, then WRITE) — counts, error codes and messages, and the rows left must be the same.
// The op log checks that f's statement really was one MODIFY_ROW and s's really two steps.

beforeAll(async () => { await initHashing() })

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

interface Harness { node: TestNode, sent: ShardOpName[] }

async function start (): Promise<Harness> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-point-modify-')), { clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[asShardId(0)], [asShardId(1)]])
  workers = w
  const sent: ShardOpName[] = []
  const requester = {
    request: async <K extends ShardOpName>(op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> => { sent.push(op); return await w.request(op, req) }
  }
  const node = await testNode(2, false, undefined, { requester })
  return { node, sent }
}

const TABLE = (name: string): string =>
  `CREATE TABLE ${name} (bid INTEGER NOT NULL, id BIGINT NOT NULL, bal BIGINT NOT NULL, note VARCHAR(5), price DECIMAL(6,2), PRIMARY KEY (bid, id)) PARTITION BY bid`
const ROWS = (name: string): string =>
  `INSERT INTO ${name} VALUES (1, 1, 100, 'a', 1.50), (1, 2, 200, NULL, NULL), (2, 1, 300, 'c', 3.25)`

interface Outcome { count: number | null, code: string | null, message: string | null }

async function run (h: Harness, sql: string, params: readonly SqlValue[] = [], session = new SessionState()): Promise<Outcome & { ops: ShardOpName[] }> {
  h.sent.length = 0
  const out = await executeScript(h.node.env, session, sql, params)
  const ops = [...h.sent]
  if (out.error !== null) {
    const e = out.error as { code?: string, message: string }
    return { count: null, code: e.code ?? null, message: e.message, ops }
  }
  return { count: out.results[out.results.length - 1]!.rowCount, code: null, message: null, ops }
}

async function contents (h: Harness, table: string): Promise<unknown[][]> {
  const res = await h.node.sql(`SELECT bid, id, bal, note, price FROM ${table} ORDER BY bid, id`)
  return res[0]!.rows
}

/** `sql` names the table as {t}; on s it gets RETURNING (the two-step path). */
const CASES: Array<{ name: string, sql: string, params?: SqlValue[], count: number | null, code?: string }> = [
  { name: 'SET from the old row, extra WHERE true', sql: 'UPDATE {t} SET bal = bal + 5, note = \'x\' WHERE bid = 1 AND id = 1 AND bal = 100', count: 1 },
  { name: 'extra WHERE false', sql: 'UPDATE {t} SET bal = 0 WHERE bid = 1 AND id = 1 AND bal > 1000', count: 0 },
  { name: 'no such row', sql: 'UPDATE {t} SET bal = 0 WHERE bid = 1 AND id = 9', count: 0 },
  { name: 'NULL = NULL is not true', sql: 'UPDATE {t} SET bal = 1 WHERE bid = 1 AND id = 2 AND note = NULL', count: 0 },
  { name: 'IS NULL matches, SET NULL into a nullable column', sql: 'UPDATE {t} SET note = NULL, price = NULL WHERE bid = 1 AND id = 2 AND note IS NULL', count: 1 },
  { name: 'assignment casts: text to BIGINT, rounding to DECIMAL(6,2)', sql: 'UPDATE {t} SET bal = \'42\', price = 2.345 WHERE bid = 2 AND id = 1', count: 1 },
  { name: 'parameters in the key, the WHERE and the SET', sql: 'UPDATE {t} SET bal = bal + $3, note = $4 WHERE bid = $1 AND id = $2', params: [1n, 2n, 7n, 'p'], count: 1 },
  { name: 'a string too long for VARCHAR(5)', sql: 'UPDATE {t} SET note = \'abcdefg\' WHERE bid = 1 AND id = 1', count: null, code: 'SB_STRING_DATA_RIGHT_TRUNCATION' },
  { name: 'text that is no number', sql: 'UPDATE {t} SET bal = \'lots\' WHERE bid = 1 AND id = 1', count: null, code: 'SB_INVALID_TEXT_REPRESENTATION' },
  { name: 'NOT NULL violation', sql: 'UPDATE {t} SET bal = NULL WHERE bid = 1 AND id = 1', count: null, code: 'SB_NOT_NULL_VIOLATION' },
  { name: 'an error in the SET', sql: 'UPDATE {t} SET bal = bal / 0 WHERE bid = 2 AND id = 1', count: null, code: 'SB_DIVISION_BY_ZERO' },
  { name: 'BIGINT overflow in the SET', sql: 'UPDATE {t} SET bal = bal + 9223372036854775807 WHERE bid = 2 AND id = 1', count: null, code: 'SB_NUMERIC_OUT_OF_RANGE' },
  { name: 'DELETE, extra WHERE false', sql: 'DELETE FROM {t} WHERE bid = 2 AND id = 1 AND note <> \'c\'', count: 0 },
  { name: 'DELETE', sql: 'DELETE FROM {t} WHERE bid = 2 AND id = 1', count: 1 },
  { name: 'DELETE of a row already gone', sql: 'DELETE FROM {t} WHERE bid = 2 AND id = 1', count: 0 }
]

describe('a pk-pinned UPDATE / DELETE in one shard request (real workers)', () => {
  it('gives the two-step path\'s counts, errors and rows, autocommit and inside a transaction', async () => {
    const h = await start()
    await h.node.sql(`${TABLE('f')}; ${TABLE('s')}; ${ROWS('f')}; ${ROWS('s')}`)
    for (const inTxn of [false, true]) {
      for (const c of CASES) {
        const label = `${inTxn ? 'in a transaction' : 'autocommit'}: ${c.name}`
        const sf = new SessionState()
        const ss = new SessionState()
        if (inTxn) { await run(h, 'BEGIN', [], sf); await run(h, 'BEGIN', [], ss) }
        const fast = await run(h, c.sql.replaceAll('{t}', 'f'), c.params, sf)
        const slow = await run(h, `${c.sql.replaceAll('{t}', 's')} RETURNING bid`, c.params, ss)
        expect({ count: fast.count, code: fast.code }, label).toEqual({ count: c.count, code: c.code ?? null })
        expect({ count: fast.count, code: fast.code, message: fast.message?.replaceAll('"f"', '"s"') ?? null }, label).toEqual({ count: slow.count, code: slow.code, message: slow.message })
        expect(fast.ops.filter(op => op !== 'BEGIN'), label).toEqual(['MODIFY_ROW'])
        expect(slow.ops, label).toContain('QUERY')
        if (inTxn) {
          // the outcome inside the transaction, then committed (a failed statement aborts it: ROLLBACK)
          expect(await contents(h, 'f').catch(() => null), label).toEqual(await contents(h, 's').catch(() => null))
          await run(h, fast.code === null ? 'COMMIT' : 'ROLLBACK', [], sf)
          await run(h, slow.code === null ? 'COMMIT' : 'ROLLBACK', [], ss)
        }
        expect(await contents(h, 'f'), label).toEqual(await contents(h, 's'))
      }
      // the next round starts from the same rows again
      await h.node.sql('DELETE FROM f WHERE bid >= 0; DELETE FROM s WHERE bid >= 0')
      await h.node.sql(`${ROWS('f')}; ${ROWS('s')}`)
    }
    // nothing is left open on either shard
    for (const shard of [0, 1]) expect((await workers!.request('STATS', { shard: asShardId(shard) })).openTxns).toBe(0)
  })

  it('a row another transaction changed and has not committed is SB_UPDATE_CONFLICT, as in two steps', async () => {
    const h = await start()
    await h.node.sql(`${TABLE('f')}; ${TABLE('s')}; ${ROWS('f')}; ${ROWS('s')}`)
    for (const t of ['f', 's']) {
      const holder = new SessionState()
      await run(h, `BEGIN; UPDATE ${t} SET bal = 1 WHERE bid = 1 AND id = 1`, [], holder)
      const tail = t === 's' ? ' RETURNING bid' : ''
      const auto = await run(h, `UPDATE ${t} SET bal = 2 WHERE bid = 1 AND id = 1${tail}`)
      expect(auto.code, t).toBe('SB_UPDATE_CONFLICT')
      expect(auto.ops.includes('MODIFY_ROW'), t).toBe(t === 'f')
      const del = await run(h, `DELETE FROM ${t} WHERE bid = 1 AND id = 1${tail}`)
      expect(del.code, t).toBe('SB_UPDATE_CONFLICT')
      const other = new SessionState()
      await run(h, 'BEGIN', [], other)
      expect((await run(h, `UPDATE ${t} SET bal = 3 WHERE bid = 1 AND id = 1${tail}`, [], other)).code, t).toBe('SB_UPDATE_CONFLICT')
      await run(h, 'ROLLBACK', [], other)
      await run(h, 'COMMIT', [], holder)
      // once it committed, the writer's retry goes through on the committed row
      expect((await run(h, `UPDATE ${t} SET bal = bal + 10 WHERE bid = 1 AND id = 1${tail}`)).count, t).toBe(1)
      expect((await contents(h, t))[0], t).toEqual([1, '1', '11', 'a', '1.50'])
    }
  })

  it('a snapshot transaction updates the version it sees, its own writes included; a row committed after its start is SB_UPDATE_CONFLICT', async () => {
    const h = await start()
    await h.node.sql(`${TABLE('f')}; ${ROWS('f')}`)
    const snap = new SessionState()
    await run(h, 'BEGIN; SELECT bal FROM f WHERE bid = 2 AND id = 1', [], snap)
    // committed after the snapshot began: the snapshot still reads 100 for (1, 1)
    expect((await run(h, 'UPDATE f SET bal = 500 WHERE bid = 1 AND id = 1')).count).toBe(1)
    expect((await run(h, 'UPDATE f SET bal = 999 WHERE bid = 1 AND id = 1 AND bal = 500', [], snap)).count).toBe(0)
    // its own writes: two increments of a row nobody else touched
    const again = new SessionState()
    await run(h, 'BEGIN', [], again)
    expect((await run(h, 'UPDATE f SET bal = bal + 1 WHERE bid = 2 AND id = 1', [], again)).count).toBe(1)
    expect((await run(h, 'UPDATE f SET bal = bal + 1 WHERE bid = 2 AND id = 1', [], again)).count).toBe(1)
    const seen = await h.node.sql('SELECT bal FROM f WHERE bid = 2 AND id = 1', again)
    expect(seen[0]!.rows).toEqual([['302']])
    await run(h, 'COMMIT', [], again)
    // first committer wins: (1, 1) changed after snap's start
    const lost = await run(h, 'UPDATE f SET bal = bal + 1 WHERE bid = 1 AND id = 1', [], snap)
    expect(lost.code).toBe('SB_UPDATE_CONFLICT')
    expect(lost.ops).toEqual(['MODIFY_ROW'])
    await run(h, 'ROLLBACK', [], snap)
    expect(await contents(h, 'f')).toEqual([[1, '1', '500', 'a', '1.50'], [1, '2', '200', null, null], [2, '1', '302', 'c', '3.25']])
  })
})
