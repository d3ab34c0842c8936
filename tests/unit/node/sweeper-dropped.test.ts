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
import { hlcTs, type HlcTs } from '../../../src/storage/types'
import { nextHlc, row, testWorkerOptions, vid } from './worker-fixtures'

// The sweeper's purge of dropped relations (issue 17) over real shard workers: an id the catalog
// drops is noted at one run and purged at a later one only once the horizon has passed that run
// (a snapshot open since before holds it), on every shard, with one INFO line per relation and
// shard; kept tables are untouched.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

const DROPPED = 1100
const KEPT = 1050
const SHARDS = [asShardId(0), asShardId(1)]

describe('Sweeper: dropped relations', () => {
  it('purges a dropped relation on every shard once no snapshot from before the drop is open', async () => {
    const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-sweeper-drop-'))), pino({ level: 'silent' }), () => {})
    workers = w
    await w.start([SHARDS])
    for (const shard of SHARDS) {
      for (const table of [DROPPED, KEPT]) {
        const writes = Array.from({ length: 20 }, (_, i) => ({ op: 'insert' as const, tableId: table, pk: [BigInt(i)], row: row(`r${i}`), versionId: vid() }))
        await w.request('AUTOCOMMIT', { shard, writes, commitHlc: nextHlc() })
      }
      await w.request('AUTOCOMMIT', { shard, writes: [{ op: 'update', tableId: DROPPED, pk: [0n], row: row('u'), versionId: vid() }], commitHlc: nextHlc() })
    }
    const lines: Array<{ msg: string, shard?: number, relation?: number }> = []
    const log = pino({ level: 'info' }, new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } }))
    let dropped: number[] = []
    // a snapshot open from the start: it also keeps the back versions for the purge to find
    let snapshot: HlcTs | undefined = hlcTs(1)
    const totals: SweepTotals[] = []
    const sweeper = new Sweeper({
      workers: w,
      shardCount: { shards: 2 },
      hlc: new Hlc({ clock: new ManualClock(), rng: new SeededRng(5), nodeId: 3 }),
      clock: new ManualClock(),
      log,
      oldestSnapshot: () => snapshot,
      announceLagMs: 0,
      tombstonePurgeTables: () => [],
      commitLogRetentionHours: 24,
      droppedRelations: () => dropped,
      onSwept: (t) => totals.push(t)
    })
    const versions = async (shard: ShardId, table: number): Promise<number> => (await w.request('VERSION_SCAN', { shard, tableId: table, after: null, limit: 1000 })).rows.length

    await sweeper.runOnce()
    dropped = [DROPPED]
    await sweeper.runOnce() // noted, not purged: a statement planned before the drop may still read it
    expect(totals.at(-1)!.droppedRows).toBe(0)
    await sweeper.runOnce() // the snapshot, open since before the drop was noted, holds it

    expect(totals.at(-1)!.droppedRows).toBe(0)
    for (const shard of SHARDS) expect(await versions(shard, DROPPED)).toBe(20)

    snapshot = undefined
    await sweeper.runOnce()
    expect(totals.at(-1)).toMatchObject({ droppedRows: 40, droppedBackVersions: 2 })
    for (const shard of SHARDS) {
      expect(await versions(shard, DROPPED)).toBe(0)
      expect((await w.request('SCAN', { shard, tableId: KEPT, options: {} })).rows).toHaveLength(20)
    }
    const purged = lines.filter(l => l.msg.startsWith('Purged dropped relation'))
    expect(purged.map(l => [l.relation, l.shard])).toEqual([[DROPPED, 0], [DROPPED, 1]])
    expect(purged[0]!.msg).toBe(`Purged dropped relation ${DROPPED} on shard 0: 20 rows, 1 back versions, 0 Merkle leaves`)

    await sweeper.runOnce() // idempotent: nothing left, nothing logged
    expect(totals.at(-1)!.droppedRows).toBe(0)
    expect(lines.filter(l => l.msg.startsWith('Purged dropped relation'))).toHaveLength(2)
  })
})
