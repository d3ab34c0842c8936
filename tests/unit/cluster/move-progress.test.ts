import { describe, expect, it } from 'vitest'
import { formatBytes, moveEtaMs, moveProgressText } from '../../../src/cluster/membership/move-progress'

// SHOW SHARD MAP's progress of a replica bootstrap (issue 20 item 4): rate so far and ETA.

describe('move progress', () => {
  it('the ETA is what is left of the expected size at the rate so far', () => {
    const p = { to: 3, keys: 120, bytes: 30 * 1024, elapsedMs: 2000 }
    expect(moveEtaMs(p, 90 * 1024)).toBe(4000)
    expect(moveProgressText(p, 90 * 1024)).toBe('bootstrap of node 3: 120 keys, 30.0 kB sent in 2 s (15.0 kB/s), ETA 4 s')
  })

  it('unknown without an expected size or before any time passed; never below zero past the estimate', () => {
    expect(moveEtaMs({ to: 3, keys: 1, bytes: 10, elapsedMs: 1000 }, null)).toBeNull()
    expect(moveEtaMs({ to: 3, keys: 0, bytes: 0, elapsedMs: 0 }, 1000)).toBeNull()
    expect(moveProgressText({ to: 2, keys: 0, bytes: 0, elapsedMs: 0 }, null)).toBe('bootstrap of node 2: 0 keys, 0 B sent in 0 s (0 B/s), ETA unknown')
    expect(moveEtaMs({ to: 3, keys: 1, bytes: 5000, elapsedMs: 1000 }, 4000)).toBe(0)
    expect(moveProgressText({ to: 3, keys: 1, bytes: 5000, elapsedMs: 1000 }, 4000)).toMatch(/ETA unknown \(larger than the last shards streamed\)$/)
  })

  it('sizes in B, kB, MB, GB', () => {
    expect([formatBytes(999), formatBytes(2048), formatBytes(5 * 1024 * 1024), formatBytes(3 * 1024 ** 3)]).toEqual(['999 B', '2.0 kB', '5.0 MB', '3.00 GB'])
  })
})
