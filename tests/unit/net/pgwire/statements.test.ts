import { describe, expect, it } from 'vitest'
import { splitStatements } from '../../../../src/net/pgwire/statements'
import { localStatement } from '../../../../src/net/pgwire/local'
import { SessionSettings } from '../../../../src/exec/settings/session-settings'

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
  it('the connect-time functions; SET, SHOW, RESET and other statements go to the executor', () => {
    const p = new SessionSettings()
    p.fix('session_authorization', 'alice')
    p.set('application_name', 'psql', false, false)
    expect(localStatement('SELECT version()', facts)!.run(p).rows[0]![0]).toMatch(/^PostgreSQL 15\.0 \(ScratchBird test\)/)
    expect(localStatement("select pg_catalog.current_setting('server_version_num')", facts)!.run(p).rows).toEqual([['150000']])
    expect(localStatement("SELECT current_setting('application_name')", facts)!.run(p).rows).toEqual([['psql']])
    expect(localStatement('SELECT current_user', facts)).toBe(null)
    expect(localStatement('SELECT current_user()', facts)!.run(p).rows).toEqual([['alice']])
    expect(localStatement('SELECT current_database()', facts)!.run(p).rows).toEqual([['db']])
    expect(() => localStatement("SELECT current_setting('no_such')", facts)!.run(p)).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_SETTING' }))
    for (const other of ['SHOW CLUSTER MEMBERS', 'SELECT 1', "SET application_name TO 'x'", 'SHOW application_name', 'RESET ALL', 'SELECT version() + 1']) expect(localStatement(other, facts), other).toBe(null)
  })
})
