import { describe, expect, it } from 'vitest'
import { ReplLog } from '../../../../src/cluster/replication/log'
import type { ReplEntry } from '../../../../src/cluster/replication/types'
import { ids } from './group'

// ReplLog keeps the LSNs of its config entries (configAt / lastConfigAfter are asked on every
// step): the index must follow appends, truncations, compactions and resets.

const d = (lsn: number): ReplEntry => ({ lsn: BigInt(lsn), generation: 1, kind: 'data', payload: new Uint8Array([lsn]) })
const c = (lsn: number, ...voters: number[]): ReplEntry => ({ lsn: BigInt(lsn), generation: 1, kind: 'config', voters: ids(...voters) })

describe('ReplLog config entries', () => {
  it('configAt and lastConfigAfter through appends, truncation, compaction and reset', () => {
    const log = new ReplLog({ lsn: 0n, generation: 0, voters: ids(1, 2) }, [d(1), c(2, 1, 2, 3), d(3), d(4), c(5, 1, 3), d(6)])
    expect(log.configAt(1n)).toEqual({ lsn: 0n, voters: ids(1, 2) })
    expect(log.configAt(4n)).toEqual({ lsn: 2n, voters: ids(1, 2, 3) })
    expect(log.configAt(99n)).toEqual({ lsn: 5n, voters: ids(1, 3) })
    expect(log.voters).toEqual(ids(1, 3))
    expect(log.lastConfigAfter(4n)).toBe(5n)
    expect(log.lastConfigAfter(5n)).toBeNull()
    // Truncated below the second config entry: it is gone from the index too.
    log.truncateAfter(4n)
    expect(log.configAt(99n)).toEqual({ lsn: 2n, voters: ids(1, 2, 3) })
    expect(log.lastConfigAfter(1n)).toBe(2n)
    log.append(c(5, 2, 3))
    expect(log.configAt(5n)).toEqual({ lsn: 5n, voters: ids(2, 3) })
    // Compacted past the first: the base carries its voters.
    log.compactThrough(3n)
    expect(log.configAt(4n)).toEqual({ lsn: 3n, voters: ids(1, 2, 3) })
    expect(log.configAt(5n)).toEqual({ lsn: 5n, voters: ids(2, 3) })
    expect(log.lastConfigAfter(3n)).toBe(5n)
    log.compactThrough(5n)
    expect(log.lastConfigAfter(0n)).toBeNull()
    expect(log.configAt(5n)).toEqual({ lsn: 5n, voters: ids(2, 3) })
    log.reset({ lsn: 9n, generation: 2, voters: ids(4) })
    log.append({ ...d(10), generation: 2 })
    expect(log.configAt(10n)).toEqual({ lsn: 9n, voters: ids(4) })
    expect(log.lastConfigAfter(0n)).toBeNull()
  })
})
