import { describe, expect, it } from 'vitest'
import { SLOW_QUERY_MAX_SQL, isSlow, slowQueryRecord, type StatementTiming } from '../../../src/ops/slow-query'

const timing = (over: Partial<StatementTiming> = {}): StatementTiming => ({
  sql: () => 'SELECT * FROM orders WHERE user_id = $1',
  durationMs: 1200.4,
  rowCount: 3,
  error: undefined,
  session: undefined,
  txnShards: undefined,
  client: undefined,
  kind: 'select',
  ...over
})

describe('slow-query log records', () => {
  it('takes statements at or above the threshold; 0 takes every statement', () => {
    expect(isSlow(999.9, 1000)).toBe(false)
    expect(isSlow(1000, 1000)).toBe(true)
    expect(isSlow(0, 0)).toBe(true)
    expect(slowQueryRecord(timing({ durationMs: 10 }), 1000)).toBeNull()
    expect(slowQueryRecord(timing({ durationMs: 0 }), 0)).not.toBeNull()
  })

  it('holds the statement, its duration, rows, session, shards and error', () => {
    const r = slowQueryRecord(timing({ session: '0123456789abcdef-secret', txnShards: [2, 5], error: 'SB_QUORUM_NOT_ACHIEVED', rowCount: 1 }), 1000)!
    expect(r.fields).toEqual({ statement: 'SELECT * FROM orders WHERE user_id = $1', durationMs: 1201, rows: 1, session: '01234567', txnShards: [2, 5], error: 'SB_QUORUM_NOT_ACHIEVED' })
    expect(r.msg).toBe('Slow query: 1201 ms, 1 row, failed SB_QUORUM_NOT_ACHIEVED: SELECT * FROM orders WHERE user_id = $1')
  })

  it('bounds the statement text and does not format statements that are not slow', () => {
    const long = `INSERT INTO t VALUES ${'(1), '.repeat(2000)}(1)`
    const r = slowQueryRecord(timing({ sql: () => long }), 0)!
    expect(r.fields.statement).toHaveLength(SLOW_QUERY_MAX_SQL)
    expect(r.fields.statement.endsWith('…')).toBe(true)
    expect(r.msg.length).toBeLessThan(300)
    let formatted = 0
    slowQueryRecord(timing({ durationMs: 1, sql: () => { formatted++; return 'x' } }), 1000)
    expect(formatted).toBe(0)
  })

  it('still writes a line when the statement cannot be printed', () => {
    const r = slowQueryRecord(timing({ sql: () => { throw new Error('no printer') } }), 0)!
    expect(r.fields.statement).toMatch(/statement not printable: Error: no printer/)
  })
})
