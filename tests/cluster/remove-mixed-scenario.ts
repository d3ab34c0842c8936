import { writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { recordedLayout } from '../helpers/leaderless-copies'
import { codeOf, ELECTION_CODES, useReplicatedCluster, type Row } from '../helpers/mode1'

// REMOVE NODE of a node gone for good on real processes when the cluster holds BOTH a
// leaderless_quorum table and a Mode 1 table (primary_replica): the scenario, registered by
// membership-remove-mixed.test.ts (N = 3 for both) and membership-remove-mixed-n2.test.ts (N = 2).
// With leaderless tables REMOVE NODE n is a drain that does not need n (drain.ts removingLayout:
// n leaving and removing, its replicas filled from the survivors, then left); the Mode 1 groups n
// was a voter of count it gone while it is down (forced-removal.ts goneVoters: n is removing)
// and re-replicate meanwhile from their surviving voters. A writer runs on both tables through
// the survivors throughout. Then: n left on every survivor, SHOW SHARD MAP places nothing on n
// and runs every Mode 1 shard on N in-sync replicas without it, and every acknowledged row of
// both tables is read through each survivor (nothing lost, nothing never written).

export interface RemoveMixedOptions {
  /** replication_factor of the Mode 1 table. */
  readonly mode1N: number
  /** The leaderless table's replication_factor, write_quorum and read_quorum. */
  readonly lq: { readonly n: number, readonly w: number, readonly r: number }
  /** Where SB_DEBUG_DUMP=1 keeps each node's log: `${dump}-<id>.log`. */
  readonly dump: string
}

export function removeMixedScenario (o: RemoveMixedOptions): void {
  const SHARDS = 4
  const VICTIM = 4
  const SURVIVORS = [1, 2, 3]
  const RETRY = [...ELECTION_CODES, 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE', 'SB_QUORUM_NOT_MET', 'SB_SHARD_SPLITTING']
  const LQ = 'lq'
  const M1 = 'm1'
  const MODE1_N = o.mode1N

  const m = useReplicatedCluster({
    nodes: 4,
    shards: SHARDS,
    gossip: { interval_ms: 200, heartbeat_timeout_ms: 3000 },
    startTimeoutMs: 120_000,
    replication: { log_retention_bytes: 4096, write_timeout_ms: 3000, read_timeout_ms: 3000 },
    extra: () => ({ anti_entropy: { interval_ms: 3_600_000 } })
  })
  // SB_DEBUG_DUMP=1: keep each node's log in /tmp/mrm-<id>.log.
  afterAll(() => { if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3, 4]) writeFileSync(`${o.dump}-${id}.log`, m.cluster.node(id).stdout()) })

  const layoutOf = (id: number): ReturnType<typeof recordedLayout> => recordedLayout(m.cluster, id)

  describe(`REMOVE NODE of a dead node with leaderless_quorum (N = ${o.lq.n}) and Mode 1 (N = ${MODE1_N}) tables`, () => {
    it('node 4 SIGKILLed for good with a writer running on both tables; REMOVE NODE 4 re-replicates both from the survivors; nothing lost', async () => {
      await m.ok(1, `CREATE TABLE ${LQ} (k TEXT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = ${o.lq.n}, write_quorum = ${o.lq.w}, read_quorum = ${o.lq.r})`)
      await m.ok(1, `CREATE TABLE ${M1} (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = ${MODE1_N})`)
      const acked = new Map<string, Map<string, string>>([[LQ, new Map()], [M1, new Map()]])
      const tried = new Map<string, Set<string>>([[LQ, new Set()], [M1, new Set()]])
      let i = 0
      const one = async (via: number): Promise<void> => {
        const t = i % 2 === 0 ? LQ : M1
        const k = `k${String(i).padStart(5, '0')}`
        const v = `v${i}`
        i++
        tried.get(t)!.add(k)
        await m.write(via, `INSERT INTO ${t} (k, v) VALUES ($1, $2)`, [k, v], { retry: RETRY, okCodes: ['SB_UNIQUE_VIOLATION'], timeoutMs: 240_000 })
        acked.get(t)!.set(k, v)
      }
      for (let j = 0; j < 40; j++) await one(1 + j % 4)
      const writing = { on: true, error: null as unknown }
      const writer = (async () => {
        try { while (writing.on) await one(SURVIVORS[i % 3]!) } catch (e) { writing.error = e }
      })()
      try {
        await m.cluster.waitFor(() => i >= 60 ? true : null, { what: 'the writer to run', timeoutMs: 60_000 })
        const start = layoutOf(1).epoch
        await m.cluster.kill(VICTIM)
        // Refused while gossip still shows node 4 alive (SB_NODE_ALIVE); taken once it is down.
        await m.cluster.waitFor(async () => {
          const r = await m.cluster.sql(2, `REMOVE NODE ${VICTIM}`)
          if (r.status === 200) return true
          if (['SB_NODE_ALIVE', 'SB_MEMBERSHIP_REFUSED', 'SB_MEMBERSHIP_NO_MAJORITY'].includes(codeOf(r.body))) return null
          throw new Error(`REMOVE NODE ${VICTIM}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
        }, { what: `REMOVE NODE ${VICTIM} to be taken once node ${VICTIM} is down`, timeoutMs: 90_000, intervalMs: 500 })
        // Decided at the decider (the statement is forwarded there); node 2 records it by the decree or gossip.
        await m.cluster.waitFor(() => layoutOf(2).epoch >= start + 1 ? true : null, { what: 'node 2 to record the removal', timeoutMs: 60_000 })
        if (layoutOf(2).epoch === start + 1) expect(layoutOf(2)).toMatchObject({ epoch: start + 1, members: [1, 2, 3, 4], leaving: [4] })
        // Left once every leaderless fill and every Mode 1 move ended (the decider's status rounds).
        for (const id of SURVIVORS) {
          await m.cluster.waitFor(() => layoutOf(id).epoch >= start + 2 ? true : null, { what: `node ${id} to record node 4 left (the removal's moves ended)`, timeoutMs: 300_000, intervalMs: 1000 })
          expect(layoutOf(id)).toMatchObject({ epoch: start + 2, members: [1, 2, 3, 4], left: [4] })
        }
        const after = i
        await m.cluster.waitFor(() => i >= after + 20 ? true : null, { what: 'the writer to go on after the removal', timeoutMs: 240_000 })
      } finally {
        writing.on = false
        await writer
      }
      expect(writing.error).toBeNull()

      // SHOW SHARD MAP on each survivor: nothing placed on node 4; on the shard's primary, every
      // Mode 1 shard runs on N in-sync replicas, none of them node 4.
      for (const id of SURVIVORS) {
        const map = await m.cluster.rows(id, 'SHOW SHARD MAP')
        expect(map).toHaveLength(SHARDS)
        for (const r of map) {
          expect(String(r[1]).split(',').map(Number), `node ${id}: shard ${String(r[0])} placed without node 4`).not.toContain(VICTIM)
          expect(String(r[3]).split(',').map(Number), `node ${id}: shard ${String(r[0])}'s replicas without node 4`).not.toContain(VICTIM)
        }
      }
      await m.cluster.waitFor(async () => {
        const all = (await Promise.all(SURVIVORS.map(async id => await m.cluster.rows(id, 'SHOW SHARD MAP').catch(() => [] as Row[])))).flat()
        const byShard = new Map(all.filter(r => /:primary/.test(String(r[6]))).map(r => [Number(r[0]), String(r[6]).split(',')]))
        if (byShard.size !== SHARDS) return null
        for (const states of byShard.values()) {
          if (states.length !== MODE1_N || !states.every(s => /:(primary|in sync)$/.test(s)) || states.some(s => Number(s.split(':')[0]) === VICTIM)) return null
        }
        return true
      }, { what: `every Mode 1 shard on ${MODE1_N} in-sync replicas without node 4`, timeoutMs: 120_000, intervalMs: 1000 })

      // Every acknowledged row of both tables through each survivor; nothing never written.
      for (const id of SURVIVORS) {
        for (const t of [LQ, M1]) {
          const got = new Map((await m.read(id, `SELECT k, v FROM ${t} ORDER BY k`, [], { retry: RETRY, timeoutMs: 60_000 })).map(r => [String(r[0]), String(r[1])]))
          for (const [k, v] of acked.get(t)!) expect(got.get(k), `${t} through node ${id}: acknowledged ${k}`).toBe(v)
          for (const k of got.keys()) expect(tried.get(t)!.has(k), `${t} through node ${id}: ${k} was never written`).toBe(true)
        }
      }
    }, 900_000)

    it('node 4 restarted with its old data directory (it records membership epoch 1) is refused, not admitted again', async () => {
      // REMOVE NODE 4 again takes the left node out of the layout.
      await m.cluster.waitFor(async () => {
        const r = await m.cluster.sql(1, `REMOVE NODE ${VICTIM}`)
        if (r.status === 200) return true
        if (['SB_MEMBERSHIP_REFUSED', 'SB_MEMBERSHIP_NO_MAJORITY'].includes(codeOf(r.body))) return null
        throw new Error(`REMOVE NODE ${VICTIM}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `REMOVE NODE ${VICTIM} of the left node`, timeoutMs: 90_000, intervalMs: 500 })
      for (const id of SURVIVORS) await m.cluster.waitFor(() => layoutOf(id).members.includes(VICTIM) ? null : true, { what: `node ${id} to run without node 4`, timeoutMs: 60_000 })
      const epoch = layoutOf(1).epoch
      expect(layoutOf(VICTIM).epoch).toBe(1)
      await m.cluster.start(VICTIM)
      // Each side says why (membership/readmission.ts): a survivor refuses the join, node 4 knows it was removed.
      await m.cluster.waitFor(() => SURVIVORS.some(id => /refused: its cluster layout differs \(node 4 asks to join with a data directory that holds catalog version \d+ of this cluster: it was a member/.test(m.cluster.node(id).stdout())) ? true : null,
        { what: 'a survivor to refuse node 4\'s join', timeoutMs: 60_000 })
      await m.cluster.waitFor(() => /this node \(4\) holds catalog version \d+ of the cluster, whose membership epoch \d+ no longer lists it: it was removed/.test(m.cluster.node(VICTIM).stdout()) ? true : null,
        { what: 'node 4 to log that it was removed', timeoutMs: 60_000 })
      for (const id of SURVIVORS) expect(layoutOf(id), `node ${id}: node 4 not admitted`).toMatchObject({ epoch, members: SURVIVORS })
      await m.cluster.kill(VICTIM)
    }, 300_000)
  })
}
