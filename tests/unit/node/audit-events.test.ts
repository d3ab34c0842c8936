import { describe, expect, it } from 'vitest'
import { parse } from '../../../src/sql/parser'
import { selectedEvents, statementEvents, statementTable } from '../../../src/node/audit-events'

const events = (sql: string) => statementEvents(parse(sql)[0]!)

describe('audit events of a statement', () => {
  it('names DDL by kind, with the table options it sets', () => {
    expect(events('CREATE TABLE t (k INTEGER PRIMARY KEY)')).toEqual(['CREATE TABLE'])
    expect(events("CREATE TABLE t (k INTEGER PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc', write_quorum = 1)"))
      .toEqual(['CREATE TABLE', 'SET replication_mode', 'SET uuid_type', 'SET write_quorum'])
    expect(events("ALTER TABLE t SET replication_mode = 'leaderless_quorum'")).toEqual(['ALTER TABLE', 'SET replication_mode'])
    expect(events('DROP TABLE IF EXISTS t')).toEqual(['DROP TABLE'])
    expect(statementTable(parse('ALTER TABLE t9 SET read_quorum = 1')[0]!)).toBe('t9')
  })

  it('names the bearer token statements', () => {
    expect(events("CREATE TOKEN ci FOR USER alice VALID UNTIL '2030-01-01'")).toEqual(['CREATE TOKEN'])
    expect(events('DROP TOKEN IF EXISTS ci')).toEqual(['DROP TOKEN'])
  })

  it('is silent on everything else', () => {
    for (const sql of ['SELECT 1', 'INSERT INTO t VALUES (1)', 'BEGIN', 'SHOW CLUSTER MEMBERS', 'EXPLAIN CREATE TABLE t (k INTEGER PRIMARY KEY)']) {
      expect(events(sql), sql).toEqual([])
    }
  })

  it('keeps only what audit.events asks for', () => {
    const all = events("ALTER TABLE t SET replication_mode = 'leaderless_quorum'")
    expect(selectedEvents(all, ['CREATE TABLE', 'ALTER TABLE'])).toEqual(['ALTER TABLE'])
    expect(selectedEvents(all, ['SET replication_mode'])).toEqual(['SET replication_mode'])
    expect(selectedEvents(all, ['DROP TABLE'])).toEqual([])
  })
})
