import { describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'

// Issue 20 item 2 on real processes: REMOVE NODE of a node gone for good that holds the only copy
// of some shards of a replication_factor 1 table is refused (SB_REMOVE_LOSES_DATA, naming the table
// and the shards) and changes nothing; REMOVE NODE n FORCE removes it, and its answer names the
// shards lost. The rows of the other shards stay readable.

const SHARDS = 8
const VICTIM = 3

describe('REMOVE NODE of the only holder of single-copy shards', () => {
  const m = useReplicatedCluster({ nodes: 3, shards: SHARDS })

  it('refused with SB_REMOVE_LOSES_DATA unless FORCE; with FORCE the lost shards are named and the rest is kept', async () => {
    await m.ok(1, 'CREATE TABLE one (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 1)')
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(3, '0')}`)
    for (const k of keys) await m.write(1, 'INSERT INTO one (k, v) VALUES ($1, $2)', [k, `v-${k}`])
    // Which keys live on node 3's shards: their shard's first preference node (SHOW SHARD MAP).
    const map = await m.cluster.rows(1, 'SHOW SHARD MAP')
    const onVictim = new Set(map.filter(r => Number(String(r[1]).split(',')[0]) === VICTIM).map(r => Number(r[0])))
    expect(onVictim.size, JSON.stringify(map)).toBeGreaterThan(0)
    const shardOf = new Map<string, number>()
    for (const k of keys) shardOf.set(k, await m.shardOf('one', 'k', k))
    const kept = keys.filter(k => !onVictim.has(shardOf.get(k)!))

    await m.cluster.kill(VICTIM)
    const refusal = await m.cluster.waitFor(async () => {
      const r = await m.cluster.sql(1, `REMOVE NODE ${VICTIM}`)
      if (codeOf(r.body) === 'SB_NODE_ALIVE') return null
      return r
    }, { what: `node ${VICTIM} to be seen down`, timeoutMs: 60_000 })
    expect(refusal.status, JSON.stringify(refusal.body)).toBe(409)
    expect(codeOf(refusal.body)).toBe('SB_REMOVE_LOSES_DATA')
    const lost = [...onVictim].sort((a, b) => a - b)
    expect(JSON.stringify(refusal.body)).toContain(`shard(s) ${lost.join(', ')} of table(s) one`)
    // Nothing changed: node 3 is still a member.
    expect((await m.cluster.rows(1, 'SHOW CLUSTER MEMBERS')).map(r => Number(r[0]))).toContain(VICTIM)

    const forced = await m.cluster.sql(2, `REMOVE NODE ${VICTIM} FORCE`)
    expect(forced.status, JSON.stringify(forced.body)).toBe(200)
    expect(JSON.stringify(forced.body)).toMatch(new RegExp(`shard\\(s\\) ${lost.join(', ')} of table\\(s\\) one had their only copy on node ${VICTIM}; their rows are LOST`))
    for (const id of [1, 2]) {
      await m.cluster.waitFor(async () => {
        const members = (await m.cluster.rows(id, 'SHOW CLUSTER MEMBERS')).map(r => Number(r[0]))
        return members.includes(VICTIM) ? null : true
      }, { what: `node ${id} to drop node ${VICTIM} from its members` })
      const rows = await m.read(id, 'SELECT k FROM one ORDER BY k', [], { retry: [...ELECTION_CODES, 'SB_CATALOG_STALE', 'SB_SHARD_UNAVAILABLE'] })
      expect(rows.map(r => String(r[0])), `table one through node ${id}`).toEqual(kept)
    }
  }, 300_000)
})
