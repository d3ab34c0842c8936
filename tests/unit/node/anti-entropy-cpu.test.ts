import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../../src/core/ids'
import { SeededRng } from '../../../src/core/rng'
import { AntiEntropyShell, CPU_SAMPLE_MS } from '../../../src/node/anti-entropy'

// Issue 15: scratchbird_anti_entropy_cpu_percent{shard_id} is the thread CPU the shard worker
// spent on the shard's anti-entropy (AE_CPU, cumulative ns) over the last sampling period, as a
// percent of one core — no longer the wall time of a round's requests over its duration.

async function settle (): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

describe('the anti-entropy shell samples each held shard\'s CPU', () => {
  it('reports the worker\'s anti-entropy CPU per shard as a percent of one core over each period', async () => {
    const clock = new ManualClock()
    const cpuNs = new Map<number, number>([[0, 5_000_000], [1, 0]])
    const asked: string[] = []
    const reported: Array<[ShardId, number, number]> = []
    const shell = new AntiEntropyShell({
      intervalMs: 3_600_000,
      local: {
        request: async (op: unknown, req: unknown) => {
          asked.push(String(op))
          if (op === 'AE_CPU') return { cpuNs: cpuNs.get((req as { shard: number }).shard)!, measured: true } as never
          throw new Error('no worker in this test')
        }
      },
      cluster: { heldShards: () => [0, 1].map(s => ({ shard: asShardId(s), peers: [asNodeId(2)] as NodeId[] })), isAlive: () => false, forward: async () => { throw new Error('no peer') } },
      hlc: new Hlc({ nodeId: asNodeId(1), clock, rng: new SeededRng(1) }),
      clock,
      rng: new SeededRng(2),
      log: pino({ level: 'silent' }),
      graceMs: () => 86_400_000,
      currentSinceMs: clock.now(),
      onCpu: (shard, percent, seconds) => reported.push([shard, percent, seconds])
    })
    shell.tick() // the first readings: nothing to report yet
    await settle()
    expect(asked.filter(a => a === 'AE_CPU')).toHaveLength(2)
    expect(reported).toEqual([])
    clock.advance(CPU_SAMPLE_MS / 2)
    shell.tick() // not due yet
    await settle()
    expect(asked.filter(a => a === 'AE_CPU')).toHaveLength(2)
    clock.advance(CPU_SAMPLE_MS / 2)
    cpuNs.set(0, 5_000_000 + 100_000_000) // 100 ms of CPU in 10 s: 1 % of a core
    cpuNs.set(1, 20_000_000) // 0.2 %
    shell.tick()
    await settle()
    expect(reported.map(([s, p, c]) => [s, Number(p.toFixed(6)), Number(c.toFixed(6))] as const).sort((a, b) => a[0] - b[0])).toEqual([[0, 1, 0.1], [1, 0.2, 0.02]])
    shell.stop()
  })
})
