// Shared set-up of the shard benchmarks: real shard workers (rings + LevelDB) in a temp dir.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../src/core/clock'
import { ShardWorkers } from '../../src/node/shard-workers'
import type { RowWrite } from '../../src/storage/engine'
import { hlcTs, type HlcTs } from '../../src/storage/types'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'

/** LevelDB settings of every shard benchmark (the defaults of etc/scratchbird.yaml). */
export const BENCH_LSM = { writeBufferSize: 4 << 20, cacheSize: 8 << 20, maxOpenFiles: 1000 }

export async function startShardWorkers (durability: 'sync' | 'none', assignment: ShardId[][] = [[asShardId(0)]]): Promise<ShardWorkers> {
  const w = new ShardWorkers({
    dataDir: mkdtempSync(join(tmpdir(), 'sb-bench-')),
    nodeId: asNodeId(1),
    durability,
    ringBytes: 4 << 20,
    maxMessageBytes: 1 << 20,
    lsm: BENCH_LSM,
    clock: systemClock
  }, pino({ level: 'silent' }), (reason) => { throw new Error(reason) })
  await w.start(assignment)
  return w
}

let seq = 0
let ms = Date.now()
export const nextHlc = (): HlcTs => hlcTs(++ms)
export function versionId (): Uint8Array {
  const v = new Uint8Array(16)
  new DataView(v.buffer).setUint32(12, ++seq)
  v[6] = 0x80
  return v
}

/** A ~100-byte row image, the size the baselines write too. */
export const ROW = new Uint8Array(100).fill(0x61)

export function insertOf (key: number, tableId = 1): RowWrite {
  return { op: 'insert', tableId, pk: [key], row: ROW, versionId: versionId() }
}

/** Runs `op` from `concurrency` loops until `ms` elapsed; returns operations per second. */
export async function closedLoop (op: (i: number) => Promise<unknown>, concurrency: number, ms: number): Promise<number> {
  let next = 0
  let done = 0
  const end = performance.now() + ms
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) { await op(next++); done++ }
  }))
  return done / ((performance.now() - start) / 1000)
}
