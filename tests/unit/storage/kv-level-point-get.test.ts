import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LevelKv, SYNC_GET_MANY_KEYS } from '../../../src/storage/kv-level'

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

// The group-commit writer's pass read of a few keys (statement writes): answered on the calling
// thread like getNow, without a thread-pool hop; a large read set still goes through the pool.
describe('LevelKv getMany', () => {
  let dir: string
  let kv: LevelKv
  const keys = Array.from({ length: SYNC_GET_MANY_KEYS + 1 }, (_, i) => new Uint8Array([5, i]))

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-kv-getmany-'))
    kv = await LevelKv.open(dir)
    await kv.batch(keys.filter((_, i) => i % 2 === 0).map(key => ({ type: 'put' as const, key, value: new Uint8Array([key[1]!]) })), { sync: false })
  })
  afterAll(async () => {
    await kv.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const expected = (ks: Uint8Array[]): Array<number[] | undefined> => ks.map(k => k[1]! % 2 === 0 ? [k[1]!] : undefined)
  const plain = (vs: Array<Uint8Array | undefined>): Array<number[] | undefined> => vs.map(v => v === undefined ? undefined : [...v])

  it(`answers up to ${SYNC_GET_MANY_KEYS} keys (present and absent) without waiting for the event loop`, async () => {
    const few = keys.slice(0, SYNC_GET_MANY_KEYS)
    const r = await settlesWithinMicrotasks(kv.getMany(few))
    expect(r.settled).toBe(true)
    expect(plain(r.value!)).toEqual(expected(few))
  })

  it('a larger read set goes through the thread pool and answers the same', async () => {
    const p = kv.getMany(keys)
    expect((await settlesWithinMicrotasks(p)).settled).toBe(false)
    expect(plain(await p)).toEqual(expected(keys))
  })

  it('sees a batch that landed before it was issued', async () => {
    await kv.batch([{ type: 'put', key: keys[1]!, value: new Uint8Array([42]) }], { sync: false })
    expect(plain(await kv.getMany([keys[1]!, keys[3]!]))).toEqual([[42], undefined])
  })

  it('a bad key rejects the promise instead of throwing', async () => {
    const p = kv.getMany([null as unknown as Uint8Array])
    await expect(p).rejects.toBeTruthy()
  })
})
