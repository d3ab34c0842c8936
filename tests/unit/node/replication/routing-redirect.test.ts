import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../../src/core/errors'
import { asNodeId, asShardId, asXid, type NodeId, type ShardId } from '../../../../src/core/ids'
import { ShardRouter, type RawShardRequester, type ShardRequester } from '../../../../src/node/shard-router'
import { ReplicatedWorkers } from '../../../../src/node/replication/replicated-workers'
import type { ShardGroup } from '../../../../src/node/replication/shard-group'
import { codecOf, SHARD_OPS, type ShardOpName } from '../../../../src/shard/protocol/ops'
import { HostClient, memoryEngines } from '../../shard/host-fixtures'
import { ManualClock } from '../../../../src/core/clock'
import { ins, nextHlc } from '../../storage/replica-fixtures'
import { encodeRows } from '../../../../src/shard/protocol/value-rows'

// Mode 1 in front of this node's shard workers (src/node/replication/replicated-workers.ts) and
// the router's single retry at the primary a refusal names (src/node/shard-router.ts), over a real
// shard host: a node that is not a replicated shard's primary refuses the client's ops with
// SB_NOT_PRIMARY naming the primary; the router asks there once; the primary answers a commit
// only after its group acknowledges the LSN.

const SHARD = asShardId(0)

/** A group as the wrapper sees it: its role, the primary it knows, the acknowledgement of an LSN. */
function group (role: string, primary: number, acks: bigint[] = []): ShardGroup {
  return { role, primary, generation: 3, commitLanded: async (lsn: bigint) => { acks.push(lsn) } } as unknown as ShardGroup
}

async function host (): Promise<HostClient & RawShardRequester> {
  const clock = new ManualClock()
  const c = new HostClient(await memoryEngines([SHARD], clock), 60_000, clock) as HostClient & RawShardRequester
  c.requestRaw = ((op: ShardOpName, _shard: ShardId, payload: Uint8Array) => HostClient.prototype.requestRaw.call(c, SHARD_OPS[op].code, payload)) as never
  return c
}

