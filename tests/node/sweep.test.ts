import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postSqlAnswer, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// The scheduled sweep of a real node (issue 13 items 1 and 6), run every second: a snapshot
// transaction that has read one shard still reads every other shard as of its start after sweeps
// ran past updates there; once it ends the superseded versions go; a deleted row of a
// primary_replica table is purged. The test waits on the node's "Sweep:" log records (each sweep
// logs one at debug level), never on time.

let n: RunningNode

beforeAll(async () => {
  const dir = tempDir('sb-sweep-')
  const file = join(dir, 'scratchbird.yaml')
  writeFileSync(file, "# test: a sweep every second, sweep lines logged, leaderless tombstones purged after ~5 s\nstorage:\n  shards: 4\n  sweep_schedule: '* * * * * *'\nlogging:\n  level: debug\nreplication:\n  hint_expiration_days: 0.00001\n  tombstone_gc_grace_days: 0.00006\n")
  const [cmd, args] = sourceCommand(['--config', file, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  n = await startNode(cmd, args)
}, 60_000)
afterAll(() => { n?.proc.kill('SIGKILL') })

type Json = Record<string, any>

async function sql (text: string, session?: string): Promise<Json> {
  const { status, body } = await postSqlAnswer(n, text, session)
  expect(status, JSON.stringify(body)).toBe(200)
  return body
}

/** The node's "Sweep:" records so far. */
function sweeps (): Json[] {
  const out: Json[] = []
  for (const line of n.stdout().split('\n')) {
    if (!line.startsWith('{') || !line.includes('"Sweep:')) continue
    try { out.push(JSON.parse(line) as Json) } catch { /* a partial last line */ }
  }
  return out
}

/** Resolves with the first sweep record after the `after`-th one that satisfies `pred`: waits on the node's output. */
function sweepAfter (after: number, pred: (r: Json) => boolean = () => true): Promise<Json> {
  return new Promise(resolve => {
    const stdout = n.proc.stdout!
    const check = (): void => {
      const rec = sweeps().slice(after).find(pred)
      if (rec === undefined) return
      stdout.off('data', check)
      resolve(rec)
    }
    stdout.on('data', check)
    check()
  })
}

describe('the scheduled sweep', () => {
  it('keeps what an open snapshot reads on shards it has not touched; purges deleted rows afterwards', async () => {
    await sql('CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)')
    const keys = [...Array(16).keys()].map(i => i + 1)
    await sql(`INSERT INTO t VALUES ${keys.map(k => `(${k}, ${k * 10})`).join(', ')}`)

    const session = ((await (await fetch(n.url('/v1/sessions'), { method: 'POST' })).json()) as { id: string }).id
    await sql('BEGIN', session)
    expect((await sql('SELECT v FROM t WHERE k = 1', session)).rows).toEqual([[10]])
    await sql('UPDATE t SET v = v + 1 WHERE k > 1')
    await sql('UPDATE t SET v = v + 1 WHERE k > 1')

    // Two whole sweeps after the updates committed (one may have been under way).
    const seen = sweeps().length
    await sweepAfter(seen + 1)
    expect((await sql('SELECT k, v FROM t ORDER BY k', session)).rows).toEqual(keys.map(k => [k, k * 10]))
    await sql('COMMIT', session)

    // With the snapshot gone, a sweep removes the superseded versions (two per updated row).
    const after = sweeps().length
    const removed = await sweepAfter(after, r => r.backVersionsRemoved > 0)
    expect(removed.backVersionsRemoved).toBeGreaterThanOrEqual(2 * (keys.length - 1))
    expect((await sql('SELECT v FROM t WHERE k = 2')).rows).toEqual([[22]])

    await sql('DELETE FROM t WHERE k = 16')
    const purged = await sweepAfter(sweeps().length, r => r.tombstonesPurged > 0)
    expect(purged.tombstonesPurged).toBe(1)
    expect(purged.msg).toMatch(/^Sweep: removed \d+ back versions, \d+ dead versions and 1 deleted rows, truncated \d+ commit-log entries in 4 shards/)
    expect((await sql('SELECT count(*) FROM t')).rows).toEqual([['15']])
  }, 60_000)

  it('purges a leaderless tombstone once it is older than tombstone_gc_grace_days (one node: the only replica), not before', async () => {
    await sql("CREATE TABLE lw (k INTEGER PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum')")
    // One row per statement: a statement over two shards would leave a 2PC decision record,
    // which the sweep purges too and would be counted with the tombstone.
    await sql('INSERT INTO lw VALUES (1, 10)')
    await sql('INSERT INTO lw VALUES (2, 20)')
    await sql('DELETE FROM lw WHERE k = 1')
    await sweepAfter(sweeps().length) // one that may have begun before the delete
    const at = sweeps().length
    // The first sweep after the delete keeps it (younger than the grace of ~5.2 s) …
    const first = await sweepAfter(at)
    expect(first.tombstonesPurged).toBe(0)
    // … a later one purges it; the live row stays.
    const purged = await sweepAfter(at + 1, r => r.tombstonesPurged > 0)
    expect(purged.tombstonesPurged).toBe(1)
    expect((await sql('SELECT k, v FROM lw')).rows).toEqual([[2, 20]])
  }, 60_000)
})
