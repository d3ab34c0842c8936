import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { drillBuckets, judgeMode1Leaves, mode1FirstStart, mode1RoundDue, mode1SnapshotHlc, MODE1_SNAPSHOT_MARGIN_MS } from '../../../src/cluster/anti-entropy/mode1-rules'
import { mode1LogLine, type Mode1RoundReport } from '../../../src/cluster/anti-entropy/log-lines'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { hlcMs } from '../../../src/storage/types'

// The pure rules of a Mode 1 verification round (cluster/anti-entropy/mode1-rules.ts) and its log lines.

const key = (n: number): Uint8Array => Uint8Array.of(0x10, n)
const version = (n: number): Uint8Array => { const v = new Uint8Array(16); v[15] = n; v[8] = 0x80; return v }
const leaf = (k: number, v: number, h: bigint): { key: Uint8Array, version: Uint8Array, rowHash: bigint } => ({ key: key(k), version: version(v), rowHash: h })

describe('Mode 1 rules', () => {
  it('the snapshot point is now minus the lag and the margin, never negative; bad input is a coded error', () => {
    expect(hlcMs(mode1SnapshotHlc(100_000, 500))).toBe(100_000 - 500 - MODE1_SNAPSHOT_MARGIN_MS)
    expect(hlcMs(mode1SnapshotHlc(1_000, 5_000))).toBe(0)
    expect(() => mode1SnapshotHlc(1_000, -1)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => mode1SnapshotHlc(Number.NaN, 0)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })

  it('a differing key is diverged unless either side wrote it since the snapshot; equal leaves are nothing', () => {
    const primary = { leaves: [leaf(1, 1, 11n), leaf(2, 2, 22n), leaf(3, 3, 33n), leaf(5, 5, 55n)], recent: [key(3)] }
    const replica = { leaves: [leaf(1, 1, 11n), leaf(2, 2, 99n), leaf(3, 3, 98n), leaf(4, 4, 44n)], recent: [] }
    const v = judgeMode1Leaves(primary, replica)
    expect(v.diverged.map(d => d.key[1])).toEqual([2, 4, 5])
    expect(v.deferred.map(k => k[1])).toEqual([3])
    expect(v.diverged.find(d => d.key[1] === 4)!.mine).toBeNull() // the primary has no row: the replica holds one too many
    expect(v.diverged.find(d => d.key[1] === 5)!.theirs).toBeNull()
    // The replica's recent writes defer too.
    expect(judgeMode1Leaves(primary, { ...replica, recent: [key(2)] }).deferred.map(k => k[1]).sort()).toEqual([2, 3])
    expect(() => judgeMode1Leaves(primary, { leaves: replica.leaves, recent: ['x' as unknown as Uint8Array] })).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })

  it('every differing key lands in exactly one of diverged and deferred', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(20), fc.nat(3), fc.nat(3)), { maxLength: 30 }), fc.array(fc.tuple(fc.nat(20), fc.nat(3), fc.nat(3)), { maxLength: 30 }), fc.array(fc.nat(20), { maxLength: 5 }), (a, b, recent) => {
      const dedup = (xs: Array<[number, number, number]>): ReturnType<typeof leaf>[] => [...new Map(xs.map(([k, v, h]) => [k, leaf(k, v, BigInt(h))])).values()]
      const p = dedup(a)
      const r = dedup(b)
      const v = judgeMode1Leaves({ leaves: p, recent: recent.map(key) }, { leaves: r, recent: [] })
      const pm = new Map(p.map(l => [l.key[1], l]))
      const rm = new Map(r.map(l => [l.key[1], l]))
      const differing = [...new Set([...pm.keys(), ...rm.keys()])].filter(k => {
        const x = pm.get(k)
        const y = rm.get(k)
        return x === undefined || y === undefined || x.version[15] !== y.version[15] || x.rowHash !== y.rowHash
      }).sort((x, y) => x! - y!)
      const got = [...v.diverged.map(d => d.key[1]!), ...v.deferred.map(k => k[1]!)].sort((x, y) => x - y)
      expect(got).toEqual(differing)
      for (const k of v.deferred) expect(recent).toContain(k[1])
    }))
  })

  it('log lines: a divergence is a WARNING naming the replica, the rows and the repair; a clean round INFO', () => {
    const base: Mode1RoundReport = { shard: asShardId(1), replica: asNodeId(2), outcome: 'completed', reason: null, bucketsDiverged: 1, rowsDiverged: 3, rowsDeferred: 0, rowsRepaired: 2, rowsUnrepaired: 1, snapshotMs: 5 }
    const bad = mode1LogLine(base)
    expect(bad.level).toBe('WARNING')
    expect(bad.msg).toBe('Anti-entropy: Node 2 diverged from the primary (Shard 001): 3 rows differ, repaired 2 rows from the primary; 1 rows not repaired in place (the replica holds another version or none): left as they are (no re-bootstrap: not tried)')
    expect(mode1LogLine({ ...base, rebootstrap: 'started' }).msg).toMatch(/1 rows not repaired in place \(.*\): re-bootstrapping Node 2 from a snapshot of the primary$/)
    expect(mode1LogLine({ ...base, rebootstrap: 'only 1 of the 2 voters' }).msg).toMatch(/left as they are \(no re-bootstrap: only 1 of the 2 voters\)$/)
    const clean = mode1LogLine({ ...base, bucketsDiverged: 0, rowsDiverged: 0, rowsRepaired: 0, rowsUnrepaired: 0 })
    expect(clean).toMatchObject({ level: 'INFO', msg: 'Anti-entropy: Round with Node 2 completed (Shard 001, primary/replica): 0 buckets differed, 0 rows diverged' })
    expect(mode1LogLine({ ...base, outcome: 'aborted', reason: 'replica-lag-unknown' })).toMatchObject({ level: 'WARNING', msg: 'Anti-entropy: Round with Node 2 aborted (replica-lag-unknown) (Shard 001, primary/replica)' })
  })

  it('drill-down: a group of buckets whose leaves overflow one reply is asked again in halves; a bucket that alone overflows is counted', async () => {
    // Leaves per bucket: bucket 5 alone overflows the reply bound (100), the rest hold 10 each.
    const leavesOf = (b: number): number => b === 5 ? 150 : 10
    const asked: number[][] = []
    const covered: number[] = []
    const overflowing = await drillBuckets(Array.from({ length: 20 }, (_, i) => i), 16, async (group) => {
      asked.push(group)
      if (group.reduce((n, b) => n + leavesOf(b), 0) > 100) return 'too-many'
      covered.push(...group)
      return 'ok'
    })
    expect(overflowing).toBe(1)
    // Every bucket but the overflowing one drilled exactly once.
    expect(covered.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i).filter(b => b !== 5))
    expect(asked[0]).toEqual(Array.from({ length: 16 }, (_, i) => i))
    expect(asked).toContainEqual([5])
    expect(await drillBuckets([], 16, async () => 'ok')).toBe(0)
  })

  it('pacing: a round every interval, but a long one holds the next back to 2 % busy; forced rounds start at once', () => {
    expect(mode1RoundDue(null, 0, 60_000, false)).toBe(true)
    expect(mode1RoundDue(59_999, 100, 60_000, false)).toBe(false)
    expect(mode1RoundDue(60_000, 100, 60_000, false)).toBe(true)
    // A 3 s round (a big shard): the next one 150 s after it began, not 60 s.
    expect(mode1RoundDue(149_999, 3_000, 60_000, false)).toBe(false)
    expect(mode1RoundDue(150_000, 3_000, 60_000, false)).toBe(true)
    expect(mode1RoundDue(1, 3_000, 60_000, true)).toBe(true)
  })
})

describe('mode1FirstStart: the shards a node starts leading together are verified spread over one interval', () => {
  it('shard s of n has its first round (s + 1) / n of the interval later, never at once', () => {
    const now = 1_000_000
    const due = (s: number): number => {
      const start = mode1FirstStart(now, 60_000, s, 8)
      for (let t = now; ; t += 500) if (mode1RoundDue(t - start, 0, 60_000, false)) return t - now
    }
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(due)).toEqual([7_500, 15_000, 22_500, 30_000, 37_500, 45_000, 52_500, 60_000])
    // A shard id past the count it was given (a split's new shard seen early) still waits one interval at most.
    expect(mode1FirstStart(now, 60_000, 9, 8)).toBe(now)
  })
})
