import { describe, expect, it } from 'vitest'
import { asHlcTs, asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { ShardRouter, type RawShardRequester, type ShardRequester } from '../../../src/node/shard-router'
import { SHARD_OPS, codecOf, type ShardOpName } from '../../../src/shard/protocol/ops'
import type { RowWrite } from '../../../src/storage/engine'
import { startHost, type HostClient } from '../shard/host-fixtures'

// A transaction's first request on a shard carries its BEGIN (shard/protocol/messages.ts
// TxnBegin), but only this node's own workers take one: to a peer the router sends BEGIN and then
// the request naming the xid — the bytes a peer of the previous release reads — with the same
// outcome (the reply names the xid; a failed request leaves nothing open there). The peer here is
// a real shard host (what cluster.ts onShardQuery hands a forwarded payload to).

const SHARD = asShardId(0)
const SELF = asNodeId(1)
const PEER = asNodeId(2)
const BEGIN = { isolation: 'read_committed' as const, startHlc: asHlcTs(1000n), coordinator: SELF }
let seq = 0
const insert = (k: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [k], row: Uint8Array.of(1), versionId: Uint8Array.of(...new Array<number>(15).fill(0), ++seq) })

interface Setup { router: ShardRouter, peer: HostClient, forwarded: Array<{ op: ShardOpName, req: unknown }>, local: ShardOpName[] }

async function setup (owner: NodeId): Promise<Setup> {
  const peer = await startHost([SHARD])
  const forwarded: Setup['forwarded'] = []
  const local: ShardOpName[] = []
  const self: ShardRequester & RawShardRequester = {
    request: async (op, req) => { local.push(op); return await peer.request(op, req) },
    requestRaw: async () => { throw new Error('unused') }
  }
  const router = new ShardRouter(self, {
    selfId: SELF,
    ownerOf: () => owner,
    placedOwner: () => owner,
    forward: async (_node, op, _shard, payload) => {
      forwarded.push({ op, req: codecOf(op).decodeRequest(payload) })
      return await peer.requestRaw(SHARD_OPS[op].code, payload)
    }
  })
  return { router, peer, forwarded, local }
}

const openTxns = async (peer: HostClient): Promise<number> => (await peer.request('STATS', { shard: SHARD })).openTxns

describe('the router and a request carrying its transaction\'s BEGIN', () => {
  it('this node\'s own workers get it as one request', async () => {
    const s = await setup(SELF)
    const reply = await s.router.request('WRITE', { shard: SHARD, writes: [insert('a')], begin: BEGIN })
    expect(s.local).toEqual(['WRITE'])
    expect(typeof reply.xid).toBe('bigint')
    expect(await openTxns(s.peer)).toBe(1)
  })

  it('a peer gets BEGIN, then the request naming the xid without the BEGIN; the reply names the xid', async () => {
    const s = await setup(PEER)
    const reply = await s.router.request('WRITE', { shard: SHARD, writes: [insert('a')], begin: BEGIN })
    expect(s.forwarded.map(f => f.op)).toEqual(['BEGIN', 'WRITE'])
    expect(s.forwarded[1]!.req).not.toHaveProperty('begin')
    expect(s.forwarded[1]!.req).toMatchObject({ xid: reply.xid })
    expect(reply.affected).toEqual([true])
    await s.router.request('COMMIT', { shard: SHARD, xid: reply.xid!, commitHlc: asHlcTs(2000n) })
    expect(await openTxns(s.peer)).toBe(0)
  })

  it('a request failing at a peer is answered with its error and the transaction begun there is rolled back', async () => {
    const s = await setup(PEER)
    await s.peer.request('AUTOCOMMIT', { shard: SHARD, writes: [insert('dup')], commitHlc: asHlcTs(500n) })
    await expect(s.router.request('WRITE', { shard: SHARD, writes: [insert('dup')], begin: BEGIN })).rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
    expect(s.forwarded.map(f => f.op)).toEqual(['BEGIN', 'WRITE', 'ROLLBACK'])
    expect(await openTxns(s.peer)).toBe(0)
  })
})
