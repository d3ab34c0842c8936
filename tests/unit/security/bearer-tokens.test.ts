// Bearer tokens (issue 18 item 1): the statements, the catalog change, the HTTP check and the
// privilege rules, each pure.
import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { applyTokenStatement, tokenByHash, tokensOf } from '../../../src/catalog/tokens'
import { applyUserStatement } from '../../../src/catalog/users'
import { ManualClock } from '../../../src/core/clock'
import { SeededRng } from '../../../src/core/rng'
import { Authenticator } from '../../../src/security/authenticator'
import { bearerToken, newBearerToken, tokenHash } from '../../../src/security/bearer-token'
import { checkStatement, type Principal } from '../../../src/security/privileges'
import { encodeVerifier, newScramVerifier } from '../../../src/security/scram-verifier'
import { SYSTEM_TABLES } from '../../../src/plan/system-tables'
import type { TokenStatement, UserStatement } from '../../../src/sql/ast'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'

const verifier = encodeVerifier(newScramVerifier('pw', new SeededRng(3), 16))

function users (): Catalog {
  let c = new Catalog()
  for (const sql of ["CREATE USER root PASSWORD 'x' SUPERUSER", "CREATE USER ops PASSWORD 'x' ADMIN", "CREATE USER alice PASSWORD 'x'", "CREATE USER bob PASSWORD 'x'"]) {
    const s = parseOne(sql) as UserStatement & { kind: 'create_user' }
    c = applyUserStatement(c, { ...s, password: verifier }, () => {}).catalog
  }
  return c
}

function token (c: Catalog, sql: string, hash: string): Catalog {
  const s = parseOne(sql) as TokenStatement
  return applyTokenStatement(c, s.kind === 'create_token' ? { ...s, hash } : s).catalog
}

const as = (c: Catalog, name: string, tokenName?: string): Principal => ({ kind: 'user', id: c.user(name)!.id, name, ...(tokenName === undefined ? {} : { token: tokenName }) })

function auth (c: () => Catalog, clock: ManualClock): Authenticator {
  return new Authenticator({ mode: () => 'scram', catalog: c, bootstrap: null, pgPassword: () => undefined, openAllowed: true, clock, rng: new SeededRng(9) })
}

describe('bearer token statements', () => {
  it('parse and print back; the hash is printed only with secrets', () => {
    const s = parseOne("CREATE TOKEN ci FOR USER alice VALID UNTIL '2027-01-02 03:04:05Z'") as TokenStatement & { kind: 'create_token' }
    expect(s).toMatchObject({ kind: 'create_token', name: 'ci', user: 'alice', validUntil: Date.parse('2027-01-02T03:04:05Z'), hash: null })
    expect(parseOne('CREATE TOKEN mine')).toMatchObject({ kind: 'create_token', name: 'mine', user: null, validUntil: null })
    expect(parseOne('DROP TOKEN IF EXISTS ci FOR USER alice')).toMatchObject({ kind: 'drop_token', name: 'ci', user: 'alice', ifExists: true })
    const hash = 'ab'.repeat(32)
    const withHash = { ...s, hash }
    expect(formatStatement(withHash)).toBe("CREATE TOKEN ci FOR USER alice VALID UNTIL '2027-01-02T03:04:05.000Z'")
    const forwarded = formatStatement(withHash, { secrets: true })
    expect(forwarded).toContain(`HASH '${hash}'`)
    expect(parseOne(forwarded)).toMatchObject({ kind: 'create_token', name: 'ci', user: 'alice', validUntil: s.validUntil, hash })
    expect(() => parseOne("CREATE TOKEN t HASH 'XYZ'")).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
    expect(() => parseOne("CREATE TOKEN t VALID UNTIL 'tomorrow'")).toThrow()
  })

  it('creates, refuses duplicates and drops; DROP USER drops the user\'s tokens; the document round-trips', () => {
    let c = token(users(), 'CREATE TOKEN ci FOR USER alice', tokenHash('a'))
    c = token(c, 'CREATE TOKEN ci FOR USER bob', tokenHash('b'))
    expect(tokensOf(c).map(t => t.name)).toEqual(['ci', 'ci'])
    expect(() => token(c, 'CREATE TOKEN ci FOR USER alice', tokenHash('c'))).toThrow(expect.objectContaining({ code: 'SB_DUPLICATE_TOKEN' }))
    expect(() => token(c, 'CREATE TOKEN other FOR USER alice', tokenHash('b'))).toThrow(expect.objectContaining({ code: 'SB_DUPLICATE_TOKEN' }))
    expect(() => token(c, 'CREATE TOKEN x FOR USER nobody', tokenHash('d'))).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_USER' }))
    expect(() => token(c, 'DROP TOKEN nope FOR USER alice', '')).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_TOKEN' }))
    expect(token(c, 'DROP TOKEN IF EXISTS nope FOR USER alice', '')).toBe(c)
    const back = Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON())))
    expect(tokenByHash(back, tokenHash('a'))).toMatchObject({ name: 'ci', userId: c.user('alice')!.id })
    const dropped = token(c, 'DROP TOKEN ci FOR USER alice', '')
    expect(tokenByHash(dropped, tokenHash('a'))).toBeUndefined()
    expect(tokenByHash(dropped, tokenHash('b'))).toBeDefined()
    const noBob = applyUserStatement(c, parseOne('DROP USER bob') as UserStatement, () => {}).catalog
    expect(tokenByHash(noBob, tokenHash('b'))).toBeUndefined()
    expect(tokenByHash(noBob, tokenHash('a'))).toBeDefined()
    const bad = { ...c.toJSON(), tokens: [{ name: 'x', userId: 1, hash: 'not-hex', validUntil: null, version: 1 }] }
    expect(() => Catalog.fromJSON(bad)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })

  it('sys_tokens lists names, users and expiry, never a hash', () => {
    const c = token(users(), "CREATE TOKEN ci FOR USER alice VALID UNTIL '2027-01-01'", tokenHash('a'))
    const t = SYSTEM_TABLES.sys_tokens!
    expect(t.columns.map(x => x.name)).toEqual(['token_name', 'user_name', 'valid_until', 'catalog_version'])
    const rows = t.rows(c, undefined as never)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.slice(0, 2)).toEqual(['ci', 'alice'])
    expect(JSON.stringify(rows, (_k, v: unknown) => typeof v === 'bigint' ? String(v) : v)).not.toContain(tokenHash('a'))
  })
})

