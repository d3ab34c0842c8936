import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { CHANGE_RULES, changeChecks } from '../../../src/catalog/change-checks'
import { REPLICATION_DEFAULTS, type ReplicationOptions } from '../../../src/catalog/replication-options'
import { ddlContext } from '../../../src/plan/column-default'
import type { AlterTableStatement, CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// Which checks a change of a table's replication options must pass (issue 13 items 3–5): live
// nodes bound only CREATE TABLE and a raised N; a new mode needs an empty table; a new partition
// key moves a populated table's rows (issue 17 item 7); anything else (W, R, uuid_type, a lower N)
// is allowed on any table in any outage.

const pk = ['id']
const quorum = (n: number, w: number, r: number): ReplicationOptions =>
  ({ ...REPLICATION_DEFAULTS, replication_mode: 'leaderless_quorum', uuid_type: 'v8_hlc', replication_factor: n, write_quorum: w, read_quorum: r })

describe('changeChecks: the decision table', () => {
  it('CREATE TABLE places N replicas: live nodes bound it; there are no rows to mind', () => {
    expect(changeChecks(null, quorum(3, 2, 2), pk)).toEqual({ liveNodes: true, needsEmptyTable: [], movesRows: false })
    expect(changeChecks(null, REPLICATION_DEFAULTS, pk)).toEqual({ liveNodes: true, needsEmptyTable: [], movesRows: false })
  })

  it('a change of W, R, uuid_type or a lower N checks neither live nodes nor rows', () => {
    const from = quorum(3, 2, 2)
    for (const to of [quorum(3, 1, 2), quorum(3, 3, 3), quorum(2, 2, 2), quorum(1, 1, 1), { ...REPLICATION_DEFAULTS, uuid_type: 'v8_hlc' as const }]) {
      const f = to.replication_mode === 'primary_replica' ? REPLICATION_DEFAULTS : from
      expect(changeChecks(f, to, pk), JSON.stringify(to)).toEqual({ liveNodes: false, needsEmptyTable: [], movesRows: false })
    }
    expect(changeChecks(from, from, pk)).toEqual({ liveNodes: false, needsEmptyTable: [], movesRows: false })
  })

  it('raising N checks live nodes and needs no empty table in either mode (the new replica is bootstrapped before it counts)', () => {
    // Leaderless (issue 14 item 4): the new replica is filled before it counts toward W and R (catalog/replica-bootstrap.ts).
    expect(changeChecks(quorum(2, 1, 1), quorum(3, 1, 1), pk)).toEqual({ liveNodes: true, needsEmptyTable: [], movesRows: false })
    // primary_replica (issue 14 item 4): its new replica is bootstrapped by snapshot and serves nothing until caught up.
    expect(changeChecks(REPLICATION_DEFAULTS, { ...REPLICATION_DEFAULTS, replication_factor: 2 }, pk)).toEqual({ liveNodes: true, needsEmptyTable: [], movesRows: false })
  })

  it('a new partition key moves the rows (no empty table needed); the primary key named explicitly is no change', () => {
    const c = changeChecks(REPLICATION_DEFAULTS, { ...REPLICATION_DEFAULTS, partition_key_columns: ['user_id'] }, pk)
    expect(c).toEqual({ liveNodes: false, needsEmptyTable: [], movesRows: true })
    expect(changeChecks(REPLICATION_DEFAULTS, { ...REPLICATION_DEFAULTS, partition_key_columns: ['id'] }, pk).movesRows).toBe(false)
    expect(changeChecks({ ...REPLICATION_DEFAULTS, partition_key_columns: ['a', 'b'] }, { ...REPLICATION_DEFAULTS, partition_key_columns: ['b', 'a'] }, pk).movesRows).toBe(true)
    // CREATE TABLE has no rows to move.
    expect(changeChecks(null, { ...REPLICATION_DEFAULTS, partition_key_columns: ['user_id'] }, pk).movesRows).toBe(false)
  })

  it('a new mode converts the rows by a move (both directions), with or without a new key', () => {
    expect(changeChecks(REPLICATION_DEFAULTS, quorum(1, 1, 1), pk)).toEqual({ liveNodes: false, needsEmptyTable: [], movesRows: true })
    expect(changeChecks(quorum(1, 1, 1), REPLICATION_DEFAULTS, pk)).toEqual({ liveNodes: false, needsEmptyTable: [], movesRows: true })
    expect(changeChecks(REPLICATION_DEFAULTS, { ...quorum(1, 1, 1), partition_key_columns: ['x'] }, pk)).toMatchObject({ needsEmptyTable: [], movesRows: true })
  })

  it('has one row per option that can refuse a change, and none for W, R or uuid_type', () => {
    expect(CHANGE_RULES.map(r => r.option).sort()).toEqual(['partition_key_columns', 'replication_factor', 'replication_mode'])
  })
})

describe('Catalog: live nodes bound only what places replicas (item 5)', () => {
  const create = (sql: string, live: number): Catalog => new Catalog().createTable(parseOne(sql) as CreateTableStatement, ddlContext(live)).catalog
  const alter = (c: Catalog, sql: string, live: number): Catalog => c.alterTable(parseOne(sql) as AlterTableStatement, ddlContext(live)).catalog
  const KV = "CREATE TABLE kv (id BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 3, read_quorum = 3)"

  it('with one of three nodes down, W and R of an N=3 table may still change; raising N may not', () => {
    let c = create(KV, 3)
    c = alter(c, 'ALTER TABLE kv SET write_quorum = 2', 2)
    c = alter(c, 'ALTER TABLE kv SET read_quorum = 1', 1)
    expect(c.mustTable('kv').replication).toMatchObject({ replication_factor: 3, write_quorum: 2, read_quorum: 1 })
    c = alter(c, 'ALTER TABLE kv SET replication_factor = 2, write_quorum = 1', 1)
    expect(c.mustTable('kv').replication).toMatchObject({ replication_factor: 2, write_quorum: 1 })
    expect(() => alter(c, 'ALTER TABLE kv SET replication_factor = 3', 3)).not.toThrow()
    expect(() => alter(c, 'ALTER TABLE kv SET replication_factor = 3', 2)).toThrow(expect.objectContaining({ code: 'SB_INVALID_TABLE_OPTION', message: 'replication_factor=3 exceeds the 2 live nodes of the cluster' }))
    expect(() => create(KV, 2)).toThrow(/replication_factor=3 exceeds the 2 live nodes/)
    // The static rules still hold whatever the outage: W ≤ N.
    expect(() => alter(c, 'ALTER TABLE kv SET write_quorum = 3', 3)).toThrow(/W must be ≤ N/)
  })
})
