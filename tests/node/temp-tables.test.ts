import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postSql, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { ROOT } from '../helpers/node-process'
import { fe, rowDescription, WireClient } from '../pg/wire'

// Temporary tables (issue 19, P-001) on a real node process: an HTTP session and a PostgreSQL
// connection each see their own temporary table of one name and not the other's; closing the
// session (DELETE /v1/sessions/id) or the connection drops its tables — the node's gauges of
// temporary tables go back to zero — and nothing of them is ever written to the data directory.

const MARKER = 'temp-row-marker-7c1f'
let n: RunningNode
let dataDir: string

beforeAll(async () => {
  dataDir = join(tempDir('sb-temp-'), 'data')
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0'])
  n = await startNode(cmd, args)
}, 60_000)
afterAll(() => { n?.proc.kill('SIGKILL') })

type Json = Record<string, any>

const sql = async (text: string, session?: string): Promise<Json> => await postSql(n, text, session)

async function gauge (name: string): Promise<number> {
  const text = await (await fetch(`http://${n.metrics}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  if (line === undefined) throw new Error(`no ${name} in /metrics`)
  return Number(line.slice(name.length + 1))
}

/** Files under `dir` (the node's logs aside: they may quote statements) whose bytes contain `needle`. */
function filesHolding (dir: string, needle: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    if (e === 'logs') continue
    if (statSync(p).isDirectory()) out.push(...filesHolding(p, needle))
    else if (readFileSync(p).includes(needle)) out.push(p)
  }
  return out
}

describe('temporary tables per session', () => {
  it('HTTP session and pg connection see only their own; closing either drops its tables; nothing reaches the disk', async () => {
    expect((await sql("CREATE TABLE shared_t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO shared_t VALUES (1, 'shared')")).error).toBeUndefined()
    const session = (await (await fetch(n.url('/v1/sessions'), { method: 'POST' })).json() as { id: string }).id
    const created = await sql(`CREATE TEMP TABLE shared_t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO shared_t VALUES (2, '${MARKER}-http'); CREATE TEMP TABLE http_only (id INTEGER PRIMARY KEY)`, session)
    expect(created.error).toBeUndefined()

    const c = new pg.Client({ host: n.pg.slice(0, n.pg.lastIndexOf(':')), port: Number(n.pg.slice(n.pg.lastIndexOf(':') + 1)), user: 'tester', database: 'db' })
    await c.connect()
    try {
      await c.query('CREATE TEMPORARY TABLE shared_t (id INTEGER PRIMARY KEY, v TEXT)')
      await c.query(`INSERT INTO shared_t VALUES (3, '${MARKER}-pg')`)
      expect((await c.query('SELECT id, v FROM shared_t')).rows).toEqual([{ id: 3, v: `${MARKER}-pg` }])
      await expect(c.query('SELECT * FROM http_only')).rejects.toMatchObject({ code: '42P01' })
      expect((await sql('SELECT id, v FROM shared_t', session)).rows).toEqual([[2, `${MARKER}-http`]])
      // a request outside both sessions sees the permanent table
      expect((await sql('SELECT id, v FROM shared_t')).rows).toEqual([[1, 'shared']])
      expect(await gauge('scratchbird_temp_tables')).toBe(3)
      expect(await gauge('scratchbird_temp_table_bytes')).toBeGreaterThan(0)

      // the HTTP session closes: its two tables go, the pg connection's stays
      expect((await fetch(n.url(`/v1/sessions/${session}`), { method: 'DELETE' })).status).toBe(200)
      expect(await gauge('scratchbird_temp_tables')).toBe(1)
      expect((await c.query('SELECT count(*) AS n FROM shared_t')).rows).toEqual([{ n: '1' }])
    } finally {
      await c.end()
    }
    // the connection's close reaches the node after end() returns: wait for the gauge, not a time
    for (let i = 0; i < 5000 && await gauge('scratchbird_temp_tables') !== 0; i++) await new Promise(resolve => setImmediate(resolve))
    expect(await gauge('scratchbird_temp_tables')).toBe(0)
    expect(await gauge('scratchbird_temp_table_bytes')).toBe(0)
    expect((await sql('SELECT id, v FROM shared_t')).rows).toEqual([[1, 'shared']])
    // Describe of a prepared statement plans against the session's tables: the temporary table's columns, not the permanent one's
    const w = await WireClient.ready(Number(n.pg.slice(n.pg.lastIndexOf(':') + 1)))
    try {
      w.send(fe.query('CREATE TEMP TABLE shared_t (k TEXT PRIMARY KEY, n BIGINT, flag BOOLEAN)'))
      await w.until('Z')
      w.send(fe.parse('q', 'SELECT * FROM shared_t WHERE k = $1'))
      w.send(fe.describe('S', 'q'))
      w.send(fe.sync())
      const d = await w.until('Z')
      expect(rowDescription(d.find(m => m.type === 'T')!).map(f => f[0])).toEqual(['k', 'n', 'flag'])
    } finally {
      w.end()
    }
    // never in the catalog, the shards or any other file of the data directory
    expect(filesHolding(dataDir, MARKER)).toEqual([])
    expect(filesHolding(dataDir, 'http_only')).toEqual([])
  }, 60_000)
})
