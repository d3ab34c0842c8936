import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { LevelKv, recoveryMargin } from '../../../src/storage/kv-level'
import { mountSmallDisk, smallDiskUnavailable, type SmallDisk } from '../../helpers/small-disk'

// A real LevelDB on a real, small tmpfs: the disk fills, writes fail, space comes back, writes
// go on — and after the store is closed and opened again (recovery replays the log, as after a
// SIGKILL) every batch that was acknowledged is there and no refused one is. Without the reopen
// after a failed write, the batches written after space came back follow a torn record in the
// log and recovery drops them silently (kv-level.ts header).

const unavailable = smallDiskUnavailable()
// Two ways a disk fills: the log append fails (memtable larger than the disk: the torn-record
// case, acknowledged batches lost without the reopen) or a memtable flush to a table file fails
// (LevelDB's background error: every later write fails until the reopen).
const CASES = [
  { name: 'the log append fails', options: { writeBufferSize: 8 * 1024 * 1024, compression: false } },
  { name: 'a memtable flush fails', options: { writeBufferSize: 256 * 1024, compression: false } }
]
const key = (i: number): Uint8Array => new TextEncoder().encode(`k${String(i).padStart(6, '0')}`)

/** Close and open again (recovery replays the log, as after a crash): every acknowledged key is there, no refused one. */
async function expectAfterRecovery (kv: LevelKv, location: string, options: object, acked: Iterable<number>, refused: Iterable<number>): Promise<void> {
  await kv.close()
  const again = await LevelKv.open(location, options)
  const missing = []
  for (const a of acked) if (await again.get(key(a)) === undefined) missing.push(a)
  expect(missing).toEqual([])
  for (const r of refused) expect(await again.get(key(r))).toBeUndefined()
  await again.close()
}

describe.skipIf(unavailable !== null)('LevelKv on a full disk' + (unavailable !== null ? ` (skipped: ${unavailable})` : ''), () => {
  let disk: SmallDisk | undefined
  afterEach(() => { disk?.unmount(); disk = undefined })

  it.each(CASES)('$name: refuses with SB_DISK_FULL, recovers when space returns, and loses no acknowledged batch', async ({ options }) => {
    disk = mountSmallDisk(3 * 1024 * 1024)
    const location = join(disk.dir, 'db')
    const kv = await LevelKv.open(location, options)
    const acked: number[] = []
    const refused: number[] = []
    let i = 0
    // Fill until the first refusal.
    for (; i < 10_000 && refused.length === 0; i++) {
      try {
        await kv.batch([{ type: 'put', key: key(i), value: randomBytes(8 * 1024) }], { sync: false })
        acked.push(i)
      } catch (e) {
        expect(isScratchBirdError(e, 'SB_DISK_FULL'), String(e)).toBe(true)
        refused.push(i)
      }
    }
    expect(refused.length).toBe(1)
    // Still full: refused at once, with the code, and reads still work.
    for (let j = 0; j < 3; j++, i++) {
      await expect(kv.batch([{ type: 'put', key: key(i), value: randomBytes(100) }], { sync: false })).rejects.toMatchObject({ code: 'SB_DISK_FULL' })
      refused.push(i)
    }
    expect(await kv.get(key(acked[0]!))).toBeDefined()

    // Space back: writes succeed again.
    disk.resize(3 * 1024 * 1024 + recoveryMargin(options) + 1024 * 1024)
    for (let j = 0; j < 20; j++, i++) {
      await kv.batch([{ type: 'put', key: key(i), value: randomBytes(1024) }], { sync: false })
      acked.push(i)
    }
    await expectAfterRecovery(kv, location, options, acked, refused)
  })
})

describe.skipIf(unavailable !== null)('LevelKv on a full disk, concurrent batches' + (unavailable !== null ? ` (skipped: ${unavailable})` : ''), () => {
  let disk: SmallDisk | undefined
  afterEach(() => { disk?.unmount(); disk = undefined })

  it('a batch queued behind the failed one is acknowledged only once rewritten after the reopen', async () => {
    const options = CASES[0]!.options
    disk = mountSmallDisk(3 * 1024 * 1024)
    const location = join(disk.dir, 'db')
    const kv = await LevelKv.open(location, options)
    const acked = new Set<number>()
    const refused = new Set<number>()
    const settled: Array<Promise<void>> = []
    let next = 0
    const put = (size: number): Promise<void> => {
      const i = next++
      const p = kv.batch([{ type: 'put', key: key(i), value: randomBytes(size) }], { sync: false })
        .then(() => { acked.add(i) }, (e) => { expect(isScratchBirdError(e, 'SB_DISK_FULL'), String(e)).toBe(true); refused.add(i) })
      settled.push(p)
      return p
    }
    // Eight writers at a time until some are refused. A held batch does not settle until space is
    // back, so a group is waited for at most a second before the next is sent.
    const settledOrPaced = async (ps: Array<Promise<void>>): Promise<void> => {
      await Promise.race([Promise.all(ps), new Promise(resolve => setTimeout(resolve, 1000))])
    }
    for (let round = 0; refused.size === 0 && round < 2500; round++) await settledOrPaced(Array.from({ length: 8 }, () => put(8 * 1024)))
    expect(refused.size).toBeGreaterThan(0)
    disk.resize(3 * 1024 * 1024 + recoveryMargin(options) + 1024 * 1024)
    for (let j = 0; j < 5; j++) await settledOrPaced(Array.from({ length: 8 }, () => put(512)))
    await Promise.all(settled) // held batches settle through the retry timer
    expect(acked.size + refused.size).toBe(next)
    await expectAfterRecovery(kv, location, options, acked, refused)
  })
})
