import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  resumeAfterRestart, splitAction, decisionRecordSide, sideOf, splitBlockers, splitChildren, splitParent, splitRefused, splitsBetween, splitTarget, type SplitContext
} from '../../../src/cluster/shard-split'
import { initHashing, xxhash64 } from '../../../src/core/hash'
import { decisionShard } from '../../../src/cluster/twopc/decision'
import { asShardId, MAX_SHARDS } from '../../../src/core/ids'
import { partitionKeyBytes, shardOf } from '../../../src/core/partition'

// Issue 20 item 5: the rules of a shard split (cluster/shard-split.ts). The routing property is
// checked against the shipped routing (core/partition.ts shardOf with the real xxhash64).

function refusal (f: () => unknown): { code: string, message: string, details: Record<string, unknown> } {
  try { f() } catch (e) { return e as { code: string, message: string, details: Record<string, unknown> } }
  throw new Error('expected a refusal')
}

beforeAll(async () => { await initHashing() })

describe('routing after a doubling', () => {
  it('sends every key of shard s of n to s or s + n of 2n, and sideOf says which (the shipped routing)', () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 2048 }), (key, n) => {
      const parts = [{ type: 'text' as const, value: key }]
      const before = shardOf(parts, n)
      const after = shardOf(parts, n * 2)
      const side = sideOf(xxhash64(partitionKeyBytes(parts)), n)
      expect(after).toBe(side === 'child' ? before + n : before)
      expect(splitChildren(before, n)).toContain(after)
      expect(splitParent(after, n)).toBe(before)
    }), { numRuns: 2000 })
  })

  it('the design check value: user_123 is shard 7 of 16, and of 32 one of 7 or 23', () => {
    const parts = [{ type: 'text' as const, value: 'user_123' }]
    expect(shardOf(parts, 16)).toBe(7)
    expect([7, 23]).toContain(shardOf(parts, 32))
  })

  it('splits 4 shards into 8: both children of each parent receive rows of a spread of keys', () => {
    const seen = new Map<number, Set<number>>()
    for (let i = 0; i < 400; i++) {
      const parts = [{ type: 'int' as const, value: BigInt(i) }]
      const p = shardOf(parts, 4)
      const set = seen.get(p) ?? new Set<number>()
      set.add(shardOf(parts, 8))
      seen.set(p, set)
    }
    for (let p = 0; p < 4; p++) expect([...seen.get(p)!].sort((a, b) => a - b)).toEqual([p, p + 4])
  })

  it('splitChildren / splitParent refuse shards outside the counts (a programming error)', () => {
    expect(refusal(() => splitChildren(asShardId(4), 4)).code).toBe('SB_INTERNAL')
    expect(refusal(() => splitParent(asShardId(8), 4)).code).toBe('SB_INTERNAL')
  })
})

describe('splitsBetween', () => {
  it('counts the doublings from one layout to a later one, each needing an epoch of its own', () => {
    expect(splitsBetween(16, 3, 16, 3)).toBe(0)
    expect(splitsBetween(16, 3, 16, 9)).toBe(0)
    expect(splitsBetween(16, 3, 32, 4)).toBe(1)
    expect(splitsBetween(16, 3, 64, 5)).toBe(2)
    expect(splitsBetween(16, 3, 64, 4)).toBeNull() // two splits in one epoch
    expect(splitsBetween(16, 3, 32, 3)).toBeNull()
    expect(splitsBetween(16, 3, 48, 9)).toBeNull()
    expect(splitsBetween(16, 3, 8, 9)).toBeNull()
    expect(splitsBetween(3, 1, 6, 2)).toBe(1) // doubling, not powers of two
  })
})

describe('splitTarget', () => {
  it('accepts exactly twice the current count; the current count is a no-op', () => {
    expect(splitTarget(16, 32)).toBe(32)
    expect(splitTarget(3, 6)).toBe(6)
    expect(splitTarget(16, 16)).toBeNull()
  })

  it.each([
    [16, 24, /only doubles .* the only other count this cluster accepts now is 32/],
    [16, 8, /only doubles/],
    [16, 64, /splitting to 32 first, then again/],
    [16, 0, /only doubles/]
  ])('refuses %i → %i with SB_SHARD_SPLIT_INVALID naming the accepted count', (from, to, message) => {
    const e = refusal(() => splitTarget(from, to))
    expect(e.code).toBe('SB_SHARD_SPLIT_INVALID')
    expect(e.message).toMatch(message)
    expect(e.details).toEqual({ current: from, requested: to, accepted: from * 2 })
  })

  it('refuses a doubling past MAX_SHARDS', () => {
    const e = refusal(() => splitTarget(MAX_SHARDS, MAX_SHARDS * 2))
    expect(e.code).toBe('SB_SHARD_SPLIT_INVALID')
    expect(e.message).toContain(`above the maximum of ${MAX_SHARDS}`)
    expect(e.details.accepted).toBeNull()
  })
})

