import { beforeAll, describe, expect, it } from 'vitest'
import { checkShardCount, routedShardCount, wireShardCount, type CountLayout } from '../../../src/cluster/shard-count-guard'
import { LiveShardCount } from '../../../src/cluster/shard-count'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, type ShardId } from '../../../src/core/ids'
import { rpcPayloads } from '../../../src/net/rpc/payloads'
import { ShardRouter } from '../../../src/node/shard-router'
import { SessionState } from '../../../src/exec/txn'
import { executeScript } from '../../../src/exec/executor'
import type { ExecEnv } from '../../../src/exec/env'
import { codecOf, type ShardOpName } from '../../../src/shard/protocol/ops'
import { testNode, type TestNode } from '../exec/local-shards'

// A split's routing guard end to end in one process (cluster/shard-count-guard.ts,
// exec/shard-count-retry.ts): the coordinator's executor over the real ShardRouter, every shard
// owned by a "peer" reached through the real SHARD_QUERY codec and the receiver's check as
// node/cluster.ts onShardQuery runs it, served by real shard engines (8 of them: the shards of the
// peer, which runs 8 shards split from 4). The coordinator starts at 4 shards; the first refusal
// it meets stands for the gossip round that brings it the 8-shard layout (it adopts then).

const SELF = asNodeId(1)
const PEER = asNodeId(2)

interface Setup { node: TestNode, readonly coord: LiveShardCount, refusals: string[], sql: (text: string, session?: SessionState) => Promise<{ rows: unknown[][] }[]>, adopt: () => void, rewind: (adoptOnRefusal: boolean) => void }

async function setup (adoptOnRefusal: boolean): Promise<Setup> {
  let coord = new LiveShardCount(4, 1)
  let coordLayout: CountLayout = {}
  const peerLayout: CountLayout = { splitFrom: [4] }
  const peerShards = 8
  const refusals: string[] = []
  const adopt = (): void => { if (coord.follow(8, 2)) coordLayout = { splitFrom: [4] } }
  // The router's local side is unused (every shard is the peer's); its requester is the engines.
  const box: { node?: TestNode } = {}
  const engines = { request: async (op: ShardOpName, req: any) => await box.node!.shards.request(op, req), requestRaw: async () => { throw new Error('unused') } }
  const router = new ShardRouter(engines as any, {
    selfId: SELF,
    ownerOf: () => PEER,
    placedOwner: () => PEER,
    get liveShards () { return coord.shards },
    forward: async (_to, op, shard: ShardId, payload, _timeout, routedBy) => {
      const codec = rpcPayloads('SHARD_QUERY').request
      const q = codec.decode(codec.encode({ op, shard, catalogVersion: 0, shards: wireShardCount(coordLayout, routedBy ?? coord.shards), payload }))
      try {
        checkShardCount(q.op, q.shard, routedShardCount(q.shards, peerLayout, peerShards), peerShards, PEER)
      } catch (e) {
        refusals.push(`${op}@${String(routedBy)}`)
        if (adoptOnRefusal) adopt()
        throw e
      }
      const c = codecOf(q.op)
      return c.encodeReply(await box.node!.shards.request(q.op, c.decodeRequest(q.payload) as any) as any)
    }
  })
  const node = box.node = await testNode(8, false, undefined, { requester: router })
  // The env as node/exec-wiring.ts builds it: the live count, requests passing their routed count on.
  Object.defineProperty(node.env, 'shards', { get: () => coord.shards, enumerable: true })
  ;(node.env as { request: ExecEnv['request'] }).request = (op, req, routedBy) => router.request(op, req, routedBy)
  const sql = async (text: string, session = new SessionState()): Promise<any[]> => {
    const out = await executeScript(node.env, session, text, [])
    if (out.error !== null) throw out.error
    return out.results
  }
  // Back to a coordinator that has not adopted 8 yet (a LiveShardCount never goes down).
  const rewind = (adopting: boolean): void => { coord = new LiveShardCount(4, 1); coordLayout = {}; adoptOnRefusal = adopting }
  return { node, get coord () { return coord }, refusals, sql, adopt, rewind }
}

const KEYS = Array.from({ length: 24 }, (_, i) => `k${i}`)

beforeAll(async () => { await initHashing() })

