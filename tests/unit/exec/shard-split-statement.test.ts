import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { splitBlockers } from '../../../src/cluster/shard-split'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { alterClusterShards, splitContext } from '../../../src/exec/shard-split-statement'
import type { ExecEnv, MemberRow, ShardMapRow } from '../../../src/exec/env'
import { commandResult } from '../../../src/exec/result'
import type { AlterClusterStatement } from '../../../src/sql/ast'
import { ddlContext } from '../../../src/plan/column-default'
import type { CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// Issue 20 item 5: what ALTER CLUSTER SET shards = 2n finds in the way, read from a real catalog
// built by the DDL a user runs (global indexes come from UNIQUE / PRIMARY KEY without the
// partition key: catalog/indexes.ts).

function catalogOf (...sql: string[]): Catalog {
  let c = new Catalog()
  for (const s of sql) c = c.createTable(parseOne(s) as CreateTableStatement, ddlContext(3)).catalog
  return c
}

const member = (id: number, state: string): MemberRow => ({ nodeId: asNodeId(id), address: '', datacenter: 'dc1', state, heartbeatAgeMs: 0, clockOffsetMs: 0, shardReplicas: 0 })
const shard = (moving?: string): ShardMapRow => ({ shard: asShardId(0), preference: [], replicas: [], live: [], moving })
const quiet = { members: () => [member(1, 'normal'), member(2, 'normal')], shardMap: () => [shard()], splitOp: async () => commandResult('ALTER CLUSTER', 0, []) }

describe('splitContext', () => {
  it('a plain primary_replica table is in nobody\'s way: in a cluster nothing blocks; alone, the node is; without the run, the row copy', () => {
    const c = catalogOf('CREATE TABLE orders (id INT PRIMARY KEY, v TEXT)')
    const ctx = splitContext(c, quiet)
    expect(ctx.tables).toEqual([{ name: 'orders', leaderless: false, globalIndexes: [], moving: false }])
    expect(splitBlockers(ctx)).toEqual([])
    expect(splitBlockers(splitContext(c, { ...quiet, splitOp: undefined })).map(b => b.what)).toEqual(['standalone'])
    expect(splitBlockers(splitContext(c, quiet, false)).map(b => b.what)).toEqual(['row_copy'])
  })

  it('names the global indexes a UNIQUE or a primary key without the partition key creates, and leaderless tables', () => {
    const ctx = splitContext(catalogOf(
      'CREATE TABLE users (id INT PRIMARY KEY, email TEXT UNIQUE)',
      'CREATE TABLE accounts (id INT PRIMARY KEY, tenant TEXT) PARTITION BY tenant',
      "CREATE TABLE events (id UUID PRIMARY KEY) WITH (replication_mode='leaderless_quorum', replication_factor=3, write_quorum=2, read_quorum=2, uuid_type='v8_hlc')"
    ), quiet)
    expect(ctx.tables).toEqual([
      { name: 'users', leaderless: false, globalIndexes: ['users_email_key'], moving: false },
      { name: 'accounts', leaderless: false, globalIndexes: ['accounts_pkey'], moving: false },
      { name: 'events', leaderless: true, globalIndexes: [], moving: false }
    ])
    expect(splitBlockers(ctx).map(b => b.what)).toEqual(['global_index', 'global_index', 'leaderless_table'])
  })

  it('a node leaving or joining, or a shard still moving, is a membership change under way', () => {
    const c = catalogOf('CREATE TABLE orders (id INT PRIMARY KEY)')
    expect(splitContext(c, quiet).membershipChanging).toBe(false)
    expect(splitContext(c, { ...quiet, members: () => [member(1, 'normal'), member(2, 'leaving')] }).membershipChanging).toBe(true)
    expect(splitContext(c, { ...quiet, members: () => [member(1, 'normal'), member(4, 'joining')] }).membershipChanging).toBe(true)
    expect(splitContext(c, { ...quiet, shardMap: () => [shard(), shard('to {1, 2} from {4}')] }).membershipChanging).toBe(true)
  })
})

describe('alterClusterShards', () => {
  const stmt = (shards: number): AlterClusterStatement => ({ kind: 'alter_cluster', pos: { line: 1, col: 1 } as never, shards })
  /** An env whose decider path (node/cluster.ts splitOp) records what it was asked. */
  function env (catalog: Catalog): { env: ExecEnv, asked: number[] } {
    const asked: number[] = []
    const e = { ...quiet, shards: 4, catalog: () => catalog, splitOp: async (s: AlterClusterStatement) => { asked.push(s.shards); return commandResult('ALTER CLUSTER', 0, []) } }
    return { env: e as unknown as ExecEnv, asked }
  }

  it('until the run is ready (SPLIT_RUN_READY), a valid split is refused naming row_copy and nothing reaches the decider', async () => {
    const { env: e, asked } = env(catalogOf('CREATE TABLE orders (id INT PRIMARY KEY)'))
    await expect(alterClusterShards(e, stmt(8), false)).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_UNSUPPORTED', details: { blockers: ['row_copy'] } })
    expect(asked).toEqual([])
  })

  it('switched on (SPLIT_RUN_READY): a valid split goes to the decider in a cluster; a node alone refuses it naming standalone', async () => {
    const { env: e, asked } = env(catalogOf('CREATE TABLE orders (id INT PRIMARY KEY)'))
    await alterClusterShards(e, stmt(8))
    expect(asked).toEqual([8])
    const alone = { ...e, splitOp: undefined } as unknown as ExecEnv
    await expect(alterClusterShards(alone, stmt(8))).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_UNSUPPORTED', details: { blockers: ['standalone'] } })
    await expect(alterClusterShards(alone, stmt(12))).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_INVALID' })
  })

  it('once ready: a split with blockers is refused here; one without, and anything else, goes to the decider', async () => {
    const blocked = env(catalogOf('CREATE TABLE users (id INT PRIMARY KEY, email TEXT UNIQUE)'))
    await expect(alterClusterShards(blocked.env, stmt(8), true)).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_UNSUPPORTED', details: { blockers: ['global_index'] } })
    expect(blocked.asked).toEqual([])
    const plain = env(catalogOf('CREATE TABLE orders (id INT PRIMARY KEY)'))
    await alterClusterShards(plain.env, stmt(8), true)
    // The current count (a cancel while a split runs) and other counts are the decider's to judge against its layout.
    await alterClusterShards(plain.env, stmt(4), true)
    await alterClusterShards(plain.env, stmt(16), true)
    expect(plain.asked).toEqual([8, 4, 16])
  })
})
