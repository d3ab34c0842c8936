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
import { testNode, type TestNode } from '../exec/local-shards'
import { testWorkerOptions } from './worker-fixtures'

// READ COMMITTED UPDATE / DELETE racing another writer (issue 16), through the executor over real
// worker threads, rings and LevelDB. The invariants a user relies on: a committed increment is
// never lost, a deleted row never comes back, and a committed change is never silently
// overwritten — the pk-pinned statement (MODIFY_ROW) re-evaluates on the newest committed version
// (PostgreSQL), the two-step one (QUERY, then WRITE) refuses with SB_UPDATE_CONFLICT.

beforeAll(async () => { await initHashing() })

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

/** Runs `hook` once, after the first reply of op `op` (the statement's read), before its next request. */
interface Harness { node: TestNode, sent: ShardOpName[], pauseAfter: (op: ShardOpName, hook: () => Promise<void>) => void }

async function start (): Promise<Harness> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-rc-update-')), { clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[asShardId(0)], [asShardId(1)]])
  workers = w
  const sent: ShardOpName[] = []
  let pending: { op: ShardOpName, hook: () => Promise<void> } | undefined
  const requester = {
    request: async <K extends ShardOpName>(op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> => {
      sent.push(op)
      const reply = await w.request(op, req)
      const p = pending
      if (p !== undefined && p.op === op) {
        pending = undefined
        await p.hook()
      }
      return reply
    }
  }
  const node = await testNode(2, false, undefined, { requester })
  return { node, sent, pauseAfter: (op, hook) => { pending = { op, hook } } }
}

async function ok (h: Harness, sql: string, session = new SessionState()): Promise<number> {
  const out = await executeScript(h.node.env, session, sql, [])
  if (out.error !== null) throw out.error
  return out.results[out.results.length - 1]!.rowCount ?? 0
}

async function code (h: Harness, sql: string, session = new SessionState()): Promise<string | null> {
  const out = await executeScript(h.node.env, session, sql, [])
  return out.error === null ? null : (out.error as { code?: string }).code ?? 'no code'
}

async function rows (h: Harness, sql: string): Promise<unknown[][]> {
  return (await h.node.sql(sql))[0]!.rows
}

// c: counters; i: the same with an index (the two-step path: index entries are written from the coordinator).
const SETUP = 'CREATE TABLE c (id BIGINT NOT NULL PRIMARY KEY, x BIGINT NOT NULL, tag VARCHAR(5)) PARTITION BY id; ' +
  'CREATE TABLE i (id BIGINT NOT NULL PRIMARY KEY, x BIGINT NOT NULL, tag VARCHAR(5)) PARTITION BY id; CREATE INDEX i_tag ON i (tag); ' +
  "INSERT INTO c VALUES (1, 0, 'a'), (2, 0, 'b'); INSERT INTO i VALUES (1, 0, 'a'), (2, 0, 'b')"

