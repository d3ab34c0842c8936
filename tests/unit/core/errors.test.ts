import { describe, expect, it } from 'vitest'
import { describe as describeError, messageOf, ScratchBirdError } from '../../../src/core/errors'

describe('describe / messageOf (what logs record of a caught value)', () => {
  it('a ScratchBirdError: code, SQLSTATE, message and details', () => {
    const e = new ScratchBirdError('SB_RPC_TIMEOUT', 'no reply from node 2', { peer: 2 })
    expect(describeError(e)).toEqual({ code: 'SB_RPC_TIMEOUT', sqlstate: '57014', message: 'no reply from node 2', peer: 2 })
    expect(messageOf(e)).toBe('no reply from node 2')
  })

  it('another Error: message and stack; anything else: its string', () => {
    const e = new TypeError('boom')
    expect(describeError(e)).toEqual({ message: 'boom', stack: e.stack })
    expect(messageOf(e)).toBe('boom')
    expect(describeError(42)).toBe('42')
    expect(messageOf(undefined)).toBe('undefined')
  })
})
