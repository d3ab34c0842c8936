import { describe, expect, it } from 'vitest'
import { classifyIoError, describe as describeError, messageOf, ScratchBirdError } from '../../../src/core/errors'
import { decodeError, encodeError } from '../../../src/rings/payload'

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

describe('classifyIoError (disk full as SB_DISK_FULL, not SB_INTERNAL)', () => {
  it('LevelDB\'s text and node:fs errno codes are disk full', () => {
    const level = new Error('IO error: /data/shards/10/000003.log: No space left on device')
    expect(classifyIoError(level)?.code).toBe('SB_DISK_FULL')
    expect(classifyIoError(level)?.sqlstate).toBe('53100')
    const fsErr = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    expect(classifyIoError(fsErr)?.code).toBe('SB_DISK_FULL')
    expect(classifyIoError(Object.assign(new Error('quota'), { code: 'EDQUOT' }))?.code).toBe('SB_DISK_FULL')
  })

  it('anything else is left alone (null), and a coded error is never re-coded', () => {
    expect(classifyIoError(new Error('IO error: corruption'))).toBeNull()
    expect(classifyIoError(Object.assign(new Error('x'), { code: 'EACCES' }))).toBeNull()
    expect(classifyIoError(new ScratchBirdError('SB_INTERNAL', 'No space left on device'))).toBeNull()
    expect(classifyIoError(undefined)).toBeNull()
  })

  it('crosses the ring as SB_DISK_FULL (a shard worker\'s LevelDB failure)', () => {
    const back = decodeError(encodeError(new Error('IO error: x.log: No space left on device')))
    expect(back.code).toBe('SB_DISK_FULL')
  })
})
