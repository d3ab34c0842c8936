import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import {
  moveRunner, nextMoveStep, readMove, refuseMovingWrite, shardCopied, startedMove, takenOver, toCleanup, type TableMove
} from '../../../src/catalog/table-move'
import { ddlContext } from '../../../src/plan/column-default'
import type { TableDdlStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// The state machine of moving a populated table to a new layout (issue 17 item 7): its phases,
// what a runner does next from any record a crash can leave, who runs it, and the catalog's steps.

describe('the move record', () => {
  it('copies shard by shard, then switches, then cleans up; resuming picks the first shard not copied', () => {
    let m = startedMove(2, 4)
    expect(nextMoveStep(m)).toEqual({ kind: 'copy', shard: 0 })
    m = shardCopied(m, 2, 't')
    m = shardCopied(m, 0, 't')
    m = shardCopied(m, 2, 't') // again (a resumed copy): idempotent
    expect(m.copiedShards).toEqual([0, 2])
    expect(nextMoveStep(m)).toEqual({ kind: 'copy', shard: 1 })
    expect(() => toCleanup(m, 't', false)).toThrow(expect.objectContaining({ code: 'SB_TABLE_MOVE_STATE', message: 'table "t" cannot switch to its new layout: shards 1, 3 are not copied yet' }))
    m = shardCopied(shardCopied(m, 1, 't'), 3, 't')
    expect(nextMoveStep(m)).toEqual({ kind: 'switch' })
    const c = toCleanup(m, 't', false)
    expect(c).toEqual({ phase: 'cleanup', coordinator: 2, shards: 4, copiedShards: [], outcome: 'switched' })
    expect(nextMoveStep(c)).toEqual({ kind: 'cleanup' })
    // Late steps of a phase that ended are refused, changing nothing.
    expect(() => shardCopied(c, 1, 't')).toThrow(expect.objectContaining({ code: 'SB_TABLE_MOVE_STATE' }))
    expect(() => toCleanup(c, 't', false)).toThrow(expect.objectContaining({ code: 'SB_TABLE_MOVE_STATE' }))
    expect(() => shardCopied(startedMove(1, 4), 4, 't')).toThrow(/shard 4 does not exist \(the cluster has 4\)/)
    // CANCEL needs no copied shard.
    expect(toCleanup(startedMove(1, 4), 't', true).outcome).toBe('cancelled')
  })

  it('is run by its coordinator while alive, else by the lowest live node', () => {
    const m = startedMove(2, 4)
    expect(moveRunner(m, [1, 2, 3])).toBe(2)
    expect(moveRunner(m, [3, 1])).toBe(1)
    expect(moveRunner(m, [])).toBeNull()
    expect(moveRunner(takenOver(m, 3), [1, 3])).toBe(3)
  })

  it('refuses writes only while rows are copied', () => {
    expect(() => refuseMovingWrite({ name: 't', move: startedMove(1, 2) }, 'the INSERT')).toThrow(expect.objectContaining({ code: 'SB_TABLE_ALTERING' }))
    expect(() => refuseMovingWrite({ name: 't', move: toCleanup(startedMove(1, 1), 't', true) }, 'the INSERT')).not.toThrow()
    expect(() => refuseMovingWrite({ name: 't' }, 'the INSERT')).not.toThrow()
  })

  it('a malformed record from a document is SB_STORAGE_CORRUPT', () => {
    expect(readMove(undefined, 't')).toBeUndefined()
    const ok: TableMove = startedMove(1, 8)
    expect(readMove(JSON.parse(JSON.stringify(ok)), 't')).toEqual(ok)
    for (const bad of [null, { ...ok, phase: 'x' }, { ...ok, shards: 0 }, { ...ok, copiedShards: [-1] }, { ...ok, coordinator: '1' }, { ...ok, outcome: 'maybe' }]) {
      expect(() => readMove(bad, 't'), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    }
  })
})

describe('Catalog: the steps of a move', () => {
  const ctx = ddlContext(1)
  const run = (c: Catalog, sql: string): Catalog => c.apply(parseOne(sql) as TableDdlStatement, ctx).catalog
  const base = (): Catalog => run(new Catalog(), 'CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, code TEXT UNIQUE)')
  const START = "ALTER TABLE orders MOVE START BY NODE 2 SHARDS 2 SET partition_key_columns = 'user_id'"

  it('START adds a hidden target with its constraint indexes; SWITCH gives the table its id, key and indexes in one version; DONE removes the old', () => {
    let c = base()
    const old = c.mustTable('orders')
    const oldIndexes = c.indexesOf(old.id).map(i => i.name)
    c = run(c, START)
    const t = c.mustTable('orders')
    expect(t.id).toBe(old.id)
    expect(t.move).toEqual({ phase: 'copy', coordinator: 2, shards: 2, copiedShards: [] })
    expect(c.layoutFloor).toBe(c.version)
    const target = c.table('orders$move')!
    expect(target.moving).toEqual({ table: 'orders', role: 'target' })
    expect(target.replication.partition_key_columns).toEqual(['user_id'])
    // Neither the primary key nor UNIQUE (code) holds user_id: both need global indexes on the target.
    expect(c.indexesOf(target.id).map(i => [i.name, i.index!.global])).toEqual([['orders$move_pkey', true], ['orders$move_code_key', true]])
    expect(c.userTables.map(x => x.name)).toEqual(['orders'])
    expect(() => c.mustTable('orders$move')).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_TABLE' }))
    expect(() => run(c, 'ALTER TABLE orders MOVE SWITCH')).toThrow(/shards 0, 1 are not copied yet/)
    expect(() => run(c, 'CREATE INDEX ix ON orders (user_id)')).toThrow(expect.objectContaining({ code: 'SB_TABLE_ALTERING' }))
    expect(() => run(c, START)).toThrow(expect.objectContaining({ code: 'SB_TABLE_MOVE_STATE' }))
    c = run(run(c, 'ALTER TABLE orders MOVE COPIED SHARD 1'), 'ALTER TABLE orders MOVE COPIED SHARD 0')
    const before = c.version
    c = run(c, 'ALTER TABLE orders MOVE SWITCH')
    expect(c.version).toBe(before + 1)
    const moved = c.mustTable('orders')
    expect(moved.id).toBe(target.id)
    expect(moved.replication.partition_key_columns).toEqual(['user_id'])
    expect(moved.move).toMatchObject({ phase: 'cleanup', outcome: 'switched' })
    expect(c.indexesOf(moved.id).map(i => i.name)).toEqual(['orders_pkey', 'orders_code_key'])
    expect(c.tables.filter(x => x.moving?.role === 'retired').map(x => [x.name, x.id])).toEqual([
      ['orders$old$orders', old.id], ...oldIndexes.map(n => [`orders$old$${n}`, c.table(`orders$old$${n}`)!.id])
    ])
    // Writes are allowed again in cleanup; the document survives a round trip.
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).mustTable('orders').move).toEqual(moved.move)
    c = run(c, 'ALTER TABLE orders MOVE DONE')
    expect(c.mustTable('orders').move).toBeUndefined()
    expect(c.tables.filter(x => x.moving !== undefined)).toEqual([])
    expect(c.tables.map(x => x.name).sort()).toEqual(['orders', 'orders_code_key', 'orders_pkey'])
  })

  it('CANCEL retires the target and leaves the table as it was', () => {
    let c = run(base(), START)
    const target = c.table('orders$move')!
    c = run(c, 'ALTER TABLE orders MOVE CANCEL')
    expect(c.mustTable('orders').replication.partition_key_columns).toBeNull()
    expect(c.table('orders$old$orders$move')!.id).toBe(target.id)
    c = run(c, 'ALTER TABLE orders MOVE DONE')
    // As created: partitioned by its primary key, only UNIQUE (code) needs an index relation.
    expect(c.tables.map(x => x.name).sort()).toEqual(['orders', 'orders_code_key'])
  })

  it('a table with an index made by CREATE INDEX is not moved (drop it first)', () => {
    const c = run(base(), 'CREATE INDEX by_user ON orders (user_id) GLOBAL')
    expect(() => run(c, START)).toThrow(expect.objectContaining({ code: 'SB_FEATURE_NOT_SUPPORTED', message: expect.stringMatching(/index "by_user"/) }))
  })
})
