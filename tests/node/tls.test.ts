import { once } from 'node:events'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type TLSSocket } from 'node:tls'
import { Agent, request } from 'undici'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePorts, TEST_CLUSTER_SECRET } from '../helpers/cluster-harness'
import { runProgram, runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { TestCa, tlsSecurity, type CertFiles } from '../helpers/tls-certs'
import { runTool } from '../pg/helpers'

// security.tls_enabled on one node of a two-node cluster (node 2 never starts, so node.listen
// serves the client API and the cluster RPC together): TLS only on node.listen and node.pg_listen,
// the RPC route refusing peers whose certificate does not name the node they claim, psql with
// sslmode=verify-full, certificates reloaded without dropping established connections, and the
// expiry WARNING of a certificate valid for 7 days.

let dir: string
let ca: TestCa
let other: TestCa
let node: RunningNode
let listen: string
let pgPort: number
let node1: CertFiles
let agent: Agent

beforeAll(async () => {
  dir = tempDir('sb-tls-')
  ca = new TestCa(join(dir, 'ca'))
  other = new TestCa(join(dir, 'other'), 'other-ca')
  node1 = ca.node(1, { days: 7 })
  const [port, metrics, peer] = await freePorts(3)
  listen = `127.0.0.1:${port!}`
  const cfg = join(dir, 'scratchbird.yaml')
  writeFileSync(cfg, stringify({
    node: { id: 1, listen, metrics_listen: `127.0.0.1:${metrics!}`, data_dir: join(dir, 'data'), pg_listen: '127.0.0.1:0', durability: 'none' },
    storage: { shards: 4, workers: 1 },
    cluster: { name: 'tls-test', nodes: [{ id: 1, address: listen }, { id: 2, address: `127.0.0.1:${peer!}` }] },
    security: { ...tlsSecurity(ca, node1), cluster_secret: TEST_CLUSTER_SECRET },
    logging: { console: 'json' }
  }))
  const [cmd, args] = sourceCommand(['--config', cfg])
  node = await startNode(cmd, args, { timeoutMs: 60_000 })
  pgPort = Number(node.pg.slice(node.pg.lastIndexOf(':') + 1))
  agent = new Agent({ connect: { ca: readCa() } })
}, 120_000)

afterAll(async () => {
  node?.proc.kill('SIGKILL')
  await agent?.close()
})

function readCa (): string {
  return readFileSync(ca.cert, 'utf8')
}

async function metric (re: RegExp): Promise<number> {
  const text = await (await fetch(`http://${node.metrics}/metrics`)).text()
  return text.split('\n').filter(l => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0)
}

async function logged (text: string | RegExp, times = 1): Promise<void> {
  const count = (): number => node.stdout().split('\n').filter(l => typeof text === 'string' ? l.includes(text) : text.test(l)).length
  while (count() < times) await once(node.proc.stdout!, 'data')
}

/** POST /v1/rpc over TLS with `client` as the client certificate (none: undefined), claiming node `claims`. */
async function rpc (client: CertFiles | undefined, claims: number): Promise<{ status: number, body: any }> {
  const a = new Agent({ connect: { ca: readCa(), ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }) } })
  try {
    const r = await request(`https://${listen}/v1/rpc`, {
      method: 'POST',
      dispatcher: a,
      headers: { 'x-scratchbird-cluster-secret': TEST_CLUSTER_SECRET, 'x-scratchbird-cluster': 'tls-test', 'x-scratchbird-node-id': String(claims), 'content-type': 'application/vnd.scratchbird.rpc' },
      body: Buffer.from('junk')
    })
    return { status: r.statusCode, body: await r.body.json() }
  } finally { await a.close() }
}

/** A raw TLS connection to node.listen, and the serial of the certificate it was served. */
async function tlsConnection (): Promise<{ socket: TLSSocket, serial: string }> {
  const socket = connect({ host: '127.0.0.1', port: Number(listen.split(':')[1]), ca: readCa(), servername: 'localhost' })
  await once(socket, 'secureConnect')
  return { socket, serial: socket.getPeerCertificate().serialNumber }
}

