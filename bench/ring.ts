// Ring figures (DESIGN §2 "Rings"), each against postMessage measured in the same run:
//   ring_oneway        one-way 64-byte messages/s main → worker (worker counts, acks totals at the end)
//   ring_roundtrip_us  one request at a time through RingClient/RingServer, µs per round trip (lower is better)
//   ring_inflight      requests/s through RingClient/RingServer with many in flight
// This file is also the worker: run with workerData.mode set, it serves that mode.
import { systemClock } from '../src/core/clock'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { printResult } from './lib/result'
import { RingClient, RingServer, RING_MAX_IN_FLIGHT } from '../src/rings/channel'
import { SpscRing } from '../src/rings/spsc-ring'

type Mode = 'oneway-ring' | 'oneway-pm' | 'echo-ring' | 'echo-pm'
const RING_BYTES = 1 << 20
const PAYLOAD_BYTES = 64
const DATA = 1
const STOP = 2
const ONEWAY_RING_MESSAGES = 4_000_000
const ONEWAY_PM_MESSAGES = 500_000 // postMessage queues every message on the heap: keep it smaller
const ROUNDTRIPS = 20_000
const INFLIGHT_REQUESTS = 500_000
const INFLIGHT_WINDOW = RING_MAX_IN_FLIGHT

interface Peer { worker: Worker, requests: SpscRing, responses: SpscRing }