describe('bearer tokens over HTTP', () => {
  it('a token made by newBearerToken authenticates as its user until it expires or is dropped', () => {
    const clock = new ManualClock()
    const made = newBearerToken(new SeededRng(1))
    expect(made.token).toMatch(/^sbt_[A-Za-z0-9_-]{43}$/)
    expect(made.hash).toBe(tokenHash(made.token))
    let c = token(users(), `CREATE TOKEN ci FOR USER alice VALID UNTIL '${new Date(clock.now() + 60_000).toISOString()}'`, made.hash)
    const a = auth(() => c, clock)
    expect(a.http(`Bearer ${made.token}`)).toEqual({ kind: 'user', id: c.user('alice')!.id, name: 'alice', token: 'ci' })
    expect(() => a.http(`Bearer ${made.token}x`)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(() => a.http('Bearer ')).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    clock.advance(60_000)
    expect(() => a.http(`Bearer ${made.token}`)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED', details: expect.objectContaining({ reason: 'token_expired', user: 'alice' }) }))
    clock.advance(-60_000)
    expect(a.http(`Bearer ${made.token}`)).toMatchObject({ name: 'alice' })
    c = token(c, 'DROP TOKEN ci FOR USER alice', '')
    expect(() => a.http(`Bearer ${made.token}`)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED', details: expect.objectContaining({ reason: 'unknown_token' }) }))
    expect(Authenticator.claimedUser(`Bearer ${made.token}`)).toBe('')
  })

  it('reads only the Bearer scheme', () => {
    expect(bearerToken('Basic YTpi')).toBeNull()
    expect(bearerToken('bearer sbt_abc')).toBe('sbt_abc')
    expect(() => bearerToken('Bearer a b')).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
    expect(() => bearerToken(`Bearer ${'a'.repeat(300)}`)).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
  })
})

describe('token privileges', () => {
  const c = users()
  const s = (sql: string): TokenStatement => parseOne(sql) as TokenStatement
  it('own tokens need nothing; another user\'s need admin, a superuser\'s a superuser', () => {
    expect(() => checkStatement(c, as(c, 'alice'), s('CREATE TOKEN mine'))).not.toThrow()
    expect(() => checkStatement(c, as(c, 'alice'), s('CREATE TOKEN mine FOR USER alice'))).not.toThrow()
    expect(() => checkStatement(c, as(c, 'alice'), s('DROP TOKEN mine'))).not.toThrow()
    expect(() => checkStatement(c, as(c, 'alice'), s('CREATE TOKEN x FOR USER bob'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    expect(() => checkStatement(c, as(c, 'alice'), s('DROP TOKEN x FOR USER bob'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    expect(() => checkStatement(c, as(c, 'ops'), s('CREATE TOKEN x FOR USER bob'))).not.toThrow()
    expect(() => checkStatement(c, as(c, 'ops'), s('CREATE TOKEN x FOR USER root'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    expect(() => checkStatement(c, as(c, 'root'), s('DROP TOKEN x FOR USER root'))).not.toThrow()
  })

  it('a session signed in with a token cannot create tokens (a leaked one cannot outlive itself), but may drop them', () => {
    expect(() => checkStatement(c, as(c, 'alice', 'ci'), s('CREATE TOKEN more'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    expect(() => checkStatement(c, as(c, 'root', 'ci'), s('CREATE TOKEN more FOR USER bob'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    expect(() => checkStatement(c, as(c, 'alice', 'ci'), s('DROP TOKEN ci'))).not.toThrow()
  })
})
