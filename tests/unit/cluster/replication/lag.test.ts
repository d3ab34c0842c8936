import { describe, expect, it } from 'vitest'
import { LandingTimes, MAX_TRACKED } from '../../../../src/cluster/replication/lag'
import { asNodeId } from '../../../../src/core/ids'

const n2 = asNodeId(2)

describe('replication lag (LandingTimes)', () => {
  it('a replica holding the log has no lag; one behind lags by the oldest entry it lacks', () => {
    const t = new LandingTimes()
    for (let i = 1; i <= 10; i++) t.landed(BigInt(i), 1000 + i * 10)
    expect(t.lagOf(n2, 10n, 10n, 5000)).toEqual({ replica: n2, matchLsn: 10n, lagLsns: 0n, lagMs: 0, atLeast: false })
    // Holds 1..6: entry 7 landed at 1070.
    expect(t.lagOf(n2, 6n, 10n, 1500)).toEqual({ replica: n2, matchLsn: 6n, lagLsns: 4n, lagMs: 430, atLeast: false })
    expect(t.lagOf(n2, 0n, 10n, 1500).lagMs).toBe(490)
  })

  it('forgets what every replica holds; a replica behind what is kept is reported as at least', () => {
    const t = new LandingTimes()
    for (let i = 1; i <= 10; i++) t.landed(BigInt(i), i)
    t.forgetThrough(5n)
    expect(t.size).toBe(5)
    expect(t.lagOf(n2, 5n, 10n, 100)).toMatchObject({ lagMs: 94, atLeast: false })
    expect(t.lagOf(n2, 2n, 10n, 100)).toMatchObject({ lagLsns: 8n, lagMs: 94, atLeast: true })
    // Out-of-order or repeated LSNs are ignored.
    t.landed(7n, 999)
    expect(t.lagOf(n2, 6n, 10n, 100).lagMs).toBe(93)
    t.clear()
    expect(t.size).toBe(0)
    expect(t.lagOf(n2, 6n, 10n, 100)).toMatchObject({ lagLsns: 4n, lagMs: 0, atLeast: true })
  })

  it('is bounded: beyond MAX_TRACKED entries the oldest are forgotten', () => {
    const t = new LandingTimes()
    for (let i = 1; i <= MAX_TRACKED + 10; i++) t.landed(BigInt(i), i)
    expect(t.size).toBe(MAX_TRACKED)
    expect(t.lagOf(n2, 0n, BigInt(MAX_TRACKED + 10), MAX_TRACKED + 20)).toMatchObject({ lagMs: MAX_TRACKED + 20 - 11, atLeast: true })
  })
})
