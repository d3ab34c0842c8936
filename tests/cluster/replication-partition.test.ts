import { describe, expect, it } from 'vitest'
import { codeOf, useReplicatedCluster, type Row } from '../helpers/mode1'
import { asShardId } from '../../src/core/ids'

// Issue 14 item 3 on real processes: a Mode 1 shard's primary cut off from the other two (every
// link through the harness's TCP proxies cut). Its reads of the shard fail once its lease lapses,
// and no read it serves ever misses a row the majority side acknowledged (the lease ends before
// another primary can be elected); its writes are not acknowledged; the majority elects and
// accepts writes; after healing the old primary holds exactly the majority's history (the write
// it took alone is truncated, on every replica absent).

const SHARDS = 2
const t = useReplicatedCluster({ nodes: 3, shards: SHARDS })

const insert = async (id: number, k: string): Promise<void> => { await t.write(id, 'INSERT INTO pt (k, v) VALUES ($1, $2)', [k, k], { okCodes: ['SB_UNIQUE_VIOLATION'] }) }

/** The keys of shard `s` as node `id` serves them; the error code when it refuses. */
async function keysOn (id: number, keys: readonly string[]): Promise<string[] | string> {
  const r = await t.cluster.sql(id, `SELECT k FROM pt WHERE k IN (${keys.map(k => `'${k}'`).join(', ')}) ORDER BY k`)
  if (r.status === 200) return (r.body.rows as Row[]).map(x => String(x[0]))
  return codeOf(r.body)
}

describe('Mode 1: the primary partitioned away from the other two', () => {
  it('its reads fail within the lease and never miss a majority write; its writes fail; the majority elects and writes; after healing it holds exactly the majority\'s history', async () => {
    const c = await t.cluster.sql(1, 'CREATE TABLE pt (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    // Keys of shard 0 only (a read of them touches that shard alone).
    const keys: string[] = []
    for (let i = 0; keys.length < 6; i++) if (await t.shardOf('pt', 'k', `p${i}`) === asShardId(0)) keys.push(`p${i}`)
    const shard = asShardId(0)
    for (const k of keys.slice(0, 3)) await insert(1, k)
    await t.cluster.waitFor(() => t.primaryOf(shard) || null, { what: 'a primary of shard 0', timeoutMs: 20_000 })
    // (Retried: under load a lease may lapse for a moment, or an election still settle.)
    const seen = await t.cluster.waitFor(async () => { const g = await keysOn(t.primaryOf(shard), keys); return typeof g === 'string' ? null : g }, { what: 'the primary of shard 0 to serve a read', timeoutMs: 20_000 })
    expect(seen).toEqual(keys.slice(0, 3).sort())
    const old = t.primaryOf(shard)

    const majority = t.cluster.ids.filter(id => id !== old)
    t.cluster.isolate(old)
    // Reads on the old primary, back to back, while the majority side elects and writes: each read
    // begun after the majority acknowledged a row must show it — or be refused.
    const state = { stop: false, ackedAt: Infinity, refused: 0, stale: [] as string[] }
    // (One key per read: the statement pins shard 0, so a refusal is that shard's.)
    const codes = new Set<string>()
    const reader = (async () => {
      while (!state.stop) {
        const began = performance.now()
        const got = await keysOn(old, [keys[3]!])
        if (typeof got === 'string') { codes.add(got); state.refused++; continue }
        if (began > state.ackedAt && !got.includes(keys[3]!)) state.stale.push(JSON.stringify(got))
      }
    })()
    await t.cluster.waitFor(() => state.refused > 0 || null, { what: `node ${old} to refuse reads of shard 0 once cut off`, timeoutMs: 20_000 })
    // Its writes are not acknowledged.
    const lone = await t.cluster.sql(old, 'INSERT INTO pt (k, v) VALUES ($1, $2)', [keys[5], 'alone'])
    expect(lone.status).not.toBe(200)
    expect(['SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE']).toContain(codeOf(lone.body))
    // The majority side elects a primary and takes writes.
    await insert(majority[0]!, keys[3]!)
    state.ackedAt = performance.now()
    await insert(majority[1]!, keys[4]!)
    const fresh = keys.slice(0, 5).sort()
    for (const id of majority) expect(await keysOn(id, keys)).toEqual(fresh)
    expect(t.primaryOf(shard)).not.toBe(old)
    // A while longer of reads on the isolated node, then heal.
    const refusedBefore = state.refused
    await t.cluster.waitFor(() => state.refused > refusedBefore + 5 || null, { what: 'more refused reads on the isolated node', timeoutMs: 20_000 })
    state.stop = true
    await reader
    expect(state.stale).toEqual([])
    // Refused at the shard (lease lapsed, then stepped down) — or, once it knows no primary, by
    // the router finding none it can reach.
    expect([...codes]).toContain('SB_NOT_PRIMARY')
    for (const code of codes) expect(['SB_NOT_PRIMARY', 'SB_NODE_UNREACHABLE', 'SB_SHARD_UNAVAILABLE', 'SB_RPC_TIMEOUT']).toContain(code)

    t.cluster.heal()
    // The old primary truncates its lone write and catches up: the same log on every replica.
    await t.cluster.waitFor(async () => {
      const stats = await Promise.all(t.cluster.ids.map(id => t.op(id, 'STATS', { shard })))
      return new Set(stats.map(s => String(s.lastLsn))).size === 1 || null
    }, { what: 'every replica of shard 0 at the same LSN after healing', timeoutMs: 40_000 })
    // Compared from the highest LSN every replica still holds: once all consumers applied it a
    // replica may truncate its log's head (storage/log-truncate.ts), so LSN 0 may be gone.
    const logs = await t.cluster.waitFor(async () => {
      let from = 0n
      const read = async (id: number): Promise<Array<{ lsn: bigint, xid: bigint }> | null> => {
        try {
          return (await t.op(id, 'READ_COMMIT_LOG', { shard, fromLsn: from, limit: 10_000 })).entries
        } catch (e) {
          const f = e as { code?: string, details?: Record<string, unknown> }
          if (f.code !== 'SB_COMMIT_LOG_TRUNCATED') throw e
          from = BigInt(String(f.details?.first_available_lsn))
          return null
        }
      }
      for (const id of t.cluster.ids) await read(id)
      const got = await Promise.all(t.cluster.ids.map(read))
      return got.every(l => l !== null) ? got as Array<Array<{ lsn: bigint, xid: bigint }>> : null
    }, { what: 'the commit log of shard 0 from a common LSN on every replica', timeoutMs: 20_000 })
    expect(new Set(logs.map(l => JSON.stringify(l.map(e => [String(e.lsn), String(e.xid)])))).size).toBe(1)
    for (const id of t.cluster.ids) {
      const got = await t.cluster.waitFor(async () => { const g = await keysOn(id, keys); return typeof g === 'string' ? null : g }, { what: `node ${id} to read shard 0 after healing`, timeoutMs: 30_000 })
      expect(got).toEqual(fresh)
    }
  }, 240_000)
})
