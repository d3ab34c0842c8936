import { describe, expect, it } from 'vitest'
import { SeededRng } from '../../../src/core/rng'
import {
  decodeVerifier, encodeVerifier, hmacSha256, looksLikeVerifier, newScramVerifier, passwordMatches, scramVerifier, sha256
} from '../../../src/security/scram-verifier'

// RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
const RFC = {
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  authMessage: 'n=user,r=rOprNGfwEbeRWgbNEkqO,' +
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,' +
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientProof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverSignature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='
}

describe('SCRAM-SHA-256 verifiers', () => {
  it('derives StoredKey and ServerKey that check RFC 7677\'s exchange (client proof and server signature)', () => {
    const v = scramVerifier('pencil', RFC.salt, 4096)
    // ClientKey = ClientProof XOR ClientSignature, and H(ClientKey) must be StoredKey.
    const signature = hmacSha256(v.storedKey, RFC.authMessage)
    const proof = Buffer.from(RFC.clientProof, 'base64')
    const clientKey = Buffer.from(proof.map((b, i) => b ^ signature[i]!))
    expect(sha256(clientKey).equals(v.storedKey)).toBe(true)
    expect(hmacSha256(v.serverKey, RFC.authMessage).toString('base64')).toBe(RFC.serverSignature)
    // A wrong password derives other keys.
    expect(sha256(clientKey).equals(scramVerifier('pencil2', RFC.salt, 4096).storedKey)).toBe(false)
  })

  it('checks a password against a verifier (HTTP Basic), and round-trips PostgreSQL\'s text form', () => {
    const v = newScramVerifier('s3cret ✓', new SeededRng(7), 64)
    expect(passwordMatches(v, 's3cret ✓')).toBe(true)
    expect(passwordMatches(v, 's3cret')).toBe(false)
    const text = encodeVerifier(v)
    expect(text).toMatch(/^SCRAM-SHA-256\$64:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/)
    expect(looksLikeVerifier(text)).toBe(true)
    expect(looksLikeVerifier('s3cret')).toBe(false)
    const back = decodeVerifier(text)
    expect(back.iterations).toBe(64)
    expect(back.storedKey.equals(v.storedKey) && back.serverKey.equals(v.serverKey) && back.salt.equals(v.salt)).toBe(true)
  })

  it('refuses malformed verifier texts with SB_INVALID_PASSWORD', () => {
    const good = encodeVerifier(newScramVerifier('x', new SeededRng(1), 16))
    for (const bad of ['SCRAM-SHA-256$', 'SCRAM-SHA-256$0:AAAA$' + good.split('$')[2]!, good.replace(/:[^:]+$/, ':AAAA'), 'SCRAM-SHA-256$99999999:AAAA$a:b']) {
      expect(() => decodeVerifier(bad)).toThrow(expect.objectContaining({ code: 'SB_INVALID_PASSWORD' }))
    }
  })
})
