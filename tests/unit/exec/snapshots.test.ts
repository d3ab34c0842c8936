import { describe, expect, it } from 'vitest'
import { SnapshotRegistry } from '../../../src/exec/snapshots'
import { asHlcTs } from '../../../src/core/ids'

describe('SnapshotRegistry', () => {
  it('answers the oldest open start until its transaction is released', () => {
    const r = new SnapshotRegistry()
    expect(r.oldest()).toBeUndefined()
    const a = r.register(asHlcTs(50n))
    const b = r.register(asHlcTs(20n))
    const c = r.register(asHlcTs(20n))
    r.register(asHlcTs(90n))
    expect(r.oldest()).toBe(20n)
    r.release(b)
    expect(r.oldest()).toBe(20n) // c started at the same HLC
    r.release(c)
    expect(r.oldest()).toBe(50n)
    r.release(a)
    r.release(a) // twice: a no-op
    r.release(12345) // unknown: a no-op
    expect(r.oldest()).toBe(90n)
    expect(r.size).toBe(1)
  })
})
