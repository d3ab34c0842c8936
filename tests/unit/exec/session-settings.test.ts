import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'
import { SessionState } from '../../../src/exec/txn'
import { executeScript } from '../../../src/exec/executor'
import { SESSION_SETTINGS } from '../../../src/exec/settings/table'
import { testNode, type TestNode } from './local-shards'
import { stripPos } from '../sql/helpers'

// Session settings (issue 19 item 4): SET / RESET / SHOW through the executor over real shard
// engines, per session, with PostgreSQL's transaction rules (SET LOCAL ends with the transaction,
// a rollback undoes the SETs made in it).

beforeAll(async () => { await initHashing() })

async function rows (node: TestNode, sql: string, session: SessionState): Promise<unknown[][]> {
  return (await node.sql(sql, session)).at(-1)!.rows
}

async function code (node: TestNode, sql: string, session = new SessionState()): Promise<string> {
  try { await node.sql(sql, session); return 'no error' } catch (e) { return (e as { code: string }).code }
}

describe('SET / RESET / SHOW parse and print back', () => {
  const cases: Array<[string, string]> = [
    ["SET read_from = 'replica'", "SET read_from TO 'replica'"],
    ['set session statement_timeout to 5000', "SET statement_timeout TO '5000'"],
    ['SET LOCAL statement_timeout = DEFAULT', 'SET LOCAL statement_timeout TO DEFAULT'],
    ['SET search_path TO "$user", public', "SET search_path TO '$user', 'public'"],
    ['SET extra_float_digits = -3', "SET extra_float_digits TO '-3'"],
    ["SET TIME ZONE 'UTC'", "SET timezone TO 'UTC'"],
    ['SET TIME ZONE LOCAL', 'SET timezone TO DEFAULT'],
    ['SET TRANSACTION ISOLATION LEVEL READ COMMITTED', "SET transaction_isolation TO 'read committed'"],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ', "SET default_transaction_isolation TO 'repeatable read'"],
    ['SET myapp.tenant = 7', 'SET "myapp.tenant" TO \'7\''],
    ['RESET ALL', 'RESET ALL'],
    ['reset DateStyle', 'RESET datestyle'],
    ['SHOW ALL', 'SHOW ALL'],
    ['SHOW transaction isolation level', 'SHOW transaction_isolation'],
    ['SHOW TIME ZONE', 'SHOW timezone'],
    ['SHOW read_from', 'SHOW read_from'],
    ['SHOW SHARD MAP', 'SHOW SHARD MAP']
  ]
  for (const [sql, text] of cases) {
    it(sql, () => {
      const tree = parseOne(sql)
      expect(formatStatement(tree)).toBe(text)
      expect(stripPos(parseOne(text))).toEqual(stripPos(tree))
    })
  }
  it('refuses what is not a setting statement', () => {
    for (const bad of ['SET', 'SET read_from', 'SET read_from =', 'SHOW', 'RESET', 'SET TRANSACTION ISOLATION LEVEL SOMETIMES']) {
      expect(() => parseOne(bad), bad).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
    }
  })
})

