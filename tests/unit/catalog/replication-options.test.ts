import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import {
  REPLICATION_DEFAULTS, parseReplicationOption, validateReplicationOptions, withOption, type ReplicationOptions
} from '../../../src/catalog/replication-options'

const ctx = { liveNodes: 3, columns: ['sensor_id', 'value', 'user_id'] }
const quorum = (n: number, w: number, r: number): ReplicationOptions =>
  ({ ...REPLICATION_DEFAULTS, replication_mode: 'leaderless_quorum', uuid_type: 'v8_hlc', replication_factor: n, write_quorum: w, read_quorum: r })

function rejected (f: () => unknown): { option: unknown, message: string } {
  try { f() } catch (e) {
    if (isScratchBirdError(e, 'SB_INVALID_TABLE_OPTION')) return { option: e.details.option, message: e.message }
    throw e
  }
  throw new Error('expected SB_INVALID_TABLE_OPTION')
}

describe('table replication options', () => {
  it('has the seed\'s defaults', () => {
    expect(REPLICATION_DEFAULTS).toEqual({ replication_mode: 'primary_replica', replication_factor: 1, write_quorum: 1, read_quorum: 1, uuid_type: 'v7', partition_key_columns: null })
    expect(validateReplicationOptions(REPLICATION_DEFAULTS, { liveNodes: 1, columns: [] })).toEqual([])
  })

  it('parses the seed\'s WITH / SET values', () => {
    let o: ReplicationOptions = { ...REPLICATION_DEFAULTS }
    for (const [k, v] of [['replication_mode', 'leaderless_quorum'], ['replication_factor', 3n], ['write_quorum', 2n], ['read_quorum', 2n], ['uuid_type', 'v8_hlc'], ['partition_key_columns', 'user_id']] as const) {
      o = withOption(o, k, v)
    }
    expect(o).toEqual({ ...quorum(3, 2, 2), partition_key_columns: ['user_id'] })
    expect(validateReplicationOptions(o, ctx)).toEqual([])
    expect(parseReplicationOption('PARTITION_KEY_COLUMNS', 'Tenant_ID, user_id')).toEqual({ partition_key_columns: ['tenant_id', 'user_id'] })
    expect(parseReplicationOption('partition_key_columns', null)).toEqual({ partition_key_columns: null })
  })

  it('rejects each broken rule naming its option', () => {
    expect(rejected(() => validateReplicationOptions(quorum(3, 4, 1), ctx))).toMatchObject({ option: 'write_quorum', message: expect.stringContaining('W must be ≤ N') })
    expect(rejected(() => validateReplicationOptions(quorum(3, 1, 4), ctx))).toMatchObject({ option: 'read_quorum' })
    expect(rejected(() => validateReplicationOptions(quorum(5, 3, 3), ctx))).toMatchObject({ option: 'replication_factor', message: 'replication_factor=5 exceeds the 3 live nodes of the cluster' })
    expect(rejected(() => validateReplicationOptions({ ...quorum(3, 2, 2), uuid_type: 'v7' }, ctx))).toMatchObject({ option: 'uuid_type' })
    expect(rejected(() => validateReplicationOptions({ ...REPLICATION_DEFAULTS, partition_key_columns: ['nope'] }, ctx))).toMatchObject({ option: 'partition_key_columns' })
    expect(rejected(() => parseReplicationOption('write_quorum', 0n))).toMatchObject({ option: 'write_quorum' })
    expect(rejected(() => parseReplicationOption('write_quorum', 'two'))).toMatchObject({ option: 'write_quorum' })
    expect(rejected(() => parseReplicationOption('replication_mode', 'multi_master'))).toMatchObject({ option: 'replication_mode', message: expect.stringContaining("'primary_replica', 'leaderless_quorum'") })
    expect(rejected(() => parseReplicationOption('durability', 'sync'))).toMatchObject({ option: 'durability', message: expect.stringContaining('unknown table option') })
    expect(rejected(() => parseReplicationOption('partition_key_columns', 'a, a'))).toMatchObject({ option: 'partition_key_columns' })
  })

  it('checks N against live nodes only when given them (change-checks.ts decides when)', () => {
    expect(validateReplicationOptions(quorum(3, 2, 2), { liveNodes: null, columns: [] })).toEqual([])
    expect(rejected(() => validateReplicationOptions(quorum(3, 2, 2), { liveNodes: 2, columns: [] }))).toMatchObject({ option: 'replication_factor' })
    expect(rejected(() => validateReplicationOptions(quorum(3, 4, 2), { liveNodes: null, columns: [] }))).toMatchObject({ option: 'write_quorum' })
  })

  it('warns when reads may miss writes and when both sides of a partition may accept writes', () => {
    expect(validateReplicationOptions(quorum(3, 2, 2), ctx)).toEqual([])
    const weak = validateReplicationOptions(quorum(3, 1, 1), ctx)
    expect(weak).toHaveLength(2)
    expect(weak[0]).toMatch(/W \+ R ≤ N \(1 \+ 1 ≤ 3\)/)
    expect(weak[1]).toMatch(/W ≤ N\/2/)
  })

  it('never throws anything but a coded error on any value', () => {
    fc.assert(fc.property(fc.constantFrom('replication_mode', 'replication_factor', 'write_quorum', 'read_quorum', 'uuid_type', 'partition_key_columns', 'bogus'), fc.anything(), (name, value) => {
      try { parseReplicationOption(name, value) } catch (e) { expect(isScratchBirdError(e, 'SB_INVALID_TABLE_OPTION')).toBe(true) }
    }))
    fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), (n, w, r, live) => {
      const ok = n <= live && w <= n && r <= n
      let threw = false
      try { validateReplicationOptions(quorum(n, w, r), { liveNodes: live, columns: [] }) } catch { threw = true }
      expect(threw).toBe(!ok)
    }))
  })
})
