import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId } from '../../src/core/ids'
import { RPC_OPCODE_INFO } from '../../src/net/rpc/opcodes'
import { rpcPayloads } from '../../src/net/rpc/payloads'
import { decodeFrame, encodeFrame } from '../../src/net/rpc/wire'
import { freePorts, TEST_CLUSTER_SECRET } from '../helpers/cluster-harness'
import { postSql, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { CODE, FUZZ_RUNS, FUZZ_SEED, mutated } from './mutate'

// Fuzzes the cluster RPC of ONE real node (issue 18 item 5): node 1 of a two-node cluster whose
// node 2 never starts, so node.listen serves POST /v1/rpc with the test's known secret. Random
// and mutated frames (built with the project's own frame and payload codecs: PING, a gossip ping,
// every opcode with random payloads), bad headers and bodies. A rejected request is a coded JSON
// error, never SB_INTERNAL; an accepted frame gets a well-formed reply frame; afterwards the node
// is alive and answers a valid RPC and a statement. (No canary table here: with node 2 down, DDL
// cannot reach its catalog majority; the pgwire and HTTP fuzzers check theirs.)

let node: RunningNode
const CLUSTER = 'fuzz-rpc'

beforeAll(async () => {
  const dir = tempDir('sb-fuzz-rpc-')
  const [port, metrics, peer] = await freePorts(3)
  const listen = `127.0.0.1:${port!}`
  const cfg = join(dir, 'scratchbird.yaml')
  writeFileSync(cfg, stringify({
    node: { id: 1, listen, metrics_listen: `127.0.0.1:${metrics!}`, data_dir: join(dir, 'data'), pg_listen: '127.0.0.1:0', durability: 'none' },
    storage: { shards: 4, workers: 1 },
    cluster: { name: CLUSTER, nodes: [{ id: 1, address: listen }, { id: 2, address: `127.0.0.1:${peer!}` }] },
    security: { cluster_secret: TEST_CLUSTER_SECRET },
    logging: { console: 'json' }
  }))
  const [cmd, args] = sourceCommand(['--config', cfg])
  node = await startNode(cmd, args, { timeoutMs: 60_000 })
}, 120_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

const HEADERS: Record<string, string> = {
  'x-scratchbird-cluster-secret': TEST_CLUSTER_SECRET,
  'x-scratchbird-cluster': CLUSTER,
  'x-scratchbird-node-id': '2',
  'content-type': 'application/vnd.scratchbird.rpc'
}

async function rpc (body: Uint8Array, headers: Record<string, string> = HEADERS): Promise<{ status: number, type: string, bytes: Buffer }> {
  const res = await fetch(node.url('/v1/rpc'), { method: 'POST', headers, body, signal: AbortSignal.timeout(20_000) })
  return { status: res.status, type: res.headers.get('content-type') ?? '', bytes: Buffer.from(await res.arrayBuffer()) }
}

function checkAnswer (a: { status: number, type: string, bytes: Buffer }, what: string): void {
  expect(node.proc.exitCode, 'the node exited').toBeNull()
  if (a.status === 200) {
    // A reply frame whose every message is a reply (ok or a coded error reply).
    const replies = decodeFrame(a.bytes, 'reply')
    expect(replies.length, what).toBeGreaterThan(0)
    return
  }
  expect(a.type, `${what}: ${a.status} ${a.bytes.toString().slice(0, 200)}`).toMatch(/^application\/json/)
  const body = JSON.parse(a.bytes.toString()) as { error?: { code?: string, sqlstate?: string } }
  expect(body.error?.code, `${what}: ${a.bytes.toString().slice(0, 300)}`).toMatch(CODE)
  expect(body.error?.code, `${what}: ${a.bytes.toString().slice(0, 300)}`).not.toBe('SB_INTERNAL')
}

const ping = (payload: Uint8Array, id = 7): Uint8Array =>
  encodeFrame([{ kind: 'request', opcode: 0x01, id, body: rpcPayloads('PING').request.encode(payload) }])

const gossip = encodeFrame([{
  kind: 'request',
  opcode: RPC_OPCODE_INFO.find(i => i.name === 'GOSSIP_SYNC')!.code,
  id: 1,
  body: rpcPayloads('GOSSIP_SYNC').request.encode({
    type: 'ping',
    from: asNodeId(2),
    hlc: '0000000000001-0000-0002',
    sentAt: 1,
    members: [{ nodeId: asNodeId(2), address: '127.0.0.1:1', datacenter: '', incarnation: 1, heartbeat: 1, state: 'normal', bootId: 'fuzz', claimedOver: '', catalogVersion: 0, oldestActiveHlc: '', shardReplicas: 0 }]
  })
}])

/** Real frames: PING, a gossip ping, and a batch of every opcode with a few random payload bytes. */
const corpus: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map(p => Buffer.from(ping(p))),
  fc.constant(Buffer.from(gossip)),
  fc.tuple(fc.constantFrom(...RPC_OPCODE_INFO.map(i => i.code)), fc.uint8Array({ maxLength: 48 }))
    .map(([opcode, body]) => Buffer.from(encodeFrame([{ kind: 'request', opcode, id: 3, body }])))
)

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true }

async function stillServes (): Promise<void> {
  expect((await fetch(node.url('/v1/health'))).status).toBe(200)
  const a = await rpc(ping(Uint8Array.of(1, 2, 3)))
  expect(a.status).toBe(200)
  const [reply] = decodeFrame(a.bytes, 'reply')
  expect(reply!.kind).toBe('ok')
  expect(rpcPayloads('PING').reply.decode(reply!.body)).toEqual(Uint8Array.of(1, 2, 3))
  expect((await postSql(node, 'SELECT 1 + 1 AS two')).rows).toEqual([[2]])
  expect(node.stdout()).not.toMatch(/internal error/i)
}

describe('fuzzing the cluster RPC', () => {
  it('random bodies with valid headers', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (body) => {
      checkAnswer(await rpc(body), `random ${Buffer.from(body).toString('hex').slice(0, 200)}`)
    }), params)
    await stillServes()
  })

  it('real frames with mutated bytes, lengths, counts and opcodes', async () => {
    await fc.assert(fc.asyncProperty(mutated(corpus), async (body) => {
      checkAnswer(await rpc(body), `mutated ${body.toString('hex').slice(0, 200)}`)
    }), params)
    await stillServes()
  })

  it('bad headers: secret, cluster, node id, content type', async () => {
    const header = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 40 }).map(s => encodeURIComponent(s)), fc.constantFrom('0', '65536', '-1', '1.5', '2 ', 'NaN', '', TEST_CLUSTER_SECRET + 'x'))
    const headers = fc.record({ secret: fc.oneof(fc.constant(TEST_CLUSTER_SECRET), header), cluster: fc.oneof(fc.constant(CLUSTER), header), id: fc.oneof(fc.constant('2'), header), type: header })
    await fc.assert(fc.asyncProperty(headers, fc.uint8Array({ maxLength: 32 }), async (h, p) => {
      const sent: Record<string, string> = {}
      if (h.secret !== undefined) sent['x-scratchbird-cluster-secret'] = h.secret
      if (h.cluster !== undefined) sent['x-scratchbird-cluster'] = h.cluster
      if (h.id !== undefined) sent['x-scratchbird-node-id'] = h.id
      if (h.type !== undefined) sent['content-type'] = h.type
      checkAnswer(await rpc(ping(p), sent), `headers ${JSON.stringify(sent)}`)
    }), { ...params, numRuns: Math.min(FUZZ_RUNS, 150) })
    await stillServes()
  })
})
