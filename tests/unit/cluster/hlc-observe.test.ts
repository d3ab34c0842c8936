import { describe, expect, it } from 'vitest'
import { decodeHlcText, encodeHlcText, observeRemoteHlc } from '../../../src/cluster/hlc-observe'
import { ManualClock } from '../../../src/core/clock'
import { encodeUuidV8, Hlc } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'

function setup (): { hlc: Hlc, clock: ManualClock } {
  const clock = new ManualClock()
  return { hlc: new Hlc({ clock, rng: new SeededRng(1), nodeId: 7, maxClockOffsetMs: 500 }), clock }
}

const v8 = (ts: number, counter = 0): Uint8Array => encodeUuidV8({ ts, counter, nodeId: 3, random: 1 })

describe('observing a remote HLC', () => {
  it('round-trips the gossip text form and reads anything else as no reading', () => {
    expect(decodeHlcText(encodeHlcText({ ts: 1_767_225_600_123, counter: 42 }))).toEqual({ ts: 1_767_225_600_123, counter: 42 })
    for (const bad of ['', '12', '1.2.3', 'x.1', '1.12345', '1234567890123456.1', ' 1.2']) expect(decodeHlcText(bad)).toBeNull()
  })

  it('moves the HLC up to every stamp it is given: text, v8 version ids and states', () => {
    const { hlc, clock } = setup()
    const now = clock.now()
    expect(observeRemoteHlc(hlc, [`${now + 100}.5`])).toBeNull()
    expect(hlc.state()).toEqual({ ts: now + 100, counter: 6 })
    expect(observeRemoteHlc(hlc, [v8(now + 200, 9), null, undefined, { ts: now + 150, counter: 0 }])).toBeNull()
    expect(hlc.state().ts).toBe(now + 200)
  })

  it('skips stamps without a clock: empty text and non-v8 version ids', () => {
    const { hlc } = setup()
    const before = hlc.state()
    const v7 = new Uint8Array(16)
    v7[6] = 0x70
    v7[8] = 0x80
    expect(observeRemoteHlc(hlc, ['', 'garbage', v7])).toBeNull()
    expect(hlc.state()).toEqual(before)
  })

  it('refuses the first stamp too far ahead with SB_CLOCK_OFFSET_EXCEEDED and observes nothing after it', () => {
    const { hlc, clock } = setup()
    const now = clock.now()
    const refused = observeRemoteHlc(hlc, [v8(now + 10), v8(now + 501), v8(now + 300)])
    expect(refused?.code).toBe('SB_CLOCK_OFFSET_EXCEEDED')
    expect(hlc.state().ts).toBe(now + 10)
    expect(hlc.remoteRejections).toBe(1)
    expect(observeRemoteHlc(hlc, [`${now + 10_000}.0`])?.code).toBe('SB_CLOCK_OFFSET_EXCEEDED')
  })
})