describe('replicated shards in front of the workers', () => {
  it('a replica refuses the client\'s ops with SB_NOT_PRIMARY naming the primary; replication and local ops pass', async () => {
    const h = await host()
    const w = new ReplicatedWorkers(h, () => ({ group: () => group('replica', 2) }))
    await expect(w.request('AUTOCOMMIT', { shard: SHARD, writes: [ins('a', '1')], commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY', details: { shard: SHARD, primary: 2 } })
    await expect(w.request('GET', { shard: SHARD, tableId: 1, pk: ['a'] })).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
    expect((await w.request('STATS', { shard: SHARD })).lastLsn).toBe(0n)
  })

  it('the primary answers a commit only after its group acknowledged the LSN', async () => {
    const h = await host()
    const acks: bigint[] = []
    const w = new ReplicatedWorkers(h, () => ({ group: () => group('primary', 1, acks) }))
    const r = await w.request('AUTOCOMMIT', { shard: SHARD, writes: [ins('a', '1')], commitHlc: nextHlc() })
    expect(acks).toEqual([r.lsn])
    // No group for the shard: the single-copy path, no wait.
    const plain = new ReplicatedWorkers(h, () => ({ group: () => undefined }))
    await plain.request('AUTOCOMMIT', { shard: SHARD, writes: [ins('b', '1')], commitHlc: nextHlc() })
    expect(acks).toHaveLength(1)
  })
})

describe('a copy this node let go (issue 20: a membership change moved it)', () => {
  it('refuses the client\'s ops with SB_NOT_PRIMARY instead of committing a single copy no replica holds', async () => {
    const h = await host()
    const w = new ReplicatedWorkers(h, () => ({ group: () => undefined, retired: () => true }))
    await expect(w.request('AUTOCOMMIT', { shard: SHARD, writes: [ins('a', '1')], commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY', details: { shard: SHARD, primary: 0 } })
    await expect(w.request('GET', { shard: SHARD, tableId: 1, pk: ['a'] })).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
    // Nothing landed; replication and local ops still pass.
    expect((await w.request('STATS', { shard: SHARD })).lastLsn).toBe(0n)
  })
})

describe('a leaderless table sharing a shard with a Mode 1 table (issue 21)', () => {
  const LEADERLESS = 7
  const MODE1 = 8
  const query = (tableId: number, xid?: bigint): Parameters<ReplicatedWorkers['request']>[1] =>
    ({ shard: SHARD, tableId, options: {}, program: new Uint8Array(0), params: encodeRows([]), ...(xid !== undefined ? { xid: asXid(xid) } : {}) }) as never
  /** Workers that answer every QUERY with an empty page and note what reached them. */
  function workers (reached: string[]): RawShardRequester {
    return { requestRaw: async (op) => { reached.push(op); return codecOf('QUERY').encodeReply({ rows: encodeRows([]), scanned: 0 }) } }
  }
  /** A group in the middle of an election: no primary known, no read lease. */
  const electing = { role: 'candidate', primary: 0, generation: 9, readGrant: () => ({ granted: false, error: new ScratchBirdError('SB_NOT_PRIMARY', 'lease expired', {}) }) } as unknown as ShardGroup
  const leaseless = { ...electing, role: 'primary', primary: 1, readSettled: async () => { throw new Error('a leaderless scan waits for no Mode 1 commit') } } as unknown as ShardGroup

  it('its scan reads this node\'s replica whatever the Mode 1 group\'s election or lease; the Mode 1 table\'s scan and a scan inside a transaction are still refused', async () => {
    for (const g of [electing, leaseless]) {
      const reached: string[] = []
      const w = new ReplicatedWorkers(workers(reached), () => ({ group: () => g }), id => id === LEADERLESS)
      expect((await w.request('QUERY', query(LEADERLESS) as never)).scanned).toBe(0)
      expect(reached).toEqual(['QUERY'])
      await expect(w.request('QUERY', query(MODE1) as never)).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      await expect(w.request('QUERY', query(LEADERLESS, 5n) as never)).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      expect(reached).toEqual(['QUERY'])
    }
  })
})

describe('the router retries once at the primary a refusal names', () => {
  function router (owner: NodeId, answers: Map<number, () => Uint8Array>, asked: number[], self = asNodeId(1), local?: ShardRequester & RawShardRequester): ShardRouter {
    const refuse: ShardRequester & RawShardRequester = {
      request: async () => { throw new ScratchBirdError('SB_NOT_PRIMARY', 'not here', { primary: 3 }) },
      requestRaw: async () => { throw new Error('unused') }
    }
    return new ShardRouter(local ?? refuse, {
      selfId: self,
      ownerOf: () => owner,
      placedOwner: () => owner,
      forward: async (node) => {
        asked.push(node)
        const a = answers.get(node)
        if (a === undefined) throw new Error(`node ${node} was not to be asked`)
        return a()
      }
    })
  }
  const stats = (): Uint8Array => codecOf('STATS').encodeReply({ shard: SHARD, lastLsn: 7n, hlcHighWater: 0n as never, openTxns: 0, limbo: 0 })

  const refuses = (primary: number) => (): Uint8Array => { throw new ScratchBirdError('SB_NOT_PRIMARY', 'not here', { primary }) }

  it('a remote refusal sends the request to the named primary, once', async () => {
    const asked: number[] = []
    const got = await router(asNodeId(2), new Map([[2, refuses(3)], [3, stats]]), asked).request('STATS', { shard: SHARD })
    expect(got.lastLsn).toBe(7n)
    expect(asked).toEqual([2, 3])
  })

  it('a local refusal goes to the named primary; a second refusal is the answer, and one naming the node asked is not followed', async () => {
    const asked: number[] = []
    await expect(router(asNodeId(1), new Map([[3, refuses(2)]]), asked).request('STATS', { shard: SHARD })).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY', details: { primary: 2 } })
    expect(asked).toEqual([3])
    const again: number[] = []
    await expect(router(asNodeId(2), new Map([[2, refuses(2)]]), again).request('STATS', { shard: SHARD })).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
    expect(again).toEqual([2])
  })
})
