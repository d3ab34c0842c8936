import { writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'
import { asShardId } from '../../src/core/ids'

// Issue 20 item 1 on real processes: a Mode 1 replica added on a node that holds leaderless rows of
// the shard its group's primary lacks must keep them (storage/kept-tables.ts). Session 15 lost an
// acknowledged leaderless row so (membership-remove-mixed-lq3.test.ts meets it only by timing: a
// later leaderless fill can put the rows back); here the joiner holds the LAST copy of the rows.
//
// Shard s prefers nodes [O, Y, Z]. A leaderless table of N = 3, W = R = 2 and a single-copy Mode 1
// table (N = 1, on O). With the link Z → O cut, rows written through Z are acknowledged by Z and Y
// (O's hints stay on Z, anti-entropy is off): O lacks them. Raising the Mode 1 table to N = 2
// starts a group of O and Y whose primary O bootstraps Y from a snapshot of its state: before kept
// tables, the install wiped Y's whole row space and put back only O's leaderless rows (it failed
// so: Y kept the 8 rows O had, lost the 16 it alone still held with Z). Then Z is SIGKILLed (its
// copies and hints gone): every acknowledged row must still be on Y and read through Y (R = 2: Y
// and O answer).

const SHARDS = 4
const S = asShardId(0)
const t = useReplicatedCluster({
  nodes: 3,
  shards: SHARDS,
  gossip: { interval_ms: 200, heartbeat_timeout_ms: 3000 },
  replication: { log_retention_bytes: 4096, write_timeout_ms: 3000, read_timeout_ms: 3000 },
  extra: () => ({ anti_entropy: { interval_ms: 3_600_000 } })
})
const RETRY = [...ELECTION_CODES, 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']
afterAll(() => { if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3]) writeFileSync(`/tmp/kept-last-${id}.log`, t.cluster.node(id).stdout()) })

describe('leaderless rows on a node that becomes a Mode 1 replica of their shard', () => {
  it('stay when it joins the group, also when it holds their last copy', async () => {
    await t.ok(1, 'CREATE TABLE lq (k TEXT PRIMARY KEY, v TEXT) WITH (replication_mode = \'leaderless_quorum\', replication_factor = 3, write_quorum = 2, read_quorum = 2)')
    await t.ok(1, 'CREATE TABLE m1 (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 1)')
    const lqId = Number((await t.cluster.rows(1, "SELECT table_id FROM sys_tables WHERE table_name = 'lq'"))[0]![0])
    const pref = String((await t.cluster.rows(1, 'SHOW SHARD MAP')).find(r => Number(r[0]) === S)![1]).split(',').map(Number)
    const [O, Y, Z] = pref as [number, number, number]
    // Keys of shard s (the shard is the same for both tables: it hashes the key).
    const keys: string[] = []
    for (let i = 0; keys.length < 24; i++) {
      const k = `k${String(i).padStart(4, '0')}`
      if ((await t.shardOf('lq', 'k', k)) === S) keys.push(k)
    }
    // Mode 1 rows on O: the group's snapshot carries them (and O's log outgrows its retention).
    const pad = 'p'.repeat(200)
    for (let i = 0; i < 30; i++) await t.write(O, 'INSERT INTO m1 (k, v) VALUES ($1, $2)', [`m${i}`, pad], { retry: RETRY })
    const acked = new Map<string, string>()
    // Rows on all three copies, then rows O never gets.
    for (const k of keys.slice(0, 8)) { await t.write(Z, 'INSERT INTO lq (k, v) VALUES ($1, $2)', [k, `all ${k}`]); acked.set(k, `all ${k}`) }
    t.cluster.link(Z, O).cut()
    for (const k of keys.slice(8)) { await t.write(Z, 'INSERT INTO lq (k, v) VALUES ($1, $2)', [k, `yz ${k}`]); acked.set(k, `yz ${k}`) }
    const copies = async (node: number): Promise<string[]> => {
      const out: string[] = []
      for (const k of acked.keys()) if ((await t.ownCopy(node, S, lqId, k, 'REPLICA_READ')) !== undefined) out.push(k)
      return out
    }
    expect(await copies(O), `node ${O} (O) holds only the rows written before the cut`).toEqual(keys.slice(0, 8))
    expect(await copies(Y), `node ${Y} (Y) holds every row`).toEqual([...acked.keys()])

    // Y joins O's group for shard s: a new group of N = 2 whose primary O bootstraps Y from a snapshot.
    const before = t.lines(Y, /bootstrap done/).length
    await t.ok(Y, 'ALTER TABLE m1 SET replication_factor = 2')
    await t.cluster.waitFor(() => t.lines(Y, new RegExp(`shard ${S} bootstrap done`)).length > before ? true : null,
      { what: `node ${Y} to bootstrap shard ${S} from node ${O}`, timeoutMs: 60_000 })
    await t.cluster.waitFor(async () => (await t.lastLsn(Y, S)) === (await t.lastLsn(O, S)) ? true : null, { what: `node ${Y} to catch up with node ${O} on shard ${S}`, timeoutMs: 30_000 })
    expect.soft(await copies(Y), `node ${Y} (Y) keeps its leaderless rows after joining the group`).toEqual([...acked.keys()])

    expect(Number((await t.read(Y, 'SELECT count(*) FROM m1', [], { retry: RETRY }))[0]![0])).toBe(30)

    // Z gone for good: Y holds the last copy of the rows O lacks.
    await t.cluster.kill(Z)
    const got = new Map((await t.read(Y, 'SELECT k, v FROM lq ORDER BY k', [], { retry: [...RETRY, 'SB_QUORUM_NOT_MET'], timeoutMs: 60_000 })).map(r => [String(r[0]), String(r[1])]))
    for (const [k, v] of acked) expect(got.get(k), `lq through node ${Y}: acknowledged ${k}`).toBe(v)
  }, 300_000)
})
