import type { Server } from 'node:http'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { REPLICATION_CODEC_VERSION, replEnvelopeCodec } from '../../../../src/cluster/replication/codec'
import type { GossipPing } from '../../../../src/cluster/gossip/types'
import { ManualClock } from '../../../../src/core/clock'
import { asNodeId, asShardId } from '../../../../src/core/ids'
import { SeededRng } from '../../../../src/core/rng'
import { closeServer, createHttpServer, listen } from '../../../../src/net/http-server'
import { RpcClient } from '../../../../src/net/rpc/client'
import { RPC_PATH } from '../../../../src/net/rpc/headers'
import { RPC_OPCODES } from '../../../../src/net/rpc/opcodes'
import { RpcMethods, rpcRoutes } from '../../../../src/net/rpc/server'
import { ReplicationShell, type ReplicationShellDeps } from '../../../../src/node/replication/manager'
import { createMetrics } from '../../../../src/ops/metrics'
import { ShardEngine } from '../../../../src/storage/engine'
import { MemoryKv, MemoryStore } from '../../../../src/storage/kv-memory'
import { HostClient } from '../../shard/host-fixtures'

// The Mode 1 transport over real cluster RPC (loopback HTTP, src/node/replication/manager.ts): a
// node's replication messages to a peer must not wait behind another call to that peer that takes
// long to answer — on a primary, a client's statement forwarded there is answered only once its
// commit is replicated, which needs exactly these messages.

const CLUSTER = 'transport-test'
const SECRET = 'a-cluster-secret-of-some-length'
const SHARD = asShardId(0)
const ping: GossipPing = { type: 'ping', from: asNodeId(1), hlc: '', members: [], sentAt: 1 }

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/** Node 2: records the replication messages it receives; its GOSSIP_SYNC answers only when released. */
async function peer (): Promise<{ address: string, messages: string[], release: () => void }> {
  const parked: Array<() => void> = []
  const messages: string[] = []
  const methods = new RpcMethods()
    .register('REPL_MESSAGE', (p) => { for (const f of p.messages) messages.push(replEnvelopeCodec.decode(f).msg.type); return null })
    .register('GOSSIP_SYNC', async () => { await new Promise<void>(resolve => { parked.push(resolve) }); return null })
  const routes = rpcRoutes({ cluster: CLUSTER, secret: SECRET, methods, metrics: createMetrics(), onInternalError: e => { throw e } })
  const server: Server = createHttpServer({ [RPC_PATH]: routes[RPC_PATH]! }, e => { throw e })
  const addr = await listen(server, '127.0.0.1:0')
  const release = (): void => { for (const r of parked.splice(0)) r() }
  cleanups.push(async () => { release(); server.closeAllConnections(); await closeServer(server) })
  return { address: `127.0.0.1:${addr.port}`, messages, release }
}

function client (): RpcClient {
  // One connection: a call the peer holds occupies it (as four do on the node's four).
  const c = new RpcClient({ cluster: CLUSTER, nodeId: asNodeId(1), secret: SECRET, metrics: createMetrics(), connections: 1 })
  cleanups.push(async () => { await c.close() })
  return c
}

/** Node 1's replication shell over one in-memory shard, with `deps` over its defaults. */
async function shellOf (deps: Pick<ReplicationShellDeps, 'replicasOf' | 'addressOf' | 'rpc'> & Partial<ReplicationShellDeps>,
  disk?: (engine: ShardEngine) => Promise<void>): Promise<{ shell: ReplicationShell, clock: ManualClock }> {
  const clock = new ManualClock()
  const engine = await ShardEngine.open(MemoryKv.open(new MemoryStore()), { shardId: SHARD, nodeId: asNodeId(1), durability: 'none', clock })
  await disk?.(engine)
  const host = new HostClient(new Map([[SHARD, engine]]), 60_000, clock)
  cleanups.push(async () => { await host.host.close() })
  const shell = new ReplicationShell({
    self: asNodeId(1),
    shardCount: { shards: 1 },
    syncReplicas: 'majority',
    electionTimeoutMs: 100,
    heartbeatMs: 10,
    maxRetainedBytes: 1_000_000,
    lagWarningMs: 60_000,
    maxMessageBytes: 1 << 20,
    workers: host,
    clock,
    rng: new SeededRng(1),
    log: pino({ level: 'silent' }),
    ...deps
  })
  cleanups.push(async () => { shell.stop() })
  return { shell, clock }
}

