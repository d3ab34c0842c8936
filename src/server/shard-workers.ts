import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import { ScratchBirdError, type ErrorCode } from '../core/errors'
import { workerSpec } from './assets'
import type { ShardWorkerData, WorkerToMain } from './worker-protocol'

// Starts the shard worker threads, waits until each has opened its shards, and stops them. A
// worker that exits unexpectedly is reported through `onDeath` at once (the node decides what
// to do); nothing waits on a dead worker.

const START_TIMEOUT_MS = 30_000
const CLOSE_TIMEOUT_MS = 10_000

interface Slot {
  worker: Worker
  data: ShardWorkerData
  shards: number[]
  stopping: boolean
}

export class ShardWorkers {
  private readonly slots: Slot[] = []

  constructor (private readonly log: Logger, private readonly onDeath: (index: number, reason: string) => void) {}

  get count (): number { return this.slots.length }
  shardsOpen (): number { return this.slots.reduce((n, s) => n + s.shards.length, 0) }

  async start (workers: ShardWorkerData[]): Promise<void> {
    const spec = workerSpec('shard-worker')
    await Promise.all(workers.map(async data => {
      const worker = new Worker(spec.filename, { ...spec.options, workerData: data, name: `shard-worker-${data.workerIndex}` })
      const slot: Slot = { worker, data, shards: [], stopping: false }
      this.slots.push(slot)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new ScratchBirdError('SB_INTERNAL', `shard worker ${data.workerIndex} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
        const onMsg = (m: WorkerToMain): void => {
          if (m.type === 'ready') { clearTimeout(timer); slot.shards = m.shards; worker.off('message', onMsg); resolve() }
          if (m.type === 'failed') { clearTimeout(timer); worker.off('message', onMsg); reject(new ScratchBirdError(m.code as ErrorCode, m.message, { worker: data.workerIndex })) }
        }
        worker.on('message', onMsg)
        worker.once('error', (e) => { clearTimeout(timer); reject(new ScratchBirdError('SB_INTERNAL', `shard worker ${data.workerIndex} failed to start: ${e.message}`, {}, { cause: e })) })
        worker.once('exit', (code) => {
          clearTimeout(timer)
          reject(new ScratchBirdError('SB_WORKER_DIED', `shard worker ${data.workerIndex} exited with code ${code} during start`))
        })
      })
      worker.on('error', (e) => this.log.error({ worker: data.workerIndex, err: e.message }, 'shard worker error'))
      worker.on('exit', (code) => {
        if (!slot.stopping) {
          this.log.error({ worker: data.workerIndex, code }, `Shard worker ${data.workerIndex} died (exit code ${code})`)
          this.onDeath(data.workerIndex, `exit code ${code}`)
        }
      })
      this.log.debug({ worker: data.workerIndex, shards: slot.shards }, `Shard worker ${data.workerIndex} opened shards ${slot.shards.join(',')}`)
    }))
  }

  /** Asks every worker to close its databases; terminates a worker that does not within the bound. */
  async stop (): Promise<void> {
    await Promise.all(this.slots.map(async slot => {
      slot.stopping = true
      const { worker } = slot
      const closed = new Promise<void>(resolve => {
        worker.on('message', (m: WorkerToMain) => { if (m.type === 'closed') resolve() })
        worker.once('exit', () => resolve())
      })
      try { worker.postMessage({ type: 'close' }) } catch { /* already gone */ }
      const timer = setTimeout(() => { void worker.terminate() }, CLOSE_TIMEOUT_MS)
      await closed
      clearTimeout(timer)
      await worker.terminate()
    }))
    this.slots.length = 0
  }
}
