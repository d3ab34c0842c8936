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

// Mode 1 replication is a consumer of the commit log (issue 14 item 5): the sweep keeps every
// entry a shard's group still holds for its replicas (ReplicationShell.logNeeds), whatever
// storage.commit_log_retention_hours says; with the last backup too, the lower need wins.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

describe('Sweeper and the Mode 1 replicas', () => {
  it('truncates only below the first LSN the replication group still holds, the lower of it and the backup\'s need', async () => {
    const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-sweeper-repl-'))), pino({ level: 'silent' }), () => {})
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
      backupNeeds: () => new Map<ShardId, bigint>([[asShardId(1), 4n]]),
      replicationNeeds: () => needs
    })
    // The group still needs LSN 3 on: the backup's need (4) alone would drop it.
    let needs = new Map<ShardId, bigint>([[asShardId(1), 3n]])
    expect((await sweeper.runOnce()).logEntriesTruncated).toBe(2)
    expect((await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 3n, limit: 10 })).entries.map(e => e.lsn)).toEqual([3n, 4n])
    // The replicas caught up: the backup's need holds from there.
    needs = new Map<ShardId, bigint>([[asShardId(1), 5n]])
    expect((await sweeper.runOnce()).logEntriesTruncated).toBe(1)
    expect((await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 4n, limit: 10 })).entries.map(e => e.lsn)).toEqual([4n])
    await expect(w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 3n, limit: 10 })).rejects.toMatchObject({ code: 'SB_COMMIT_LOG_TRUNCATED' })
  })
})
