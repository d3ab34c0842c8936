import { describe, expect, it } from 'vitest'
import { asHlcTs, asXid, type HlcTs, type Xid } from '../../../src/core/ids'
import { tipKey } from '../../../src/storage/keys'
import { encodeTipEntry } from '../../../src/storage/tip'
import { hlcTs, HLC_ZERO } from '../../../src/storage/types'
import { makeXid } from '../../../src/storage/xid'

// The brands exist only for the compiler: tsc checks every `@ts-expect-error` below (an unused
// one is itself an error), so if Xid and HlcTs ever collapse into plain bigint again — or into
// each other — `npx tsc --noEmit -p .` fails on this file. vitest checks the run-time half: a
// branded id is the same bigint it was made from.

const takesXid = (x: Xid): bigint => x
const takesHlc = (h: HlcTs): bigint => h

describe('branded Xid / HlcTs', () => {
  it('an Xid is not an HlcTs, an HlcTs is not an Xid, a plain bigint is neither', () => {
    const xid = makeXid(3, 9n)
    const hlc = hlcTs(1_000)
    const plain = 42n
    // @ts-expect-error an Xid where an HLC timestamp is expected
    takesHlc(xid)
    // @ts-expect-error an HLC timestamp where an Xid is expected
    takesXid(hlc)
    // @ts-expect-error a plain bigint is not an HLC timestamp
    takesHlc(plain)
    // @ts-expect-error a plain bigint is not an Xid
    takesXid(plain)
    // @ts-expect-error nor is a literal
    const x: Xid = 5n
    // @ts-expect-error arithmetic on a brand yields a plain bigint, which must be re-branded
    const h: HlcTs = hlc + 1n
    expect([x, h]).toEqual([5n, hlc + 1n])
  })

  it('storage keys and TIP entries take their own kind', () => {
    // @ts-expect-error a TIP key is made from an xid, not an HLC
    tipKey(hlcTs(1_000))
    // @ts-expect-error a TIP entry stores a commit HLC, not an xid
    encodeTipEntry('committed', makeXid(3, 9n))
    expect(tipKey(makeXid(3, 9n))).toEqual(tipKey(asXid((3n << 48n) | 9n)))
  })

  it('each id is accepted where its own kind is expected, and a brand is still a bigint', () => {
    expect(takesXid(makeXid(3, 9n))).toBe((3n << 48n) | 9n)
    expect(takesXid(asXid(7n))).toBe(7n)
    expect(takesHlc(hlcTs(1_000, 5))).toBe((1_000n << 12n) | 5n)
    expect(takesHlc(asHlcTs(7n))).toBe(7n)
    expect(takesHlc(HLC_ZERO)).toBe(0n)
    const asPlain: bigint = asXid(1n) // widening to bigint is allowed (codecs write u64s)
    expect(typeof asPlain).toBe('bigint')
  })
})
