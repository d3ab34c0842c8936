import { describe, expect, it } from 'vitest'
import { MAX_TRACKED, RequestLimiter, type Admission, type RequestLimitSettings } from '../../../src/net/request-limit'

function limiter (s: Partial<RequestLimitSettings>): { l: RequestLimiter, clock: { now: number }, settings: RequestLimitSettings } {
  const clock = { now: 0 }
  const settings: RequestLimitSettings = { maxInFlight: 0, perSecond: 0, burst: 1, ...s }
  return { l: new RequestLimiter({ settings: () => settings, now: () => clock.now }), clock, settings }
}

function ok (a: Admission): () => void {
  if (!a.ok) throw new Error(`refused: ${a.error.message}`)
  return a.release
}

describe('per-client request limits', () => {
  it('bounds the requests in flight per client address, not across clients', () => {
    const { l } = limiter({ maxInFlight: 2 })
    const r1 = ok(l.admit('10.0.0.1'))
    ok(l.admit('::ffff:10.0.0.1')) // the same host seen on a dual-stack socket
    const third = l.admit('10.0.0.1')
    expect(third).toMatchObject({ ok: false, reason: 'requests_in_flight', error: { code: 'SB_TOO_MANY_REQUESTS', httpStatus: 429 } })
    ok(l.admit('10.0.0.2'))
    r1()
    r1() // a second release counts nothing
    expect(l.inFlight('10.0.0.1')).toBe(1)
    ok(l.admit('10.0.0.1'))
    expect(l.admit('10.0.0.1').ok).toBe(false)
  })

  it('refills a token bucket at the rate: a burst, then one request per 1/rate, with the wait in retryAfterMs', () => {
    const { l, clock } = limiter({ perSecond: 10, burst: 3 })
    for (let i = 0; i < 3; i++) ok(l.admit('10.0.0.1'))()
    const refused = l.admit('10.0.0.1')
    expect(refused).toMatchObject({ ok: false, reason: 'request_rate', retryAfterMs: 100 })
    expect(l.admit('10.0.0.9').ok).toBe(true) // another client has its own bucket
    clock.now = 60
    expect(l.admit('10.0.0.1')).toMatchObject({ ok: false, retryAfterMs: 40 })
    clock.now = 100
    ok(l.admit('10.0.0.1'))()
    expect(l.admit('10.0.0.1').ok).toBe(false)
    clock.now = 10_000 // a long pause refills only up to the burst
    for (let i = 0; i < 3; i++) ok(l.admit('10.0.0.1'))()
    expect(l.admit('10.0.0.1').ok).toBe(false)
  })

  it('reads the settings at every request (a reload applies at once); 0 means no limit', () => {
    const { l, settings } = limiter({ maxInFlight: 1 })
    ok(l.admit('h'))
    expect(l.admit('h').ok).toBe(false)
    ;(settings as { maxInFlight: number }).maxInFlight = 0
    ok(l.admit('h'))
    ;(settings as { maxInFlight: number }).maxInFlight = 5
    ok(l.admit('h'))
  })

  it('keeps at most MAX_TRACKED addresses, dropping idle ones first', () => {
    const { l } = limiter({ perSecond: 1, burst: 1, maxInFlight: 10 })
    const busy = ok(l.admit('busy'))
    for (let i = 0; i < MAX_TRACKED + 5; i++) ok(l.admit(`10.1.${Math.floor(i / 256)}.${i % 256}`))()
    expect(l.size).toBe(MAX_TRACKED)
    expect(l.inFlight('busy')).toBe(1)
    busy()
    expect(l.inFlight('busy')).toBe(0)
  })
})