// Node 20 does not pass `--import tsx` on to worker threads, so boot the worker through tsx's API.
function startWorker (mode: Mode): Promise<Peer> {
  const requests = SpscRing.create(RING_BYTES, { clock: systemClock })
  const responses = SpscRing.create(RING_BYTES, { clock: systemClock })
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
    .then(api => api.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`
  const worker = new Worker(boot, { eval: true, workerData: { mode, requests: requests.sab, responses: responses.sab } })
  worker.on('error', err => { console.error(err); process.exit(1) })
  return new Promise(resolve => worker.once('message', () => resolve({ worker, requests, responses })))
}

function payload (): Uint8Array {
  return new Uint8Array(PAYLOAD_BYTES).fill(7)
}

async function onewayRing (): Promise<number> {
  const { worker, requests } = await startWorker('oneway-ring')
  const p = payload()
  const acked = new Promise<{ count: number, sum: number }>(resolve => worker.once('message', resolve))
  let sum = 0
  const t0 = performance.now()
  for (let i = 0; i < ONEWAY_RING_MESSAGES; i++) {
    p[0] = i & 0xff
    sum += i & 0xff
    if (!requests.tryWrite(DATA, i, p)) await requests.writeAsync(DATA, i, p)
  }
  await requests.writeAsync(STOP, 0, p)
  const ack = await acked
  const seconds = (performance.now() - t0) / 1000
  if (ack.count !== ONEWAY_RING_MESSAGES || ack.sum !== sum) throw new Error(`ring lost messages: ${JSON.stringify(ack)}`)
  await worker.terminate()
  return ONEWAY_RING_MESSAGES / seconds
}

async function onewayPostMessage (): Promise<number> {
  const { worker } = await startWorker('oneway-pm')
  const p = payload()
  const acked = new Promise<{ count: number, sum: number }>(resolve => worker.once('message', resolve))
  let sum = 0
  const t0 = performance.now()
  for (let i = 0; i < ONEWAY_PM_MESSAGES; i++) {
    p[0] = i & 0xff
    sum += i & 0xff
    worker.postMessage(p) // structured clone copies it, like the ring does
  }
  worker.postMessage(null)
  const ack = await acked
  const seconds = (performance.now() - t0) / 1000
  if (ack.count !== ONEWAY_PM_MESSAGES || ack.sum !== sum) throw new Error('postMessage lost messages')
  await worker.terminate()
  return ONEWAY_PM_MESSAGES / seconds
}

/** µs per round trip, one request at a time. */
async function roundTripRing (): Promise<number> {
  const { worker, requests, responses } = await startWorker('echo-ring')
  const client = new RingClient(requests, responses)
  const p = payload()
  for (let i = 0; i < 2000; i++) await client.request(DATA, p) // warm up both JITs
  const t0 = performance.now()
  for (let i = 0; i < ROUNDTRIPS; i++) await client.request(DATA, p)
  const us = (performance.now() - t0) * 1000 / ROUNDTRIPS
  await worker.terminate()
  return us
}

async function roundTripPostMessage (): Promise<number> {
  const { worker } = await startWorker('echo-pm')
  const p = payload()
  const once = (): Promise<unknown> => new Promise(resolve => {
    worker.once('message', resolve)
    worker.postMessage({ id: 0, p })
  })
  for (let i = 0; i < 2000; i++) await once()
  const t0 = performance.now()
  for (let i = 0; i < ROUNDTRIPS; i++) await once()
  const us = (performance.now() - t0) * 1000 / ROUNDTRIPS
  await worker.terminate()
  return us
}

/** Requests/s with INFLIGHT_WINDOW callers each issuing its next request when the last returns. */
async function windowed (request: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const caller = async (): Promise<void> => {
    while (next < INFLIGHT_REQUESTS) await request(next++)
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: INFLIGHT_WINDOW }, caller))
  return INFLIGHT_REQUESTS / ((performance.now() - t0) / 1000)
}

async function inflightRing (): Promise<number> {
  const { worker, requests, responses } = await startWorker('echo-ring')
  const client = new RingClient(requests, responses)
  const p = payload()
  const rate = await windowed(() => client.request(DATA, p))
  await worker.terminate()
  return rate
}

async function inflightPostMessage (): Promise<number> {
  const { worker } = await startWorker('echo-pm')
  const pending = new Map<number, () => void>()
  worker.on('message', (m: { id: number }) => {
    const done = pending.get(m.id)
    pending.delete(m.id)
    done?.()
  })
  const p = payload()
  const rate = await windowed(i => new Promise<void>(resolve => {
    pending.set(i, resolve)
    worker.postMessage({ id: i, p })
  }))
  await worker.terminate()
  return rate
}

// ------------------------------------------------------------------ worker side

async function serve (mode: Mode): Promise<void> {
  const port = parentPort!
  const requests = SpscRing.attach(workerData.requests, { clock: systemClock })
  const responses = SpscRing.attach(workerData.responses, { clock: systemClock })
  if (mode === 'oneway-ring') {
    const totals = { count: 0, sum: 0, stop: false }
    const onFrame = (type: number, _id: number, p: Uint8Array): void => {
      if (type === STOP) totals.stop = true
      else { totals.count++; totals.sum += p[0] as number }
    }
    port.postMessage('ready')
    while (!totals.stop) if (requests.drain(onFrame) === 0) requests.waitSync(1000)
    port.postMessage({ count: totals.count, sum: totals.sum })
  } else if (mode === 'oneway-pm') {
    let count = 0
    let sum = 0
    port.on('message', (p: Uint8Array | null) => {
      if (p === null) port.postMessage({ count, sum })
      else { count++; sum += p[0] as number }
    })
    port.postMessage('ready')
  } else if (mode === 'echo-ring') {
    const server = new RingServer(requests, responses, (type, p) => ({ type, payload: p }))
    port.postMessage('ready')
    await server.run()
  } else {
    port.on('message', (m: unknown) => port.postMessage(m))
    port.postMessage('ready')
  }
}

if (!isMainThread) {
  await serve(workerData.mode as Mode)
} else {
  const onewayR = await onewayRing()
  const onewayP = await onewayPostMessage()
  printResult({ name: 'ring_oneway', value: onewayR, unit: 'msg/s', baseline: onewayP, note: `${PAYLOAD_BYTES}-byte payloads, baseline postMessage` })
  const rtR = await roundTripRing()
  const rtP = await roundTripPostMessage()
  printResult({ name: 'ring_roundtrip_us', value: rtR, unit: 'us', baseline: rtP, note: 'lower is better; one request at a time, RingClient/RingServer vs postMessage ping-pong' })
  const inR = await inflightRing()
  const inP = await inflightPostMessage()
  printResult({ name: 'ring_inflight', value: inR, unit: 'req/s', baseline: inP, note: `${INFLIGHT_WINDOW} in flight, ${PAYLOAD_BYTES}-byte echo, baseline postMessage with a pending map` })
}
