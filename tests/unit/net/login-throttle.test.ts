import { describe, expect, it } from 'vitest'
import { LoginThrottle, MAX_TRACKED } from '../../../src/net/login-throttle'
import { isScratchBirdError } from '../../../src/core/errors'

function throttle (maxFailures = 3, lockoutMs = 1000): { t: LoginThrottle, clock: { now: number } } {
  const clock = { now: 0 }
  return { t: new LoginThrottle({ settings: () => ({ maxFailures, lockoutMs }), now: () => clock.now }), clock }
}

function refused (t: LoginThrottle, address: string): number | null {
  try { t.check(address); return null } catch (e) {
    if (!isScratchBirdError(e, 'SB_LOGIN_THROTTLED')) throw e
    return Number(e.details.retry_after_ms)
  }
}

describe('failed-login throttling', () => {
  it('locks an address out after maxFailures failures, for lockoutMs, then admits it again', () => {
    const { t, clock } = throttle()
    t.failure('10.0.0.1'); t.failure('10.0.0.1')
    expect(refused(t, '10.0.0.1')).toBeNull()
    t.failure('10.0.0.1')
    expect(refused(t, '10.0.0.1')).toBe(1000)
    expect(refused(t, '10.0.0.2')).toBeNull() // another client is not affected
    clock.now = 999
    expect(refused(t, '10.0.0.1')).toBe(1)
    clock.now = 1000
    expect(refused(t, '10.0.0.1')).toBeNull()
  })

  it('counts failures within the window only, and a success clears the count', () => {
    const { t, clock } = throttle()
    t.failure('a'); t.failure('a')
    clock.now = 1000 // the window of the first failure ended
    t.failure('a')
    expect(refused(t, 'a')).toBeNull()
    t.failure('a')
    t.success('a')
    t.failure('a'); t.failure('a')
    expect(refused(t, 'a')).toBeNull()
    t.failure('a')
    expect(refused(t, 'a')).not.toBeNull()
  })

  it('one key per host: an IPv4 client seen as ::ffff:a.b.c.d is a.b.c.d', () => {
    const { t } = throttle(2)
    t.failure('::ffff:127.0.0.1'); t.failure('127.0.0.1')
    expect(refused(t, '::ffff:127.0.0.1')).not.toBeNull()
  })

  it('0 failures allowed: never throttles; the table stays bounded', () => {
    const off = throttle(0).t
    for (let i = 0; i < 100; i++) off.failure('x')
    expect(refused(off, 'x')).toBeNull()
    expect(off.size).toBe(0)
    const { t } = throttle(5)
    for (let i = 0; i < MAX_TRACKED + 50; i++) t.failure(`h${i}`)
    expect(t.size).toBe(MAX_TRACKED)
  })
})
