import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { sessionIdOfPath } from '../../../src/net/sql-api'

// DELETE /v1/sessions/%ZZ threw a URIError from decodeURIComponent, answered as SB_INTERNAL 500
// (found by tests/fuzz/http.test.ts): a broken escape is the client's error, a coded 400.

describe('the session id of DELETE /v1/sessions/<id>', () => {
  it('is percent-decoded, query string ignored', () => {
    expect(sessionIdOfPath('/v1/sessions/a%20b?x=1')).toBe('a b')
  })

  it('refuses a broken escape with SB_MALFORMED_REQUEST', () => {
    for (const bad of ['/v1/sessions/%ZZ', '/v1/sessions/%E0%A4%A', '/v1/sessions/%']) {
      let caught: unknown
      try { sessionIdOfPath(bad) } catch (e) { caught = e }
      expect(isScratchBirdError(caught, 'SB_MALFORMED_REQUEST'), bad).toBe(true)
    }
  })
})
