import { systemClock } from '../../../src/core/clock'
import { afterEach, describe, expect, test } from 'vitest'
import { Worker } from 'node:worker_threads'
import { ScratchBirdError } from '../../../src/core/errors'
import { RingClient, RING_MAX_IN_FLIGHT } from '../../../src/rings/channel'
import { decodeJson, encodeJson } from '../../../src/rings/payload'
import { SpscRing } from '../../../src/rings/spsc-ring'
import { ECHO, ECHO_ASYNC, ECHO_DEFERRED, EXIT, HANG, THROW, THROW_DEFERRED } from './fixtures/echo-types'

interface Started { worker: Worker, client: RingClient, exited: Promise<number> }

const workers: Worker[] = []
afterEach(async () => {
  await Promise.all(workers.splice(0).map(w => w.terminate()))
})

/** Starts echo-worker.ts and wires its exit to failAll, as the node does. */
function startEchoWorker (capacity = 64 * 1024, maxInFlight = RING_MAX_IN_FLIGHT): Started {
  const requests = SpscRing.create(capacity, { clock: systemClock })
  const responses = SpscRing.create(capacity, { clock: systemClock })
  const worker = new Worker(new URL('./fixtures/ts-worker.mjs', import.meta.url), {
    workerData: { entry: './echo-worker.ts', requests: requests.sab, responses: responses.sab }
  })
  workers.push(worker)
  const client = new RingClient(requests, responses, maxInFlight)
  const exited = new Promise<number>(resolve => worker.on('exit', code => {
    client.failAll(new ScratchBirdError('SB_WORKER_DIED', 'shard worker exited', { exitCode: code }))
    resolve(code)
  }))
  return { worker, client, exited }
}

function payloadFor (i: number): Uint8Array {
  const len = (i * 37) % 300
  const b = new Uint8Array(len)
  for (let j = 0; j < len; j++) b[j] = (i + j * 13) & 0xff
  return b
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

describe('RingClient / RingServer with a real worker', () => {
  test('100k requests, many in flight, all answered correctly (sync and async handlers)', async () => {
    // small rings so both directions fill up and backpressure is exercised
    const { client } = startEchoWorker(16 * 1024, 256)
    const n = 100_000
    let maxInFlight = 0
    let maxQueued = 0
    const wrong: number[] = []
    const all: Array<Promise<void>> = []
    for (let i = 0; i < n; i++) {
      const type = i % 10 === 0 ? ECHO_ASYNC : i % 10 === 5 ? ECHO_DEFERRED : ECHO
      const sent = payloadFor(i)
      all.push(client.request(type, sent).then(reply => {
        // plain comparison: 100k vitest expect() calls would dominate the test's run time
        if (reply.type !== type || !sameBytes(reply.payload, payloadFor(i))) wrong.push(i)
      }))
      maxInFlight = Math.max(maxInFlight, client.inFlight)
      maxQueued = Math.max(maxQueued, client.queued)
    }
    expect(maxInFlight).toBe(256) // bounded
    expect(maxQueued).toBeGreaterThan(0) // the rest waited their turn
    await Promise.all(all)
    expect(wrong).toEqual([])
    expect(client.inFlight).toBe(0)
    expect(client.queued).toBe(0)
    expect(client.strayReplies).toBe(0)
    // and the client keeps working after going idle (pump restarts)
    const again = await client.request(ECHO, encodeJson({ hello: 'again' }))
    expect(decodeJson(again.payload)).toEqual({ hello: 'again' })
  })

  test('handler errors come back as rejections with their code; the server keeps serving', async () => {
    const { client } = startEchoWorker()
    await expect(client.request(THROW, new Uint8Array(3))).rejects.toMatchObject({ code: 'SB_NOT_FOUND', details: { what: 3 } })
    await expect(client.request(THROW_DEFERRED, new Uint8Array(4))).rejects.toMatchObject({ code: 'SB_NOT_FOUND', details: { what: 4 } })
    await expect(client.request(99, new Uint8Array(0))).rejects.toMatchObject({ code: 'SB_INTERNAL' })
    expect((await client.request(ECHO, new Uint8Array([1, 2, 3]))).payload).toEqual(new Uint8Array([1, 2, 3]))
  })

  test('an oversize request is rejected with SB_MESSAGE_TOO_LARGE and the client stays usable', async () => {
    const { client } = startEchoWorker(4096)
    await expect(client.request(ECHO, new Uint8Array(5000))).rejects.toMatchObject({ code: 'SB_MESSAGE_TOO_LARGE' })
    expect((await client.request(ECHO, new Uint8Array([9]))).payload).toEqual(new Uint8Array([9]))
  })

  test('graceful close: outstanding requests are answered, then the worker stops serving', async () => {
    const { client, worker } = startEchoWorker()
    const replies = Array.from({ length: 2000 }, (_, i) => client.request(ECHO_ASYNC, payloadFor(i)))
    await client.close()
    expect((await Promise.all(replies)).length).toBe(2000)
    await expect(client.request(ECHO, new Uint8Array(1))).rejects.toMatchObject({ code: 'SB_SHUTTING_DOWN' })
    // run() returned: the worker's event loop empties and the thread ends by itself
    const code = await new Promise(resolve => worker.once('exit', resolve))
    expect(code).toBe(0)
  })

  for (const how of ['terminate', 'process.exit'] as const) {
    test(`worker death (${how}) rejects every in-flight and queued request with SB_WORKER_DIED at the exit event`, async () => {
      const { client, worker, exited } = startEchoWorker(64 * 1024, 512)
      // 512 go out at once (the EXIT request among them), the rest queue behind the HANG ones
      let settled = 0
      const outcomes: Array<Promise<string | undefined>> = []
      for (let i = 0; i < 2000; i++) {
        const type = how === 'process.exit' && i === 300 ? EXIT : i % 2 === 0 ? HANG : ECHO_ASYNC
        outcomes.push(client.request(type, payloadFor(i)).then(() => 'ok', (err: { code?: string }) => err.code).finally(() => { settled++ }))
      }
      if (how === 'terminate') {
        // Until the worker has taken every request sent so far in hand (the request ring is empty).
        await expect.poll(() => client.requests.usedBytes(), { timeout: 10_000 }).toBe(0)
        expect(client.inFlight).toBe(512)
        expect(client.queued).toBeGreaterThan(0)
        worker.terminate().catch(() => {})
      }
      await exited
      // The exit handler failed everything at once: nothing is left in flight or queued, and every
      // caller has its answer before any timer or I/O callback could run (no timeout involved).
      expect([client.inFlight, client.queued]).toEqual([0, 0])
      await new Promise(resolve => setImmediate(resolve))
      expect(settled).toBe(2000)
      const results = await Promise.all(outcomes)
      const died = results.filter(r => r === 'SB_WORKER_DIED').length
      expect(died + results.filter(r => r === 'ok').length).toBe(2000)
      expect(died).toBeGreaterThanOrEqual(1000) // every HANG request at least
      if (how === 'process.exit') expect(await exited).toBe(3)
      await expect(client.request(ECHO, new Uint8Array(1))).rejects.toMatchObject({ code: 'SB_WORKER_DIED' })
    })
  }
})
