import type { Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import { configuredLayout, type ClusterLayout } from '../../../src/cluster/layout'
import { admitLayout } from '../../../src/cluster/membership/epochs'
import { closeServer, createHttpServer, listen } from '../../../src/net/http-server'
import { RpcClient } from '../../../src/net/rpc/client'
import { RpcMethods, rpcRoutes } from '../../../src/net/rpc/server'
import { createMetrics } from '../../../src/ops/metrics'
import { DECREE_FILE, readDecree, recordDecree } from '../../../src/node/cluster-layout'
import { DecreeShell, DECREE_TIMEOUT_MS } from '../../../src/node/membership-decree'

// The membership decree shell (node/membership-decree.ts) over real cluster RPC (HTTP on
// 127.0.0.1, MEMBERSHIP_DECREE) with each node's acceptor record in a real data directory
// (membership-decree.json, read back as a restart does): two deciders at one epoch, a later
// decider completing an earlier decision, a majority unreachable.

const CLUSTER = 'decree-test'
const SECRET = 'a-cluster-secret-of-some-length'
const current = configuredLayout(CLUSTER, 4, [1, 2, 3].map(asNodeId))

interface Voter { id: NodeId, dir: string, address: string, shell: DecreeShell, rpc: RpcClient, stop: () => Promise<void>, stopped: boolean }

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/** Nodes 1..3 at epoch 1, each with an RPC server answering MEMBERSHIP_DECREE from its shell. */
async function cluster (): Promise<Map<NodeId, Voter>> {
  const voters = new Map<NodeId, Voter>()
  const addresses = new Map<NodeId, string>()
  for (const n of [1, 2, 3]) {
    const id = asNodeId(n)
    const dir = mkdtempSync(join(tmpdir(), `sb-decree-${n}-`))
    const rpc = new RpcClient({ cluster: CLUSTER, nodeId: id, secret: SECRET, metrics: createMetrics() })
    const v: Voter = { id, dir, address: '', rpc, shell: null as unknown as DecreeShell, stop: async () => {}, stopped: false }
    v.shell = shellOf(v, addresses)
    const methods = new RpcMethods().register('MEMBERSHIP_DECREE', p => v.shell.answer(p))
    const routes = rpcRoutes({ cluster: CLUSTER, secret: SECRET, methods, metrics: createMetrics(), onInternalError: e => { throw e } })
    const server: Server = createHttpServer(routes, e => { throw e })
    const addr = await listen(server, '127.0.0.1:0')
    v.address = `127.0.0.1:${addr.port}`
    addresses.set(id, v.address)
    v.stop = async () => {
      if (v.stopped) return
      v.stopped = true
      server.closeAllConnections()
      await closeServer(server)
    }
    cleanups.push(async () => { await v.stop(); await rpc.close(); rmSync(dir, { recursive: true, force: true }) })
    voters.set(id, v)
  }
  return voters
}

/** A shell over `v`'s data directory, as a (re)started node builds it. */
function shellOf (v: Pick<Voter, 'id' | 'dir' | 'rpc'>, addresses: Map<NodeId, string>): DecreeShell {
  return new DecreeShell({ selfId: v.id, rpc: v.rpc, addressOf: id => addresses.get(id)!, runs: () => current.epoch, record: readDecree(v.dir), persist: r => recordDecree(v.dir, r) })
}

const removing = (id: number): ClusterLayout => ({ ...current, epoch: current.epoch + 1, members: current.members.filter(m => m !== id) })

describe('membership decrees over RPC', () => {
  it('two deciders at one epoch: never two layouts chosen, and every voter that accepted holds the chosen one', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const voters = await cluster()
      const [a, b] = await Promise.all([
        voters.get(asNodeId(1))!.shell.propose(current, admitLayout(current, asNodeId(4))),
        voters.get(asNodeId(2))!.shell.propose(current, removing(1))
      ])
      const chosen = [a, b].flatMap(r => r.kind === 'chosen' ? [r.layout] : [])
      expect(new Set(chosen.map(l => l.members.join())).size).toBeLessThanOrEqual(1)
      for (const l of chosen) {
        // On disk: a majority recorded exactly this layout for epoch 2.
        const holding = [...voters.values()].filter(v => readDecree(v.dir)?.accepted?.layout.members.join() === l.members.join())
        expect(holding.length).toBeGreaterThanOrEqual(2)
      }
      for (const c of cleanups.splice(0).reverse()) await c()
    }
  })

  it('a later decider (restarted from its data directory) completes the layout a majority accepted, not its own', async () => {
    const voters = await cluster()
    const [v1, v2, v3] = [1, 2, 3].map(n => voters.get(asNodeId(n))!)
    await v3!.stop()
    const admitted = admitLayout(current, asNodeId(4))
    const first = await v1!.shell.propose(current, admitted)
    expect(first).toEqual({ kind: 'chosen', layout: admitted, own: true })
    expect(readDecree(v2!.dir)?.accepted?.layout).toEqual(admitted)
    // Node 1 goes away before anyone adopted epoch 2; node 2 restarts and, seeing node 1 dead, wants it removed.
    await v1!.stop()
    const addresses = new Map([...voters.values()].map(v => [v.id, v.address]))
    const restarted = shellOf(v2!, addresses)
    // Node 3 is back (its server answers again with the record it had: none).
    const methods = new RpcMethods().register('MEMBERSHIP_DECREE', p => v3!.shell.answer(p))
    const server = createHttpServer(rpcRoutes({ cluster: CLUSTER, secret: SECRET, methods, metrics: createMetrics(), onInternalError: e => { throw e } }), e => { throw e })
    const addr = await listen(server, '127.0.0.1:0')
    addresses.set(v3!.id, `127.0.0.1:${addr.port}`)
    cleanups.push(async () => { server.closeAllConnections(); await closeServer(server) })
    const second = await restarted.propose(current, removing(1))
    expect(second).toEqual({ kind: 'chosen', layout: admitted, own: false })
    expect(readDecree(v3!.dir)?.accepted?.layout).toEqual(admitted)
  })

  it('a split\'s start sends nothing after its notAfter bound (the lock\'s window), and an accepted intent is reported until the node runs its epoch', async () => {
    const voters = await cluster()
    const [v1, v2, v3] = [1, 2, 3].map(n => voters.get(asNodeId(n))!)
    const intent: ClusterLayout = { ...current, epoch: current.epoch + 1, split: { to: 8 } }
    // Node 1's clock passes the bound while its own promise is being written (a slow fsync).
    let now = 0
    const addresses = new Map([...voters.values()].map(v => [v.id, v.address]))
    const late = new DecreeShell({ selfId: v1!.id, rpc: v1!.rpc, addressOf: id => addresses.get(id)!, runs: () => current.epoch, record: null, now: () => now, persist: async r => { now = 100; await recordDecree(v1!.dir, r) } })
    expect(await late.propose(current, intent, { notAfter: 50 })).toEqual({ kind: 'undecided', missing: [2, 3].map(asNodeId), maybe: false })
    // Its promise is on its disk; no voter heard anything, and nobody holds the intent.
    expect(readDecree(v1!.dir)).toMatchObject({ epoch: 2, accepted: null })
    expect(readDecree(v2!.dir)).toBeNull()
    expect(readDecree(v3!.dir)).toBeNull()
    expect(late.acceptedSplit()).toBeNull()
    // Within the bound it is chosen; every acceptor reports the intent while it runs epoch 1.
    const inTime = shellOf(v2!, addresses)
    expect(await inTime.propose(current, intent)).toEqual({ kind: 'chosen', layout: intent, own: true })
    expect(inTime.acceptedSplit()).toEqual({ kind: 'accepted', epoch: 2, shards: 4, to: 8, lapsedMs: 0 })
    // The last acceptance lands after the choice: wait for it (its record is written before it answers).
    for (let i = 0; i < 200 && [v1!, v3!].some(v => readDecree(v.dir)?.accepted == null); i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect(shellOf(v3!, addresses).acceptedSplit()).toEqual({ kind: 'accepted', epoch: 2, shards: 4, to: 8, lapsedMs: 0 })
    const adopted = new DecreeShell({ selfId: v2!.id, rpc: v2!.rpc, addressOf: id => addresses.get(id)!, runs: () => 2, record: readDecree(v2!.dir), persist: () => {} })
    expect(adopted.acceptedSplit()).toBeNull()
  })

  it('an intent found in a promise is proposed only once the split lock was taken for it (guard), before any acceptance is sent', async () => {
    const voters = await cluster()
    const [v1, v2, v3] = [1, 2, 3].map(n => voters.get(asNodeId(n))!)
    const addresses = new Map([...voters.values()].map(v => [v.id, v.address]))
    // Node 1 accepted another decider's intent (judged at catalog 9), which stopped there.
    const intent: ClusterLayout = { ...current, epoch: current.epoch + 1, split: { to: 8 } }
    await recordDecree(v1!.dir, { epoch: 2, promised: { round: 1, node: asNodeId(1) }, accepted: { ballot: { round: 1, node: asNodeId(1) }, layout: intent, judgedAt: 9 } })
    v1!.shell = shellOf(v1!, addresses)
    // Node 3 is down: node 1's promise is in every majority.
    await v3!.stop()
    const proposer = shellOf(v2!, addresses)
    const asked: unknown[] = []
    // The lock is refused: nothing is sent to accept, nobody else holds it.
    expect(await proposer.propose(current, removing(3), { guard: async v => { asked.push(v); return null } })).toMatchObject({ kind: 'undecided', maybe: false })
    expect(asked).toEqual([{ layout: intent, judgedAt: 9 }])
    expect(readDecree(v2!.dir)?.accepted ?? null).toBeNull()
    // Granted: the intent is completed (it may have been chosen: Paxos proposes it again).
    expect(await proposer.propose(current, removing(3), { guard: async v => { asked.push(v); return Number.MAX_SAFE_INTEGER } })).toEqual({ kind: 'chosen', layout: intent, own: false })
    expect(asked).toHaveLength(2)
    expect(readDecree(v2!.dir)?.accepted).toMatchObject({ layout: intent, judgedAt: 9 })
  })

  it('completing its own record\'s intent (no lock of its own: no notAfter) takes the lock too', async () => {
    const voters = await cluster()
    const v1 = voters.get(asNodeId(1))!
    const intent: ClusterLayout = { ...current, epoch: current.epoch + 1, split: { to: 8 } }
    const asked: unknown[] = []
    expect(await v1.shell.propose(current, intent, { judgedAt: 9, guard: async v => { asked.push(v); return null } })).toMatchObject({ kind: 'undecided', maybe: false })
    expect(asked).toEqual([{ layout: intent, judgedAt: 9 }])
    // Under its own lock (a start: notAfter given) it is not asked again.
    expect(await v1.shell.propose(current, intent, { judgedAt: 9, notAfter: Number.MAX_SAFE_INTEGER, guard: async v => { asked.push(v); return null } })).toMatchObject({ kind: 'chosen', own: true })
    expect(asked).toHaveLength(1)
    for (let i = 0; i < 200 && [...voters.values()].some(v => readDecree(v.dir)?.accepted == null); i++) await new Promise(resolve => setTimeout(resolve, 10))
  })

  it('answers run one at a time: a request arriving while a record is being written is decided against that record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-decree-serial-'))
    cleanups.push(async () => { rmSync(dir, { recursive: true, force: true }) })
    const writes: Array<() => void> = []
    const written: number[] = []
    const shell = new DecreeShell({
      selfId: asNodeId(1),
      rpc: new RpcClient({ cluster: CLUSTER, nodeId: asNodeId(1), secret: SECRET, metrics: createMetrics() }),
      addressOf: () => '127.0.0.1:1',
      runs: () => current.epoch,
      record: null,
      // The disk answers when the test says so (an fsync under a busy disk).
      persist: r => new Promise<void>(resolve => { writes.push(() => { written.push(r.promised.round); resolve() }) })
    })
    const first = shell.answer({ kind: 'prepare', epoch: 2, ballot: { round: 5, node: asNodeId(2) } })
    const second = shell.answer({ kind: 'prepare', epoch: 2, ballot: { round: 4, node: asNodeId(3) } })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(writes).toHaveLength(1) // the second waits for the first's record
    writes.shift()!()
    expect(await first).toMatchObject({ kind: 'promise' })
    // Against the record of round 5, round 4 is refused — and nothing more is written.
    expect(await second).toMatchObject({ kind: 'rejected', promised: { round: 5, node: 2 } })
    expect(writes).toHaveLength(0)
    expect(written).toEqual([5])
  })

  it('a promise survives a restart: a lower ballot is refused by the shell read back from membership-decree.json', async () => {
    const voters = await cluster()
    const v1 = voters.get(asNodeId(1))!
    const req = { kind: 'prepare' as const, epoch: 2, ballot: { round: 5, node: asNodeId(2) } }
    expect((await v1.shell.answer(req)).kind).toBe('promise')
    const again = shellOf(v1, new Map())
    expect(await again.answer({ kind: 'prepare', epoch: 2, ballot: { round: 4, node: asNodeId(3) } })).toMatchObject({ kind: 'rejected', promised: { round: 5, node: 2 } })
    expect(DECREE_FILE).toBe('membership-decree.json')
  })

  it('a majority unreachable: undecided, naming the voters that did not answer; nothing chosen', async () => {
    const voters = await cluster()
    await voters.get(asNodeId(2))!.stop()
    await voters.get(asNodeId(3))!.stop()
    const started = Date.now()
    const r = await voters.get(asNodeId(1))!.shell.propose(current, removing(3))
    expect(r).toEqual({ kind: 'undecided', missing: [2, 3].map(asNodeId), maybe: false })
    expect(Date.now() - started).toBeGreaterThanOrEqual(DECREE_TIMEOUT_MS - 50)
    expect(readDecree(voters.get(asNodeId(1))!.dir)?.accepted).toBeNull()
  }, 30_000)
})
