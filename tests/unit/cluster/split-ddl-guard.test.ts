import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import type { ClusterLayout } from '../../../src/cluster/layout'
import { splitDdlRefusal, splitStartBlockers, type SplitUnderWay } from '../../../src/cluster/split-ddl-guard'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { splitCatalogFacts } from '../../../src/exec/shard-split-statement'
import { ClusterSplit } from '../../../src/node/cluster-split'
import { ddlContext } from '../../../src/plan/column-default'
import type { TableDdlStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// DDL while a shard split runs (cluster/split-ddl-guard.ts): a catalog change that changes the
// copies Mode 1 keeps (every group's voters, and so the split's holders) or adds what a split
// cannot copy is refused naming the split, and the decider refuses to start a split while it
// coordinates a DDL statement or one of its groups is still changing its voters.

const ctx = ddlContext(3)
const run = (c: Catalog, sql: string): Catalog => c.apply(parseOne(sql) as TableDdlStatement, ctx).catalog
const SPLIT: SplitUnderWay = { shards: 16, to: 32 }
const base = run(run(new Catalog(), 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)'), 'CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 2)')
const refusal = (after: Catalog, split: SplitUnderWay | null = SPLIT) =>
  splitDdlRefusal(split, splitCatalogFacts(base, 3), splitCatalogFacts(after, 3), 'the statement')

describe('DDL while a split runs', () => {
  it('refuses a raised or lowered Mode 1 N, naming the split; nothing while no split runs', () => {
    const raised = run(base, 'ALTER TABLE m SET replication_factor = 3')
    const e = refusal(raised)
    expect(e).toMatchObject({ code: 'SB_SHARD_SPLIT_IN_PROGRESS', details: { shards: 16, target: 32, copies_before: 2, copies_after: 3 } })
    expect(e?.message).toMatch(/split of 16 shards into 32 is under way/)
    expect(e?.message).toMatch(/from 2 to 3/)
    expect(refusal(raised, null)).toBeNull()
    expect(refusal(run(base, 'ALTER TABLE m SET replication_factor = 1'))).toMatchObject({ code: 'SB_SHARD_SPLIT_IN_PROGRESS', details: { copies_after: 1 } })
    // A new table of more copies raises N; dropping the one table of N = 2 lowers it.
    expect(refusal(run(base, 'CREATE TABLE x (k TEXT PRIMARY KEY) WITH (replication_factor = 3)'))?.code).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
    expect(refusal(run(base, 'DROP TABLE m'))?.code).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
  })

  it('lets through what changes neither the copies nor adds a blocker', () => {
    expect(refusal(run(base, 'CREATE TABLE y (k TEXT PRIMARY KEY) WITH (replication_factor = 2)'))).toBeNull()
    expect(refusal(run(base, 'ALTER TABLE t SET replication_factor = 2'))).toBeNull()
    expect(refusal(run(base, 'DROP TABLE t'))).toBeNull()
    expect(refusal(run(base, 'ALTER TABLE t ADD COLUMN w INTEGER'))).toBeNull()
    // N above the members is capped: 3 members, so 3 and 4 copies are both 3.
    const three = run(base, 'ALTER TABLE m SET replication_factor = 3')
    expect(splitDdlRefusal(SPLIT, splitCatalogFacts(three, 3), splitCatalogFacts(run(base, 'CREATE TABLE z (k TEXT PRIMARY KEY) WITH (replication_factor = 3)'), 3), 's')).toBeNull()
  })

  it('refuses a leaderless table or a global index created while it runs (a derive would stop at it)', () => {
    const leaderless = run(base, "CREATE TABLE l (k TEXT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)")
    expect(refusal(leaderless)).toMatchObject({ code: 'SB_SHARD_SPLIT_IN_PROGRESS', details: { added: [expect.stringMatching(/table "l" is leaderless_quorum/)] } })
    const global = run(base, 'CREATE INDEX m_v ON m (v) GLOBAL')
    expect(refusal(global)?.message).toMatch(/global index "m_v"/)
  })
})

describe('the decider starting a split', () => {
  const [N1, N2] = [1, 2].map(asNodeId) as [NodeId, NodeId]
  const BASE: ClusterLayout = { cluster: 'c', shards: 2, epoch: 4, members: [N1, N2] }

  it('names a DDL it coordinates and the groups still changing voters', () => {
    expect(splitStartBlockers({ ddlRunning: false, votersChanging: [] })).toEqual([])
    expect(splitStartBlockers({ ddlRunning: false, votersChanging: [{ node: N1, shards: [] }, { node: N2, shards: [] }] })).toEqual([])
    expect(splitStartBlockers({ ddlRunning: true, votersChanging: [{ node: N1, shards: [asShardId(3), asShardId(5)] }] }).map(b => b.what)).toEqual(['catalog_change', 'voter_change'])
    expect(splitStartBlockers({ ddlRunning: false, votersChanging: [{ node: N1, shards: [asShardId(3), asShardId(5)] }] })[0]!.detail).toMatch(/shard\(s\) 3, 5 on node 1 are still changing their voters/)
    // Another node's groups (reported in its gossip record) block the start as the decider's own do.
    const other = splitStartBlockers({ ddlRunning: false, votersChanging: [{ node: N1, shards: [] }, { node: N2, shards: [asShardId(0)] }] })
    expect(other.map(b => b.what)).toEqual(['voter_change'])
    expect(other[0]!.detail).toMatch(/shard\(s\) 0 on node 2 are still changing/)
  })

  it('refuses a start with blockers (nothing decided), and reports the split it is deciding while its decree runs', async () => {
    const state = { blockers: splitStartBlockers({ ddlRunning: false, votersChanging: [{ node: N2, shards: [asShardId(1)] }] }), asked: [] as ClusterLayout[], seen: null as unknown }
    const holder: { split?: ClusterSplit } = {}
    const split = holder.split = new ClusterSplit({
      layout: () => BASE,
      isDecider: () => true,
      proposing: () => false,
      decide: async (next) => { state.asked.push(next); state.seen = holder.split!.starting(); return { result: { kind: 'chosen', layout: next, own: true }, adopted: true } },
      votersText: () => '1, 2',
      holdersOf: () => [N1, N2],
      reports: () => new Map(),
      startBlockers: () => state.blockers,
      log: pino({ level: 'silent' })
    })
    await expect(split.op(4)).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_UNSUPPORTED', details: { blockers: ['voter_change'] } })
    expect(state.asked).toEqual([])
    state.blockers = []
    await split.op(4)
    expect(state.asked).toHaveLength(1)
    // While the decree ran, a DDL coordinated here was judged against the split being started.
    expect(state.seen).toEqual({ shards: 2, to: 4 })
    expect(split.starting()).toBeNull()
  })
})
