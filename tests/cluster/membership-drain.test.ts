import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster, type Row } from '../helpers/mode1'

// Issue 20 item 2 on real processes, as the seeds' "Remove node" runs it: 4 nodes, a
// primary_replica table of N = 2 with a writer running; DRAIN NODE 4 (sent to node 2, decided by
// node 1, the lowest live member) writes a layout with node 4 leaving, every replica node 4 holds
// moves to the node placement now picks (snapshot bootstrap, promotion, then node 4's copy
// released), and node 4 ends `left` — recorded in every data directory. Node 4 is restarted while
// it drains (the drain goes on from the persisted layout). Every shard then runs on two in-sync
// replicas without node 4; node 4 is stopped and every acknowledged row is read through the three
// others. Before that: the refusals (a second drain, a non-member, REMOVE of a live node) and a
// cancelled drain that puts node 4 back to normal.

const SHARDS = 4
const m = useReplicatedCluster({ nodes: 4, shards: SHARDS, replication: { log_retention_bytes: 4096 } })
// SB_DEBUG_DUMP=1: keep each node's log in /tmp/md-<id>.log (runs before the cluster is closed).
afterAll(() => { if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3, 4]) writeFileSync(`/tmp/md-${id}.log`, m.cluster.node(id).stdout()) })
const RETRY = [...ELECTION_CODES, 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']

const key = (i: number): string => `k${String(i).padStart(4, '0')}`

async function insert (id: number, k: string, v: string): Promise<void> {
  // Long retries: with N = 2 a shard whose other voter is node 4 takes no write while node 4 is
  // killed and restarting (a majority of two is both), which a loaded machine stretches.
  await m.write(id, 'INSERT INTO t (k, v) VALUES ($1, $2)', [k, v], { retry: RETRY, okCodes: ['SB_UNIQUE_VIOLATION'], timeoutMs: 120_000 })
}

async function readAll (id: number): Promise<string[]> {
  return (await m.read(id, 'SELECT k, v FROM t ORDER BY k', [], { retry: RETRY })).map(r => `${String(r[0])}=${String(r[1])}`)
}

/** Node `id`'s view of node `node` in SHOW CLUSTER MEMBERS: [state, shard_replicas]. */
async function memberState (id: number, node: number): Promise<string> {
  const rows = await m.cluster.rows(id, 'SHOW CLUSTER MEMBERS')
  return String(rows.find(r => Number(r[0]) === node)?.[3])
}

/** Every shard led by a primary that lists exactly two in-sync replicas, with `want(holders)`; their rows. */
async function settled (what: string, want: (holders: number[]) => boolean): Promise<Row[]> {
  return await m.cluster.waitFor(async () => {
    const all = (await Promise.all([1, 2, 3, 4].filter(id => m.cluster.node(id).running).map(async id => await m.cluster.rows(id, 'SHOW SHARD MAP').catch(() => [])))).flat()
    const byShard = new Map(all.filter(r => /:primary/.test(String(r[6]))).map(r => [Number(r[0]), r]))
    if (byShard.size !== SHARDS) return null
    for (const r of byShard.values()) {
      const states = String(r[6]).split(',')
      if (states.length !== 2 || !states.every(s => /:(primary|in sync)$/.test(s))) return null
      if (!want(states.map(s => Number(s.split(':')[0])))) return null
    }
    return [...byShard.values()]
  }, { what, timeoutMs: 60_000 })
}

const epochOf = (id: number): { epoch: number, members: number[], leaving?: number[], left?: number[] } =>
  JSON.parse(readFileSync(join(m.cluster.node(id).dataDir, 'cluster.json'), 'utf8'))

describe('DRAIN NODE', () => {
  it('4 nodes, Mode 1 N = 2, writer running: node 4 drained to left, stopped, every acknowledged row kept', async () => {
    await m.ok(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 2)')
    const acked: string[] = []
    let i = 0
    for (; i < 30; i++) { await insert(1 + (i % 3), key(i), `v${i}`); acked.push(`${key(i)}=v${i}`) }
    const writing = { on: true }
    const writer = (async () => {
      for (; writing.on; i++) { await insert(1 + (i % 3), key(i), `w${i}`); acked.push(`${key(i)}=w${i}`) }
    })()
    const start = epochOf(1).epoch

    // Refusals change nothing.
    const sql = async (id: number, text: string): Promise<string> => { const r = await m.cluster.sql(id, text); return r.status === 200 ? 'ok' : `${codeOf(r.body)}: ${JSON.stringify(r.body)}` }
    expect(await sql(2, 'DRAIN NODE 9')).toMatch(/^SB_DRAIN_REFUSED: .*node 9 is not a member/)
    expect(await sql(3, 'REMOVE NODE 3')).toMatch(/^SB_NODE_ALIVE: .*drain it instead/)
    expect(await sql(2, 'DRAIN NODE 4 CANCEL')).toMatch(/^SB_DRAIN_REFUSED: .*not being drained/)
    expect(epochOf(1).epoch).toBe(start)

    // A drain, a second one refused, then cancelled: node 4 is normal again.
    expect(await sql(2, 'DRAIN NODE 4')).toBe('ok')
    expect(await sql(3, 'DRAIN NODE 3')).toMatch(/^SB_DRAIN_REFUSED: .*node 4 is being drained; one drain at a time/)
    expect(await sql(3, 'DRAIN NODE 4 CANCEL')).toBe('ok')
    expect(epochOf(1)).toMatchObject({ epoch: start + 2, members: [1, 2, 3, 4] })
    expect(epochOf(1).leaving).toBeUndefined()
    await m.cluster.waitFor(async () => await memberState(2, 4) === 'normal' ? true : null, { what: 'node 2 to see node 4 normal again' })
    await settled('every shard back on two in-sync replicas, node 4 among them', holders => holders.length === 2)
    const before = await settled('node 4 holding replicas again', () => true)
    expect(before.some(r => /(^|,)4:/.test(String(r[6])))).toBe(true)

    // The drain, with node 4 killed as it starts and started again: its copies are voters the
    // shards need (N = 2), so it must run their groups again from the persisted layout until
    // their replacements are caught up.
    expect(await sql(2, 'DRAIN NODE 4')).toBe('ok')
    await m.cluster.kill(4)
    expect(epochOf(1)).toMatchObject({ epoch: start + 3, leaving: [4] })
    expect(m.lines(1, /DRAIN NODE 4: node 4 leaving/).length).toBe(2)
    await m.cluster.start(4)
    await m.cluster.waitFor(async () => await memberState(3, 4) === 'left' ? true : null, { what: 'node 4 to end left', timeoutMs: 90_000 })
    for (const id of [1, 2, 3, 4]) {
      await m.cluster.waitFor(async () => epochOf(id).epoch === start + 4 ? true : null, { what: `node ${id} to record the left epoch` })
      expect(epochOf(id)).toMatchObject({ epoch: start + 4, members: [1, 2, 3, 4], left: [4] })
    }
    expect(m.lines(1, /drain of node 4 finished: every shard runs on its new replicas, node 4 left/).length).toBe(1)
    await settled('every shard on two in-sync replicas without node 4', holders => !holders.includes(4))

    // Stopping the drained node changes nothing for clients.
    await m.cluster.stop(4)
    const more = i + 10
    await m.cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on with node 4 stopped', timeoutMs: 60_000 })
    writing.on = false
    await writer
    for (const id of [1, 2, 3]) expect(await readAll(id), `through node ${id}`).toEqual(acked.slice().sort())
    expect(await memberState(1, 4)).toBe('left')
    // A drained node is removed while stopped or running; afterwards it is no member at all.
    expect(await sql(2, 'REMOVE NODE 4')).toBe('ok')
    await m.cluster.waitFor(async () => epochOf(3).epoch === start + 5 ? true : null, { what: 'node 3 to record the removal' })
    expect(epochOf(3)).toEqual({ cluster: 'sb-test', shards: SHARDS, epoch: start + 5, members: [1, 2, 3] })
  }, 240_000)
})
