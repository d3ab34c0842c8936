import { describe, expect, it } from 'vitest'
import { clientKey, PerClientLimit } from '../../../src/net/client-limit'

// node.max_connections_per_client, the decision alone: counted per client address.

describe('connections per client address', () => {
  it('admits up to max per address, each address apart, and again after a release', () => {
    const l = new PerClientLimit(2)
    expect(l.admit('10.0.0.1')).toBe(true)
    expect(l.admit('10.0.0.1')).toBe(true)
    expect(l.admit('10.0.0.1')).toBe(false)
    expect(l.count('10.0.0.1')).toBe(2)
    expect(l.admit('10.0.0.2')).toBe(true)
    l.release('10.0.0.1')
    expect(l.admit('10.0.0.1')).toBe(true)
  })

  it('counts an IPv4 client seen as ::ffff:a.b.c.d as a.b.c.d', () => {
    const l = new PerClientLimit(1)
    expect(l.admit('::ffff:127.0.0.1')).toBe(true)
    expect(l.admit('127.0.0.1')).toBe(false)
    expect(clientKey('::1')).toBe('::1')
  })

  it('0 is no limit; a released address leaves no entry', () => {
    const l = new PerClientLimit(0)
    for (let i = 0; i < 5000; i++) expect(l.admit('h')).toBe(true)
    for (let i = 0; i < 5000; i++) l.release('h')
    expect(l.count('h')).toBe(0)
  })

  it('refuses with SB_TOO_MANY_CONNECTIONS (53300, 503)', () => {
    const e = new PerClientLimit(3).refusal('::ffff:10.1.2.3')
    expect(e.code).toBe('SB_TOO_MANY_CONNECTIONS')
    expect(e.sqlstate).toBe('53300')
    expect(e.httpStatus).toBe(503)
    expect(e.details).toEqual({ client: '10.1.2.3', max: 3 })
  })
})
