import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPgNode } from './helpers'

// Session settings over the PostgreSQL protocol with node-postgres, on a real node process
// (issue 19 item 4): settings belong to the connection, SET LOCAL ends with the transaction, a
// changed reported setting comes back as ParameterStatus, statement_timeout cancels a long
// statement with SQLSTATE 57014.

let node: Awaited<ReturnType<typeof startPgNode>>
beforeAll(async () => { node = await startPgNode() })
afterAll(() => { node?.proc.kill('SIGKILL') })

async function pgClient (): Promise<pg.Client> {
  const c = new pg.Client({ host: node.host, port: node.port, user: 'tester', database: 'db', application_name: 'settings-test' })
  await c.connect()
  return c
}

const show = async (c: pg.Client, name: string): Promise<unknown> => (await c.query(`SHOW ${name}`)).rows[0]![name]

describe('session settings over node-postgres', () => {
  it('are per connection; SET LOCAL ends with the transaction; a rollback undoes a SET', async () => {
    const a = await pgClient()
    const b = await pgClient()
    try {
      expect(await show(a, 'application_name')).toBe('settings-test')
      await a.query("SET read_from = 'replica'")
      await a.query('SET statement_timeout TO 30000')
      expect(await show(a, 'read_from')).toBe('replica')
      expect(await show(b, 'read_from')).toBe('primary')
      expect(await show(b, 'statement_timeout')).toBe('0')

      await b.query('BEGIN')
      await b.query("SET LOCAL read_from = 'replica'")
      expect(await show(b, 'read_from')).toBe('replica')
      await b.query('COMMIT')
      expect(await show(b, 'read_from')).toBe('primary')

      await b.query('BEGIN')
      await b.query('SET statement_timeout = 1234')
      await b.query('ROLLBACK')
      expect(await show(b, 'statement_timeout')).toBe('0')
      expect(await show(a, 'read_from')).toBe('replica')

      const all = await a.query('SHOW ALL')
      expect(all.fields.map(f => f.name)).toEqual(['name', 'setting', 'description'])
      expect(all.rows).toContainEqual(expect.objectContaining({ name: 'read_from', setting: 'replica' }))

      // The extended protocol (a parameterised query is Parse/Bind/Describe/Execute) describes SHOW before running it.
      const described = await a.query({ text: 'SHOW statement_timeout', values: [], name: 'show_timeout' })
      expect(described.rows).toEqual([{ statement_timeout: '30000' }])
      expect((await a.query("SELECT current_setting('read_from')")).rows).toEqual([{ current_setting: 'replica' }])

      await expect(a.query('SHOW no_such_setting')).rejects.toMatchObject({ code: '42704' })
      await expect(a.query("SET read_from = 'elsewhere'")).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('allowed: primary, replica') })
      expect(await show(a, 'read_from')).toBe('replica')
    } finally {
      await a.end()
      await b.end()
    }
  })

  it('a reported setting SET is sent back as ParameterStatus', async () => {
    const c = await pgClient()
    try {
      const seen: Array<{ parameterName: string, parameterValue: string }> = []
      const conn = (c as unknown as { connection: { on: (e: string, f: (m: { parameterName: string, parameterValue: string }) => void) => void } }).connection
      conn.on('parameterStatus', m => seen.push(m))
      await c.query("SET application_name = 'renamed'")
      expect(seen).toContainEqual(expect.objectContaining({ parameterName: 'application_name', parameterValue: 'renamed' }))
    } finally { await c.end() }
  })

  it('statement_timeout cancels a long statement with 57014; the connection goes on', async () => {
    const c = await pgClient()
    try {
      const values = Array.from({ length: 400 }, (_, i) => `(${i})`).join(', ')
      await c.query('CREATE TABLE st_a (k BIGINT PRIMARY KEY); CREATE TABLE st_b (k BIGINT PRIMARY KEY)')
      await c.query(`INSERT INTO st_a VALUES ${values}`)
      await c.query(`INSERT INTO st_b VALUES ${values}`)
      const long = 'SELECT count(*) FROM st_a CROSS JOIN st_b'
      await c.query('SET statement_timeout = 1')
      await expect(c.query(long)).rejects.toMatchObject({ code: '57014', message: expect.stringContaining('statement timeout') })
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
      await c.query('RESET statement_timeout')
      expect((await c.query('SELECT count(*) AS n FROM st_a CROSS JOIN st_b')).rows).toEqual([{ n: '160000' }])
    } finally { await c.end() }
  })
})
