import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { authHeaders } from '../../../src/cli/credentials'

// The Authorization header scratchbird_cli and scratchbird_backup send (issue 18 item 2).

const dir = mkdtempSync(join(tmpdir(), 'sb-cred-'))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`

describe('client credentials', () => {
  it('sends a bearer token from --token-file (first line) or SCRATCHBIRD_TOKEN', () => {
    expect(authHeaders({ 'token-file': file('t1', 'sbt_abc\nignored\n') }, {})).toEqual({ authorization: 'Bearer sbt_abc' })
    expect(authHeaders({}, { SCRATCHBIRD_TOKEN: 'sbt_env' })).toEqual({ authorization: 'Bearer sbt_env' })
    // The flag beats the environment.
    expect(authHeaders({ 'token-file': file('t2', 'sbt_file\r\n') }, { SCRATCHBIRD_TOKEN: 'sbt_env' })).toEqual({ authorization: 'Bearer sbt_file' })
  })

  it('prefers --user over $SCRATCHBIRD_TOKEN, and the token over $SCRATCHBIRD_USER', () => {
    expect(authHeaders({ user: 'u' }, { SCRATCHBIRD_TOKEN: 'sbt_env', SCRATCHBIRD_PASSWORD: 'pw' })).toEqual({ authorization: basic('u', 'pw') })
    expect(authHeaders({}, { SCRATCHBIRD_TOKEN: 'sbt_env', SCRATCHBIRD_USER: 'u', SCRATCHBIRD_PASSWORD: 'pw' })).toEqual({ authorization: 'Bearer sbt_env' })
    expect(authHeaders({}, { SCRATCHBIRD_TOKEN: '' })).toEqual({})
  })

  it('refuses an unreadable or empty token file, a token with spaces, and a token file beside --user', () => {
    expect(() => authHeaders({ 'token-file': join(dir, 'missing') }, {})).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => authHeaders({ 'token-file': file('t3', '\nsbt_x\n') }, {})).toThrow(/empty/)
    expect(() => authHeaders({}, { SCRATCHBIRD_TOKEN: 'sbt a' })).toThrow(/SCRATCHBIRD_TOKEN/)
    expect(() => authHeaders({ 'token-file': file('t4', 'sbt_x'), user: 'u' }, {})).toThrow(/exclude/)
  })
})
