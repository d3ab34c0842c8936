import { hlcTs, type HlcTs } from '../../../src/storage/types'
import { ManualClock } from '../../../src/core/clock'
import type { ShardWorkersOptions } from '../../../src/node/shard-workers'
import { asNodeId } from '../../../src/core/ids'

// Values the real-worker tests write: distinct version ids, text row images, increasing HLCs.

let seq = 0
/** A distinct 16-byte version id (version nibble 8). */
export const vid = (): Uint8Array => { const v = new Uint8Array(16); new DataView(v.buffer).setUint32(12, ++seq); v[6] = 0x80; return v }
export const row = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array | null): string | null => b === null ? null : new TextDecoder().decode(b)
let clock = 1_000_000
/** An HLC timestamp above every earlier one. */
export const nextHlc = (): HlcTs => hlcTs(++clock)

/**
 * ShardWorkers options for tests: small rings and LevelDB buffers, a manual clock for restart
 * accounting (these tests never advance it), and whatever the test overrides.
 */
export function testWorkerOptions (dataDir: string, overrides: Partial<ShardWorkersOptions> = {}): ShardWorkersOptions {
  const clock = new ManualClock()
  return {
    dataDir,
    nodeId: asNodeId(3),
    durability: 'none',
    ringBytes: 1 << 16,
    maxMessageBytes: 1 << 14,
    lsm: { writeBufferSize: 1 << 20, cacheSize: 1 << 20, maxOpenFiles: 100 },
    clock,
    ...overrides
  }
}
