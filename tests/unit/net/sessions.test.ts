import { describe, expect, it } from 'vitest'
import { SessionRegistry } from '../../../src/net/sessions'
import { SeededRng } from '../../../src/core/rng'

describe('client sessions', () => {
  it('creates, serialises use, and expires idle sessions for rollback', () => {
    const reg = new SessionRegistry<{ txn: number | null }>(1000, () => ({ txn: null }), new SeededRng(1))
    const a = reg.create(0)
    const b = reg.create(0)
    expect(a.id).not.toBe(b.id)
    const s = reg.acquire(a.id, 500)
    expect(() => reg.acquire(a.id, 600)).toThrow(expect.objectContaining({ code: 'SB_SESSION_BUSY' }))
    s.state.txn = 42
    expect(reg.expire(5000).map(x => x.id)).toEqual([b.id]) // a is busy: never expired mid-request
    reg.release(s, 5000)
    expect(reg.expire(5500)).toEqual([])
    const expired = reg.expire(6001)
    expect(expired.map(x => x.state.txn)).toEqual([42]) // the caller rolls this transaction back
    expect(() => reg.acquire(a.id, 7000)).toThrow(expect.objectContaining({ code: 'SB_SESSION_NOT_FOUND' }))
  })

  it('is bounded', () => {
    const reg = new SessionRegistry(1000, () => null, new SeededRng(2), 2)
    reg.create(0)
    reg.create(0)
    expect(() => reg.create(0)).toThrow(expect.objectContaining({ code: 'SB_TOO_MANY_SESSIONS' }))
  })
})
