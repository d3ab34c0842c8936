import { describe, expect, it } from 'vitest'
import { BodyReader, FrameReader, MAX_STARTUP_BYTES } from '../../../../src/net/pgwire/frames'
import { isScratchBirdError } from '../../../../src/core/errors'

function msg (type: string, body: Buffer): Buffer {
  const b = Buffer.alloc(5 + body.length)
  b[0] = type.charCodeAt(0)
  b.writeInt32BE(body.length + 4, 1)
  body.copy(b, 5)
  return b
}

function codeOf (f: () => unknown): string {
  try { f() } catch (e) { return isScratchBirdError(e) ? e.code : String(e) }
  return 'no error'
}

describe('FrameReader', () => {
  it('reassembles messages split anywhere and several in one chunk', () => {
    const r = new FrameReader(1024)
    r.startup = false
    const bytes = Buffer.concat([msg('Q', Buffer.from('SELECT 1\0')), msg('S', Buffer.alloc(0)), msg('X', Buffer.alloc(0))])
    const got: string[] = []
    for (const byte of bytes) {
      r.push(Buffer.from([byte]))
      for (let f = r.next(); f !== null; f = r.next()) got.push(`${String.fromCharCode(f.type)}:${f.body.toString()}`)
    }
    expect(got).toEqual(['Q:SELECT 1\0', 'S:', 'X:'])
    expect(r.buffered).toBe(0)
  })

  it('reads the untyped startup packet first', () => {
    const r = new FrameReader(1024)
    const body = Buffer.from([0, 3, 0, 0, 0])
    const head = Buffer.alloc(4)
    head.writeInt32BE(body.length + 4)
    r.push(Buffer.concat([head, body]))
    expect(r.next()).toMatchObject({ type: 0, body })
  })

  it('refuses a length below 4, and a message over the bound as soon as its header arrives', () => {
    const bad = new FrameReader(1024)
    bad.startup = false
    bad.push(Buffer.from([0x51, 0, 0, 0, 3]))
    expect(codeOf(() => bad.next())).toBe('SB_MALFORMED_REQUEST')
    const big = new FrameReader(1024)
    big.startup = false
    big.push(msg('Q', Buffer.alloc(1025)).subarray(0, 5))
    expect(codeOf(() => big.next())).toBe('SB_BODY_TOO_LARGE')
    const exact = new FrameReader(1024)
    exact.startup = false
    exact.push(msg('Q', Buffer.alloc(1024)))
    expect(exact.next()?.body.length).toBe(1024)
    const startup = new FrameReader(1 << 20)
    const head = Buffer.alloc(4)
    head.writeInt32BE(MAX_STARTUP_BYTES + 5)
    startup.push(head)
    expect(codeOf(() => startup.next())).toBe('SB_BODY_TOO_LARGE')
  })
})

describe('BodyReader', () => {
  it('reads fields and refuses overruns, missing terminators, trailing bytes and bad UTF-8', () => {
    const r = new BodyReader(Buffer.from([0x61, 0x62, 0, 0, 7, 0, 0, 0, 9]))
    expect(r.cstring()).toBe('ab')
    expect(r.int16()).toBe(7)
    expect(r.int32()).toBe(9)
    r.end()
    expect(codeOf(() => new BodyReader(Buffer.from([1])).int16())).toBe('SB_MALFORMED_REQUEST')
    expect(codeOf(() => new BodyReader(Buffer.from('abc')).cstring())).toBe('SB_MALFORMED_REQUEST')
    expect(codeOf(() => new BodyReader(Buffer.from([1, 2])).end())).toBe('SB_MALFORMED_REQUEST')
    expect(codeOf(() => new BodyReader(Buffer.from([0xc3, 0x28, 0])).cstring())).toBe('SB_MALFORMED_REQUEST')
  })
})
