import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { ddlContext } from '../../../src/plan/column-default'
import type { AlterTableStatement, CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { ManualClock } from '../../../src/core/clock'
import { ScratchBirdError } from '../../../src/core/errors'
import { Hlc } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { LeaderlessBootstrap } from '../../../src/node/leaderless-bootstrap'
import type { ShardRequests } from '../../../src/shard/protocol/ops'
import { startHost, type HostClient } from '../shard/host-fixtures'
import { nextHlc, row, text, vid } from './worker-fixtures'

// fillShard (node/leaderless-bootstrap.ts) over real shard hosts (engines over MemoryKv): the
// source's rows, tombstones included, reach the target with their versions; a newer version the
// target already holds is kept (last write wins); a fill interrupted by a failing target resumes
// at the chunk it stopped at instead of starting over.

const SHARD = asShardId(0)
const TABLE = 2000

async function filled (rows: number): Promise<{ source: HostClient, target: HostClient }> {
  const source = await startHost([SHARD])
  const target = await startHost([SHARD])
  for (let i = 0; i < rows; i++) {
    await source.request('REPLICA_APPLY', { shard: SHARD, writes: [{ tableId: TABLE, pk: [`k${String(i).padStart(3, '0')}`], versionId: vid(), row: i % 4 === 0 ? null : row(`v${i}`) }], commitHlc: nextHlc() })
  }
  return { source, target }
}

function bootstrap (source: HostClient, apply: (req: ShardRequests['REPLICA_APPLY']) => Promise<void>, reads: Array<Uint8Array | null>, catalog = new Catalog()): LeaderlessBootstrap {
  const clock = new ManualClock()
  return new LeaderlessBootstrap({
    selfId: asNodeId(1),
    shards: 1,
    workers: {
      request: async (op, req) => {
        if (op === 'REPL_SNAPSHOT_READ') reads.push((req as ShardRequests['REPL_SNAPSHOT_READ']).after)
        return await source.request(op, req)
      }
    },
    catalog: () => catalog,
    replicas: (_shard, n) => [asNodeId(1), asNodeId(2), asNodeId(3)].slice(0, n),
    alive: () => true,
    apply: async (_to, req) => { await apply(req) },
    ddl: async () => {},
    hlc: new Hlc({ clock, rng: new SeededRng(7), nodeId: 1 }),
    // Chunks of about 2 KB: a few dozen keys each.
    maxMessageBytes: 12 * 1024,
    maxBatchBytes: 1024,
    log: pino({ level: 'silent' }),
    clock
  })
}

const pks = (n: number): string[][] => Array.from({ length: n }, (_, i) => [`k${String(i).padStart(3, '0')}`])

describe('LeaderlessBootstrap.fillShard', () => {
  it('carries every version, tombstones included, and keeps a newer one the target already has', async () => {
    const { source, target } = await filled(200)
    const newer = vid()
    await target.request('REPLICA_APPLY', { shard: SHARD, writes: [{ tableId: TABLE, pk: ['k001'], versionId: newer, row: row('newer') }], commitHlc: nextHlc() })
    const reads: Array<Uint8Array | null> = []
    const b = bootstrap(source, async req => { await target.request('REPLICA_APPLY', req) }, reads)
    const done = await b.fillShard({ shard: SHARD, tableIds: [TABLE], targets: [asNodeId(2)] })
    expect(done.keys).toBe(200)
    expect(reads.length).toBeGreaterThan(2) // bounded chunks
    const want = await source.request('REPLICA_READ', { shard: SHARD, tableId: TABLE, pks: pks(200) })
    const got = await target.request('REPLICA_READ', { shard: SHARD, tableId: TABLE, pks: pks(200) })
    for (let i = 0; i < 200; i++) {
      if (i === 1) continue
      expect(Buffer.from(got.versions[i]!.versionId).equals(Buffer.from(want.versions[i]!.versionId)), `k${i}`).toBe(true)
      expect(text(got.versions[i]!.row)).toBe(i % 4 === 0 ? null : `v${i}`)
    }
    expect(text(got.versions[1]!.row)).toBe('newer')
  })

  it('resumes after the chunk a failing target stopped it at', async () => {
    const { source, target } = await filled(200)
    const reads: Array<Uint8Array | null> = []
    let applies = 0
    const b = bootstrap(source, async req => {
      if (++applies === 6) throw new ScratchBirdError('SB_NODE_UNREACHABLE', 'target away')
      await target.request('REPLICA_APPLY', req)
    }, reads)
    await expect(b.fillShard({ shard: SHARD, tableIds: [TABLE], targets: [asNodeId(2)] })).rejects.toMatchObject({ code: 'SB_NODE_UNREACHABLE' })
    const firstTry = reads.length
    expect(reads.filter(a => a === null)).toHaveLength(1)
    const done = await b.fillShard({ shard: SHARD, tableIds: [TABLE], targets: [asNodeId(2)] })
    // The second call did not start from the first key again: it read on from the resume point.
    expect(reads.slice(firstTry).every(a => a !== null)).toBe(true)
    expect(done.keys).toBeGreaterThanOrEqual(200)
    const got = await target.request('REPLICA_READ', { shard: SHARD, tableId: TABLE, pks: pks(200) })
    expect(got.versions.every(v => v !== null)).toBe(true)
  })
})

describe('LeaderlessBootstrap.shardState (SHOW SHARD MAP leaderless_bootstrap)', () => {
  it('names the table and its replicas still being filled, none once the shard is ready', async () => {
    const ctx = ddlContext(3)
    let c = new Catalog().createTable(parseOne("CREATE TABLE kv (k TEXT PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 1, read_quorum = 1)") as CreateTableStatement, ctx).catalog
    c = c.alterTable(parseOne('ALTER TABLE kv SET replication_factor = 3') as AlterTableStatement, ctx).catalog
    const { source } = await filled(0)
    const b = bootstrap(source, async () => {}, [], c)
    expect(b.shardState(SHARD)).toBe('kv: 3:bootstrapping')
    c = c.alterTable(parseOne('ALTER TABLE kv SET REPLICAS READY ON SHARD 0') as AlterTableStatement, ctx).catalog
    expect(bootstrap(source, async () => {}, [], c).shardState(SHARD)).toBeUndefined()
  })
})
