import { spawn } from 'node:child_process'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'
import { tempDir } from '../helpers/node-process'
import { TestCa, tlsSecurity, type CertFiles } from '../helpers/tls-certs'

// Mutual TLS between nodes (issue 18 item 1): three nodes with security.tls_enabled and a cluster
// RPC listener of their own (node.rpc_listen, whose handshake requires a client certificate from
// tls_ca) form the cluster and run statements across nodes; a peer without a certificate or with
// one from another CA is refused in the handshake, and a node presenting another node's
// certificate is refused both ways — counted on every side.

let cluster: Cluster
let ca: TestCa
let other: TestCa
const certs = new Map<number, CertFiles>()
let agent: Agent

beforeAll(async () => {
  const dir = tempDir('sb-tls-ca-')
  ca = new TestCa(join(dir, 'ca'))
  other = new TestCa(join(dir, 'other'), 'other-ca')
  for (const id of [1, 2, 3]) certs.set(id, ca.node(id))
  agent = new Agent({ connect: { ca: readFileSync(ca.cert) } })
  cluster = await startCluster({
    nodes: 3,
    separateRpc: true,
    extraConfig: (id) => ({ node: { durability: 'none' }, security: tlsSecurity(ca, certs.get(id)!) })
  })
}, 180_000)
afterAll(async () => {
  await cluster?.close()
  await agent?.close()
})

async function sql (id: number, text: string): Promise<{ status: number, body: any }> {
  const r = await request(`https://${cluster.node(id).listen}/v1/sql`, { method: 'POST', dispatcher: agent, body: JSON.stringify({ sql: text }), headersTimeout: 15_000 })
  return { status: r.statusCode, body: await r.body.json() }
}

async function metric (id: number, re: RegExp): Promise<number> {
  const text = await (await fetch(cluster.node(id).metricsUrl())).text()
  return text.split('\n').filter(l => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0)
}

const failures = (listener: string, reason: string): RegExp => new RegExp(`^scratchbird_tls_handshake_failures_total\\{listener="${listener}",reason="${reason}"\\}`)

/** A TLS connection to node 1's RPC listener with `client` (or no) certificate: what it answered before closing. */
async function answerTo (client: CertFiles | undefined): Promise<string> {
  const [host, port] = cluster.node(1).rpcListen!.split(':')
  const socket = connect({ host, port: Number(port), ca: readFileSync(ca.cert), servername: 'localhost', ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }) })
  let answer = ''
  socket.on('data', (d: Buffer) => { answer += d.toString() })
  socket.on('error', () => {})
  // TLS 1.3: the client finishes first; the server's refusal arrives as an alert on the next read.
  socket.write('POST /v1/rpc HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n')
  // (events.once would reject on the 'error' that precedes 'close'.)
  await new Promise<void>(resolve => socket.on('close', () => resolve()))
  return answer
}

/** The handshake states `openssl s_client` went through with `address` (it sends no certificate). */
async function handshakeStates (address: string): Promise<string> {
  const proc = spawn('openssl', ['s_client', '-connect', address, '-CAfile', ca.cert, '-state'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { out += d.toString() })
  proc.stdin.end()
  await new Promise<void>(resolve => proc.on('close', () => resolve()))
  return out
}

describe('a TLS cluster (security.tls_enabled on every node)', () => {
  it('forms over mutual TLS and runs statements across nodes', async () => {
    await cluster.waitFor(async () => {
      const r = await sql(1, 'SHOW CLUSTER MEMBERS')
      return r.status === 200 && (r.body.rows as unknown[][]).length === 3 && (r.body.rows as unknown[][]).every(m => m[3] === 'normal')
    }, { what: 'three normal members over TLS', timeoutMs: 40_000 })
    expect((await sql(1, 'CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)')).status).toBe(200)
    const values = Array.from({ length: 24 }, (_, i) => `(${i}, ${i * 10})`).join(', ')
    const ins = await sql(2, `INSERT INTO t VALUES ${values}`)
    expect(ins.status, JSON.stringify(ins.body)).toBe(200)
    expect((await sql(3, 'SELECT count(*) FROM t')).body.rows).toEqual([['24']])
    // Every RPC listener served the others: no refusals between the cluster's own nodes (a peer
    // may hang up mid-handshake — a connect timeout on these loaded machines: 'aborted').
    for (const id of [1, 2, 3]) {
      const text = await (await fetch(cluster.node(id).metricsUrl())).text()
      expect(text.split('\n').filter(l => /^scratchbird_tls_handshake_failures_total\{listener="(rpc|rpc_client)"/.test(l) && !l.endsWith(' 0') && !l.includes('reason="aborted"')), cluster.logs(id, 400).split('\n').filter(l => l.includes('TLS')).join('\n')).toEqual([])
    }
    expect(await metric(1, /^scratchbird_rpc_duration_seconds_count\{/)).toBeGreaterThan(0)
  })

  it('refuses a peer without a certificate, or with one from another CA, in the handshake (counted)', async () => {
    expect(await answerTo(undefined)).toBe('')
    await cluster.waitFor(async () => await metric(1, failures('rpc', 'no_certificate')) >= 1, { what: 'no_certificate counted' })
    expect(await answerTo(other.node(2))).toBe('')
    await cluster.waitFor(async () => await metric(1, failures('rpc', 'untrusted_certificate')) >= 1, { what: 'untrusted_certificate counted' })
    expect(cluster.node(1).stdout()).toMatch(/TLS: refused 127\.0\.0\.1:\d+ on the rpc listener \(no_certificate\)/)
  })

  it('asks for a client certificate on the RPC listener only, not on the client-only node.listen', async () => {
    expect(await handshakeStates(cluster.node(1).rpcListen!)).toMatch(/read server certificate request/)
    const client = await handshakeStates(cluster.node(1).listen)
    expect(client).toMatch(/read server certificate verify|read finished/)
    expect(client).not.toMatch(/read server certificate request/)
  })

  it('refuses a node that presents another node\'s certificate, both ways (counted on both sides)', async () => {
    // Node 3 restarts with node 2's certificate and key.
    await cluster.stop(3)
    copyFileSync(certs.get(2)!.cert, certs.get(3)!.cert)
    copyFileSync(certs.get(2)!.key, certs.get(3)!.key)
    await cluster.start(3)
    // Node 3's calls claim node 3 with a certificate naming node 2: refused by node 1's RPC route;
    // node 1's calls to node 3 meet a server certificate naming node 2: refused by node 1's client.
    await cluster.waitFor(async () => await metric(1, failures('rpc', 'wrong_node')) >= 1, { what: 'node 1 refusing node 3\'s calls', timeoutMs: 30_000 })
    await cluster.waitFor(async () => await metric(1, failures('rpc_client', 'wrong_node')) >= 1, { what: 'node 1 refusing node 3 as a server', timeoutMs: 30_000 })
    await cluster.waitFor(async () => {
      const rows = (await sql(1, 'SHOW CLUSTER MEMBERS')).body.rows as unknown[][]
      return rows.find(m => m[0] === 3)?.[3] !== 'normal'
    }, { what: 'node 3 not normal in node 1\'s view', timeoutMs: 30_000 })
  })
})
