import pino from 'pino'
import { beforeAll, describe, expect, it } from 'vitest'
import { FENCE_TTL_MS } from '../../../src/cluster/table-fences'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { TableFenceShell } from '../../../src/node/table-fences'
import { LocalShards } from '../exec/local-shards'

// The node's fence shell over real shard engines: a fence set by a DDL whose node then went away
// (a restart of this node in the middle of the DDL) is reloaded from the shards and lifted by the
// registry's 'lost' rule, not kept for ever and not dropped at once.

beforeAll(async () => { await initHashing() })

describe('TableFenceShell', () => {
  it('reloads the fences its shards kept across a restart and lifts them once the TTL passed and its catalog is current', async () => {
    const clock = new ManualClock()
    const shards = await LocalShards.open(2, clock)
    let version = 4
    const shell = (): TableFenceShell => new TableFenceShell({ selfId: asNodeId(1), shardCount: { shards: 2 }, local: shards, cluster: null, catalogVersion: () => version, clock, log: pino({ level: 'silent' }) })
    const first = shell()
    expect(await first.onRequest({ action: 'fence', tableId: 1030, token: 'ddl-a', shards: [asShardId(0), asShardId(1)] })).toEqual({ rows: false })
    // "Restart": a new shell over the same shards, which still refuse the table's writes.
    const second = shell()
    expect(await second.load()).toBe(2)
    expect(second.held().map(f => [f.token, f.tableId, [...f.shards].sort()])).toEqual([['ddl-a', 1030, [0, 1]]])
    await expect(shards.request('AUTOCOMMIT', { shard: asShardId(0), writes: [{ op: 'insert', tableId: 1030, pk: [1n], row: new Uint8Array(1), versionId: new Uint8Array(16).fill(1) }], commitHlc: 1n as never }))
      .rejects.toMatchObject({ code: 'SB_TABLE_ALTERING' })
    second.checkDue()
    expect(second.held()).toHaveLength(1)
    clock.advance(FENCE_TTL_MS)
    version = 5
    second.checkDue()
    expect(second.held()).toEqual([])
    await new Promise(resolve => setImmediate(resolve))
    expect((await shards.request('TABLE_FENCE_LIST', { shard: asShardId(0) })).fences).toEqual([])
  })
})
