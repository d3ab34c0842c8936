import { describe, expect, it } from 'vitest'
import { splitStatements } from '../../../../src/net/pgwire/statements'
import { localStatement } from '../../../../src/net/pgwire/local'
import { ServerParams } from '../../../../src/net/pgwire/params'

describe('splitStatements', () => {
  it('splits at ; outside strings and comments, with offsets and the highest $n', () => {
    const sql = "SELECT ';' AS a, $2; -- x; y\n ; INSERT INTO t VALUES ($1) ;  "
    expect(splitStatements(sql)).toEqual([
      { text: "SELECT ';' AS a, $2", offset: 0, params: 2 },
      { text: 'INSERT INTO t VALUES ($1)', offset: sql.indexOf('INSERT'), params: 1 }
    ])
    expect(splitStatements(' ; -- only a comment\n')).toEqual([])
  })
})

describe('statements a connection answers itself', () => {
  const facts = { database: 'db', version: '15.0 (ScratchBird test)' }
  it('SET, SHOW and the connect-time functions; other statements go to the executor', () => {
    const p = new ServerParams(facts.version, 'alice')
    const set = localStatement("SET application_name TO 'psql'", facts)!.run(p)
    expect(set).toMatchObject({ tag: 'SET', report: [{ name: 'application_name', value: 'psql' }], notices: [] })
    expect(localStatement('SET search_path = a, b', facts)!.run(p).notices).toEqual(['parameter "search_path" is accepted but has no effect in ScratchBird'])
    expect(localStatement('show APPLICATION_NAME', facts)!.run(p).rows).toEqual([['psql']])
    expect(localStatement("SET TIME ZONE 'UTC'", facts)!.run(p).tag).toBe('SET')
    expect(localStatement('SELECT version()', facts)!.run(p).rows[0]![0]).toMatch(/^PostgreSQL 15\.0 \(ScratchBird test\)/)
    expect(localStatement("select pg_catalog.current_setting('server_version_num')", facts)!.run(p).rows).toEqual([['150000']])
    expect(localStatement('SELECT current_database()', facts)!.run(p).rows).toEqual([['db']])
    for (const other of ['SHOW CLUSTER MEMBERS', 'SELECT 1', 'SET replication_mode', 'SELECT version() + 1']) expect(localStatement(other, facts), other).toBe(null)
    expect(() => localStatement("SET client_encoding = 'LATIN1'", facts)!.run(p)).toThrow(/UTF8 only/)
    expect(() => localStatement('SET DateStyle = German', facts)!.run(p)).toThrow(/ISO style only/)
    expect(() => localStatement('SET server_version = 1', facts)!.run(p)).toThrow(/cannot be changed/)
  })

  it('startup parameters apply without refusing the connection', () => {
    const p = new ServerParams('15.0', 'bob')
    p.applyStartup('client_encoding', 'SQL_ASCII')
    p.applyStartup('application_name', 'pgbench')
    expect(Object.fromEntries(p.reported())).toMatchObject({ client_encoding: 'UTF8', application_name: 'pgbench', session_authorization: 'bob', server_encoding: 'UTF8', integer_datetimes: 'on' })
  })
})
