import { describe, expect, it } from 'vitest'
import { REPLICATION_DEFAULTS } from '../../../src/catalog/replication-options'
import { scanNode } from '../../../src/cluster/routing'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { staleReplica } from '../../../src/node/cluster'
import { ShardRouter, type RawShardRequester, type ShardRequester } from '../../../src/node/shard-router'
import { codecOf, type ShardOpName, type ShardRequests } from '../../../src/shard/protocol/ops'
import { decodeRows, encodeRows } from '../../../src/shard/protocol/value-rows'

// Issue 15: a scan (QUERY outside a transaction) of a leaderless_quorum table must not read a
// replica that does not serve the shard (stale: back from an outage longer than the tombstone
// grace, its rows may lack deletes). The router passes over this node's own stale replica and over
// peers answering SB_REPLICA_STALE, and fails with SB_REPLICA_STALE when no serving replica is
// left. The peers here answer as cluster.ts onShardQuery does: rows naming the node, or the refusal.

const SHARD = asShardId(0)
const SELF = asNodeId(1)
const PREFERENCE = [asNodeId(1), asNodeId(2), asNodeId(3)]
const LEADERLESS = { ...REPLICATION_DEFAULTS, replication_mode: 'leaderless_quorum' as const, uuid_type: 'v8_hlc' as const, replication_factor: 3, write_quorum: 2, read_quorum: 1 }
const QUERY: ShardRequests['QUERY'] = { shard: SHARD, tableId: 7, options: {}, program: new Uint8Array(0), params: encodeRows([]) }

/** A node's answer to QUERY: one row holding its id. */
const answer = (node: number): Uint8Array => codecOf('QUERY').encodeReply({ rows: encodeRows([[BigInt(node)]]), scanned: 1 })

function router (stale: ReadonlySet<number>, asked: number[], down: ReadonlySet<number> = new Set()): ShardRouter {
  const local: ShardRequester & RawShardRequester = {
    request: async <K extends ShardOpName>(op: K) => {
      asked.push(SELF)
      return codecOf(op).decodeReply(answer(SELF))
    },
    requestRaw: async () => { throw new Error('unused') }
  }
  return new ShardRouter(local, {
    selfId: SELF,
    ownerOf: () => SELF,
    placedOwner: () => SELF,
    // As ClusterShell.scanNodeOf: this node's own replica skipped while stale.
    scanNodeOf: (_shard, _table, avoid) => {
      const node = scanNode(LEADERLESS, PREFERENCE, SELF, id => !down.has(id), id => avoid.has(id) || (id === SELF && stale.has(SELF)))
      if (node === null && stale.has(SELF) && avoid.size === 0) throw staleReplica('QUERY', SHARD)
      return node
    },
    staleLocalRead: (op, req) => (op === 'QUERY' || op === 'JOIN_QUERY') && stale.has(SELF) ? staleReplica(op, req.shard) : null,
    forward: async (node, op, shard) => {
      asked.push(node)
      if (stale.has(node)) throw staleReplica(op, shard)
      return answer(node)
    }
  })
}

const servedBy = async (r: ShardRouter): Promise<unknown> => decodeRows((await r.request('QUERY', QUERY)).rows)[0]![0]

describe('scans of a leaderless table skip replicas that do not serve the shard', () => {
  it('a serving own replica answers without a hop', async () => {
    const asked: number[] = []
    expect(await servedBy(router(new Set(), asked))).toBe(1n)
    expect(asked).toEqual([1])
  })

  it('this node\'s stale replica is passed over; a peer refusing as stale is passed over too; the next serving replica answers', async () => {
    const asked: number[] = []
    expect(await servedBy(router(new Set([1, 2]), asked))).toBe(3n)
    expect(asked).toEqual([2, 3])
  })

  it('no serving replica left: SB_REPLICA_STALE, never stale rows', async () => {
    const asked: number[] = []
    await expect(router(new Set([1, 2, 3]), asked).request('QUERY', QUERY)).rejects.toMatchObject({ code: 'SB_REPLICA_STALE' })
    expect(asked).toEqual([2, 3])
    // Only this node's own replica is live, and it is stale.
    const alone: number[] = []
    await expect(router(new Set([1]), alone, new Set([2, 3])).request('QUERY', QUERY)).rejects.toMatchObject({ code: 'SB_REPLICA_STALE' })
    expect(alone).toEqual([])
  })

  it('a join read on this node\'s own stale replica is refused', async () => {
    const asked: number[] = []
    const join = { shard: SHARD, sides: [{ tableId: 7, options: {}, filter: new Uint8Array(0) }], steps: [], program: new Uint8Array(0), params: encodeRows([]) } as unknown as ShardRequests['JOIN_QUERY']
    await expect(router(new Set([1]), asked).request('JOIN_QUERY', join)).rejects.toMatchObject({ code: 'SB_REPLICA_STALE' })
    expect(asked).toEqual([])
  })
})
