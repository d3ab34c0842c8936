import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { GSSENC_REQUEST, SSL_REQUEST, CANCEL_REQUEST, PROTOCOL_3_0 } from '../../../src/net/pgwire/startup'
import { readTlsPreamble } from '../../../src/net/pgwire/ssl-request'
import { TLS_EXPIRY_WARN_MS, expiryMessage, expiryState } from '../../../src/net/tls-expiry'
import { TLS_FAILURE_LOG_INTERVAL_MS, TlsFailureReporter, classifyTlsError } from '../../../src/net/tls-failures'
import { altNames, certNodeIds, checkCertNode } from '../../../src/net/tls-names'
import { asNodeId } from '../../../src/core/ids'

// The pure rules of TLS (issue 18 item 1): which node a certificate names, when an expiry is
// worth a WARNING, how refusals are classified and rate-limited, and the first packet of a
// PostgreSQL connection on a TLS-only node.

describe('which node a certificate names (tls-names.ts)', () => {
  it('reads SAN URI scratchbird://node/N, SAN DNS nodeN and CN=nodeN', () => {
    expect([...certNodeIds({ subjectaltname: 'URI:scratchbird://node/2, DNS:localhost, IP Address:127.0.0.1' })]).toEqual([2])
    expect([...certNodeIds({ subjectaltname: 'DNS:node7' })]).toEqual([7])
    expect([...certNodeIds({ subject: { CN: 'node3' } })]).toEqual([3])
    expect([...certNodeIds({ subject: { CN: ['x', 'node65535'] } })]).toEqual([65535])
  })

  it('ignores names that only look like a node: a host under nodeN, node0, an id above 65535, other URIs', () => {
    expect(certNodeIds({ subjectaltname: 'DNS:node2.example.com, DNS:node0, DNS:node65536, URI:https://node/2, URI:scratchbird://node/02', subject: { CN: 'Node2' } }).size).toBe(0)
  })

  it('reads quoted SAN values (Node quotes a value holding a comma)', () => {
    expect(altNames('DNS:a, URI:"scratchbird://node/4", DNS:"x, y"')).toEqual([['DNS', 'a'], ['URI', 'scratchbird://node/4'], ['DNS', 'x, y']])
  })

  it('accepts a certificate naming the expected node only, once in any number of forms', () => {
    const cert = { subject: { CN: 'node2' }, subjectaltname: 'URI:scratchbird://node/2, DNS:node2' }
    expect(checkCertNode(cert, asNodeId(2))).toEqual({ ok: true, node: 2 })
    expect(checkCertNode(cert, undefined)).toEqual({ ok: true, node: 2 })
    expect(checkCertNode(cert, asNodeId(3))).toMatchObject({ ok: false, why: 'the certificate names node 2, not node 3' })
  })

  it('refuses a certificate naming no node, or several', () => {
    expect(checkCertNode({ subject: { CN: 'www.example.com' }, subjectaltname: 'DNS:www.example.com' }, asNodeId(1))).toMatchObject({ ok: false, named: [] })
    expect(checkCertNode({ subject: { CN: 'node1' }, subjectaltname: 'URI:scratchbird://node/2' }, asNodeId(1))).toMatchObject({ ok: false, why: 'the certificate names several nodes (1, 2)' })
    expect(checkCertNode({ subject: { CN: 'node1' }, subjectaltname: 'URI:scratchbird://node/2' }, undefined)).toMatchObject({ ok: false, named: [1, 2] })
  })
})

describe('certificate expiry (tls-expiry.ts)', () => {
  const now = Date.UTC(2026, 0, 1)
  it('is ok beyond 14 days, a warning within, expired at notAfter', () => {
    expect(expiryState(now + TLS_EXPIRY_WARN_MS + 1000, now)).toEqual({ secondsLeft: TLS_EXPIRY_WARN_MS / 1000 + 1, level: 'ok' })
    expect(expiryState(now + TLS_EXPIRY_WARN_MS, now).level).toBe('warn')
    expect(expiryState(now + 1000, now)).toEqual({ secondsLeft: 1, level: 'warn' })
    expect(expiryState(now, now).level).toBe('expired')
    expect(expiryState(now - 5000, now)).toEqual({ secondsLeft: -5, level: 'expired' })
  })

  it('says when, in days, and nothing when ok', () => {
    expect(expiryMessage('/c.crt', now + 7 * 86400_000, now)).toBe('TLS certificate /c.crt expires in 7 day(s), at 2026-01-08T00:00:00.000Z: replace it before then (reloaded on change or SIGHUP)')
    expect(expiryMessage('/c.crt', now + 30 * 86400_000, now)).toBeNull()
    expect(expiryMessage('/c.crt', now - 1, now)).toMatch(/^TLS certificate \/c\.crt expired at /)
  })
})

