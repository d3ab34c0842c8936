import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ABORT_DECISION, decisionShard, decisionSlotTaken, decodeDecision, encodeDecision } from '../../../src/cluster/twopc/decision'
import { isScratchBirdError, ScratchBirdError } from '../../../src/core/errors'
import { asHlcTs, asNodeId, asXid } from '../../../src/core/ids'
import { makeXid } from '../../../src/storage/xid'
import { hlcTs } from '../../../src/storage/types'

// The decision record: its bytes come back from storage, so any bytes decode or fail coded.

const HLC = hlcTs(16_000_000)

describe('2PC decision record codec', () => {
  it('round-trips commit and abort; format 1 is the commit record of earlier releases', () => {
    expect(decodeDecision(encodeDecision({ outcome: 'commit', commitHlc: HLC }))).toEqual({ outcome: 'commit', commitHlc: HLC })
    expect(encodeDecision({ outcome: 'commit', commitHlc: HLC })[0]).toBe(1)
    expect(decodeDecision(encodeDecision(ABORT_DECISION))).toEqual(ABORT_DECISION)
  })

  it('anything else is a coded corruption error', () => {
    for (const b of [new Uint8Array(0), Uint8Array.of(3), Uint8Array.of(1, 2), Uint8Array.of(2, 0), new Uint8Array(9)]) {
      expect(() => decodeDecision(b)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    }
  })

  it('random bytes decode to a decision or a coded error, never anything else; decisions round-trip', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 12 }), b => {
      try {
        const d = decodeDecision(b)
        expect(encodeDecision(d)).toEqual(b)
      } catch (e) {
        expect(isScratchBirdError(e) && e.code === 'SB_STORAGE_CORRUPT').toBe(true)
      }
    }))
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(asHlcTs), h => {
      expect(decodeDecision(encodeDecision({ outcome: 'commit', commitHlc: h }))).toEqual({ outcome: 'commit', commitHlc: h })
    }))
  })

  it('only a unique violation means the slot is taken (anything else leaves the outcome unknown)', () => {
    expect(decisionSlotTaken(new ScratchBirdError('SB_UNIQUE_VIOLATION', 'duplicate primary key'))).toBe(true)
    for (const e of [new ScratchBirdError('SB_RPC_TIMEOUT', 'no reply'), new ScratchBirdError('SB_WORKER_DIED', 'gone'), new Error('x'), undefined]) {
      expect(decisionSlotTaken(e)).toBe(false)
    }
  })

  it('places records by xid alone', () => {
    expect(decisionShard(asXid(10n), 4)).toBe(2)
    expect(decisionShard(makeXid(asNodeId(7), 5n), 16)).toBe(5)
  })
})