describe('splitBlockers', () => {
  const none: SplitContext = { tables: [], membershipChanging: false, rowCopyBuilt: true }

  it('nothing in the way: empty', () => {
    expect(splitBlockers({ ...none, tables: [{ name: 'orders', leaderless: false, globalIndexes: [], moving: false }] })).toEqual([])
  })

  it('names each table with a global index, each leaderless table, each move, a membership change and the missing row copy', () => {
    const b = splitBlockers({
      tables: [
        { name: 'users', leaderless: false, globalIndexes: ['users_email_key'], moving: false },
        { name: 'events', leaderless: true, globalIndexes: [], moving: false },
        { name: 'orders', leaderless: false, globalIndexes: [], moving: true }
      ],
      membershipChanging: true,
      rowCopyBuilt: false
    })
    expect(b.map(x => x.what)).toEqual(['global_index', 'leaderless_table', 'table_move', 'membership_change', 'row_copy'])
    const e = splitRefused(4, 8, b)
    expect(e.code).toBe('SB_SHARD_SPLIT_UNSUPPORTED')
    expect(e.message).toContain('cannot split 4 shards into 8')
    expect(e.message).toContain('"users_email_key"')
    expect(e.message).toContain('table "events" is leaderless_quorum')
    expect(e.message).toContain('table "orders" is being moved')
    expect(e.message).toContain('nothing was changed')
    expect(e.details).toEqual({ current: 4, target: 8, blockers: ['global_index', 'leaderless_table', 'table_move', 'membership_change', 'row_copy'] })
  })
})

describe('resumeAfterRestart (crash points)', () => {
  it('no split recorded: nothing to resume', () => {
    expect(resumeAfterRestart(8, undefined)).toEqual({ kind: 'none' })
  })

  it('intent recorded, switch not: route with the old count and refill the children', () => {
    expect(resumeAfterRestart(4, { from: 4, to: 8, phase: 'copying' })).toEqual({ kind: 'continue_copy', routeWith: 4, children: 4 })
  })

  it('switch recorded: route with the new count and finish the parents\' cleanup', () => {
    expect(resumeAfterRestart(8, { from: 4, to: 8, phase: 'switched' })).toEqual({ kind: 'cleanup', routeWith: 8, parents: 4 })
  })

  it.each([
    [8, { from: 4, to: 8, phase: 'copying' as const }],
    [4, { from: 4, to: 8, phase: 'switched' as const }],
    [4, { from: 4, to: 12, phase: 'copying' as const }]
  ])('a record that contradicts the shard count (%i shards, %o) is SB_STORAGE_CORRUPT, never half-routed', (shards, split) => {
    expect(refusal(() => resumeAfterRestart(shards, split)).code).toBe('SB_STORAGE_CORRUPT')
  })
})

describe('splitAction (the copy into a child: base copy + log tail)', () => {
  // The header's convergence argument, checked on a model: a parent's history of puts and deletes
  // (a put's row says which side it falls on; an update may move a key across sides), a log pinned
  // at L0, a base copy that reads each key once at some point at or after L0 (in key order, at
  // non-decreasing log positions, as a paging scan racing the writers does), then the tail
  // L0 + 1 … end applied in order. The child must end as exactly the parent's child-side rows.
  type Op = { key: number, row: { side: 'parent' | 'child', v: number } | null }
  const apply = (m: Map<number, Op['row']>, op: Op): void => { if (op.row === null) m.delete(op.key); else m.set(op.key, op.row) }
  const stateAt = (ops: readonly Op[], upto: number): Map<number, Op['row']> => {
    const m = new Map<number, Op['row']>()
    for (let i = 0; i < upto; i++) apply(m, ops[i]!)
    return m
  }
  const toChild = (child: Map<number, number>, key: number, row: Op['row']): void => {
    const action = splitAction(row === null ? null : Uint8Array.of(row.side === 'child' ? 1 : 0), r => r[0] === 1)
    if (action === 'upsert') child.set(key, row!.v)
    else child.delete(key)
  }
  const op = fc.record({ key: fc.integer({ min: 0, max: 7 }), row: fc.option(fc.record({ side: fc.constantFrom('parent' as const, 'child' as const), v: fc.integer() }), { nil: null }) })

  it('ends with exactly the parent\'s child-side rows, whenever the base copy reads each key', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 40 }), fc.nat(), fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), (ops, l0Seed, readSeeds) => {
      const l0 = l0Seed % (ops.length + 1)
      // Read positions: non-decreasing, each in [l0, ops.length].
      let at = l0
      const child = new Map<number, number>()
      for (let key = 0; key < 8; key++) {
        at = Math.min(ops.length, at + (readSeeds[key]! % 3))
        const row = stateAt(ops, at).get(key)
        if (row !== undefined) toChild(child, key, row)
      }
      for (let i = l0; i < ops.length; i++) toChild(child, ops[i]!.key, ops[i]!.row)
      const want = new Map<number, number>()
      for (const [k, r] of stateAt(ops, ops.length)) if (r !== null && r.side === 'child') want.set(k, r.v)
      expect(child).toEqual(want)
    }), { numRuns: 2000 })
  })

  it('a put that moved the key to the parent side removes it from the child; a delete removes it whether or not it is there', () => {
    const child = (r: Uint8Array): boolean => r[0] === 1
    expect(splitAction(Uint8Array.of(1), child)).toBe('upsert')
    expect(splitAction(Uint8Array.of(0), child)).toBe('delete_if_present')
    expect(splitAction(null, () => { throw new Error('a delete has no row to ask about') })).toBe('delete_if_present')
  })

  it('2PC decision records split by xid, as decisionShard places them', () => {
    for (const n of [1, 2, 4, 16]) {
      for (let xid = 0n; xid < 64n; xid++) {
        const side = decisionRecordSide(xid, n)
        expect(decisionShard(xid as never, n * 2)).toBe(side === 'child' ? decisionShard(xid as never, n) + n : decisionShard(xid as never, n))
      }
    }
  })
})
