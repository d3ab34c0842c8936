import { Piscina } from 'piscina'
import { ScratchBirdError } from '../core/errors'
import { workerSpec } from './assets'
import type { CpuTask } from '../core/cpu-task'

// The CPU pool (piscina): bounded queue, a few threads, for hashing/sealing/compression.

const MAX_QUEUE = 1024

export class CpuPool {
  private readonly pool: Piscina

  constructor (threads: number) {
    const spec = workerSpec('cpu-tasks')
    this.pool = new Piscina({
      filename: spec.filename.toString(),
      minThreads: 1,
      maxThreads: Math.max(1, threads),
      maxQueue: MAX_QUEUE,
      execArgv: spec.options.execArgv ?? process.execArgv
    })
  }

  run (task: CpuTask): Promise<string> { return this.pool.run(task) as Promise<string> }

  /**
   * Boot self-test: the routing hash computed in a pool thread must match DESIGN §5's check value
   * ('user_123' → xxhash64 d68924220aa2f597 → shard 7 of 16). Proves the pool, the WASM hasher
   * and (in a single executable) the extracted worker files all work before the node says ready.
   */
  async selfTest (): Promise<void> {
    const h = await this.run({ op: 'xxhash64', data: new TextEncoder().encode('user_123') })
    if (h !== 'd68924220aa2f597') throw new ScratchBirdError('SB_INTERNAL', `CPU pool self-test failed: xxhash64('user_123') = ${h}`)
  }

  async close (): Promise<void> { await this.pool.destroy() }
}
