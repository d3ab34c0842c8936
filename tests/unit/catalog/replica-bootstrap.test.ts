import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { bootstrapAfterChange, countedReplicas, markReady, pendingShards, readBootstrap } from '../../../src/catalog/replica-bootstrap'
import { REPLICATION_DEFAULTS, type ReplicationOptions } from '../../../src/catalog/replication-options'
import { ddlContext } from '../../../src/plan/column-default'
import type { AlterTableStatement, CreateTableStatement } from '../../../src/sql/ast'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'

// The catalog's record of leaderless replicas being bootstrapped (issue 14 item 4): a raised N on
// a leaderless table places new replicas that count toward W and R only once SET REPLICAS READY
// says their shard is filled.

const quorum = (n: number): ReplicationOptions =>
  ({ ...REPLICATION_DEFAULTS, replication_mode: 'leaderless_quorum', uuid_type: 'v8_hlc', replication_factor: n, write_quorum: 1, read_quorum: 1 })

describe('replica bootstrap rules', () => {
  it('a raised leaderless N starts a bootstrap with the old N ready; primary_replica tables have none', () => {
    expect(bootstrapAfterChange(quorum(2), quorum(3), undefined)).toEqual({ readyFactor: 2, readyShards: [] })
    expect(bootstrapAfterChange(REPLICATION_DEFAULTS, { ...REPLICATION_DEFAULTS, replication_factor: 2 }, undefined)).toBeUndefined()
    expect(bootstrapAfterChange(quorum(2), quorum(2), undefined)).toBeUndefined()
  })

  it('a raise during a bootstrap keeps the smaller ready prefix and starts every shard again', () => {
    expect(bootstrapAfterChange(quorum(3), quorum(4), { readyFactor: 2, readyShards: [0, 1] })).toEqual({ readyFactor: 2, readyShards: [] })
  })

  it('lowering N to the ready replicas ends the bootstrap; a change of W or R keeps it', () => {
    const b = { readyFactor: 2, readyShards: [1] }
    expect(bootstrapAfterChange(quorum(3), quorum(2), b)).toBeUndefined()
    expect(bootstrapAfterChange(quorum(3), { ...quorum(3), write_quorum: 2 }, b)).toBe(b)
  })

  it('counts the ready prefix on pending shards and all N on ready ones', () => {
    const b = { readyFactor: 2, readyShards: [1] }
    expect(countedReplicas(3, b, 0)).toBe(2)
    expect(countedReplicas(3, b, 1)).toBe(3)
    expect(countedReplicas(3, undefined, 0)).toBe(3)
    expect(pendingShards(b, 4)).toEqual([0, 2, 3])
    expect(pendingShards(undefined, 4)).toEqual([])
  })

  it('marks shards ready idempotently; no shard removes the record', () => {
    const b = { readyFactor: 2, readyShards: [3] }
    expect(markReady(b, 1)).toEqual({ readyFactor: 2, readyShards: [1, 3] })
    expect(markReady(b, 3)).toBe(b)
    expect(markReady(b, null)).toBeUndefined()
  })

  it('a malformed record in a catalog document is SB_STORAGE_CORRUPT', () => {
    expect(readBootstrap({ readyFactor: 2, readyShards: [0] }, 't')).toEqual({ readyFactor: 2, readyShards: [0] })
    for (const bad of [null, 3, { readyFactor: 0, readyShards: [] }, { readyFactor: 2, readyShards: [-1] }, { readyFactor: 2 }]) {
      expect(() => readBootstrap(bad, 't'), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    }
  })
})

describe('Catalog: ALTER TABLE … SET replication_factor on a leaderless table', () => {
  const ctx = ddlContext(3)
  const create = (sql: string): Catalog => new Catalog().createTable(parseOne(sql) as CreateTableStatement, ctx).catalog
  const alter = (c: Catalog, sql: string): Catalog => c.alterTable(parseOne(sql) as AlterTableStatement, ctx).catalog
  const KV = "CREATE TABLE kv (id BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 2, read_quorum = 2)"

  it('records the bootstrap and raises the layout floor (writers on the older catalog are refused)', () => {
    const c = alter(create(KV), 'ALTER TABLE kv SET replication_factor = 3')
    expect(c.table('kv')!.bootstrap).toEqual({ readyFactor: 2, readyShards: [] })
    expect(c.layoutFloor).toBe(c.version)
    // A change of R alone keeps the record and moves no floor.
    const r = alter(c, 'ALTER TABLE kv SET read_quorum = 1')
    expect(r.table('kv')!.bootstrap).toEqual({ readyFactor: 2, readyShards: [] })
    expect(r.layoutFloor).toBe(c.version)
  })

  it('SET REPLICAS READY ON SHARD n marks a shard, SET REPLICAS READY ends it; both survive the JSON round trip', () => {
    let c = alter(alter(create(KV), 'ALTER TABLE kv SET replication_factor = 3'), 'ALTER TABLE kv SET REPLICAS READY ON SHARD 5')
    expect(c.table('kv')!.bootstrap).toEqual({ readyFactor: 2, readyShards: [5] })
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).table('kv')!.bootstrap).toEqual({ readyFactor: 2, readyShards: [5] })
    const v = c.version
    expect(alter(c, 'ALTER TABLE kv SET REPLICAS READY ON SHARD 5').version).toBe(v) // nothing to change
    c = alter(c, 'ALTER TABLE kv SET REPLICAS READY')
    expect(c.table('kv')!.bootstrap).toBeUndefined()
    expect('bootstrap' in Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).table('kv')!).toBe(false)
  })

  it('the statement formats back to what parses to it (it travels to the catalog coordinator as text)', () => {
    for (const sql of ['ALTER TABLE kv SET REPLICAS READY ON SHARD 12', 'ALTER TABLE kv SET REPLICAS READY']) {
      const s = parseOne(sql)
      expect(formatStatement(s)).toBe(sql)
      expect(s).toMatchObject({ kind: 'alter_table', action: { kind: 'replicas_ready' } })
    }
    // `replicas` stays an ordinary option name otherwise.
    expect(() => parseOne('ALTER TABLE kv SET replicas = 3')).not.toThrow()
  })
})
