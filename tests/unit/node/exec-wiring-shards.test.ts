import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { validateConfig } from '../../../src/core/config/load'
import { Hlc } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { asXid } from '../../../src/core/ids'
import { CatalogPins } from '../../../src/exec/catalog-pins'
import { SnapshotRegistry } from '../../../src/exec/snapshots'
import { execEnv } from '../../../src/node/exec-wiring'
import type { ShardRequester } from '../../../src/node/shard-router'
import { LiveShardCount } from '../../../src/cluster/shard-count'

// The executor's env reads the node's live shard count at each use (cluster/shard-count.ts): after
// a split's switch, statements route over 2n shards, a single node's SHOW SHARD MAP lists them, and
// 2PC decision records go to xid mod 2n — without rebuilding the env.

describe('execEnv over a live shard count', () => {
  it('follows the count: env.shards, the shard map, the members row and the 2PC decision shard', async () => {
    const config = validateConfig({ storage: { shards: 2 } })
    const clock = new ManualClock()
    const sent: Array<{ op: string, shard: number }> = []
    const shards: ShardRequester = {
      request: async (op, req) => { sent.push({ op, shard: req.shard }); return { xid: asXid(1n), lsn: 1n, commitHlc: 1n, affected: [true] } as never }
    }
    const count = new LiveShardCount(2, 1)
    const env = execEnv({
      config,
      hlc: new Hlc({ clock, rng: new SeededRng(1), nodeId: 1 }),
      shards,
      shardCount: count,
      cluster: null,
      quorum: null,
      listenAddress: () => '127.0.0.1:1',
      catalog: () => { throw new Error('not used') },
      installCatalog: () => {},
      snapshots: new SnapshotRegistry(),
      fences: {} as never,
      catalogPins: new CatalogPins(),
      log: pino({ level: 'silent' }),
      clock,
      rng: new SeededRng(2)
    })
    expect(env.shards).toBe(2)
    expect(env.shardMap().map(r => r.shard)).toEqual([0, 1])
    await env.twoPhase.writeDecision(asXid(7n), { outcome: 'abort' })
    expect(sent.at(-1)).toEqual({ op: 'AUTOCOMMIT', shard: 1 })
    count.follow(4, 2)
    expect(env.shards).toBe(4)
    expect(env.shardMap().map(r => r.shard)).toEqual([0, 1, 2, 3])
    expect(env.members()[0]!.shardReplicas).toBe(4)
    await env.twoPhase.writeDecision(asXid(7n), { outcome: 'abort' })
    expect(sent.at(-1)).toEqual({ op: 'AUTOCOMMIT', shard: 3 })
    // A copy of the env (a DDL statement's) keeps the count it was made with.
    const copy = { ...env }
    count.follow(8, 3)
    expect([copy.shards, env.shards]).toEqual([4, 8])
  })
})
