import { describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'

// ALTER TABLE … SET replication_mode on a populated table across three processes (issue 14 item
// 8's test): a Mode 1 N=3 table of a few hundred rows becomes leaderless N=3 W=2 R=2 and then
// Mode 1 again, while a reader counts it through another node (the count never changes: reads see
// the old relation whole, then the new one whole) and a writer keeps updating it (refused with
// SB_TABLE_ALTERING while the rows convert, accepted before and after). A key deleted before the
// conversions stays deleted; the rows are the same after each.

const t = useReplicatedCluster({ nodes: 3 })
const ROWS = 400
const RETRY = [...ELECTION_CODES, 'SB_CATALOG_STALE', 'SB_TABLE_ALTERING', 'SB_QUORUM_NOT_ACHIEVED']

describe('ALTER TABLE … SET replication_mode with rows', () => {
  it('converts Mode 1 → leaderless → Mode 1 online: count constant, contents equal, deletions kept, writes refused only meanwhile', async () => {
    await t.ok(1, 'CREATE TABLE kv (id BIGINT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    await t.write(2, `INSERT INTO kv VALUES ${Array.from({ length: ROWS }, (_, i) => `(${i}, 'v${i}')`).join(', ')}`)
    await t.write(2, 'DELETE FROM kv WHERE id = 13')
    const contents = async (id: number): Promise<string> => (await t.read(id, 'SELECT id, v FROM kv ORDER BY id', [], { retry: RETRY })).map(r => `${String(r[0])}=${String(r[1])}`).join(',')
    const original = await contents(3)
    const sum = String(ROWS * (ROWS - 1) / 2 - 13)
    expect(await t.read(3, 'SELECT count(*), sum(id) FROM kv')).toEqual([[String(ROWS - 1), sum]])

    // The reader: every count it gets is the full one (a retryable refusal is skipped).
    const counts: string[] = []
    const on = { reading: true }
    const reader = (async () => {
      while (on.reading) {
        const r = await t.cluster.sql(3, 'SELECT count(*), sum(id) FROM kv').catch(() => null)
        if (r === null) continue
        if (r.status === 200) counts.push(`${String(r.body.rows[0][0])}/${String(r.body.rows[0][1])}`)
        else if (!RETRY.includes(codeOf(r.body))) counts.push(`error ${codeOf(r.body)}`)
      }
    })()

    /**
     * Runs `alter` through node 1 while node 2 keeps rewriting row 1, until every node's catalog
     * shows `mode`; the codes node 2 got meanwhile. An ALTER answered with a retryable code (a
     * primary's read lease lapsing on this loaded machine) left its move recorded: node 1 resumes
     * it (node/table-moves.ts), so the test waits for the catalog rather than for the answer.
     */
    const convert = async (alter: string, mode: string): Promise<string[]> => {
      const codes: string[] = []
      const done = { alter: false }
      const writer = (async () => {
        while (!done.alter) {
          const r = await t.cluster.sql(2, "UPDATE kv SET v = 'v1' WHERE id = 1").catch(() => null)
          if (r !== null) codes.push(r.status === 200 ? 'ok' : codeOf(r.body))
        }
      })()
      // SB_TABLE_ALTERING: the previous conversion's cleanup still runs (a DDL waits for its end).
      const res = await t.cluster.waitFor(async () => {
        const r = await t.cluster.sql(1, alter, undefined, { timeoutMs: 120_000 })
        return r.status !== 200 && codeOf(r.body) === 'SB_TABLE_ALTERING' ? null : r
      }, { what: `${alter} to be taken`, timeoutMs: 120_000 })
      if (res.status !== 200) {
        expect(RETRY, JSON.stringify(res.body)).toContain(codeOf(res.body))
        console.log(`${alter}: answered ${codeOf(res.body)}; its move is resumed by node 1`)
      }
      for (const id of t.cluster.ids) {
        await t.cluster.waitFor(async () => {
          const r = await t.read(id, "SELECT replication_mode, replication_factor, write_quorum, read_quorum FROM sys_tables WHERE table_name = 'kv'", [], { retry: RETRY })
          return r[0]![0] === mode ? true : null
        }, { what: `node ${id} to hold the catalog with kv in ${mode}`, timeoutMs: 120_000 })
      }
      done.alter = true
      await writer
      // Writes are accepted again.
      await t.write(2, "UPDATE kv SET v = 'v1' WHERE id = 1", [], { retry: RETRY, timeoutMs: 120_000 })
      return codes
    }

    const toLeaderless = await convert("ALTER TABLE kv SET replication_mode = 'leaderless_quorum', write_quorum = 2, read_quorum = 2", 'leaderless_quorum')
    expect(toLeaderless).toContain('SB_TABLE_ALTERING')
    expect(toLeaderless.filter(c => c !== 'ok' && !RETRY.includes(c))).toEqual([])
    for (const id of t.cluster.ids) {
      expect(await t.read(id, "SELECT replication_factor, write_quorum, read_quorum FROM sys_tables WHERE table_name = 'kv'")).toEqual([[3, 2, 2]])
      expect(await contents(id)).toBe(original)
    }
    expect(await t.read(2, 'SELECT count(*) FROM kv WHERE id = 13')).toEqual([['0']])
    // Every replica of a row holds it (W = 2 acknowledged, the third by the quorum path or its hint).
    const plan = (await t.read(2, 'EXPLAIN SELECT v FROM kv WHERE id = 5')).map(r => String(r[0])).join('\n')
    expect(plan).toMatch(/quorum read: R=2 of 3 replicas/)
    expect(await t.read(2, 'SELECT v FROM kv WHERE id = 5')).toEqual([['v5']])

    const toMode1 = await convert("ALTER TABLE kv SET replication_mode = 'primary_replica'", 'primary_replica')
    expect(toMode1).toContain('SB_TABLE_ALTERING')
    expect(toMode1.filter(c => c !== 'ok' && !RETRY.includes(c))).toEqual([])
    for (const id of t.cluster.ids) expect(await contents(id)).toBe(original)
    on.reading = false
    await reader
    expect(counts.length).toBeGreaterThan(0)
    expect(counts.filter(c => c !== `${ROWS - 1}/${sum}`)).toEqual([])

    // Mode 1 again: writes accepted, and an INSERT of an existing key is a duplicate (no upsert).
    await t.write(3, "INSERT INTO kv VALUES (100000, 'new')")
    expect(await t.read(1, 'SELECT count(*) FROM kv', [], { retry: RETRY })).toEqual([[String(ROWS)]])
    const dup = await t.cluster.sql(3, "INSERT INTO kv VALUES (5, 'again')")
    expect(codeOf(dup.body)).toBe('SB_UNIQUE_VIOLATION')
    expect(await t.read(1, 'SELECT count(*) FROM kv WHERE id = 13')).toEqual([['0']])
  }, 300_000)
})
