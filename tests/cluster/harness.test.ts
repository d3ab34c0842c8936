import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'

// The multi-node harness itself, on today's node: three real processes with per-node configs and
// one proxy per directed pair. Nothing here relies on cluster features (gossip, replication):
// only that each node starts with the cluster config, answers, and survives kill + restart.

let cluster: Cluster
beforeAll(async () => { cluster = await startCluster({ nodes: 3 }) })
afterAll(async () => { await cluster?.close() })

/** GET /v1/health through a proxy: does the link deliver to the node it should? */
async function healthVia (address: string): Promise<number> {
  const res = await fetch(`http://${address}/v1/health`, { signal: AbortSignal.timeout(5000) })
  return ((await res.json()) as { nodeId: number }).nodeId
}

describe('cluster harness', () => {
  it('starts three nodes that each answer /v1/health and SELECT 1', async () => {
    expect(cluster.ids).toEqual([1, 2, 3])
    for (const id of cluster.ids) {
      const n = cluster.node(id)
      expect(n.running).toBe(true)
      const health = await cluster.health(id)
      expect(health.status).toBe(200)
      expect(health.body).toMatchObject({ nodeId: id, state: 'ready', shardWorkers: 1, shardsOpen: 16 })
      const one = await cluster.sql(id, 'SELECT 1')
      expect(one.status).toBe(200)
      expect(one.body).toMatchObject({ command: 'SELECT', rows: [[1]], rowCount: 1 })
    }
    const withParams = await cluster.sql(1, 'SELECT $1', [7])
    expect(withParams.status).toBe(200)
  })

  it('writes each node a config listing its peers at the proxies into them', () => {
    for (const i of cluster.ids) {
      const n = cluster.node(i)
      const written = parse(readFileSync(n.configPath, 'utf8')) as Record<string, any>
      expect(written).toEqual(n.config)
      expect(written.node).toMatchObject({ id: i, listen: n.listen, metrics_listen: n.metricsListen, data_dir: n.dataDir })
      expect(written.security.cluster_secret).toBe(TEST_CLUSTER_SECRET)
      expect(written.gossip).toEqual({ interval_ms: 200, fanout: 2, heartbeat_timeout_ms: 3000 })
      expect(written.storage).toMatchObject({ shards: 16, workers: 1 })
      expect(written.cluster.nodes).toEqual(cluster.ids.map((j) => ({
        id: j,
        address: j === i ? n.listen : cluster.link(i, j).address,
        datacenter: 'dc1'
      })))
    }
    expect(new Set(cluster.links().map(([, , p]) => p.port)).size).toBe(6)
  })

  it('routes each link to its target node; isolate cuts every link of a node, heal restores them', async () => {
    for (const [, j, p] of cluster.links()) expect(await healthVia(p.address)).toBe(j)

    cluster.isolate(2)
    for (const [i, j, p] of cluster.links()) {
      if (i === 2 || j === 2) {
        expect(p.mode).toBe('cut')
        await expect(healthVia(p.address)).rejects.toThrow()
      } else {
        expect(await healthVia(p.address)).toBe(j)
      }
    }
    // Clients reach the node directly, not through the proxies.
    expect((await cluster.health(2)).status).toBe(200)

    cluster.heal(2)
    for (const [, j, p] of cluster.links()) expect(await healthVia(p.address)).toBe(j)

    cluster.partition([[1], [2, 3]], 'blackhole')
    expect(cluster.link(1, 2).mode).toBe('blackhole')
    expect(cluster.link(3, 1).mode).toBe('blackhole')
    expect(cluster.link(2, 3).mode).toBe('pass')
    cluster.heal()
    expect(cluster.links().every(([, , p]) => p.mode === 'pass')).toBe(true)
  })

  it('kills a node with SIGKILL and restarts it on the same config and data dir', async () => {
    const before = cluster.node(2)
    const listen = before.listen
    const pid = before.proc!.pid

    expect(await cluster.kill(2)).toBe('SIGKILL')
    expect(cluster.node(2).running).toBe(false)
    await expect(cluster.health(2, 2000)).rejects.toThrow()
    // A proxy into a dead node resets its clients rather than hanging them.
    await expect(healthVia(cluster.link(1, 2).address)).rejects.toThrow()
    expect(await cluster.kill(2)).toBeUndefined()

    await cluster.restart(2)
    const after = cluster.node(2)
    expect(after.running).toBe(true)
    expect(after.proc!.pid).not.toBe(pid)
    expect(after.listen).toBe(listen)
    expect(after.exits).toEqual(['SIGKILL'])
    const health = await cluster.waitFor(async () => {
      const r = await cluster.health(2)
      return r.status === 200 && r.body.state === 'ready' ? r.body : undefined
    }, { what: 'node 2 to be ready after restart', timeoutMs: 10_000 })
    expect(health.nodeId).toBe(2)
    expect((await cluster.sql(2, 'SELECT 1')).body.rows).toEqual([[1]])
    expect(await healthVia(cluster.link(3, 2).address)).toBe(2)
    expect(after.stdout()).toMatch(/scratchbird restart #1/)
  })

  it('waitFor reports what it waited for', async () => {
    await expect(cluster.waitFor(() => false, { timeoutMs: 150, intervalMs: 50, what: 'the impossible' }))
      .rejects.toThrow(/waiting for the impossible; last result: false/)
    await expect(cluster.waitFor(() => { throw new Error('boom') }, { timeoutMs: 100, what: 'x' }))
      .rejects.toThrow(/last error: Error: boom/)
  })

  it('closes cleanly: processes gone, temp dirs removed', async () => {
    const procs = cluster.nodes.map((n) => n.proc!)
    await cluster.close()
    await cluster.close()
    for (const p of procs) expect(p.exitCode !== null || p.signalCode !== null).toBe(true)
    expect(cluster.nodes.every((n) => !n.running)).toBe(true)
    if (process.env.KEEP_CLUSTER !== '1') expect(existsSync(cluster.root)).toBe(false)
  })
})

describe('cluster harness port race', () => {
  it('gives a node whose port was taken new ports and retargets the proxies into it', async () => {
    const c = await startCluster({ nodes: 2, start: false })
    const squatter = createServer()
    try {
      const taken = c.node(1).listen
      squatter.listen(Number(taken.split(':')[1]), '127.0.0.1')
      await once(squatter, 'listening')
      await c.start(1)
      expect(c.node(1).listen).not.toBe(taken)
      expect(c.link(2, 1).target).toBe(c.node(1).listen)
      expect(c.node(1).config.node?.listen).toBe(c.node(1).listen)
      expect(c.node(2).running).toBe(false)
      expect(await healthVia(c.link(2, 1).address)).toBe(1)
    } finally {
      squatter.close()
      await c.close()
    }
  })
})
