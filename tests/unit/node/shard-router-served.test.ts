import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../src/core/errors'
import { asNodeId, asShardId, asXid, type NodeId } from '../../../src/core/ids'
import { ShardRouter, type RawShardRequester, type ShardRequester } from '../../../src/node/shard-router'
import { codecOf } from '../../../src/shard/protocol/ops'
import { ins, nextHlc } from '../storage/replica-fixtures'

// Where a coordinator outside a shard's Mode 1 group sends the shard's requests after a
// membership change (src/node/shard-router.ts servedBy; issue 20 item 3): the node that answered
// last — the primary — not the new placement's first node, which is a replica still bootstrapping
// (it knows no primary: SB_NOT_PRIMARY naming none reached the client in bench rebalance) or a
// voter that is not the primary (a redirect hop per request). ownerOf is given the node that
// served last as node/cluster.ts takes it: the primary when this node knows none itself.

const SHARD = asShardId(1)
const P3 = asNodeId(3)
const N4 = asNodeId(4)

function setup (): { router: ShardRouter, asked: number[], placement: { first: NodeId }, serves: Map<number, 'primary' | 'bootstrapping' | 'let go'> } {
  const asked: number[] = []
  const placement = { first: P3 }
  const serves = new Map<number, 'primary' | 'bootstrapping' | 'let go'>([[3, 'primary'], [4, 'bootstrapping']])
  const unused: ShardRequester & RawShardRequester = {
    request: async () => { throw new Error('this node holds no replica of the shard') },
    requestRaw: async () => { throw new Error('unused') }
  }
  const router = new ShardRouter(unused, {
    selfId: asNodeId(1),
    ownerOf: (_shard, servedBy) => servedBy !== undefined && servedBy !== 0 ? servedBy : placement.first,
    placedOwner: () => placement.first,
    forward: async (node, op) => {
      asked.push(node)
      const state = serves.get(node)
      if (state === 'primary') {
        return op === 'STATS'
          ? codecOf('STATS').encodeReply({ shard: SHARD, lastLsn: 7n, hlcHighWater: 0n as never, openTxns: 0, limbo: 0 })
          : codecOf('AUTOCOMMIT').encodeReply({ xid: asXid(9n), lsn: 5n, commitHlc: nextHlc(), affected: [true] })
      }
      // A replica bootstrapping knows no primary (replicated-workers.ts); one that let its copy go may know none either.
      throw new ScratchBirdError('SB_NOT_PRIMARY', `shard ${SHARD}: not here`, { shard: SHARD, primary: 0, generation: 1 })
    }
  })
  return { router, asked, placement, serves }
}

const write = (router: ShardRouter): Promise<unknown> => router.request('AUTOCOMMIT', { shard: SHARD, writes: [ins('a', '1')], commitHlc: nextHlc() })

describe('a coordinator outside the group routes to the node that served the shard last', () => {
  it('after the placement puts a bootstrapping replica first, writes still go to the primary that answered before — none refused', async () => {
    const { router, asked, placement } = setup()
    await write(router)
    expect(asked).toEqual([3])
    placement.first = N4 // node 4 admitted: first in the shard's new preference list, still installing its snapshot
    for (let i = 0; i < 3; i++) await write(router)
    expect(asked).toEqual([3, 3, 3, 3])
  })

  it('the node that served last refuses naming no primary (it let its copy go): forgotten, and the placement\'s first node is asked once', async () => {
    const { router, asked, placement, serves } = setup()
    await write(router)
    placement.first = N4
    serves.set(3, 'let go')
    serves.set(4, 'primary')
    await write(router)
    expect(asked).toEqual([3, 3, 4])
    await write(router)
    expect(asked).toEqual([3, 3, 4, 4])
  })

  it('an answer any replica gives (STATS) is not taken as the primary\'s', async () => {
    const { router, asked, placement, serves } = setup()
    serves.set(4, 'primary') // answers STATS as any replica would
    placement.first = N4
    await router.request('STATS', { shard: SHARD })
    placement.first = P3
    serves.set(4, 'bootstrapping')
    await write(router)
    expect(asked).toEqual([4, 3])
  })
})
