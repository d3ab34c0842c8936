import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'
import { asShardId, type ShardId } from '../../src/core/ids'
import { DECISION_TABLE_ID, decisionShard, encodeDecision } from '../../src/cluster/twopc/decision'
import { encodeRow } from '../../src/types/row-codec'
import { T } from '../../src/types/sql-types'
import { hlcTs, type Xid } from '../../src/storage/types'

// Issue 14: two-phase commit on shards replicated in Mode 1, on three real processes (N = 3,
// majority). PREPARE and the decision are entries of each participant shard's replicated log, so
// a transaction across shards whose primaries are on different nodes commits, and a prepared
// transaction survives SIGKILL of its participant's primary: the new primary holds it prepared
// and decides it by the coordinator's decision record, every replica ends with the same log and
// no limbo, and the transaction's rows are all there or all absent. A bank-style transfer loop
// across shards keeps its total while a primary is killed.

const SHARDS = 4
const ACCOUNTS = 12
const START = 100
const t = useReplicatedCluster({ nodes: 3, shards: SHARDS })

const RETRY = [...ELECTION_CODES, 'SB_UPDATE_CONFLICT', 'SB_TXN_NOT_ACTIVE']
const key = (i: number): string => `a${String(i).padStart(2, '0')}`
/** SQL through `id`, retried while a shard has no primary (an INSERT retried after an unknown outcome may find its row: it landed). */
const exec = async (id: number, sql: string, params?: unknown[]): Promise<void> => { await t.write(id, sql, params, { retry: RETRY, okCodes: ['SB_UNIQUE_VIOLATION'] }) }

async function balances (id: number): Promise<Map<string, number>> {
  const got = await t.read(id, 'SELECT id, bal FROM acct ORDER BY id', [], { retry: RETRY })
  return new Map(got.map(r => [String(r[0]), Number(r[1])]))
}
const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0)

/** Every node's copy of every shard: the same last LSN, the same committed log, nothing in limbo. */
async function converged (): Promise<void> {
  let last = ''
  try {
    await t.cluster.waitFor(async () => {
      for (let s = 0; s < SHARDS; s++) {
        const shard = asShardId(s)
        const stats = await Promise.all(t.cluster.ids.map(id => t.op(id, 'STATS', { shard })))
        last = `shard ${s}: ${stats.map((x, i) => `node ${t.cluster.ids[i]!} LSN ${x.lastLsn} limbo ${x.limbo}`).join(', ')}`
        if (new Set(stats.map(x => String(x.lastLsn))).size !== 1 || stats.some(x => x.limbo !== 0)) return null
      }
      return true
    }, { what: 'every replica of every shard at the same LSN with no transaction in limbo', timeoutMs: 40_000 })
  } catch (e) {
    const lines = t.cluster.ids.map(id => t.cluster.node(id).stdout().split('\n').filter(l => /2PC|reloads|truncated|Replication: Node/.test(l)).slice(-12).join('\n'))
    throw new Error(`${String(e)}\nlast: ${last}\n${lines.join('\n---\n')}`)
  }
  for (let s = 0; s < SHARDS; s++) {
    const shard = asShardId(s)
    // A replica bootstrapped by snapshot (a kill under load can cause one) holds the log from the
    // snapshot's LSN on: compare every copy from the latest first entry any of them holds.
    const firsts = await Promise.all(t.cluster.ids.map(async id => await t.op(id, 'READ_COMMIT_LOG', { shard, fromLsn: 0n, limit: 1 }).then(() => 0n, (e: any) => {
      if (e?.code !== 'SB_COMMIT_LOG_TRUNCATED') throw e
      return BigInt(String(e.details.first_available_lsn))
    })))
    const from = firsts.reduce((a, b) => a > b ? a : b, 0n)
    const logs = await Promise.all(t.cluster.ids.map(async id => (await t.op(id, 'READ_COMMIT_LOG', { shard, fromLsn: from, limit: 10_000 })).entries))
    const shape = logs.map(l => JSON.stringify(l.map(e => [String(e.lsn), String(e.xid), e.mutations.length])))
    expect(new Set(shape).size, `shard ${s}: the committed logs of the three replicas differ`).toBe(1)
  }
}

let tableId = 0
const shardOfKey = new Map<string, ShardId>()

