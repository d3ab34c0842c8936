import { afterEach, describe, expect, it } from 'vitest'
import { asShardId, type ShardId } from '../../../src/core/ids'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { sweeperOverFourEntries } from './sweeper-fixtures'

// The last completed backup is a consumer of the commit log (issue 17: "the commit-log retention
// counts the last backup as a consumer"): the sweep keeps every entry the next incremental backup
// needs, whatever storage.commit_log_retention_hours says.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

describe('Sweeper and the last backup', () => {
  it('truncates only below the LSN the next incremental backup starts at', async () => {
    // Every entry is far past the retention (stamped in 1970); the last backup ended at LSN 2.
    const { workers: w, sweeper } = await sweeperOverFourEntries({
      backupNeeds: () => new Map<ShardId, bigint>([[asShardId(1), 3n]])
    })
    workers = w
    expect((await sweeper.runOnce()).logEntriesTruncated).toBe(2)
    expect((await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 3n, limit: 10 })).entries.map(e => e.lsn)).toEqual([3n, 4n])
  })
})
