import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { applyUserStatement } from '../../../src/catalog/users'
import { ManualClock } from '../../../src/core/clock'
import { SeededRng } from '../../../src/core/rng'
import { Authenticator, BASIC_CACHE_MS, type AuthMode, type BootstrapAdmin } from '../../../src/security/authenticator'
import { encodeVerifier, newScramVerifier } from '../../../src/security/scram-verifier'
import type { UserStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`

function withUser (c: Catalog, name: string, password: string): Catalog {
  const s = parseOne(`CREATE USER ${name} PASSWORD 'x'`) as UserStatement & { kind: 'create_user' }
  return applyUserStatement(c, { ...s, password: encodeVerifier(newScramVerifier(password, new SeededRng(5), 16)) }, () => {}).catalog
}

function auth (o: { catalog: () => Catalog, mode?: AuthMode, bootstrap?: BootstrapAdmin | null, openAllowed?: boolean, pgPassword?: string, clock?: ManualClock }): Authenticator {
  return new Authenticator({
    mode: () => o.mode ?? 'scram',
    catalog: o.catalog,
    bootstrap: o.bootstrap ?? null,
    pgPassword: () => o.pgPassword,
    openAllowed: o.openAllowed ?? true,
    clock: o.clock ?? new ManualClock(),
    rng: new SeededRng(9)
  })
}

describe('authenticator', () => {
  it('goes from open (no users, loopback) to users at the first CREATE USER, and is closed without loopback', () => {
    let c = new Catalog()
    const a = auth({ catalog: () => c })
    expect(a.state()).toBe('open')
    expect(a.http(undefined)).toEqual({ kind: 'trusted', name: 'http' })
    expect(a.pg('dev')).toEqual({ kind: 'trust', principal: { kind: 'trusted', name: 'dev' } })
    c = withUser(c, 'alice', 'pw')
    expect(a.state()).toBe('users')
    expect(() => a.http(undefined)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(a.http(basic('alice', 'pw'))).toMatchObject({ kind: 'user', name: 'alice' })
    expect(() => a.http(basic('alice', 'nope'))).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(() => a.http(basic('bob', 'pw'))).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(() => a.http('Bearer abc')).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    const closed = auth({ catalog: () => new Catalog(), openAllowed: false })
    expect(closed.state()).toBe('closed')
    expect(() => closed.http(undefined)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(auth({ catalog: () => c, mode: 'trust' }).http(undefined)).toEqual({ kind: 'trusted', name: 'http' })
  })

  it('accepts only the bootstrap administrator while no user exists, and pg_password only while open', () => {
    const a = auth({ catalog: () => new Catalog(), bootstrap: { name: 'admin', password: 'boot' } })
    expect(a.state()).toBe('bootstrap')
    expect(a.http(basic('admin', 'boot'))).toEqual({ kind: 'trusted', name: 'admin' })
    expect(() => a.http(basic('admin', 'x'))).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(() => a.http(undefined)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(a.pg('admin').kind).toBe('scram')
    expect(a.pg('someone')).toMatchObject({ kind: 'scram', principal: null })
    expect(auth({ catalog: () => new Catalog(), pgPassword: 'legacy' }).pg('any')).toMatchObject({ kind: 'scram', principal: { kind: 'trusted', name: 'any' } })
    expect(auth({ catalog: () => withUser(new Catalog(), 'u', 'p'), pgPassword: 'legacy' }).pg('u')).toMatchObject({ kind: 'scram', principal: { kind: 'user', name: 'u' } })
  })

  it('remembers a verified Basic credential for BASIC_CACHE_MS and forgets it when the verifier changes', () => {
    let c = withUser(new Catalog(), 'alice', 'pw')
    const clock = new ManualClock()
    const a = auth({ catalog: () => c, clock })
    a.http(basic('alice', 'pw'))
    // A changed verifier (ALTER USER … PASSWORD) is not answered from the cache: the old password fails at once …
    const original = c
    c = new Catalog({ ...c.state, users: c.users.map(u => ({ ...u, verifier: encodeVerifier(newScramVerifier('other', new SeededRng(1), 16)) })) })
    expect(() => a.http(basic('alice', 'pw'))).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    c = original
    expect(a.http(basic('alice', 'pw'))).toMatchObject({ name: 'alice' })
    clock.advance(BASIC_CACHE_MS + 1)
    expect(a.http(basic('alice', 'pw'))).toMatchObject({ name: 'alice' })
  })
})
