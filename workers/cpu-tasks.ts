import type { CpuTask } from '../src/core/cpu-task'
import { initHashing, xxhash128, xxhash64 } from '../src/core/hash'

// piscina task module (DESIGN §2): CPU-only jobs that must not stall the main thread or a shard
// worker — hashing today; Merkle sealing/verification and backup compression join it later.

const ready = initHashing()

export default async function run (task: CpuTask): Promise<string> {
  await ready
  switch (task.op) {
    case 'xxhash64': return xxhash64(task.data).toString(16).padStart(16, '0')
    case 'xxhash128': return Buffer.from(xxhash128(task.data)).toString('hex')
    default: throw new Error(`unknown cpu task ${(task as { op: string }).op}`)
  }
}