describe('Mode 1 replication transport', () => {
  it('a replication message reaches the peer while another call to that peer waits for its answer', async () => {
    const p2 = await peer()
    const shared = client()
    const { shell, clock } = await shellOf({ replicasOf: () => [asNodeId(1), asNodeId(2)], addressOf: () => p2.address, rpc: shared, messageRpc: client() })
    // A call on the node's shared client that node 2 answers only later (a forwarded commit).
    const slow = shared.call(p2.address, 'GOSSIP_SYNC', ping).catch(() => null)
    shell.start()
    // Node 1 is the first of the shard's preference list: past its election timeout it campaigns.
    for (let i = 0; i < 400 && !p2.messages.includes('vote'); i++) {
      clock.advance(50)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    expect(p2.messages).toContain('vote')
    p2.release()
    await slow
  })

  it('drops a replication message in a newer codec version and counts it', async () => {
    const metrics = createMetrics()
    const { shell } = await shellOf({ replicasOf: () => [], addressOf: () => '127.0.0.1:1', rpc: client(), metrics })
    const methods = new RpcMethods()
    shell.register(methods)
    const vote = replEnvelopeCodec.encode({ shard: SHARD, msg: { type: 'vote', generation: 1, from: asNodeId(2), lastLsn: 0n, lastGeneration: 0, preVote: false } })
    const newer = Uint8Array.of(REPLICATION_CODEC_VERSION + 1, ...vote.subarray(1))
    await methods.get(RPC_OPCODES.REPL_MESSAGE)!.method({ messages: [newer, vote] }, { from: asNodeId(2), opcode: 'REPL_MESSAGE', id: 1 })
    // The vote of v1 is taken (node 1 holds no group of the shard here, so it goes nowhere), not counted.
    const counted = (await metrics.codecVersionRefused.get()).values
    expect(counted).toEqual([expect.objectContaining({ labels: { codec: 'replication message' }, value: 1 })])
  })

  it('a vote request for a shard it runs no group of starts the group when its disk holds the log, kept while contacted (issue 20, membership sim seed 302)', async () => {
    const p2 = await peer()
    // Node 1's disk holds the shard's log up to a config entry listing {1, 2, 3} at generation 2;
    // its layout no longer lists it among the shard's replicas ({2, 3}: already voters), so its
    // own rule never starts a group — but node 2's log (removal of node 3 appended) needs its vote.
    const { shell, clock } = await shellOf({ replicasOf: () => [asNodeId(2), asNodeId(3)], addressOf: () => p2.address, rpc: client() }, async (engine) => {
      await engine.setReplState({ generation: 2n, votedFor: null, commitLsn: 0n, role: 'none' })
      await engine.replAppendControl(2n, { kind: 'config', voters: [asNodeId(1), asNodeId(2), asNodeId(3)] })
    })
    const methods = new RpcMethods()
    shell.register(methods)
    shell.start()
    const turn = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 5)) }
    for (let i = 0; i < 10; i++) await turn()
    expect(shell.group(SHARD)).toBeUndefined()
    const vote = (generation: number): Uint8Array => replEnvelopeCodec.encode({ shard: SHARD, msg: { type: 'vote', generation, from: asNodeId(2), lastLsn: 2n, lastGeneration: 2, preVote: false } })
    const deliver = async (frame: Uint8Array): Promise<void> => { await methods.get(RPC_OPCODES.REPL_MESSAGE)!.method({ messages: [frame] }, { from: asNodeId(2), opcode: 'REPL_MESSAGE', id: 1 }) }
    await deliver(vote(3))
    for (let i = 0; i < 400 && shell.group(SHARD)?.running !== true; i++) await turn()
    expect(shell.group(SHARD)?.running).toBe(true)
    // The candidate asks again: the group answers now (its log is not ahead of the candidate's).
    await deliver(vote(3))
    for (let i = 0; i < 400 && !p2.messages.includes('vote-reply'); i++) await turn()
    expect(p2.messages).toContain('vote-reply')
    // Kept through the syncs while contacted within two election timeouts (2 × 100 ms)…
    clock.advance(150)
    for (let i = 0; i < 10; i++) await turn()
    expect(shell.group(SHARD)).toBeDefined()
    // …then, no peer contacting it any more, its own rule decides again: retired.
    clock.advance(100)
    for (let i = 0; i < 400 && shell.group(SHARD) !== undefined; i++) await turn()
    expect(shell.group(SHARD)).toBeUndefined()
  })

  it('a pre-vote starts the group only while the voters its replication state records list this node (issue 20, membership sim seed 488)', async () => {
    const p2 = await peer()
    const recorded = async (voters: number[]): Promise<ReplicationShell> => {
      const { shell } = await shellOf({ replicasOf: () => [asNodeId(2), asNodeId(3)], addressOf: () => p2.address, rpc: client() }, async (engine) => {
        await engine.setReplState({ generation: 2n, votedFor: null, commitLsn: 0n, role: 'none' })
        await engine.replAppendControl(2n, { kind: 'config', voters: voters.map(asNodeId) })
        await engine.setReplState({ generation: 2n, votedFor: null, commitLsn: 1n, role: 'none', config: { lsn: 1n, voters: voters.map(asNodeId) } })
      })
      const methods = new RpcMethods()
      shell.register(methods)
      shell.start()
      const preVote = replEnvelopeCodec.encode({ shard: SHARD, msg: { type: 'vote', generation: 3, from: asNodeId(2), lastLsn: 1n, lastGeneration: 2, preVote: true } })
      await methods.get(RPC_OPCODES.REPL_MESSAGE)!.method({ messages: [preVote] }, { from: asNodeId(2), opcode: 'REPL_MESSAGE', id: 1 })
      return shell
    }
    const turn = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 5)) }
    const voter = await recorded([1, 2, 3, 4])
    for (let i = 0; i < 400 && voter.group(SHARD)?.running !== true; i++) await turn()
    expect(voter.group(SHARD)?.running).toBe(true)
    // Answered from the disk meanwhile, as before.
    for (let i = 0; i < 400 && !p2.messages.includes('vote-reply'); i++) await turn()
    expect(p2.messages).toContain('vote-reply')
    // A node its recorded voters do not list only answers.
    const before = p2.messages.length
    const other = await recorded([2, 3, 4])
    for (let i = 0; i < 400 && p2.messages.length === before; i++) await turn()
    for (let i = 0; i < 20; i++) await turn()
    expect(p2.messages.length).toBeGreaterThan(before)
    expect(other.group(SHARD)).toBeUndefined()
  })
})
