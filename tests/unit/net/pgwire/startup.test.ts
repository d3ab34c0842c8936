import { describe, expect, it } from 'vitest'
import { CANCEL_REQUEST, PROTOCOL_3_0, readStartup, SSL_REQUEST, GSSENC_REQUEST } from '../../../../src/net/pgwire/startup'
import { isScratchBirdError } from '../../../../src/core/errors'

function packet (code: number, ...rest: Array<number | string>): Buffer {
  return Buffer.concat([code, ...rest].map(v => {
    if (typeof v === 'string') return Buffer.from(v + '\0')
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    return b
  }))
}

function codeOf (f: () => unknown): string {
  try { f() } catch (e) { return isScratchBirdError(e) ? e.code : String(e) }
  return 'no error'
}

describe('readStartup', () => {
  it('tells encryption requests, cancel requests and startup messages apart', () => {
    expect(readStartup(packet(SSL_REQUEST))).toEqual({ kind: 'encryption' })
    expect(readStartup(packet(GSSENC_REQUEST))).toEqual({ kind: 'encryption' })
    expect(readStartup(packet(CANCEL_REQUEST, 7, -9))).toEqual({ kind: 'cancel', pid: 7, secret: -9 })
    const s = readStartup(Buffer.concat([packet(PROTOCOL_3_0 + 2, 'user', 'alice', '_pq_.compression', 'on', 'application_name', 'psql'), Buffer.from([0])]))
    expect(s).toMatchObject({ kind: 'startup', minor: 2, user: 'alice', database: 'alice', unknownOptions: ['_pq_.compression'] })
    expect(s.kind === 'startup' && [...s.params]).toEqual([['user', 'alice'], ['application_name', 'psql']])
  })

  it('refuses another major version, a missing user and a packet without its terminator', () => {
    expect(codeOf(() => readStartup(Buffer.concat([packet(2 << 16, 'user', 'a'), Buffer.from([0])])))).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(codeOf(() => readStartup(Buffer.concat([packet(PROTOCOL_3_0, 'database', 'd'), Buffer.from([0])])))).toBe('SB_AUTH_FAILED')
    expect(codeOf(() => readStartup(packet(PROTOCOL_3_0, 'user', 'a')))).toBe('SB_MALFORMED_REQUEST')
    expect(codeOf(() => readStartup(packet(CANCEL_REQUEST, 1)))).toBe('SB_MALFORMED_REQUEST')
  })
})
