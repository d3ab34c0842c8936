import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { logFileDestination } from '../../../src/ops/log-file'
import { mountSmallDisk, smallDiskUnavailable, type SmallDisk } from '../../helpers/small-disk'

// A log file on a full disk (a real tmpfs): no uncaught 'error' (which ended the process), no
// endless flushSync (which hung it at exit), a notice when it fails and when it recovers.

const unavailable = smallDiskUnavailable()
const waitFor = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise(resolve => setTimeout(resolve, 10))
  expect(cond()).toBe(true)
}

describe.skipIf(unavailable !== null)('log file on a full disk' + (unavailable !== null ? ` (skipped: ${unavailable})` : ''), () => {
  let disk: SmallDisk | undefined
  afterEach(() => { disk?.unmount(); disk = undefined })

  it('keeps the process alive, skips flushSync while failing, and recovers when space returns', async () => {
    disk = mountSmallDisk(256 * 1024)
    const events: string[] = []
    const dest = logFileDestination(join(disk.dir, 'scratchbird.log'), {
      failing: (_p, err) => { events.push(`failing ${(err as NodeJS.ErrnoException).code ?? err.message}`) },
      recovered: (_p, dropped) => { events.push(`recovered ${dropped}`) }
    })
    await new Promise(resolve => setTimeout(resolve, 50)) // the file opens asynchronously
    // Fill the disk with another file, then log.
    try { writeFileSync(join(disk.dir, 'filler'), Buffer.alloc(1024 * 1024)) } catch { /* ENOSPC once full: intended */ }
    for (let i = 0; i < 50; i++) dest.write(`{"msg":"line ${i}"}\n`)
    await waitFor(() => events.length > 0)
    expect(events[0]).toBe('failing ENOSPC')
    dest.flushSync?.() // returns (sonic-boom's own retries a failing write for ever: the test would time out)
    disk.resize(4 * 1024 * 1024)
    dest.write('{"msg":"after"}\n')
    await waitFor(() => events.some(e => e.startsWith('recovered')))
    dest.flushSync?.()
    dest.end?.()
  })
})
