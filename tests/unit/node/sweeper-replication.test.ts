import { afterEach, describe, expect, it } from 'vitest'
import { asShardId, type ShardId } from '../../../src/core/ids'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { sweeperOverFourEntries } from './sweeper-fixtures'

// Mode 1 replication is a consumer of the commit log (issue 14 item 5): the sweep keeps every
// entry a shard's group still holds for its replicas (ReplicationShell.logNeeds), whatever
// storage.commit_log_retention_hours says; with the last backup too, the lower need wins.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

describe('Sweeper and the Mode 1 replicas', () => {
  it('truncates only below the first LSN the replication group still holds, the lower of it and the backup\'s need', async () => {
    // Every entry is far past the retention (stamped in 1970); the last backup ended at LSN 2.
    const { workers: w, sweeper } = await sweeperOverFourEntries({
      backupNeeds: () => new Map<ShardId, bigint>([[asShardId(1), 4n]]),
      replicationNeeds: () => needs
    })
    workers = w
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
