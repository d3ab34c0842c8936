import { describe, expect, it } from 'vitest'
import { codeOf, splitCluster } from '../helpers/split-cluster'

// The split lock across a catalog coordinator hand-over (cluster/split-ddl-lock.ts), on real
// processes: 3 nodes, 8 shards, a Mode 1 table of three copies. Node 1 is stopped, so node 2 is both
// decider and catalog coordinator. Node 1 is started again and, the moment it serves, is sent
// ALTER TABLE m SET replication_factor = 2 (it is the lowest id alive in its own view: it
// coordinates the statement at once, while nodes 2 and 3 may not count it alive yet) and node 2
// ALTER CLUSTER SET shards = 16 (it decides the start under its own split lock while it sees node 1
// down, else forwards it to node 1). Which interleaving happens is up to the machine (the test
// prints it). Whatever the interleaving, the two are never both accepted: either the DDL
// is refused (SB_SHARD_SPLIT_IN_PROGRESS, or SB_MEMBERSHIP_NO_MAJORITY without a majority in its
// round) and the split recorded, or the start is refused (SB_SHARD_SPLIT_UNSUPPORTED, or a
// membership refusal) and the DDL ran; and every node ends with the same replication_factor.

const split = splitCluster('shard-split-ddl-handover')
const TRANSIENT = ['SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_CATALOG_STALE', 'SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_REPL_BOOTSTRAPPING']

describe('a DDL racing a split\'s start across a coordinator hand-over', () => {
  it('ALTER TABLE … replication_factor through the returning lowest id and ALTER CLUSTER SET shards through the decider: never both accepted', async () => {
    const { c, sqlOk, layoutOf } = await split.start(8)
    const factorOf = async (id: number): Promise<number> => Number((await sqlOk(id, "SELECT replication_factor FROM sys_tables WHERE table_name = 'm'")).rows[0][0])
    await sqlOk(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    for (let i = 0; i < 12; i++) await sqlOk(1 + (i % 3), 'INSERT INTO m (k, v) VALUES ($1, $2)', [`k${i}`, 'v'], code => code === 'SB_UNIQUE_VIOLATION')
    await c.waitFor(async () => (await factorOf(2)) === 3 && (await factorOf(3)) === 3 ? true : null, { what: 'every node to hold the table', timeoutMs: 60_000 })

    await c.stop(1)
    // Node 2 sees node 1 gone: it is decider and coordinator now.
    await c.waitFor(async () => (await c.rows(2, 'SHOW CLUSTER MEMBERS')).some(m => Number(m[0]) === 1 && m[3] !== 'normal') ? true : null, { what: 'node 2 to see node 1 down', timeoutMs: 60_000 })

    /** A statement through `id`, retried while the answer is transient; the final answer's code ('' when it ran). */
    const outcome = async (id: number, sql: string): Promise<string> => (await c.waitFor(async () => {
      const r = await c.sql(id, sql, undefined, { timeoutMs: 60_000 })
      const code = r.status === 200 ? '' : codeOf(r.body)
      return TRANSIENT.includes(code) ? null : { code }
    }, { what: `node ${id}: ${sql}`, timeoutMs: 240_000 })).code

    // Both sent the moment node 1 serves again: node 2 may not count it alive yet (still decider,
    // its own coordinator), node 1 coordinates its statement at once.
    await c.start(1)
    const [ddl, start] = await Promise.all([outcome(1, 'ALTER TABLE m SET replication_factor = 2'), outcome(2, 'ALTER CLUSTER SET shards = 16')])
    console.log(`split start: ${start || 'accepted'}; ALTER TABLE through node 1: ${ddl || 'accepted'}`)
    const splitStarted = start === ''
    const ddlRan = ddl === ''
    expect(splitStarted && ddlRan, `split start: ${start || 'accepted'}, ALTER TABLE: ${ddl || 'accepted'}`).toBe(false)
    if (splitStarted) expect(['SB_SHARD_SPLIT_IN_PROGRESS', 'SB_MEMBERSHIP_NO_MAJORITY']).toContain(ddl)
    if (ddlRan) expect(layoutOf(2).split).toBeUndefined()
    // Every node ends with one replication_factor: 3 when the DDL was refused.
    await c.waitAllNormal([1, 2, 3], 120_000)
    await c.waitFor(async () => {
      const f = await Promise.all([1, 2, 3].map(factorOf))
      return f.every(x => x === f[0]) ? f[0] : null
    }, { what: 'one replication_factor on every node', timeoutMs: 60_000 })
    if (!ddlRan) for (const id of [1, 2, 3]) expect(await factorOf(id), `replication_factor through node ${id}`).toBe(3)
  }, 600_000)
})