/** One keep-alive GET /v1/health on an open connection: its status line. */
async function healthOn (socket: TLSSocket): Promise<string> {
  socket.write('GET /v1/health HTTP/1.1\r\nhost: localhost\r\nconnection: keep-alive\r\n\r\n')
  let text = ''
  while (!/\r\n\r\n[\s\S]*\}/.test(text)) text += ((await once(socket, 'data'))[0] as Buffer).toString()
  return text.split('\r\n')[0]!
}

describe('TLS on every listener (security.tls_enabled)', () => {
  it('serves the client API over HTTPS to a client that trusts tls_ca, and refuses plaintext (counted)', async () => {
    const r = await request(`https://${listen}/v1/sql`, { method: 'POST', dispatcher: agent, body: JSON.stringify({ sql: 'SELECT 1 + 1' }) })
    expect(r.statusCode).toBe(200)
    expect(((await r.body.json()) as any).rows).toEqual([[2]])
    await expect(fetch(`http://${listen}/v1/health`)).rejects.toThrow()
    expect(await metric(/^scratchbird_tls_handshake_failures_total\{listener="client",reason="plaintext"\}/)).toBeGreaterThan(0)
  })

  it('serves the cluster RPC only to a peer whose certificate from tls_ca names the node it claims', async () => {
    // node 2's certificate claiming node 2: past TLS (the junk body is refused as malformed).
    const node2 = ca.node(2)
    const ok = await rpc(node2, 2)
    expect(ok.body.error.code).toBe('SB_RPC_MALFORMED')
    const refused = [
      { client: undefined, reason: 'no_certificate' },
      { client: node2, claims: 3, reason: 'wrong_node' },
      { client: other.node(2), reason: 'untrusted_certificate' },
      { client: ca.issue('web', { cn: 'www.example.com', san: ['DNS:www.example.com'] }), reason: 'wrong_node' }
    ]
    for (const c of refused) {
      const before = await metric(new RegExp(`^scratchbird_tls_handshake_failures_total\\{listener="client",reason="${c.reason}"\\}`))
      const r = await rpc(c.client, c.claims ?? 2)
      expect(r.status, c.reason).toBe(401)
      expect(r.body.error).toMatchObject({ code: 'SB_TLS_PEER_REFUSED' })
      expect(await metric(new RegExp(`^scratchbird_tls_handshake_failures_total\\{listener="client",reason="${c.reason}"\\}`))).toBe(before + 1)
    }
    await logged(/TLS: refused .* on the client listener \(no_certificate\)/)
  })

  it('psql connects with sslmode=verify-full; a plaintext startup is refused with a clear error', async () => {
    const conn = (mode: string): string => `host=localhost port=${pgPort} user=tester dbname=db sslmode=${mode} sslrootcert=${ca.cert} gssencmode=disable`
    const ok = await runTool('psql', ['-X', '-At', '-d', conn('verify-full'), '-c', 'SELECT 40 + 2'])
    expect(ok.stderr).toBe('')
    expect(ok.stdout.trim()).toBe('42')
    const plain = await runTool('psql', ['-X', '-At', '-d', conn('disable'), '-c', 'SELECT 1'])
    expect(plain.status).not.toBe(0)
    expect(plain.stderr).toMatch(/accepts only TLS connections/)
    expect(await metric(/^scratchbird_tls_handshake_failures_total\{listener="pg",reason="plaintext"\}/)).toBeGreaterThan(0)
    // A client that does not trust the node's CA refuses it (the node counts the failed handshake).
    const untrusted = await runTool('psql', ['-X', '-At', '-d', `host=localhost port=${pgPort} user=tester dbname=db sslmode=verify-full sslrootcert=${other.cert} gssencmode=disable`, '-c', 'SELECT 1'])
    expect(untrusted.status).not.toBe(0)
    expect(untrusted.stderr).toMatch(/certificate verify failed/)
  })

  it('the operator programs reach it over https with --cacert (or tls_ca of --config), not without the CA', async () => {
    const url = `https://localhost:${listen.split(':')[1]!}`
    const cli = await runProgram(['cli', '--url', url, '--cacert', ca.cert, '--format', 'csv', '--command', 'SELECT 6 * 7 AS answer'])
    expect(cli.stderr).toBe('')
    expect(cli.stdout).toBe('answer\r\n42\r\n')
    const viaConfig = await runProgram(['cli', '--config', join(dir, 'scratchbird.yaml'), '--health'])
    expect(viaConfig.code, viaConfig.stderr).toBe(0)
    expect(JSON.parse(viaConfig.stdout)).toMatchObject({ nodeId: 1, state: 'ready' })
    const untrusted = await runProgram(['cli', '--url', url, '--command', 'SELECT 1'])
    expect(untrusted.code).not.toBe(0)
    expect(untrusted.stderr).toMatch(/certificate/i)
    const backup = await runProgram(['backup', '--type=full', `--output=${join(dir, 'full.tar')}`, `--url=${url}`, `--cacert=${ca.cert}`])
    expect(backup.code, backup.stderr).toBe(0)
    expect(existsSync(join(dir, 'full.tar'))).toBe(true)
  })

  it('warns of a certificate that expires within 14 days, at start, and exports the seconds left', async () => {
    await logged(/TLS certificate .*node1\.crt expires in 7 day\(s\)/)
    const left = await metric(new RegExp(`^scratchbird_tls_cert_expiry_seconds\\{file="${node1.cert.replace(/[.]/g, '\\.')}"\\}`))
    expect(left).toBeGreaterThan(6 * 86400)
    expect(left).toBeLessThanOrEqual(7 * 86400)
  })

  it('reloads the certificates on SIGHUP and on a file change, keeping established connections; a bad set keeps the running one', async () => {
    const first = await tlsConnection()
    expect(await healthOn(first.socket)).toBe('HTTP/1.1 200 OK')
    ca.node(1) // new serial, written over node1.crt / node1.key
    node.proc.kill('SIGHUP')
    await logged('TLS certificates reloaded (SIGHUP)')
    // The established connection still works; a new one is served the new certificate.
    expect(await healthOn(first.socket)).toBe('HTTP/1.1 200 OK')
    const second = await tlsConnection()
    expect(second.serial).not.toBe(first.serial)
    // A changed file is noticed without a signal.
    ca.node(1)
    await logged('TLS certificates reloaded (a TLS file changed)')
    const third = await tlsConnection()
    expect(third.serial).not.toBe(second.serial)
    // A key that does not match: the reload fails, the running certificate stays.
    writeFileSync(node1.key, 'not a key\n')
    node.proc.kill('SIGHUP')
    await logged('TLS reload (SIGHUP) failed, keeping the running certificates')
    const fourth = await tlsConnection()
    expect(fourth.serial).toBe(third.serial)
    expect(await healthOn(second.socket)).toBe('HTTP/1.1 200 OK')
    for (const c of [first, second, third, fourth]) c.socket.destroy()
    expect(await metric(/^scratchbird_tls_reloads_total\{outcome="failed"\}/)).toBeGreaterThan(0)
  })
})

describe('unusable TLS files', () => {
  it('stop the start with SB_TLS_MATERIAL before the data directory is touched (only the log directory exists)', async () => {
    const d = tempDir('sb-tls-bad-')
    const cfg = join(d, 'tls.yaml')
    writeFileSync(cfg, stringify({ security: { tls_enabled: true, tls_cert: join(d, 'missing.crt'), tls_key: join(d, 'missing.key'), tls_ca: join(d, 'ca.crt') } }))
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(d, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', 'off'])
    const r = await runToExit(cmd, args, { timeoutMs: 60_000 })
    expect(r.code).not.toBe(0)
    expect(r.stdout + r.stderr).toMatch(/SB_TLS_MATERIAL/)
    expect(r.stdout + r.stderr).toMatch(/missing\.crt: cannot be read/)
    const data = join(d, 'data')
    expect(existsSync(data) ? readdirSync(data) : [], 'no lock, format file or shard database').toEqual(existsSync(data) ? ['logs'] : [])
  })
})
