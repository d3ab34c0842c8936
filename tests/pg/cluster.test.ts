import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'
import { runTool } from './helpers'

// Issue 16 acceptance on a three-node cluster: every node speaks the PostgreSQL protocol, and a
// statement sent to any of them reaches the shards wherever they live (the same forwarding as
// the HTTP API). node-postgres, postgres.js, psql and pgbench each talk to a different node.

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, extraConfig: () => ({ node: { durability: 'none' } }) })
  for (const id of cluster.ids) {
    await cluster.waitFor(async () => {
      const r = await cluster.sql(id, 'SHOW CLUSTER MEMBERS')
      return r.status === 200 && (r.body.rows as unknown[][]).length === 3 && (r.body.rows as unknown[][]).every(m => m[3] === 'normal') ? true : undefined
    }, { what: `node ${id} to see three normal members`, timeoutMs: 20_000 })
  }
}, 120_000)
afterAll(async () => { await cluster?.close() })

const portOf = (id: number): number => Number(cluster.node(id).pg.split(':').pop())

describe('the PostgreSQL protocol on a three-node cluster', () => {
  it('pg, postgres.js, psql and pgbench on different nodes see one database', async () => {
    expect(cluster.ids.every(id => portOf(id) > 0)).toBe(true)
    const c1 = new pg.Client({ host: '127.0.0.1', port: portOf(1), user: 'app' })
    c1.on('error', () => {}) // the cluster closes under it when a check fails
    await c1.connect()
    await c1.query('CREATE TABLE accounts (id INTEGER PRIMARY KEY, bal BIGINT NOT NULL)')
    await c1.query('CREATE TABLE history (id UUID PRIMARY KEY, account INTEGER, delta INTEGER)')
    await c1.query('CREATE TABLE inserted (id UUID PRIMARY KEY, client INTEGER, v INTEGER)')
    // 40 accounts spread over the shards of all three nodes, written through node 1
    for (const base of [0, 1000]) {
      for (let i = 1; i <= 20; i++) await c1.query('INSERT INTO accounts VALUES ($1, 0)', [base + i])
    }

    const sql2 = postgres({ host: '127.0.0.1', port: portOf(2), user: 'app' })
    expect(await sql2`SELECT count(*) AS n FROM accounts`).toEqual([{ n: '40' }])
    await sql2.begin(async tx => {
      await tx`UPDATE accounts SET bal = bal + ${10} WHERE id = ${1}`
      await tx`UPDATE accounts SET bal = bal - ${10} WHERE id = ${1001}`
    })
    await sql2.end()

    const psql = await runTool('psql', ['-X', '-h', '127.0.0.1', '-p', String(portOf(3)), '-U', 'app', '-v', 'ON_ERROR_STOP=1', '-At', '-c', 'SELECT id, bal FROM accounts WHERE id IN (1, 1001) ORDER BY id'])
    expect(psql.stderr).toBe('')
    expect(psql.stdout).toBe('1|10\n1001|-10\n')

    for (const [mode, id] of [['simple', 1], ['extended', 2], ['prepared', 3]] as const) {
      const r = await runTool('pgbench', ['-n', '-h', '127.0.0.1', '-p', String(portOf(id)), '-U', 'app', '-M', mode, '-c', '2', '-t', '10', '-f', `${FIXTURES}pgbench-txn.sql`, 'db'])
      expect(r.status, `${mode} on node ${id}: ${r.stderr}`).toBe(0)
      expect(r.stdout).toContain('number of transactions actually processed: 20/20')
    }
    expect((await c1.query('SELECT count(*) AS n, sum(delta) AS d FROM history')).rows[0].n).toBe('60')
    const sums = (await c1.query('SELECT sum(bal) AS s FROM accounts')).rows[0].s
    expect(sums).toBe((await c1.query('SELECT sum(delta) AS s FROM history')).rows[0].s)
    await c1.end()
  })
})
