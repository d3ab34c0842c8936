import { describe, expect, it } from 'vitest'
import { ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'

// Issue 14 item 4 on real processes: Mode 1 replicas bootstrapped by a snapshot of the shard
// (RPC 0x41 REPL_SNAPSHOT_CHUNK). The primaries keep only a few KB of log for lagging replicas
// (replication.log_retention_bytes), so a replica stopped during many writes is behind the
// retained log when it returns and must be bootstrapped; and a shard that already held
// commit-log history (N = 1 and leaderless writes) when its first N = 3 table was created
// converges on the owner's state without losing a row.

const SHARDS = 2
const t = useReplicatedCluster({ nodes: 3, shards: SHARDS, replication: { log_retention_bytes: 4096 } })
const RETRY = [...ELECTION_CODES, 'SB_REPL_BOOTSTRAPPING']

/** An autocommit statement through `id`, retried while a shard has no primary: resolves once acknowledged. */
const write = async (id: number, sql: string, params: unknown[]): Promise<void> => { await t.write(id, sql, params, { retry: RETRY, okCodes: ['SB_UNIQUE_VIOLATION'], timeoutMs: 20_000 }) }
const readAll = async (id: number, table: string): Promise<string[]> => (await t.read(id, `SELECT k, v FROM ${table} ORDER BY k`, [], { retry: RETRY, timeoutMs: 20_000 })).map(r => `${String(r[0])}=${String(r[1])}`)
const converged = async (what: string): Promise<void> => { await t.sameLsn(what) }

const key = (i: number): string => `k${String(i).padStart(4, '0')}`

describe('Mode 1 bootstrap by snapshot, three processes', () => {
  it('history from before the group: N = 1 and leaderless rows written before the first N = 3 table are all there after the groups form, on every copy', async () => {
    for (const ddl of [
      'CREATE TABLE own (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 1)',
      "CREATE TABLE ll (k TEXT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 3, read_quorum = 1)"
    ]) {
      const c = await t.cluster.sql(1, ddl)
      expect(c.status, JSON.stringify(c.body)).toBe(200)
    }
    const own: string[] = []
    const ll: string[] = []
    for (let i = 0; i < 30; i++) {
      await write(1 + (i % 3), 'INSERT INTO own (k, v) VALUES ($1, $2)', [key(i), `o${i}`])
      own.push(`${key(i)}=o${i}`)
      await write(1 + ((i + 1) % 3), 'INSERT INTO ll (k, v) VALUES ($1, $2)', [key(i), `l${i}`])
      ll.push(`${key(i)}=l${i}`)
    }
    // The first N = 3 primary_replica table: every shard gets a group, its first primary the
    // node that owned the shard's N = 1 rows; the others are bootstrapped from it.
    const c = await t.cluster.sql(1, 'CREATE TABLE r (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    await write(2, 'INSERT INTO r (k, v) VALUES ($1, $2)', ['first', 'x'])
    await converged('every copy of every shard to reach the same LSN after the groups formed')
    for (const id of t.cluster.ids) {
      expect(await readAll(id, 'own'), `own through node ${id}`).toEqual(own)
      expect(await readAll(id, 'll'), `ll through node ${id}`).toEqual(ll)
    }
    const out = t.cluster.ids.map(id => t.cluster.node(id).stdout()).join('\n')
    expect(out).not.toMatch(/SB_REPL_LOG_CONFLICT/)
    expect(out).toMatch(/bootstrap done/)
  }, 180_000)

  it('a replica stopped while the primaries\' retained log moves past it is bootstrapped by snapshot after its restart, with every acknowledged row', async () => {
    const acked: string[] = []
    for (let i = 0; i < 10; i++) {
      await write(1 + (i % 3), 'INSERT INTO r (k, v) VALUES ($1, $2)', [key(i), `v${i}`])
      acked.push(`${key(i)}=v${i}`)
    }
    await t.cluster.stop(3)
    const pad = 'p'.repeat(200)
    for (let i = 10; i < 150; i++) {
      await write(1 + (i % 2), 'INSERT INTO r (k, v) VALUES ($1, $2)', [key(i), `v${i}${pad}`])
      acked.push(`${key(i)}=v${i}${pad}`)
    }
    await t.cluster.start(3)
    await converged('node 3\'s copies to catch up after its restart')
    expect(t.cluster.node(3).stdout()).toMatch(/Replication: shard \d+ bootstrap done/)
    // With node 1 gone, nodes 2 and 3 (a majority of every shard) serve every row.
    await t.cluster.kill(1)
    for (const id of [2, 3]) expect(await readAll(id, 'r'), `r through node ${id}`).toEqual(['first=x', ...acked])
  }, 240_000)
})
