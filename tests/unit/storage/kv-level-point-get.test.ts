import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LevelKv } from '../../../src/storage/kv-level'

// Issue 16 item 3: getNow (a point query's read) is answered on the calling thread (LevelDB
// getSync), not through libuv's thread pool as get() is. A pool read can only settle after the event loop turns (its result comes
// back as a uv_async callback); a synchronous one settles within the current microtask queue.

const settlesWithinMicrotasks = async <T>(p: Promise<T>): Promise<{ settled: boolean, value?: T, error?: unknown }> => {
  const out: { settled: boolean, value?: T, error?: unknown } = { settled: false }
  p.then(v => { out.settled = true; out.value = v }, e => { out.settled = true; out.error = e })
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return out
}

describe('LevelKv getNow', () => {
  let dir: string
  let kv: LevelKv
  const key = new Uint8Array([1, 2, 3])

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-kv-get-'))
    kv = await LevelKv.open(dir)
    await kv.batch([{ type: 'put', key, value: new Uint8Array([9, 8]) }], { sync: false })
  })
  afterAll(async () => {
    await kv.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers a present key without waiting for the event loop', async () => {
    const r = await settlesWithinMicrotasks(kv.getNow(key))
    expect(r.settled).toBe(true)
    expect([...r.value!]).toEqual([9, 8])
  })

  it('answers an absent key with undefined, also at once', async () => {
    const r = await settlesWithinMicrotasks(kv.getNow(new Uint8Array([7])))
    expect(r).toEqual({ settled: true, value: undefined })
  })

  it('get() still goes through the thread pool and answers the same', async () => {
    const p = kv.get(key)
    expect((await settlesWithinMicrotasks(p)).settled).toBe(false)
    expect([...(await p)!]).toEqual([9, 8])
  })

  it('a bad key rejects the promise instead of throwing', async () => {
    const p = kv.getNow(null as unknown as Uint8Array)
    await expect(p).rejects.toBeTruthy()
  })
})
