import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { ManualClock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { asShardId } from '../../../src/core/ids'
import { SeededRng } from '../../../src/core/rng'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { Sweeper, type SweeperDeps } from '../../../src/node/sweeper'
import { nextHlc, row, testWorkerOptions, vid } from './worker-fixtures'

/**
 * Real shard workers over shards 0 and 1 with four autocommits (LSNs 1–4) on shard 1, every one far
 * past a one-hour commit-log retention (stamped in 1970), and a Sweeper over them whose log
 * consumers (backupNeeds, replicationNeeds) the test gives: what each commit-log consumer test
 * starts from.
 */
export async function sweeperOverFourEntries (consumers: Pick<SweeperDeps, 'backupNeeds' | 'replicationNeeds'>): Promise<{ workers: ShardWorkers, sweeper: Sweeper }> {
  const workers = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-sweeper-log-'))), pino({ level: 'silent' }), () => {})
  await workers.start([[asShardId(0), asShardId(1)]])
  for (const k of ['a', 'b', 'c', 'd']) {
    await workers.request('AUTOCOMMIT', { shard: asShardId(1), writes: [{ op: 'insert', tableId: 1, pk: [k], row: row(k), versionId: vid() }], commitHlc: nextHlc() })
  }
  const sweeper = new Sweeper({
    workers,
    shardCount: { shards: 2 },
    hlc: new Hlc({ clock: new ManualClock(), rng: new SeededRng(5), nodeId: 3 }),
    clock: new ManualClock(),
    log: pino({ level: 'silent' }),
    oldestSnapshot: () => undefined,
    announceLagMs: 0,
    tombstonePurgeTables: () => [],
    commitLogRetentionHours: 1,
    ...consumers
  })
  return { workers, sweeper }
}