describe('a coordinator still routing by 4 shards, its peer at 8', () => {
  it('an autocommit INSERT routed by 4 is refused, then re-routed by 8 after the coordinator adopts it: every row is where a read by 8 looks', async () => {
    const s = await setup(true)
    await s.sql('CREATE TABLE t (k TEXT PRIMARY KEY, v INT)')
    for (const [i, k] of KEYS.entries()) await s.sql(`INSERT INTO t (k, v) VALUES ('${k}', ${i})`)
    s.adopt() // (adopted at the first refusal already)
    // Point reads route to one shard by hash mod 8: a row written into its parent would be missed.
    for (const [i, k] of KEYS.entries()) expect((await s.sql(`SELECT v FROM t WHERE k = '${k}'`))[0]!.rows, k).toEqual([[i]])
    expect((await s.sql('SELECT count(*) FROM t'))[0]!.rows).toEqual([[String(KEYS.length)]])
    expect(s.refusals[0]).toBe('AUTOCOMMIT@4')
  })

  it('a scan routed by 4 (which would miss shards 4..7) is refused, then runs over all 8', async () => {
    const s = await setup(false)
    s.adopt()
    await s.sql('CREATE TABLE t (k TEXT PRIMARY KEY, v INT)')
    for (const [i, k] of KEYS.entries()) await s.sql(`INSERT INTO t (k, v) VALUES ('${k}', ${i})`)
    expect(s.refusals).toEqual([])
    s.rewind(true)
    const rows = (await s.sql('SELECT k FROM t'))[0]!.rows
    expect(s.refusals.some(r => r.startsWith('QUERY@4'))).toBe(true)
    expect(s.coord.shards).toBe(8)
    expect(rows.map(r => r[0]).sort()).toEqual([...KEYS].sort())
  })

  it('gossip never brings the newer layout: at the first refusal the coordinator exchanges layouts with the refusing peer, learns 8 and re-routes at once', async () => {
    const s = await setup(false)
    await s.sql('CREATE TABLE t (k TEXT PRIMARY KEY, v INT)')
    // node/cluster.ts syncLayoutWith: a gossip ping to that peer, whose ack carries its layout (adopted here).
    const synced: number[] = []
    const env = s.node.env as { syncLayoutWith?: (node: any) => Promise<void> }
    env.syncLayoutWith = async (node) => { synced.push(node); s.adopt() }
    let paused = 0
    const timed = s.node.env as { statementTimer?: (ms: number, fire: () => void) => () => void }
    timed.statementTimer = (_ms, fire) => { paused++; setImmediate(fire); return () => {} }
    await s.sql("INSERT INTO t (k, v) VALUES ('a', 1)")
    expect(s.refusals).toEqual(['AUTOCOMMIT@4'])
    expect(synced).toEqual([PEER])
    expect(paused).toBe(0)
    expect(s.coord.shards).toBe(8)
    expect((await s.sql("SELECT v FROM t WHERE k = 'a'"))[0]!.rows).toEqual([[1]])
  })

  it('inside a transaction the refused statement fails with the coded error and nothing is written; the coordinator does not retry it', async () => {
    const s = await setup(false)
    await s.sql('CREATE TABLE t (k TEXT PRIMARY KEY, v INT)')
    const session = new SessionState()
    await s.sql('BEGIN', session)
    await expect(s.sql('INSERT INTO t (k, v) VALUES (\'a\', 1)', session)).rejects.toMatchObject({ code: 'SB_SHARD_COUNT_STALE', details: { routed_shards: 4, shards: 8 } })
    expect(s.refusals).toHaveLength(1)
    await s.sql('ROLLBACK', session)
    s.adopt()
    expect((await s.sql('SELECT count(*) FROM t'))[0]!.rows).toEqual([['0']])
  })

  it('the router refuses a request routed by a count this node no longer runs before it reaches anyone', async () => {
    const s = await setup(false)
    s.adopt()
    await s.sql('CREATE TABLE t (k TEXT PRIMARY KEY, v INT)')
    const sent = s.node.shards.sent.length
    // A ROLLBACK names a transaction: it is never refused for its count (this one reaches the shard, which knows no xid 1).
    await expect(s.node.env.request('ROLLBACK', { shard: 0 as ShardId, xid: 1n as any }, 4)).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    await expect(s.node.env.request('QUERY', { shard: 0 as ShardId } as any, 4)).rejects.toMatchObject({ code: 'SB_SHARD_COUNT_STALE', details: { routed_shards: 4, shards: 8, node: 1 } })
    expect(s.node.shards.sent.length).toBe(sent + 1)
    expect(s.refusals).toEqual([])
  })
})
