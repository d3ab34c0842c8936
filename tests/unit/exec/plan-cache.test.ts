import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { executeScript } from '../../../src/exec/executor'
import { PLAN_CACHE_MAX_SQL_CHARS, PlanCache, paramSignature } from '../../../src/exec/plan-cache'
import { SessionState } from '../../../src/exec/txn'
import type { SqlValue } from '../../../src/types/values'
import { testNode, type TestNode } from './local-shards'

// The plan cache (issue 16 item 3) through the executor over real shard engines: a statement is
// parsed and planned once per text and parameter types, reused with routing recomputed from each
// execution's values, and planned again after any DDL (CREATE, ALTER, DROP) changed the catalog.

beforeAll(async () => { await initHashing() })

async function run (node: TestNode, sql: string, params: SqlValue[] = []): Promise<unknown[][]> {
  const out = await executeScript(node.env, new SessionState(), sql, params)
  if (out.error !== null) throw out.error
  return out.results.at(-1)!.rows
}

async function failure (node: TestNode, sql: string, params: SqlValue[] = []): Promise<string> {
  const out = await executeScript(node.env, new SessionState(), sql, params)
  return out.error?.code ?? 'no error'
}

describe('PlanCache', () => {
  it('keeps a script from its second use on: a text sent once leaves nothing behind', () => {
    const cache = new PlanCache(4)
    const first = cache.script('SELECT 1', [])
    expect(cache.size).toBe(0)
    const second = cache.script('SELECT 1', [])
    expect(second).not.toBe(first)
    expect(cache.size).toBe(1)
    expect(cache.script('SELECT 1', [])).toBe(second)
  })

  it('keeps the least recently used scripts up to its capacity, one entry per text and parameter types', () => {
    const cache = new PlanCache(2)
    const twice = (sql: string, params: SqlValue[]): ReturnType<PlanCache['script']> => { cache.script(sql, params); return cache.script(sql, params) }
    const a = twice('SELECT 1', [])
    expect(cache.script('SELECT 1', [])).toBe(a)
    expect(twice('SELECT 1', [1n])).not.toBe(a) // other parameter types: another entry
    cache.script('SELECT 1', []) // used: now the most recent
    twice('SELECT 2', [])
    expect(cache.size).toBe(2)
    expect(cache.script('SELECT 1', [])).toBe(a) // kept; the entry with [1n] went first
    expect(paramSignature([null, 1n, 1.5, true, 'x'])).toBe('nidbt')
  })

  it('keeps no syntax error and no long script', () => {
    const cache = new PlanCache(10)
    expect(() => cache.script('SELEC 1', [])).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
    expect(cache.size).toBe(0)
    const long = `SELECT 1 ${' '.repeat(PLAN_CACHE_MAX_SQL_CHARS)}`
    expect(cache.script(long, []).statements).toHaveLength(1)
    expect(cache.size).toBe(0)
  })
})

