import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock, type Clock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { Sweeper, type SweeperDeps } from '../../../src/node/sweeper'
import type { HlcTs } from '../../../src/storage/types'
import { nextHlc, row, testWorkerOptions, text, vid } from './worker-fixtures'
import { asShardId } from '../../../src/core/ids'

// The scheduled sweep over real shard workers: it sweeps every shard with a horizon no later
// than the oldest open snapshot it is told of, times itself on the injected clock, and refuses a
// schedule node-cron would not run. (node-cron itself — that a valid expression fires — is the
// library's business, not tested here: no test waits on real time.)

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

async function startWorkers (): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-sweeper-'))), pino({ level: 'silent' }), () => {})
  await w.start([[asShardId(0), asShardId(2)], [asShardId(1), asShardId(3)]])
  workers = w
  return w
}

/** A clock whose monotonic reading advances 7 ms per read: a sweep timed on it takes 7 ms. */
function steppingClock (): Clock {
  let mono = 0
  const wall = new ManualClock()
  return { now: () => wall.now(), monotonic: () => (mono += 7) - 7 }
}

function sweeper (w: ShardWorkers, oldestSnapshot: () => HlcTs | undefined, over: Partial<SweeperDeps> = {}): Sweeper {
  const clock = new ManualClock()
  return new Sweeper({
    workers: w,
    shardCount: { shards: 4 },
    hlc: new Hlc({ clock, rng: new SeededRng(5), nodeId: 3 }),
    clock: steppingClock(),
    log: pino({ level: 'silent' }),
    oldestSnapshot,
    announceLagMs: 0,
    tombstonePurgeTables: () => [],
    commitLogRetentionHours: 24,
    ...over
  })
}

describe('Sweeper', () => {
  it('sweeps every shard below the oldest open snapshot, and times itself on its clock', async () => {
    const w = await startWorkers()
    await w.request('AUTOCOMMIT', { shard: asShardId(2), writes: [{ op: 'insert', tableId: 1, pk: ['s'], row: row('v1'), versionId: vid() }], commitHlc: nextHlc() })
    const updated: HlcTs[] = []
    for (const v of ['v2', 'v3']) {
      const r = await w.request('AUTOCOMMIT', { shard: asShardId(2), writes: [{ op: 'update', tableId: 1, pk: ['s'], row: row(v), versionId: vid() }], commitHlc: nextHlc() })
      updated.push(r.commitHlc)
    }
    // A snapshot that started at v2's commit sees v1: nothing behind v1 to remove, v2 and v3 are newer.
    let open: HlcTs | undefined = updated[0]
    const s = sweeper(w, () => open)
    const held = await s.runOnce()
    expect(held).toMatchObject({ shards: 4, backVersionsRemoved: 0, horizonHlc: updated[0], durationMs: 7 })
    open = undefined
    const first = await s.runOnce()
    expect(first.backVersionsRemoved).toBe(2)
    expect(first.horizonHlc).toBeGreaterThan(updated[1]!)
    expect(text((await w.request('GET', { shard: asShardId(2), tableId: 1, pk: ['s'] })).row)).toBe('v3')
    expect((await s.runOnce()).backVersionsRemoved).toBe(0)
    expect(s.runs).toBe(3)
    // In a cluster "now" is kept back by how late a peer's new snapshot may be heard of.
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [{ op: 'insert', tableId: 1, pk: ['t'], row: row('t1'), versionId: vid() }], commitHlc: nextHlc() })
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [{ op: 'update', tableId: 1, pk: ['t'], row: row('t2'), versionId: vid() }], commitHlc: nextHlc() })
    const lagging = sweeper(w, () => undefined, { hlc: new Hlc({ clock: new ManualClock(1_000_000 + 60_000), rng: new SeededRng(7), nodeId: 3 }), announceLagMs: 60_000 })
    const lag = await lagging.runOnce()
    expect(lag.horizonHlc).toBeLessThanOrEqual(updated[0]!)
    expect(lag.backVersionsRemoved).toBe(0)
  })

  it('purges the deletes of the tables it is told are MGA, keeps the others, and truncates the commit log past its retention', async () => {
    const w = await startWorkers()
    for (const tableId of [1, 2]) {
      await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [{ op: 'insert', tableId, pk: ['d'], row: row('x'), versionId: vid() }], commitHlc: nextHlc() })
      await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [{ op: 'delete', tableId, pk: ['d'], versionId: vid() }], commitHlc: nextHlc() })
    }
    // The writes are stamped in 1970 (worker-fixtures), the sweeper's HLC runs in 2026: all of the log is past 24 h.
    const t = await sweeper(w, () => undefined, { tombstonePurgeTables: () => [1] }).runOnce()
    expect(t).toMatchObject({ shards: 4, tombstonesPurged: 1, backVersionsRemoved: 2, logEntriesTruncated: 4 })
    const err = await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 1n, limit: 10 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'SB_COMMIT_LOG_TRUNCATED', details: { shard: 1, requested_lsn: '1', first_available_lsn: '5' } })
    expect((await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 5n, limit: 10 })).entries).toEqual([])
    // Within the retention the log stays: the next write is LSN 5, an hour-old sweeper HLC keeps it.
    await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [{ op: 'insert', tableId: 1, pk: ['e'], row: row('y'), versionId: vid() }], commitHlc: nextHlc() })
    const soon = new Hlc({ clock: new ManualClock(2_000_000), rng: new SeededRng(6), nodeId: 3 })
    expect((await sweeper(w, () => undefined, { hlc: soon, commitLogRetentionHours: 1 }).runOnce()).logEntriesTruncated).toBe(0)
    expect((await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 5n, limit: 10 })).entries.map(e => e.lsn)).toEqual([5n])
  })

  it('refuses a schedule node-cron would not run (SB_CONFIG_INVALID, naming the key) and stops a valid one', async () => {
    const w = await startWorkers()
    const s = sweeper(w, () => undefined)
    expect(() => s.start('every five minutes')).toThrow(expect.objectContaining({ code: 'SB_CONFIG_INVALID', details: expect.objectContaining({ key: 'storage.sweep_schedule' }) }) as Error)
    s.start('*/5 * * * *')
    await s.stop()
    expect(s.runs).toBe(0)
  })
})