describe('READ COMMITTED UPDATE / DELETE against a concurrent committed writer (real workers)', () => {
  it('concurrent autocommit increments of one row, pk-pinned (one request) and two-step: none is lost', async () => {
    const h = await start()
    await ok(h, SETUP)
    const K = 6
    const M = 8
    for (const t of ['c', 'i']) {
      const refused: string[] = []
      await Promise.all(Array.from({ length: K }, async () => {
        for (let n = 0; n < M; n++) {
          // The two-step path may refuse (SB_UPDATE_CONFLICT, 40001): the client retries, as told.
          for (;;) {
            const c = await code(h, `UPDATE ${t} SET x = x + 1 WHERE id = 1`)
            if (c === null) break
            refused.push(c)
            if (c !== 'SB_UPDATE_CONFLICT') break
          }
        }
      }))
      expect(refused.filter(c => c !== 'SB_UPDATE_CONFLICT'), t).toEqual([])
      // the pk-pinned statement re-evaluates on the newest version: no error at all
      if (t === 'c') expect(refused, t).toEqual([])
      expect(await rows(h, `SELECT x FROM ${t} WHERE id = 1`), t).toEqual([[String(K * M)]])
    }
  })

  // Deterministic interleavings: T1 (read committed) runs a two-step statement; right after its
  // read (QUERY) T2 runs to completion (autocommit, or a transaction that commits), then T1's
  // write goes out and T1 commits. Table i has an index, so even pk-pinned statements take two steps.
  const T1 = async (h: Harness, sql: string, t2: () => Promise<void>): Promise<string | null> => {
    const s1 = new SessionState()
    await ok(h, 'BEGIN ISOLATION LEVEL READ COMMITTED', s1)
    h.pauseAfter('QUERY', t2)
    const c = await code(h, sql, s1)
    await ok(h, c === null ? 'COMMIT' : 'ROLLBACK', s1)
    return c
  }

  it('UPDATE x = x + 1 after a concurrent committed increment: refused (40001), the other increment kept; the retry counts both', async () => {
    const h = await start()
    await ok(h, SETUP)
    for (const via of ['autocommit', 'transaction']) {
      const before = Number((await rows(h, 'SELECT x FROM i WHERE id = 1'))[0]![0])
      const c = await T1(h, 'UPDATE i SET x = x + 1 WHERE id = 1', async () => {
        if (via === 'autocommit') expect(await ok(h, 'UPDATE i SET x = x + 1 WHERE id = 1')).toBe(1)
        else expect(await ok(h, 'BEGIN ISOLATION LEVEL READ COMMITTED; UPDATE i SET x = x + 1 WHERE id = 1; COMMIT')).toBe(0)
      })
      expect(c, via).toBe('SB_UPDATE_CONFLICT')
      expect(await rows(h, 'SELECT x FROM i WHERE id = 1'), via).toEqual([[String(before + 1)]])
      expect(await ok(h, 'UPDATE i SET x = x + 1 WHERE id = 1'), via).toBe(1)
      expect(await rows(h, 'SELECT x FROM i WHERE id = 1'), via).toEqual([[String(before + 2)]])
    }
    // a multi-row UPDATE (not pk-pinned) of c: the same refusal, and row 2, which nobody else changed, is not half-written
    const c = await T1(h, 'UPDATE c SET x = x + 100 WHERE id >= 1', async () => { expect(await ok(h, 'UPDATE c SET x = x + 1 WHERE id = 1')).toBe(1) })
    expect(c).toBe('SB_UPDATE_CONFLICT')
    expect(await rows(h, 'SELECT id, x FROM c ORDER BY id')).toEqual([['1', '1'], ['2', '0']])
  })

  it('UPDATE vs DELETE: a row deleted after the read stays deleted (0 rows); DELETE vs UPDATE: a row updated after the read is not deleted from the stale read', async () => {
    const h = await start()
    await ok(h, SETUP)
    // T1 updates, T2 deletes and commits first: the row does not come back
    expect(await T1(h, 'UPDATE i SET x = x + 1 WHERE id = 1', async () => { expect(await ok(h, 'DELETE FROM i WHERE id = 1')).toBe(1) })).toBe(null)
    expect(await rows(h, 'SELECT id, x FROM i ORDER BY id')).toEqual([['2', '0']])
    // T1 deletes, T2 updates and commits first: refused, the update stays
    expect(await T1(h, 'DELETE FROM i WHERE id = 2', async () => { expect(await ok(h, "UPDATE i SET x = 5, tag = 'z' WHERE id = 2")).toBe(1) })).toBe('SB_UPDATE_CONFLICT')
    expect(await rows(h, 'SELECT id, x, tag FROM i ORDER BY id')).toEqual([['2', '5', 'z']])
    // the index agrees with the rows
    expect(await rows(h, "SELECT id FROM i WHERE tag = 'z'")).toEqual([['2']])
    expect(await rows(h, "SELECT id FROM i WHERE tag = 'b'")).toEqual([])
  })

  it('a snapshot transaction keeps first-committer-wins; a read committed statement that reads after the other commit counts it', async () => {
    const h = await start()
    await ok(h, SETUP)
    const s1 = new SessionState()
    await ok(h, 'BEGIN ISOLATION LEVEL SNAPSHOT; SELECT x FROM i WHERE id = 1', s1)
    expect(await ok(h, 'UPDATE i SET x = x + 1 WHERE id = 1')).toBe(1)
    expect(await code(h, 'UPDATE i SET x = x + 1 WHERE id = 1', s1)).toBe('SB_UPDATE_CONFLICT')
    await ok(h, 'ROLLBACK', s1)
    // read committed, the other commit before this statement's read: no conflict
    const s2 = new SessionState()
    await ok(h, 'BEGIN ISOLATION LEVEL READ COMMITTED; SELECT x FROM i WHERE id = 1', s2)
    expect(await ok(h, 'UPDATE i SET x = x + 1 WHERE id = 1')).toBe(1)
    expect(await ok(h, 'UPDATE i SET x = x + 1 WHERE id = 1', s2)).toBe(1)
    await ok(h, 'COMMIT', s2)
    expect(await rows(h, 'SELECT x FROM i WHERE id = 1')).toEqual([['3']])
  })
})
