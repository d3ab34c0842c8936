import { ClassicLevel } from 'classic-level'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import type { ShardWorkerData, WorkerToMain, MainToWorker } from '../src/server/worker-protocol'

// Shard worker (DESIGN §2): owns the LevelDB databases of the shard replicas assigned to it; the
// main thread never touches LevelDB. This thin shell opens them, reports, and closes them on
// request. (Request/response rings and the MGA engine plug in here.)

const FORMAT_KEY = 's/format'
const FORMAT_VERSION = '1'

const data = workerData as ShardWorkerData
const port = parentPort!
const dbs = new Map<number, ClassicLevel<string, string>>()

function send (msg: WorkerToMain): void { port.postMessage(msg) }

async function openShard (id: number): Promise<void> {
  const dir = join(data.dataDir, 'shards', String(id))
  mkdirSync(dir, { recursive: true })
  const db = new ClassicLevel<string, string>(dir, {
    createIfMissing: true,
    writeBufferSize: data.lsm.writeBufferSize,
    cacheSize: data.lsm.cacheSize,
    maxOpenFiles: data.lsm.maxOpenFiles
  })
  await db.open()
  dbs.set(id, db)
  const format = await db.get(FORMAT_KEY)
  if (format === undefined) await db.put(FORMAT_KEY, FORMAT_VERSION, { sync: true })
  else if (format !== FORMAT_VERSION) throw Object.assign(new Error(`shard ${id} has on-disk format ${format}, this build reads ${FORMAT_VERSION}`), { code: 'SB_STORAGE_FORMAT' })
}

async function closeAll (): Promise<void> {
  await Promise.allSettled([...dbs.values()].map(db => db.close()))
  dbs.clear()
}

async function start (): Promise<void> {
  try {
    for (const id of data.shards) await openShard(id)
    send({ type: 'ready', worker: data.workerIndex, shards: [...dbs.keys()] })
  } catch (e) {
    const err = e as { code?: string, message: string, cause?: { code?: string } }
    const locked = err.code === 'LEVEL_LOCKED' || err.cause?.code === 'LEVEL_LOCKED'
    await closeAll()
    send({
      type: 'failed',
      worker: data.workerIndex,
      code: locked ? 'SB_DATA_DIR_LOCKED' : 'SB_INTERNAL',
      message: locked ? `a shard database under ${data.dataDir} is locked by another process` : err.message
    })
  }
}

port.on('message', (msg: MainToWorker) => {
  if (msg.type === 'close') {
    closeAll().then(() => { send({ type: 'closed', worker: data.workerIndex }); port.close() },
      (e: Error) => { send({ type: 'failed', worker: data.workerIndex, code: 'SB_INTERNAL', message: e.message }) })
  }
})

void start()