describe('the executor with a plan cache', () => {
  it('plans a parameterised statement once and routes each execution by its own values', async () => {
    const cache = new PlanCache()
    const node = await testNode(4, false, undefined, { planCache: cache })
    await run(node, "CREATE TABLE m (k BIGINT PRIMARY KEY, v TEXT); INSERT INTO m VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
    const select = 'SELECT v FROM m WHERE k = $1'
    expect(await run(node, select, [1n])).toEqual([['a']])
    expect(await run(node, select, [1n])).toEqual([['a']]) // kept from its second use on
    const hits = cache.hits
    for (const [k, v] of [[2n, 'b'], [3n, 'c'], [4n, 'd'], [1n, 'a']] as const) expect(await run(node, select, [k])).toEqual([[v]])
    expect(cache.hits - hits).toBe(4)
    // UPDATE and INSERT plans too: each execution writes its own row
    await run(node, 'UPDATE m SET v = $2 WHERE k = $1', [2n, 'B'])
    await run(node, 'UPDATE m SET v = $2 WHERE k = $1', [3n, 'C'])
    await run(node, 'INSERT INTO m VALUES ($1, $2)', [5n, 'e'])
    await run(node, 'INSERT INTO m VALUES ($1, $2)', [6n, 'f'])
    expect(await run(node, 'SELECT k, v FROM m ORDER BY k')).toEqual([['1', 'a'], ['2', 'B'], ['3', 'C'], ['4', 'd'], ['5', 'e'], ['6', 'f']])
    await run(node, 'DELETE FROM m WHERE k = $1', [5n])
    await run(node, 'DELETE FROM m WHERE k = $1', [6n])
    expect(await run(node, 'SELECT count(*) FROM m')).toEqual([['4']])
  })

  it('a cached leaderless key list is routed by each execution\'s keys, never the first one\'s', async () => {
    const cache = new PlanCache()
    const node = await testNode(4, true, undefined, { planCache: cache })
    await run(node, "CREATE TABLE q (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum'); INSERT INTO q VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
    const select = 'SELECT v FROM q WHERE k IN ($1, $2) ORDER BY v'
    expect(await run(node, select, [1n, 2n])).toEqual([['a'], ['b']])
    expect(await run(node, select, [1n, 2n])).toEqual([['a'], ['b']]) // kept from its second use on
    const hits = cache.hits
    // one key (a point lookup, no list), then another list: each reads its own keys
    expect(await run(node, select, [3n, 3n])).toEqual([['c']])
    expect(await run(node, select, [3n, 4n])).toEqual([['c'], ['d']])
    expect(await run(node, select, [4n, 4n])).toEqual([['d']])
    expect(cache.hits - hits).toBe(3)
    const del = 'DELETE FROM q WHERE k IN ($1, $2)'
    await run(node, del, [1n, 2n])
    await run(node, del, [1n, 2n])
    await run(node, del, [3n, 3n])
    expect(await run(node, 'SELECT k FROM q ORDER BY k')).toEqual([['4']])
  })

  it('plans again after ALTER TABLE: rows go to and are found on the shards of the new partition key', async () => {
    const cache = new PlanCache()
    const node = await testNode(8, false, undefined, { planCache: cache })
    await run(node, 'CREATE TABLE o (order_id BIGINT PRIMARY KEY, user_id TEXT, amount BIGINT)')
    const insert = 'INSERT INTO o VALUES ($1, $2, $3)'
    const point = 'SELECT amount FROM o WHERE order_id = $1 AND user_id = $2'
    await run(node, insert, [1n, 'u1', 1n])
    await run(node, insert, [2n, 'u2', 2n]) // kept from the second use on
    for (let i = 0; i < 2; i++) expect(await run(node, point, [1n, 'u1'])).toEqual([['1']])
    await run(node, 'DELETE FROM o')
    await run(node, "ALTER TABLE o SET partition_key_columns = 'user_id'")
    const hits = cache.hits
    // The cached INSERT and SELECT plans hold the table as it was: used now, they would place
    // and look up rows by order_id while the catalog says user_id.
    for (let i = 0; i < 16; i++) await run(node, insert, [BigInt(i), `user_${i}`, BigInt(i)])
    for (let i = 0; i < 16; i++) expect(await run(node, point, [BigInt(i), `user_${i}`])).toEqual([[String(i)]])
    expect(cache.hits - hits).toBe(30) // planned once each under the new catalog, then reused
    // every row is on the shard its user_id names, as an uncached plan sees it
    const fresh = await testNode(8, false)
    fresh.env.setCatalog(node.env.catalog())
    for (let i = 0; i < 16; i++) {
      const plan = await executeScript(fresh.env, new SessionState(), `EXPLAIN SELECT amount FROM o WHERE order_id = ${i} AND user_id = 'user_${i}'`, [])
      const shard = /shard (\d+) \(partition key pinned\)/.exec(String(plan.results[0]!.rows[0]![0]))![1]
      const held = node.shards.engines[Number(shard)]!
      expect(await held.get(node.env.catalog().mustTable('o').id, [BigInt(i)]), `row ${i} on shard ${shard}`).not.toBeNull()
    }
  })

  it('plans again after DROP TABLE and CREATE TABLE of the same name with another shape', async () => {
    const cache = new PlanCache()
    const node = await testNode(2, false, undefined, { planCache: cache })
    await run(node, "CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')")
    for (let i = 0; i < 2; i++) expect(await run(node, 'SELECT * FROM t WHERE k = $1', [1n])).toEqual([['1', 'a']])
    await run(node, 'DROP TABLE t')
    expect(await failure(node, 'SELECT * FROM t WHERE k = $1', [1n])).toBe('SB_UNDEFINED_TABLE')
    expect(await failure(node, 'UPDATE t SET v = $2 WHERE k = $1', [1n, 'x'])).toBe('SB_UNDEFINED_TABLE')
    await run(node, 'CREATE TABLE t (name TEXT PRIMARY KEY, k BIGINT, n INTEGER)')
    await run(node, "INSERT INTO t VALUES ('x', 1, 7)")
    expect(await run(node, 'SELECT * FROM t WHERE k = $1', [1n])).toEqual([['x', '1', 7]])
  })

  it('a script with DDL between its statements plans each statement under the catalog it runs with', async () => {
    const cache = new PlanCache()
    const node = await testNode(1, false, undefined, { planCache: cache })
    const script = 'CREATE TABLE s (k BIGINT PRIMARY KEY); INSERT INTO s VALUES ($1); SELECT * FROM s; DROP TABLE s'
    for (const k of [1n, 2n, 3n]) {
      const out = await executeScript(node.env, new SessionState(), script, [k])
      expect(out.error).toBeNull()
      expect(out.results[2]!.rows).toEqual([[String(k)]])
    }
  })
})
