import { describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'
import { asShardId, type ShardId } from '../../src/core/ids'

// Issue 20 item 2 on real processes: a transaction across two single-copy shards (N = 1, no Mode 1
// group) whose coordinator stays alive but whose PREPARE reply and then ABORT PREPARED to one
// participant are lost (the link cut between them). That participant holds the transaction
// prepared — in limbo, its row locked — and nobody delivers the decision again: the coordinator
// has answered its client, and start-up recovery ran long ago. The periodic limbo sweep of the
// participant's node decides it (node.ts decidesLimboOf: the placed owner of a shard no Mode 1
// group replicates); before, it covered Mode 1 primaries only and the row stayed locked until the
// coordinator's node restarted. A writer of the locked row gets through within the sweep period
// (PRIMARY_LIMBO_SWEEP_MS, 10 s) plus the limbo age (LIMBO_MIN_AGE_MS, 5 s) and a retry (2 s).

const SHARDS = 4
const COORD = 1
/** Held on the coordinator's link to the participant, both ways: PREPARE arrives after DELAY, its reply would after 2 × DELAY. */
const DELAY = 1500
const t = useReplicatedCluster({ nodes: 3, shards: SHARDS })

describe('a single-copy participant left prepared by a live coordinator', () => {
  it('is decided by its node\'s limbo sweep: a writer of its row gets through, the transaction aborted', async () => {
    await t.ok(1, 'CREATE TABLE acct (id BIGINT PRIMARY KEY, v BIGINT) WITH (replication_factor = 1)')
    await t.ok(1, `INSERT INTO acct VALUES ${Array.from({ length: 24 }, (_, i) => `(${i}, 0)`).join(', ')}`)
    // Each shard's owner (SHOW SHARD MAP: shard, placed nodes, …).
    const owner = new Map((await t.cluster.rows(1, 'SHOW SHARD MAP')).map(r => [Number(r[0]), Number(String(r[1]).split(',')[0])]))
    // Key a on a shard another node owns (the participant P, reached over the link 1 → P);
    // key b on a shard not P's (its PREPARE and ABORT PREPARED arrive).
    const shardOfKey = new Map<number, ShardId>()
    for (let k = 0; k < 24; k++) shardOfKey.set(k, await t.shardOf('acct', 'id', k))
    const a = [...shardOfKey].find(([, s]) => owner.get(s) !== COORD)
    expect(a, JSON.stringify([...owner])).toBeDefined()
    const [keyA, shardA] = a!
    const P = owner.get(shardA)!
    const b = [...shardOfKey].find(([, s]) => owner.get(s) !== P)
    expect(b, JSON.stringify([...owner])).toBeDefined()
    const [keyB] = b!

    const session = (await t.cluster.http(COORD, 'POST', '/v1/sessions')).body.id as string
    for (const sql of ['BEGIN', `UPDATE acct SET v = 1 WHERE id = ${keyA}`, `UPDATE acct SET v = 1 WHERE id = ${keyB}`]) {
      const r = await t.cluster.sql(COORD, sql, [], { session })
      expect(r.status, `${sql}: ${JSON.stringify(r.body)}`).toBe(200)
    }
    // COMMIT: P's PREPARE lands after DELAY; the link is cut as soon as P reports the transaction
    // prepared (asked directly, not over the link), before its reply (due DELAY later) gets back:
    // the coordinator aborts, and its ROLLBACK / ABORT PREPARED to P fail at once.
    const link = t.cluster.link(COORD, P)
    link.setDelay(DELAY)
    const commit = t.cluster.sql(COORD, 'COMMIT', [], { session, timeoutMs: 30_000 })
    await t.cluster.waitFor(async () => (await t.op(P, 'STATS', { shard: shardA })).limbo > 0 ? true : null,
      { what: `node ${P} to prepare the transaction`, timeoutMs: 4 * DELAY, intervalMs: 20 })
    link.cut()
    const c = await commit
    link.restore()
    expect(c.status, `COMMIT: ${JSON.stringify(c.body)}`).not.toBe(200)
    // P holds it prepared (else the cut came too early or too late and this test proves nothing).
    expect((await t.op(P, 'STATS', { shard: shardA })).limbo, `node ${P}'s shard ${shardA} in limbo after the cut`).toBe(1)

    // A writer of key a through the third node: refused while the row is locked, then through.
    const via = [1, 2, 3].find(id => id !== COORD && id !== P)!
    const codes: string[] = []
    await t.cluster.waitFor(async () => {
      const r = await t.cluster.sql(via, 'UPDATE acct SET v = v + 10 WHERE id = $1', [keyA])
      if (r.status === 200) return true
      const code = codeOf(r.body)
      codes.push(code)
      if (code === 'SB_UPDATE_CONFLICT' || ELECTION_CODES.includes(code)) return null
      throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body)}`)
    }, { what: `a writer of key ${keyA} to get past the transaction left prepared on node ${P} (the limbo sweep)`, timeoutMs: 40_000, intervalMs: 500 })
    expect(codes, 'the row was locked at first').toContain('SB_UPDATE_CONFLICT')
    // Aborted everywhere (no commit record: presumed abort), nothing left in limbo.
    expect(await t.read(via, 'SELECT v FROM acct WHERE id = $1', [keyA])).toEqual([['10']])
    expect(await t.read(via, 'SELECT v FROM acct WHERE id = $1', [keyB])).toEqual([['0']])
    for (let s = 0; s < SHARDS; s++) expect((await t.op(owner.get(s)!, 'STATS', { shard: asShardId(s) })).limbo, `shard ${s}`).toBe(0)
  }, 180_000)
})
