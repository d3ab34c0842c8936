import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster, type ReplicatedCluster, type Row } from '../helpers/mode1'

// Issue 20 on real processes: REMOVE NODE of a node gone for good. A writer runs on Mode 1 tables;
// one node is SIGKILLed and never comes back; REMOVE NODE it from a survivor. Every group drops it
// from its voters (with N = 2 a forced change: the surviving voter alone could neither be elected
// nor commit the config entry — cluster/membership/forced-removal.ts), elects among the survivors,
// and placement gives the shard a replacement replica bootstrapped by snapshot + log while writes
// go on. Then: every shard on N in-sync replicas without it, every acknowledged row readable, and
// SHOW CLUSTER MEMBERS no longer lists it.
//
// One log per shard, N = the largest replication_factor of the primary_replica tables: an N = 2
// and an N = 3 table in one cluster run as groups of three. So the N = 2 case (the forced change)
// has a cluster of its own (3 nodes, an N = 2 table), and the N = 3 case another (4 nodes, an
// N = 2 and an N = 3 table).

const SHARDS = 4
const RETRY = [...ELECTION_CODES, 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']
const key = (i: number): string => `k${String(i).padStart(4, '0')}`

function scenario (nodes: number, factors: number[]): void {
  const m: ReplicatedCluster = useReplicatedCluster({ nodes, shards: SHARDS, replication: { log_retention_bytes: 4096 } })
  const ids = Array.from({ length: nodes }, (_, i) => i + 1)
  const victim = nodes
  const survivors = ids.filter(id => id !== victim)
  const n = Math.max(...factors)
  const tables = factors.map((_, i) => `t${i}`)
  // SB_DEBUG_DUMP=1: keep each node's log in /tmp/mr<nodes>-<id>.log.
  afterAll(() => { if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of ids) writeFileSync(`/tmp/mr${nodes}-${id}.log`, m.cluster.node(id).stdout()) })

  const insert = async (id: number, t: string, k: string, v: string): Promise<void> => {
    // Long retries: a shard whose primary was the killed node takes no write until the survivors
    // elect (N = 2: not before REMOVE NODE), which a loaded machine stretches.
    await m.write(id, `INSERT INTO ${t} (k, v) VALUES ($1, $2)`, [k, v], { retry: RETRY, okCodes: ['SB_UNIQUE_VIOLATION'], timeoutMs: 180_000 })
  }
  const readAll = async (id: number, t: string): Promise<string[]> =>
    (await m.read(id, `SELECT k, v FROM ${t} ORDER BY k`, [], { retry: RETRY, timeoutMs: 60_000 })).map(r => `${String(r[0])}=${String(r[1])}`)
  const epochOf = (id: number): { epoch: number, members: number[] } =>
    JSON.parse(readFileSync(join(m.cluster.node(id).dataDir, 'cluster.json'), 'utf8'))

  /** Every shard led by a primary that lists exactly n replicas, all in sync, none the victim; the SHOW SHARD MAP rows. */
  const settled = async (): Promise<Row[]> => await m.cluster.waitFor(async () => {
    const all = (await Promise.all(survivors.map(async id => await m.cluster.rows(id, 'SHOW SHARD MAP').catch(() => [])))).flat()
    const byShard = new Map(all.filter(r => /:primary/.test(String(r[6]))).map(r => [Number(r[0]), r]))
    if (byShard.size !== SHARDS) return null
    for (const r of byShard.values()) {
      const states = String(r[6]).split(',')
      if (states.length !== n || !states.every(s => /:(primary|in sync)$/.test(s))) return null
      if (states.some(s => Number(s.split(':')[0]) === victim)) return null
    }
    return [...byShard.values()]
  }, { what: `every shard on ${n} in-sync replicas without node ${victim}`, timeoutMs: 120_000 })

  it(`${nodes} nodes, Mode 1 tables of N = ${factors.join(' and ')}, writer running: node ${victim} SIGKILLed for good, REMOVE NODE ${victim}, every shard back on ${n} replicas, every acknowledged row kept`, async () => {
    for (let t = 0; t < tables.length; t++) await m.ok(1, `CREATE TABLE ${tables[t]!} (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = ${factors[t]!})`)
    const acked = new Map(tables.map(t => [t, [] as string[]]))
    let i = 0
    const one = async (via: number, v: string): Promise<void> => {
      const t = tables[i % tables.length]!
      const k = key(i)
      await insert(via, t, k, `${v}${i}`)
      acked.get(t)!.push(`${k}=${v}${i}`)
    }
    for (; i < 24; i++) await one(ids[i % ids.length]!, 'v')
    // The writer goes through the survivors only (a statement sent to the dead node has no answer).
    const writing = { on: true }
    const writer = (async () => { for (; writing.on; i++) await one(survivors[i % survivors.length]!, 'w') })()
    await m.cluster.waitFor(async () => i >= 34 ? true : null, { what: 'the writer to run' })
    const start = epochOf(1).epoch

    await m.cluster.kill(victim)
    // Refused while gossip still shows it alive (SB_NODE_ALIVE); accepted once it is down.
    await m.cluster.waitFor(async () => {
      const r = await m.cluster.sql(2, `REMOVE NODE ${victim}`)
      if (r.status === 200) return true
      if (codeOf(r.body) === 'SB_NODE_ALIVE') return null
      throw new Error(`REMOVE NODE ${victim}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
    }, { what: `REMOVE NODE ${victim} to be accepted once node ${victim} is down`, timeoutMs: 60_000 })
    for (const id of survivors) {
      await m.cluster.waitFor(async () => epochOf(id).epoch === start + 1 ? true : null, { what: `node ${id} to record the removal` })
      expect(epochOf(id)).toMatchObject({ epoch: start + 1, members: survivors })
    }

    // Writes resume on every shard (the writer's inserts spread over all of them).
    const more = i + 16
    await m.cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on after the removal', timeoutMs: 180_000 })
    const rows = await settled()
    expect(rows).toHaveLength(SHARDS)
    writing.on = false
    await writer
    if (n === 2) expect(survivors.some(id => m.lines(id, /forced configuration change: node\(s\) \d+ removed from the cluster for good/).length > 0)).toBe(true)

    for (const id of survivors) {
      for (const t of tables) expect(await readAll(id, t), `${t} through node ${id}`).toEqual(acked.get(t)!.slice().sort())
      const members = await m.cluster.rows(id, 'SHOW CLUSTER MEMBERS')
      expect(members.map(r => Number(r[0])), `SHOW CLUSTER MEMBERS on node ${id}`).toEqual(survivors)
    }
  }, 420_000)
}

describe('REMOVE NODE of a node gone for good, N = 2 (forced voter removal)', () => { scenario(3, [2]) })
describe('REMOVE NODE of a node gone for good, N = 3', () => { scenario(4, [2, 3]) })
