import { describe, expect, it } from 'vitest'
import { checkShardCount, routedShardCount, SHARD_COUNT_RULES, wireShardCount } from '../../../src/cluster/shard-count-guard'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { isLocalOnly, SHARD_OPS, type ShardOpName } from '../../../src/shard/protocol/ops'

// The routing guard of a shard split (cluster/shard-count-guard.ts): a request routed by one shard
// count is refused by a node running another, in both directions, for every op routed by key or
// shard id; ops that name a transaction or one replica's own state pass.

const NODE = asNodeId(2)
const codeOf = (f: () => void): string | null => { try { f(); return null } catch (e) { return (e as { code?: string }).code ?? 'thrown' } }

const ROUTED: ShardOpName[] = ['AUTOCOMMIT', 'BEGIN', 'GET', 'SCAN', 'WRITE', 'WRITE_READ', 'MODIFY_ROW', 'QUERY', 'JOIN_QUERY', 'REPLICA_QUERY', 'VERSION_SCAN', 'REPLICA_APPLY', 'REPLICA_READ', 'REPLICA_VERSION_SCAN']

describe('checkShardCount', () => {
  it('refuses every op routed by key or shard id when routed by n at a node of 2n, and by 2n at a node of n', () => {
    for (const op of ROUTED) {
      expect(codeOf(() => checkShardCount(op, asShardId(3), 16, 32, NODE)), `${op} n→2n`).toBe('SB_SHARD_COUNT_STALE')
      expect(codeOf(() => checkShardCount(op, asShardId(20), 32, 16, NODE)), `${op} 2n→n`).toBe('SB_SHARD_COUNT_STALE')
      expect(codeOf(() => checkShardCount(op, asShardId(3), 32, 32, NODE)), `${op} same`).toBeNull()
    }
  })

  it('names both counts, the shard and the node; the code is retryable (40001)', () => {
    let err: any
    try { checkShardCount('QUERY', asShardId(5), 16, 32, NODE) } catch (e) { err = e }
    expect(err).toMatchObject({ code: 'SB_SHARD_COUNT_STALE', details: { shard: 5, routed_shards: 16, shards: 32, node: 2 } })
    expect(err.message).toMatch(/routed by 16 shards.*runs 32 shards/)
    expect(err.sqlstate ?? err.toJSON?.().sqlstate).toBe('40001')
  })

  it('passes ops that name an open transaction or one replica\'s own state, whatever the counts', () => {
    for (const op of ['COMMIT', 'ROLLBACK', 'PREPARE', 'COMMIT_PREPARED', 'ABORT_PREPARED', 'LIST_LIMBO', 'STATS', 'PING', 'MERKLE_ROOTS', 'AE_APPLY', 'MODE1_VERIFY', 'READ_COMMIT_LOG'] as ShardOpName[]) {
      expect(codeOf(() => checkShardCount(op, asShardId(3), 16, 32, NODE)), op).toBeNull()
    }
  })

  it('classifies every op in the op table, and every op a peer may send routed by key is checked', () => {
    expect(Object.keys(SHARD_COUNT_RULES).sort()).toEqual(Object.keys(SHARD_OPS).sort())
    const routed = (Object.keys(SHARD_COUNT_RULES) as ShardOpName[]).filter(op => SHARD_COUNT_RULES[op] === 'routed')
    expect(routed.sort()).toEqual([...ROUTED].sort())
    // Nothing local-only is 'routed' (a peer never sends it, the executor never routes it by key).
    expect(routed.filter(isLocalOnly)).toEqual([])
  })
})

describe('the count on the wire', () => {
  it('is written only once the sender\'s layout split or is splitting', () => {
    expect(wireShardCount({}, 16)).toBeUndefined()
    expect(wireShardCount({ split: { to: 32 } }, 16)).toBe(16)
    expect(wireShardCount({ splitFrom: [16] }, 32)).toBe(32)
    expect(wireShardCount({ placementShards: 16 }, 32)).toBe(32)
  })

  it('an unstamped request counts as routed by the cluster\'s first count: refused by a node that split, served by one that did not', () => {
    const live = 32
    expect(routedShardCount(undefined, { splitFrom: [16] }, live)).toBe(16)
    expect(routedShardCount(undefined, { placementShards: 16, splitFrom: [16] }, live)).toBe(16)
    expect(routedShardCount(undefined, {}, 16)).toBe(16)
    expect(routedShardCount(32, { splitFrom: [16] }, live)).toBe(32)
    // Node at 32 (split from 16), request from a node still at 16 that sends no count: refused.
    expect(codeOf(() => checkShardCount('AUTOCOMMIT', asShardId(1), routedShardCount(wireShardCount({}, 16), { splitFrom: [16] }, live), live, NODE))).toBe('SB_SHARD_COUNT_STALE')
    // Node at 16 (intent recorded, not switched), request from a node at 32: refused.
    expect(codeOf(() => checkShardCount('GET', asShardId(17), routedShardCount(wireShardCount({ splitFrom: [16] }, 32), { split: { to: 32 } }, 16), 16, NODE))).toBe('SB_SHARD_COUNT_STALE')
    // Two nodes at 32: served.
    expect(codeOf(() => checkShardCount('GET', asShardId(17), routedShardCount(wireShardCount({ splitFrom: [16] }, 32), { splitFrom: [16] }, 32), 32, NODE))).toBeNull()
  })
})
