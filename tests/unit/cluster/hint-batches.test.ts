import { describe, expect, it } from 'vitest'
import { deliveryBatches, hintsOf } from '../../../src/cluster/hints/batches'
import { HintStore } from '../../../src/storage/hint-store'
import { encodeUuidV8 } from '../../../src/core/hlc'
import type { ReplicaWrite } from '../../../src/storage/engine'
import { encodeTuple } from '../../../src/storage/keys'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { asNodeId, asShardId, asXid } from '../../../src/core/ids'

// Shard batches → hint records → delivery batches (src/cluster/hints/batches.ts), through a real
// HintStore over MemoryKv.

const T0 = 1_767_225_600_000
const enc = new TextEncoder()
const vid = (ts: number): Uint8Array => encodeUuidV8({ ts: T0 + ts, counter: 0, nodeId: 1, random: 0 })
const rw = (pk: string | bigint, ts: number, row: string | null): ReplicaWrite => ({ tableId: 3, pk: [pk, 1n], versionId: vid(ts), row: row === null ? null : enc.encode(row) })

describe('hint batches', () => {
  it('hintsOf: one hint per row for the target, with the batch\'s shard and xid', () => {
    const writes = [rw('a', 1, 'x'), rw('b', 2, null)]
    const hints = hintsOf(asNodeId(4), { shard: asShardId(9), xid: asXid(123n), writes }, T0)
    expect(hints).toEqual([
      { target: 4, shard: 9, tableId: 3, key: encodeTuple(['a', 1n]), xid: 123n, versionId: vid(1), row: enc.encode('x'), createdAtMs: T0 },
      { target: 4, shard: 9, tableId: 3, key: encodeTuple(['b', 1n]), xid: 123n, versionId: vid(2), row: null, createdAtMs: T0 }
    ])
    // A write that carries its encoded pk keeps it as the key.
    const pkBytes = encodeTuple(['c', 1n])
    expect(hintsOf(asNodeId(4), { shard: asShardId(9), xid: asXid(1n), writes: [{ ...rw('c', 3, 'y'), pkBytes }] }, T0)[0]!.key).toBe(pkBytes)
  })

  it('stored and read back, hints are delivered as one REPLICA_APPLY batch per (shard, xid) carrying the same rows', async () => {
    const store = await HintStore.open(MemoryKv.open())
    const s1 = { shard: asShardId(1), xid: asXid(10n), writes: [rw('a', 1, 'x'), rw('b', 2, null)] }
    const s2 = { shard: asShardId(2), xid: asXid(10n), writes: [rw('c', 3, 'z')] }
    const s3 = { shard: asShardId(1), xid: asXid(11n), writes: [rw('a', 4, 'w')] }
    for (const b of [s1, s2, s3]) await store.add(hintsOf(asNodeId(7), b, T0))
    await store.add(hintsOf(asNodeId(8), s1, T0)) // another target: not in 7's delivery
    const listed = await store.list(asNodeId(7), 100)
    const batches = deliveryBatches(listed)
    expect(batches.map(b => [b.shard, b.xid])).toEqual([[1, 10n], [2, 10n], [1, 11n]])
    const plain = (ws: readonly ReplicaWrite[]): unknown[] => ws.map(w => ({ tableId: w.tableId, pk: w.pk, versionId: w.versionId, row: w.row }))
    expect(plain(batches[0]!.writes)).toEqual(plain(s1.writes))
    expect(plain(batches[1]!.writes)).toEqual(plain(s2.writes))
    expect(plain(batches[2]!.writes)).toEqual(plain(s3.writes))
    expect(batches[0]!.writes[0]!.pkBytes).toEqual(encodeTuple(['a', 1n]))
    await store.close()
  })

  it('no hints, no batches', () => {
    expect(deliveryBatches([])).toEqual([])
  })
})
