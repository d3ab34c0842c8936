import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { ShardEngine, type ReplicaWrite } from '../../../src/storage/engine'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { hlcTs } from '../../../src/storage/types'

// The forest summarises write history, not arrival order (DESIGN §6): two replicas that received
// the same versions — in any order, in any grouping into statements, retried or not — have the
// same windows and roots. Engines over the in-memory store (the same engine code as over LevelDB).

beforeAll(async () => { await initHashing() })

const HOUR = 3_600_000
const enc = new TextEncoder()

interface Spec { k: number, ms: number, c: number, del: boolean }
const specArb = fc.uniqueArray(
  fc.record({ k: fc.integer({ min: 0, max: 5 }), ms: fc.integer({ min: 0, max: 4 * HOUR }), c: fc.integer({ min: 0, max: 3 }), del: fc.boolean() }),
  { selector: s => `${s.ms}:${s.c}`, minLength: 1, maxLength: 25 })

const write = (s: Spec): ReplicaWrite => ({
  tableId: 2, pk: [BigInt(s.k)], versionId: encodeUuidV8({ ts: s.ms, counter: s.c, nodeId: 1, random: 3 }), row: s.del ? null : enc.encode(`v${s.ms}.${s.c}`)
})

async function engine (): Promise<ShardEngine> {
  return await ShardEngine.open(MemoryKv.open(), { shardId: asShardId(0), nodeId: asNodeId(1), durability: 'none', clock: new ManualClock(), merkle: { windowMs: HOUR, graceMs: 0 } })
}

let hlc = 1
async function deliver (e: ShardEngine, writes: readonly ReplicaWrite[], groups: readonly number[]): Promise<void> {
  // Statements of 1..3 writes (one key once per statement: a replica apply names a row once).
  let i = 0
  let g = 0
  while (i < writes.length) {
    const stmt: ReplicaWrite[] = []
    const n = 1 + (groups[g++ % groups.length] ?? 0)
    while (i < writes.length && stmt.length < n && !stmt.some(x => x.pk[0] === writes[i]!.pk[0])) stmt.push(writes[i++]!)
    await e.applyVersions({ writes: stmt, commitHlc: hlcTs(++hlc) })
  }
}

describe('forest roots are independent of arrival order', () => {
  it('same versions, any order, grouping, retries and sealing time → same roots', async () => {
    await fc.assert(fc.asyncProperty(specArb, fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 6 * HOUR }), async (specs, groups, sealAt) => {
      const writes = specs.map(write)
      const shuffled = [...writes].reverse()
      const a = await engine()
      const b = await engine()
      await deliver(a, writes, [0])
      await b.merkleSeal(sealAt) // b seals part way: later writes into sealed windows are reseals
      await deliver(b, shuffled, groups)
      await deliver(b, shuffled.slice(0, 3), groups) // retries change nothing
      await a.merkleSeal(sealAt)
      expect(b.merkleRoots()).toEqual(a.merkleRoots())
      await a.close()
      await b.close()
    }), { numRuns: 40 })
  })
})