describe('refused TLS peers (tls-failures.ts)', () => {
  it('classifies OpenSSL errors', () => {
    expect(classifyTlsError({ code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', message: 'peer did not return a certificate' })).toBe('no_certificate')
    expect(classifyTlsError({ code: 'ERR_SSL_HTTP_REQUEST', message: 'http request' })).toBe('plaintext')
    expect(classifyTlsError({ code: 'ERR_SSL_WRONG_VERSION_NUMBER' })).toBe('plaintext')
    expect(classifyTlsError({ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' })).toBe('untrusted_certificate')
    expect(classifyTlsError({ message: 'certificate verify failed' })).toBe('untrusted_certificate')
    expect(classifyTlsError({ code: 'ECONNRESET', message: 'socket hang up' })).toBe('aborted')
    expect(classifyTlsError({ code: 'ERR_SSL_NO_SHARED_CIPHER' })).toBe('handshake')
    expect(classifyTlsError(null)).toBe('handshake')
  })

  it('counts every refusal and logs one a minute per listener and reason, with how many were not logged', () => {
    const clock = new ManualClock(0)
    const counted: string[] = []
    const logged: string[] = []
    const r = new TlsFailureReporter({ count: (l) => counted.push(`${l.listener}/${l.reason}`), log: (_f, m) => logged.push(m) }, clock)
    r.report('rpc', 'no_certificate', '10.0.0.9:1', 'x')
    r.report('rpc', 'no_certificate', '10.0.0.9:2', 'x')
    r.report('rpc', 'wrong_node', '10.0.0.9:3', 'y')
    r.report('rpc', 'no_certificate', '10.0.0.9:4', 'x')
    expect(counted).toHaveLength(4)
    expect(logged).toHaveLength(2)
    clock.advance(TLS_FAILURE_LOG_INTERVAL_MS)
    r.report('rpc', 'no_certificate', '10.0.0.9:5', 'x')
    expect(logged).toHaveLength(3)
    r.report('rpc', 'aborted', '10.0.0.9:6', 'socket hang up')
    expect(counted).toHaveLength(6)
    expect(logged, 'a hang-up is counted, not logged').toHaveLength(3)
    expect(logged[2]).toMatch(/refused 10\.0\.0\.9:5 on the rpc listener \(no_certificate\): x \(2 more like it not logged in the last minute\)$/)
  })
})

describe('the first packet on a TLS-only PostgreSQL listener (pgwire/ssl-request.ts)', () => {
  const packet = (code: number, ...ints: number[]): Buffer => {
    const b = Buffer.alloc(8 + 4 * ints.length)
    b.writeInt32BE(b.length, 0)
    b.writeInt32BE(code, 4)
    ints.forEach((v, i) => b.writeInt32BE(v, 8 + 4 * i))
    return b
  }

  it('waits for a whole packet', () => {
    expect(readTlsPreamble(packet(SSL_REQUEST).subarray(0, 7))).toEqual({ kind: 'more' })
    expect(readTlsPreamble(packet(CANCEL_REQUEST, 1, 2).subarray(0, 12))).toEqual({ kind: 'more' })
  })

  it('starts TLS on an SSLRequest, refusing bytes sent before the handshake', () => {
    expect(readTlsPreamble(packet(SSL_REQUEST))).toEqual({ kind: 'tls', extra: false })
    expect(readTlsPreamble(Buffer.concat([packet(SSL_REQUEST), Buffer.from('Q')]))).toEqual({ kind: 'tls', extra: true })
  })

  it('answers GSSENCRequest N and reads on; lets a CancelRequest through; refuses a plaintext startup', () => {
    const next = packet(SSL_REQUEST)
    const gss = readTlsPreamble(Buffer.concat([packet(GSSENC_REQUEST), next]))
    expect(gss).toMatchObject({ kind: 'no-gss' })
    expect(readTlsPreamble((gss as { rest: Buffer }).rest)).toEqual({ kind: 'tls', extra: false })
    const cancel = packet(CANCEL_REQUEST, 7, 9)
    expect(readTlsPreamble(cancel)).toEqual({ kind: 'cancel', bytes: cancel })
    const startup = Buffer.concat([packet(PROTOCOL_3_0), Buffer.from('user\0u\0\0')])
    startup.writeInt32BE(startup.length, 0)
    expect(readTlsPreamble(startup)).toEqual({ kind: 'plaintext' })
    expect(readTlsPreamble(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'plaintext' })
  })
})
