import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { encodeUuidV8, Hlc } from '../../../src/core/hlc'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'
import { SeededRng } from '../../../src/core/rng'
import type { RoundResult } from '../../../src/cluster/anti-entropy/types'
import { AntiEntropyShell } from '../../../src/node/anti-entropy'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { codecOf, type ShardOpName } from '../../../src/shard/protocol/ops'
import { nextHlc, row, testWorkerOptions } from './worker-fixtures'

// Issue 17: a repair round between a replica that purged a dropped relation and one that has not
// yet must not copy the dropped rows back. Two real shard workers (this node's and a peer's, the
// peer reached through its op codecs as the cluster RPC carries them) and the real shell: the peer
// holds rows of a kept leaderless table and of a dropped one that this replica lacks; one round
// repairs the kept rows here and leaves the dropped ones out.

const SHARD = asShardId(0)
const KEPT = 1300
const DROPPED = 1200
const HOUR = 3_600_000
const MERKLE = { windowMs: HOUR, graceMs: 60_000 }

const started: ShardWorkers[] = []
afterEach(async () => { for (const w of started.splice(0)) await w.stop() })

async function workers (node: number): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), `sb-ae-drop-${node}-`)), { nodeId: asNodeId(node), merkle: MERKLE }), pino({ level: 'silent' }), () => {})
  await w.start([[SHARD]])
  started.push(w)
  return w
}

describe('anti-entropy and dropped relations', () => {
  it('a round repairs kept rows and never copies a dropped relation\'s rows onto a replica that purged them', async () => {
    await initHashing()
    const local = await workers(1)
    const peer = await workers(2)
    const keys = ['a', 'b', 'c']
    const writes = (table: number): Array<{ tableId: number, pk: string[], versionId: Uint8Array, row: Uint8Array }> =>
      keys.map((k, i) => ({ tableId: table, pk: [k], versionId: encodeUuidV8({ ts: 2 * HOUR + i, counter: 0, nodeId: 2, random: 1 }), row: row(`${table}-${k}`) }))
    await peer.request('REPLICA_APPLY', { shard: SHARD, writes: [...writes(KEPT), ...writes(DROPPED)], commitHlc: nextHlc() })
    for (const w of [local, peer]) await w.request('MERKLE_SEAL', { shard: SHARD, nowMs: 4 * HOUR })

    const rounds: RoundResult[] = []
    const shell = new AntiEntropyShell({
      intervalMs: 3_600_000,
      local,
      cluster: {
        heldShards: () => [{ shard: SHARD, peers: [asNodeId(2)] as NodeId[] }],
        isAlive: () => true,
        forward: async (_to, op: ShardOpName, _shard, payload) => {
          const codec = codecOf(op)
          return codec.encodeReply(await peer.request(op, codec.decodeRequest(payload) as never))
        }
      },
      hlc: new Hlc({ nodeId: asNodeId(1), clock: systemClock, rng: new SeededRng(1) }),
      clock: systemClock,
      rng: new SeededRng(2),
      log: pino({ level: 'silent' }),
      graceMs: () => 86_400_000,
      currentSinceMs: systemClock.now(),
      onRound: (r) => rounds.push(r),
      isDropped: (id) => id === DROPPED
    })
    try {
      expect(shell.repairNow([SHARD])).toEqual([SHARD])
      // wait for the round's end (an event), polling the shell as its timer would; generous on a loaded machine
      const deadline = Date.now() + 45_000
      while (rounds.length === 0 && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 20))
        shell.tick()
      }
    } finally {
      shell.stop()
    }
    expect(rounds[0]).toMatchObject({ outcome: 'completed' })
    const held = async (table: number): Promise<number> =>
      (await local.request('REPLICA_READ', { shard: SHARD, tableId: table, pks: keys.map(k => [k]) })).versions.filter(v => v !== null).length
    expect(await held(KEPT)).toBe(3)
    expect(await held(DROPPED)).toBe(0)
  }, 60_000)
})