describe('session settings in the executor', () => {
  it('SET, SHOW and RESET per session; a request without a session has the defaults', async () => {
    const node = await testNode(2, false)
    const a = new SessionState()
    const b = new SessionState()
    expect(await rows(node, 'SHOW read_from', a)).toEqual([['primary']])
    await node.sql("SET read_from = 'replica'", a)
    await node.sql('SET statement_timeout TO \'2s\'', a)
    expect(await rows(node, 'SHOW read_from', a)).toEqual([['replica']])
    expect(await rows(node, 'SHOW statement_timeout', a)).toEqual([['2000']])
    expect(await rows(node, 'SHOW read_from', b)).toEqual([['primary']])
    expect(await rows(node, 'SHOW read_from', new SessionState())).toEqual([['primary']])
    await node.sql('RESET read_from', a)
    expect(await rows(node, 'SHOW read_from', a)).toEqual([['primary']])
    expect(await rows(node, 'SHOW statement_timeout', a)).toEqual([['2000']])
    await node.sql('RESET ALL', a)
    expect(await rows(node, 'SHOW statement_timeout', a)).toEqual([['0']])
  })

  it('SHOW ALL: one row per setting with its value and description', async () => {
    const node = await testNode(1, false)
    const s = new SessionState()
    await node.sql("SET application_name = 'psql'; SET app.x = 'y'", s)
    const res = (await node.sql('SHOW ALL', s))[0]!
    expect(res.columns).toEqual(['name', 'setting', 'description'])
    expect(res.rows).toHaveLength(SESSION_SETTINGS.length + 1)
    expect(res.rows).toContainEqual(['application_name', 'psql', expect.any(String)])
    expect(res.rows).toContainEqual(['read_from', 'primary', expect.stringContaining('Allowed: primary, replica')])
    expect(res.rows.at(-1)).toEqual(['app.x', 'y', expect.any(String)])
  })

  it('unknown setting: SB_UNDEFINED_SETTING (42704); bad value: SB_INVALID_SETTING_VALUE (22023) naming the allowed values, nothing changed', async () => {
    const node = await testNode(1, false)
    const s = new SessionState()
    expect(await code(node, 'SHOW no_such_setting', s)).toBe('SB_UNDEFINED_SETTING')
    expect(await code(node, 'SET no_such_setting = 1', s)).toBe('SB_UNDEFINED_SETTING')
    expect(await code(node, 'RESET no_such_setting', s)).toBe('SB_UNDEFINED_SETTING')
    expect(await code(node, 'SHOW app.never_set', s)).toBe('SB_UNDEFINED_SETTING')
    await node.sql("SET read_from = 'replica'", s)
    const out = await executeScript(node.env, s, "SET read_from = 'secondary'", [])
    expect(out.error).toMatchObject({ code: 'SB_INVALID_SETTING_VALUE', message: expect.stringContaining('allowed: primary, replica') })
    expect(out.error!.sqlstate).toBe('22023')
    expect(await rows(node, 'SHOW read_from', s)).toEqual([['replica']])
    for (const bad of ["SET statement_timeout = 'soon'", 'SET statement_timeout = -1', 'SET statement_timeout = 99999999999', "SET search_path = 'other'", 'SET transaction_isolation = serializable', "SET default_transaction_isolation = 'serializable'"]) {
      expect(await code(node, bad, s), bad).toBe('SB_INVALID_SETTING_VALUE')
    }
    expect(await code(node, "SET client_encoding = 'LATIN1'", s)).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(await code(node, 'SET server_version = 1', s)).toBe('SB_SETTING_READ_ONLY')
    expect(await code(node, 'SET search_path = public', s)).toBe('no error')
    expect(await rows(node, 'SHOW search_path', s)).toEqual([['public']])
  })

  it('SET LOCAL lasts until the transaction ends; a rollback undoes the SETs made in it', async () => {
    const node = await testNode(1, false)
    const s = new SessionState()
    await node.sql('BEGIN', s)
    await node.sql("SET LOCAL read_from = 'replica'", s)
    expect(await rows(node, 'SHOW read_from', s)).toEqual([['replica']])
    await node.sql('COMMIT', s)
    expect(await rows(node, 'SHOW read_from', s)).toEqual([['primary']])

    await node.sql("BEGIN; SET statement_timeout = 700; SET LOCAL read_from = 'replica'; ROLLBACK", s)
    expect(await rows(node, 'SHOW statement_timeout', s)).toEqual([['0']])
    await node.sql('BEGIN; SET statement_timeout = 700; COMMIT', s)
    expect(await rows(node, 'SHOW statement_timeout', s)).toEqual([['700']])
    // Outside a transaction SET LOCAL changes nothing and says so.
    const res = await node.sql("SET LOCAL read_from = 'replica'", s)
    expect(res[0]!.warnings[0]).toMatch(/no effect outside a transaction/)
    expect(await rows(node, 'SHOW read_from', s)).toEqual([['primary']])
  })

  it('isolation: BEGIN takes default_transaction_isolation; SET TRANSACTION ISOLATION LEVEL only before the first read', async () => {
    const node = await testNode(1, false)
    const s = new SessionState()
    await node.sql('CREATE TABLE iso (k BIGINT PRIMARY KEY)')
    await node.sql("SET default_transaction_isolation = 'read committed'; BEGIN", s)
    expect(s.txn!.isolation).toBe('read_committed')
    expect(await rows(node, 'SHOW transaction_isolation', s)).toEqual([['read committed']])
    await node.sql('SET TRANSACTION ISOLATION LEVEL SNAPSHOT', s)
    expect(s.txn!.isolation).toBe('snapshot')
    await node.sql('SELECT * FROM iso', s)
    expect(await code(node, 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED', s)).toBe('SB_SETTING_READ_ONLY')
    await node.sql('ROLLBACK', s)
    expect(await rows(node, 'SHOW transaction_isolation', s)).toEqual([['read committed']])
    await node.sql('RESET default_transaction_isolation; BEGIN', s)
    expect(s.txn!.isolation).toBe('snapshot')
    await node.sql('ROLLBACK', s)
  })
})

describe('statement_timeout', () => {
  /** The node's env with the table scans held until `open()`, and timers fired by hand. */
  async function heldNode (): Promise<{ node: TestNode, env: TestNode['env'], open: () => void, fires: Array<{ ms: number, fire: () => void }> }> {
    const node = await testNode(2, false)
    await node.sql('CREATE TABLE slow (k BIGINT PRIMARY KEY); INSERT INTO slow VALUES (1), (2)')
    let open: () => void = () => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    const fires: Array<{ ms: number, fire: () => void }> = []
    const env = {
      ...node.env,
      request: (async (op, req) => { if (op === 'QUERY') await gate; return await node.env.request(op, req) }) as typeof node.env.request,
      statementTimer: (ms: number, fire: () => void) => { fires.push({ ms, fire }); return () => {} }
    }
    return { node, env, open, fires }
  }
  const until = async (cond: () => boolean): Promise<void> => { while (!cond()) await new Promise(resolve => setImmediate(resolve)) }

  it('a statement still running when the timer fires is answered SB_STATEMENT_TIMEOUT (57014); the session goes on', async () => {
    const { env, open, fires } = await heldNode()
    const s = new SessionState()
    const running = executeScript(env, s, 'SET statement_timeout = 50; SELECT count(*) FROM slow', [])
    await until(() => fires.length === 1)
    expect(fires[0]!.ms).toBe(50)
    fires[0]!.fire()
    const out = await running
    expect(out.error).toMatchObject({ code: 'SB_STATEMENT_TIMEOUT', sqlstate: '57014', message: expect.stringContaining('nothing was changed') })
    open()
    const again = await executeScript(env, s, 'SELECT count(*) FROM slow', [])
    expect(again.results[0]!.rows).toEqual([['2']])
  })

  it('inside a transaction the timed-out statement fails the transaction; 0 means no timer', async () => {
    const { env, open, fires } = await heldNode()
    const s = new SessionState()
    const running = executeScript(env, s, 'BEGIN; SET LOCAL statement_timeout = 10; SELECT * FROM slow', [])
    await until(() => fires.length === 1)
    fires[0]!.fire()
    expect((await running).error?.code).toBe('SB_STATEMENT_TIMEOUT')
    expect(s.txn?.failed).toBe(true)
    open()
    expect((await executeScript(env, s, 'ROLLBACK; SELECT count(*) FROM slow', [])).results[1]!.rows).toEqual([['2']])
    expect(fires).toHaveLength(1)
  })
})
