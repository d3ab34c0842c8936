import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { asShardId, type ShardId } from '../../../src/core/ids'
import { SeededRng } from '../../../src/core/rng'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { Sweeper, type SweepTotals } from '../../../src/node/sweeper'
import { nextHlc, row, testWorkerOptions, vid } from './worker-fixtures'

// The sweeper's release of leaderless copies this node no longer replicates (issue 20 item 1;
// cluster/membership/leaderless-release.ts decides which) over real shard workers: the rows,
// tombstones and Merkle leaves of the released (shard, relation) go, counted apart from dropped
// relations and logged per shard; the shard it keeps and the relation not released are untouched;
// a second run finds nothing (idempotent, no state).

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

const LEADERLESS = 1200
const OTHER = 1201
const SHARDS = [asShardId(0), asShardId(1)]

describe('Sweeper: released leaderless copies', () => {
  it('deletes the released relations of the released shard only, rows, tombstones and leaves', async () => {
    const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-sweeper-release-')), { merkle: { windowMs: 3_600_000, graceMs: 60_000 } }), pino({ level: 'silent' }), () => {})
    workers = w
    await w.start([SHARDS])
    for (const shard of SHARDS) {
      for (const tableId of [LEADERLESS, OTHER]) {
        const writes = Array.from({ length: 30 }, (_, i) => ({ tableId, pk: [BigInt(i)], versionId: vid(), row: i % 5 === 0 ? null : row(`r${i}`) }))
        await w.request('REPLICA_APPLY', { shard, writes, commitHlc: nextHlc() })
      }
    }
    const lines: Array<{ msg: string, shard?: number, relation?: number }> = []
    const log = pino({ level: 'info' }, new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } }))
    let released = (_shard: ShardId): number[] => []
    const totals: SweepTotals[] = []
    const sweeper = new Sweeper({
      workers: w,
      shardCount: { shards: 2 },
      hlc: new Hlc({ clock: new ManualClock(), rng: new SeededRng(5), nodeId: 3 }),
      clock: new ManualClock(),
      log,
      oldestSnapshot: () => undefined,
      announceLagMs: 0,
      tombstonePurgeTables: () => [],
      commitLogRetentionHours: 24,
      releasedRelations: (shard) => released(shard),
      onSwept: (t) => totals.push(t)
    })
    const versions = async (shard: ShardId, tableId: number): Promise<number> => (await w.request('VERSION_SCAN', { shard, tableId, after: null, limit: 1000 })).rows.length
    const leaves = async (shard: ShardId): Promise<number> => (await w.request('MERKLE_STATS', { shard })).activeLeaves

    const leavesBefore = await leaves(asShardId(1))
    expect(leavesBefore).toBe(60)
    await sweeper.runOnce()
    expect(totals.at(-1)!.releasedRows).toBe(0)
    for (const shard of SHARDS) expect(await versions(shard, LEADERLESS)).toBe(30)

    released = (shard) => shard === 1 ? [LEADERLESS] : []
    await sweeper.runOnce()
    expect(totals.at(-1)).toMatchObject({ releasedRows: 30, releasedLeaves: 30, droppedRows: 0 })
    expect(await versions(asShardId(1), LEADERLESS)).toBe(0)
    expect(await versions(asShardId(1), OTHER)).toBe(30)
    expect(await versions(asShardId(0), LEADERLESS)).toBe(30)
    expect(await leaves(asShardId(1))).toBe(30)
    expect(await leaves(asShardId(0))).toBe(60)
    const logged = lines.filter(l => l.msg.startsWith('Released leaderless relation'))
    expect(logged.map(l => [l.relation, l.shard])).toEqual([[LEADERLESS, 1]])

    await sweeper.runOnce() // idempotent: nothing left, nothing logged
    expect(totals.at(-1)!.releasedRows).toBe(0)
    expect(lines.filter(l => l.msg.startsWith('Released leaderless relation'))).toHaveLength(1)

    // A late arrival (a hint, an old coordinator's write) is released by the next run.
    await w.request('REPLICA_APPLY', { shard: asShardId(1), writes: [{ tableId: LEADERLESS, pk: [99n], versionId: vid(), row: row('late') }], commitHlc: nextHlc() })
    await sweeper.runOnce()
    expect(totals.at(-1)!.releasedRows).toBe(1)
    expect(await versions(asShardId(1), LEADERLESS)).toBe(0)
  })
})
