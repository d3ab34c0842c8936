import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../src/core/errors'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { ShardRouter, type LocalShards } from '../../../src/node/shard-router'
import { codecOf, type ShardOpName, type ShardRequests } from '../../../src/shard/protocol/ops'
import { decodeRows, encodeRows } from '../../../src/shard/protocol/value-rows'

// read_from = replica (issue 14 item 2): a REPLICA_QUERY is answered by this node's own replica
// when it serves (no hop to the primary); otherwise — no replica here, or one still catching up
// (SB_NOT_PRIMARY) — by the shard's owner, as any read. A QUERY always goes to the owner.

const SHARD = asShardId(0)
const SELF = asNodeId(2)
const PRIMARY = asNodeId(1)
const QUERY: ShardRequests['QUERY'] = { shard: SHARD, tableId: 7, options: {}, program: new Uint8Array(0), params: encodeRows([]) }
const answer = (node: number): Uint8Array => codecOf('QUERY').encodeReply({ rows: encodeRows([[BigInt(node)]]), scanned: 1 })

function router (local: { serves: boolean, refuses?: boolean }, asked: Array<[number, string]>): ShardRouter {
  const shards: LocalShards = {
    request: async <K extends ShardOpName>(op: K) => {
      asked.push([SELF, op])
      if (local.refuses === true) throw new ScratchBirdError('SB_NOT_PRIMARY', 'catching up', { shard: SHARD, primary: PRIMARY })
      return codecOf(op).decodeReply(answer(SELF))
    },
    requestRaw: async () => { throw new Error('unused') },
    servesReplicaRead: () => local.serves
  }
  return new ShardRouter(shards, {
    selfId: SELF,
    ownerOf: () => PRIMARY,
    placedOwner: () => PRIMARY,
    forward: async (node, op) => { asked.push([node, op]); return answer(node) }
  })
}

const servedBy = async (r: ShardRouter, op: 'QUERY' | 'REPLICA_QUERY'): Promise<unknown> => decodeRows((await r.request(op, QUERY)).rows)[0]![0]

describe('REPLICA_QUERY routing', () => {
  it('this node\'s serving replica answers it without a hop', async () => {
    const asked: Array<[number, string]> = []
    expect(await servedBy(router({ serves: true }, asked), 'REPLICA_QUERY')).toBe(2n)
    expect(asked).toEqual([[2, 'REPLICA_QUERY']])
  })

  it('no serving replica here, or one that refuses meanwhile: the owner answers it', async () => {
    const asked: Array<[number, string]> = []
    expect(await servedBy(router({ serves: false }, asked), 'REPLICA_QUERY')).toBe(1n)
    expect(await servedBy(router({ serves: true, refuses: true }, asked), 'REPLICA_QUERY')).toBe(1n)
    expect(asked).toEqual([[1, 'REPLICA_QUERY'], [2, 'REPLICA_QUERY'], [1, 'REPLICA_QUERY']])
  })

  it('a QUERY goes to the owner even where a replica serves', async () => {
    const asked: Array<[number, string]> = []
    expect(await servedBy(router({ serves: true }, asked), 'QUERY')).toBe(1n)
    expect(asked).toEqual([[1, 'QUERY']])
  })
})
