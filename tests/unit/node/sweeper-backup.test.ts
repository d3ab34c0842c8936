import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { asShardId, type ShardId } from '../../../src/core/ids'
import { SeededRng } from '../../../src/core/rng'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { Sweeper } from '../../../src/node/sweeper'
import { nextHlc, row, testWorkerOptions, vid } from './worker-fixtures'

// The last completed backup is a consumer of the commit log (issue 17: "the commit-log retention
// counts the last backup as a consumer"): the sweep keeps every entry the next incremental backup
// needs, whatever storage.commit_log_retention_hours says.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

describe('Sweeper and the last backup', () => {
  it('truncates only below the LSN the next incremental backup starts at', async () => {
    const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-sweeper-backup-'))), pino({ level: 'silent' }), () => {})
    await w.start([[asShardId(0), asShardId(1)]])
    workers = w
    for (const k of ['a', 'b', 'c', 'd']) {
      await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [{ op: 'insert', tableId: 1, pk: [k], row: row(k), versionId: vid() }], commitHlc: nextHlc() })
    }
    // Every entry is far past the retention (stamped in 1970); the last backup ended at LSN 2.
    const sweeper = new Sweeper({
      workers: w,
      shards: 2,
      hlc: new Hlc({ clock: new ManualClock(), rng: new SeededRng(5), nodeId: 3 }),
      clock: new ManualClock(),
      log: pino({ level: 'silent' }),
      oldestSnapshot: () => undefined,
      announceLagMs: 0,
      tombstonePurgeTables: () => [],
      commitLogRetentionHours: 1,
      backupNeeds: () => new Map<ShardId, bigint>([[asShardId(1), 3n]])
    })
    expect((await sweeper.runOnce()).logEntriesTruncated).toBe(2)
    expect((await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 3n, limit: 10 })).entries.map(e => e.lsn)).toEqual([3n, 4n])
  })
})