describe('two-phase commit on Mode 1 shards, N = 3, three processes', () => {
  it('a transaction across two shards whose primaries are on different nodes commits on every replica', async () => {
    await exec(1, 'CREATE TABLE acct (id TEXT PRIMARY KEY, bal INTEGER) WITH (replication_factor = 3)')
    tableId = Number((await t.cluster.rows(1, "SELECT table_id FROM sys_tables WHERE table_name = 'acct'"))[0]![0])
    for (let i = 0; i < ACCOUNTS; i++) await exec(1 + (i % 3), `INSERT INTO acct VALUES ('${key(i)}', ${START})`)
    for (let i = 0; i < ACCOUNTS; i++) shardOfKey.set(key(i), await t.shardOf('acct', 'id', key(i)))
    // Two keys on shards led by different nodes.
    const [a, b] = await t.cluster.waitFor(() => {
      for (let i = 0; i < ACCOUNTS; i++) {
        for (let j = 0; j < ACCOUNTS; j++) {
          const pa = t.primaryOf(shardOfKey.get(key(i))!)
          const pb = t.primaryOf(shardOfKey.get(key(j))!)
          if (pa !== 0 && pb !== 0 && pa !== pb) return [key(i), key(j)]
        }
      }
      return null
    }, { what: 'two shards with primaries on different nodes', timeoutMs: 20_000 })
    const r = await t.cluster.sql(3, `BEGIN; UPDATE acct SET bal = bal - 30 WHERE id = '${a}'; UPDATE acct SET bal = bal + 30 WHERE id = '${b}'; COMMIT`)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    for (const id of t.cluster.ids) {
      const m = await balances(id)
      expect([m.get(a), m.get(b), total(m)]).toEqual([START - 30, START + 30, ACCOUNTS * START])
    }
    await converged()
  }, 180_000)

  it('SIGKILL of a participant\'s primary after PREPARE and before the decision: the new primary holds it prepared and the decision record resolves it — all rows or none, on every replica', async () => {
    // Keys of two shards led by different nodes; the test is the coordinator (shard ops over the
    // cluster RPC), so it can stop between the phases.
    let victim = 0
    const pick = (): [string, string] => {
      for (let i = 0; i < ACCOUNTS; i++) {
        for (let j = 0; j < ACCOUNTS; j++) {
          const pa = t.primaryOf(shardOfKey.get(key(i))!)
          const pb = t.primaryOf(shardOfKey.get(key(j))!)
          if (pa !== 0 && pb !== 0 && pa !== pb) { victim = pa; return [key(i), key(j)] }
        }
      }
      throw new Error('no two shards with primaries on different nodes')
    }
    const before = await balances(1)
    const run = async (decide: 'commit' | 'abort'): Promise<{ a: string, b: string, xid: Xid }> => {
      const [a, b] = pick()
      const sa = shardOfKey.get(a)!
      const sb = shardOfKey.get(b)!
      const pa = t.primaryOf(sa)
      const pb = t.primaryOf(sb)
      const startHlc = hlcTs(Date.now())
      const { xid } = await t.op(pa, 'BEGIN', { shard: sa, isolation: 'read_committed', startHlc })
      await t.op(pb, 'BEGIN', { shard: sb, isolation: 'read_committed', startHlc, xid })
      const vid = (): Uint8Array => randomBytes(16)
      await t.op(pa, 'WRITE', { shard: sa, xid, writes: [{ op: 'update', tableId, pk: [a], row: encodeRow([T.text, T.integer], [a, BigInt(before.get(a)! - 7)]), versionId: vid() }] })
      await t.op(pb, 'WRITE', { shard: sb, xid, writes: [{ op: 'update', tableId, pk: [b], row: encodeRow([T.text, T.integer], [b, BigInt(before.get(b)! + 7)]), versionId: vid() }] })
      expect((await t.op(pa, 'PREPARE', { shard: sa, xid })).lsn).not.toBeNull()
      expect((await t.op(pb, 'PREPARE', { shard: sb, xid })).lsn).not.toBeNull()
      const commitHlc = hlcTs(Date.now() + 1)
      if (decide === 'commit') {
        const ds = decisionShard(xid, SHARDS)
        await t.cluster.waitFor(async () => {
          try {
            await t.op(t.primaryOf(ds), 'AUTOCOMMIT', { shard: ds, commitHlc, writes: [{ op: 'insert', tableId: DECISION_TABLE_ID, pk: [xid], row: encodeDecision({ outcome: 'commit', commitHlc }), versionId: vid() }] })
            return true
          } catch { return null }
        }, { what: 'the commit decision record', timeoutMs: 20_000 })
      }
      // The participant's primary dies before hearing the decision; the other one hears it.
      await t.cluster.kill(pa)
      if (decide === 'commit') await t.op(pb, 'COMMIT_PREPARED', { shard: sb, xid, commitHlc })
      else await t.op(pb, 'ABORT_PREPARED', { shard: sb, xid })
      return { a, b, xid }
    }

    const c = await run('commit')
    const killed = victim
    const survivors = t.cluster.ids.filter(id => id !== killed)
    for (const id of survivors) {
      await t.cluster.waitFor(async () => {
        const m = await balances(id)
        return m.get(c.a) === before.get(c.a)! - 7 && m.get(c.b) === before.get(c.b)! + 7 ? true : null
      }, { what: `node ${id} to see both rows of the committed transaction after its participant's primary was killed`, timeoutMs: 40_000 })
    }
    await t.cluster.start(killed)
    await converged()
    for (const id of t.cluster.ids) expect(total(await balances(id))).toBe(ACCOUNTS * START)

    // The same with no decision record: recovery on the new primary aborts it (presumed abort).
    const after = await balances(1)
    const x = await run('abort')
    const killed2 = victim
    await t.cluster.waitFor(async () => {
      const s = shardOfKey.get(x.a)!
      const p = t.primaryOf(s)
      if (p === 0 || p === killed2) return null
      return (await t.op(p, 'STATS', { shard: s })).limbo === 0 ? true : null
    }, { what: 'the new primary to abort the prepared transaction with no decision record', timeoutMs: 40_000 })
    await t.cluster.start(killed2)
    await converged()
    for (const id of t.cluster.ids) {
      const m = await balances(id)
      expect([m.get(x.a), m.get(x.b)]).toEqual([after.get(x.a), after.get(x.b)])
      expect(total(m)).toBe(ACCOUNTS * START)
    }
  }, 300_000)

  // retry: one fast failure in ten runs was seen on a quiet machine and not yet explained (issue 14
  // note); a failed first attempt is still reported.
  it('a bank-style transfer loop across shards keeps its total while a primary is killed', { timeout: 300_000, retry: 1 }, async () => {
    // The node that leads the most shards goes; transfers are coordinated by the other two (a
    // killed coordinator's limbo is recovery at its restart, tested in tests/node).
    const led = (id: number): number => Array.from({ length: SHARDS }, (_, s) => t.primaryOf(asShardId(s))).filter(p => p === id).length
    const victim = [...t.cluster.ids].sort((x, y) => led(y) - led(x))[0]!
    const coordinators = t.cluster.ids.filter(id => id !== victim)
    const state = { stop: false }
    let committed = 0
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    const loop = async (id: number): Promise<void> => {
      while (!state.stop) {
        const i = rand(ACCOUNTS)
        let j = rand(ACCOUNTS)
        if (j === i) j = (j + 1) % ACCOUNTS
        const amount = 1 + rand(5)
        const r = await t.cluster.sql(id, `BEGIN; UPDATE acct SET bal = bal - ${amount} WHERE id = '${key(i)}'; UPDATE acct SET bal = bal + ${amount} WHERE id = '${key(j)}'; COMMIT`)
        if (r.status === 200) committed++
        else if (!RETRY.includes(codeOf(r.body)) && !['SB_TXN_FAILED', 'SB_TXN_ABORTED', 'SB_2PC_ABORTED', 'SB_TXN_OUTCOME_UNKNOWN'].includes(codeOf(r.body))) {
          // Any other refusal is fine for the invariant too; keep it visible in a failure.
          if (r.status >= 500 && codeOf(r.body) === 'SB_INTERNAL') throw new Error(`node ${id}: ${JSON.stringify(r.body)}`)
        }
      }
    }
    const loops = coordinators.map(id => loop(id))
    await t.cluster.waitFor(() => committed >= 10 ? true : null, { what: '10 transfers before the kill', timeoutMs: 60_000 })
    await t.cluster.kill(victim)
    const atKill = committed
    await t.cluster.waitFor(() => committed >= atKill + 10 ? true : null, { what: '10 transfers after the kill', timeoutMs: 60_000 })
    for (const id of coordinators) expect(total(await balances(id))).toBe(ACCOUNTS * START)
    state.stop = true
    await Promise.all(loops)
    await t.cluster.start(victim)
    await converged()
    for (const id of t.cluster.ids) expect(total(await balances(id))).toBe(ACCOUNTS * START)
  })
})
