import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ScratchBirdError, isScratchBirdError } from '../../../src/core/errors'
import { RPC_OPCODES, RPC_OPCODE_INFO, rpcOpcodeInfo, rpcOpcodeLabel } from '../../../src/net/rpc/opcodes'
import { RPC_MAX_ERROR_PAYLOAD_BYTES, decodeErrorPayload, encodeErrorPayload, remoteError } from '../../../src/net/rpc/remote-error'
import {
  RPC_MAX_BODY_BYTES, RPC_MAX_MESSAGES, RPC_WIRE_VERSION, decodeFrame, encodeFrame, type RpcFrameMessage, type RpcFrameSide, type RpcKind
} from '../../../src/net/rpc/wire'

// The cluster RPC wire format: round trips, and a decoder that answers any bytes from the network
// with messages or SB_RPC_MALFORMED — never another exception. Payloads are raw bytes here; their
// per-opcode codecs are tested in rpc-payloads.test.ts.

const FUZZ_RUNS = 2000

type Decoded = RpcFrameMessage[] | 'SB_RPC_MALFORMED' | 'SB_CODEC_VERSION'

/** Decodes or returns the coded error; any other exception fails the test. */
function decodeOrCode (bytes: Uint8Array, side: RpcFrameSide): Decoded {
  try {
    return decodeFrame(bytes, side)
  } catch (e) {
    if (isScratchBirdError(e, 'SB_RPC_MALFORMED')) return 'SB_RPC_MALFORMED'
    if (isScratchBirdError(e, 'SB_CODEC_VERSION')) return 'SB_CODEC_VERSION'
    throw e
  }
}

const plain = (ms: readonly RpcFrameMessage[]): unknown => ms.map(m => ({ ...m, body: [...m.body] }))

function batchArb (side: RpcFrameSide): fc.Arbitrary<RpcFrameMessage[]> {
  const kinds: RpcKind[] = side === 'request' ? ['request'] : ['ok', 'error']
  return fc.uniqueArray(
    fc.record({ kind: fc.constantFrom(...kinds), opcode: fc.integer({ min: 1, max: 255 }), id: fc.nat({ max: 0xffff_ffff }), body: fc.uint8Array({ maxLength: 40 }) }),
    { minLength: 1, maxLength: 8, selector: m => m.id })
}

const sideArb = fc.constantFrom<RpcFrameSide>('request', 'reply')

function header (count: number, version = RPC_WIRE_VERSION): number[] {
  return [0x53, 0x42, 0x52, 0x31, version, count >> 8, count & 0xff]
}

describe('RPC wire format', () => {
  it('lays out magic, version 2, count, then kind | opcode | id | length | payload bytes', () => {
    const bytes = encodeFrame([{ kind: 'request', opcode: RPC_OPCODES.PING, id: 0x01020304, body: Uint8Array.of(1, 9, 9) }])
    expect(RPC_WIRE_VERSION).toBe(2)
    expect([...bytes]).toEqual([
      ...header(1),
      0, 0x01, 1, 2, 3, 4, 0, 0, 0, 3,
      1, 9, 9
    ])
  })

  it('round-trips any batch of payloads', () => {
    fc.assert(fc.property(sideArb.chain(side => fc.tuple(fc.constant(side), batchArb(side))), ([side, batch]) => {
      expect(plain(decodeFrame(encodeFrame(batch), side))).toEqual(plain(batch))
    }), { numRuns: 500 })
  })

  it('refuses frames of the other side, bad headers, trailing bytes and duplicate ids', () => {
    const req = encodeFrame([{ kind: 'request', opcode: 1, id: 1, body: Uint8Array.of(1) }])
    const reply = encodeFrame([{ kind: 'ok', opcode: 1, id: 1, body: Uint8Array.of(1) }])
    const cases: Array<[Uint8Array, RegExp]> = [
      [req, /request in a reply frame/],
      [Uint8Array.of(...header(1).slice(0, 6)), /shorter than its header/],
      [Uint8Array.of(0x53, 0x42, 0x52, 0x32, ...header(1).slice(4)), /bad magic/],
      [Uint8Array.of(...header(1, 1)), /wire version 1 \(this node speaks 2\)/],
      [Uint8Array.of(...header(0)), /count 0/],
      [Uint8Array.of(...header(RPC_MAX_MESSAGES + 1)), /count 1025/],
      [Uint8Array.of(...reply, 0), /1 bytes after the last message/],
      [Uint8Array.of(...header(1), 3, 1, 0, 0, 0, 1, 0, 0, 0, 0), /unknown kind 3/],
      [Uint8Array.of(...header(1), 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), /opcode 0/],
      [Uint8Array.of(...header(1), 1, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1), /runs past the end/],
      [Uint8Array.of(...header(2), 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0), /repeats request id 1/]
    ]
    for (const [bytes, message] of cases) {
      expect(() => decodeFrame(bytes, 'reply')).toThrow(message)
      expect(decodeOrCode(bytes, 'reply')).toBe('SB_RPC_MALFORMED')
    }
    expect(decodeOrCode(new Uint8Array(RPC_MAX_BODY_BYTES + 1), 'request')).toBe('SB_RPC_MALFORMED')
  })

  it('refuses a frame of a newer wire version with SB_CODEC_VERSION naming both versions', () => {
    const err = (() => { try { decodeFrame(Uint8Array.of(...header(1, 3)), 'request') } catch (e) { return e } })()
    expect(err).toMatchObject({ code: 'SB_CODEC_VERSION', details: { codec: 'cluster RPC frame', version: 3, supported: 2 } })
    expect((err as Error).message).toMatch(/version 3.*up to version 2/)
  })

  it('fuzz: random bytes decode or fail with a coded error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), sideArb, (bytes, side) => {
      decodeOrCode(bytes, side)
    }), { numRuns: FUZZ_RUNS })
    // Past the magic check: a valid header followed by random bytes reaches the message parser.
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 512 }), sideArb, (count, rest, side) => {
      decodeOrCode(Uint8Array.of(...header(count), ...rest), side)
    }), { numRuns: FUZZ_RUNS })
  })

  it('fuzz: mutated valid frames decode or fail with a coded error', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
      fc.record({ op: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) })
    )
    type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never
    function apply (frame: Uint8Array, m: Mutation): Uint8Array {
      const b = Uint8Array.from(frame)
      const at = 'at' in m ? m.at % Math.max(1, b.length) : 0
      switch (m.op) {
        case 'flip': b[at] = b[at]! ^ (1 << m.bit); return b
        case 'set': b[at] = m.value; return b
        case 'truncate': return b.subarray(0, at)
        case 'append': return Uint8Array.of(...b, ...m.bytes)
        case 'splice': return Uint8Array.of(...b.subarray(0, at), ...m.bytes, ...b.subarray(at + m.bytes.length))
      }
    }
    fc.assert(fc.property(sideArb.chain(side => fc.tuple(fc.constant(side), batchArb(side))), fc.array(mutation, { minLength: 1, maxLength: 4 }), ([side, batch], mutations) => {
      const frame = mutations.reduce(apply, encodeFrame(batch))
      decodeOrCode(frame, side)
      decodeOrCode(frame, side === 'request' ? 'reply' : 'request')
    }), { numRuns: FUZZ_RUNS })
  })
})

describe('RPC opcodes table', () => {
  it('has distinct numbers and names, and labels unknown numbers in hex', () => {
    expect(new Set(RPC_OPCODE_INFO.map(i => i.code)).size).toBe(RPC_OPCODE_INFO.length)
    for (const i of RPC_OPCODE_INFO) {
      expect(RPC_OPCODES[i.name]).toBe(i.code)
      expect(rpcOpcodeInfo(i.code)).toBe(i)
      expect(i.description.length).toBeGreaterThan(0)
    }
    expect(Object.keys(RPC_OPCODES)).toEqual(expect.arrayContaining(['GOSSIP_SYNC', 'GOSSIP_ACK', 'CATALOG_FETCH', 'CATALOG_APPLY', 'SHARD_QUERY', 'PING']))
    expect(rpcOpcodeLabel(0xfe)).toBe('0xfe')
  })
})

describe('RPC error replies', () => {
  it('carry code, message and details, bigints as text, and come back with the same code', () => {
    const err = new ScratchBirdError('SB_UNIQUE_VIOLATION', 'a row with this primary key already exists', { table: 't', xid: 5n })
    const back = decodeErrorPayload(encodeErrorPayload(err), '127.0.0.1:1')
    expect(back).toBeInstanceOf(ScratchBirdError)
    expect(back.code).toBe('SB_UNIQUE_VIOLATION')
    expect(back.message).toBe(err.message)
    expect(back.details).toEqual({ table: 't', xid: '5' })
  })

  it('are bounded: huge or cyclic details are dropped, long messages cut', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const err of [
      new ScratchBirdError('SB_INTERNAL', 'x'.repeat(100_000)),
      new ScratchBirdError('SB_INTERNAL', 'small', { blob: 'y'.repeat(100_000) }),
      new ScratchBirdError('SB_INTERNAL', '\u0000'.repeat(10_000), { cyclic })
    ]) {
      const bytes = encodeErrorPayload(err)
      expect(bytes.length).toBeLessThanOrEqual(RPC_MAX_ERROR_PAYLOAD_BYTES)
      expect(decodeErrorPayload(bytes, 'p').code).toBe('SB_INTERNAL')
    }
  })

  it('map unknown remote codes to SB_RPC_REMOTE_ERROR, junk to SB_RPC_MALFORMED, a newer version to SB_CODEC_VERSION', () => {
    const e = remoteError('SB_FROM_THE_FUTURE', 'new', undefined, 'p:1')
    expect(e.code).toBe('SB_RPC_REMOTE_ERROR')
    expect(e.details).toMatchObject({ remote_code: 'SB_FROM_THE_FUTURE', peer: 'p:1' })
    // Inherited names are not codes.
    expect(remoteError('toString', 'x', {}, 'p:1').code).toBe('SB_RPC_REMOTE_ERROR')
    expect(decodeErrorPayload(Uint8Array.of(1), 'p:1').code).toBe('SB_RPC_MALFORMED')
    expect(decodeErrorPayload(new Uint8Array(0), 'p:1').code).toBe('SB_RPC_MALFORMED')
    const future = encodeErrorPayload(new ScratchBirdError('SB_INTERNAL', 'x'))
    future[0] = 2
    expect(decodeErrorPayload(future, 'p:1')).toMatchObject({ code: 'SB_CODEC_VERSION', details: { version: 2, supported: 1, peer: 'p:1' } })
    // Details come back as sent; any bytes at all give an error, never a throw.
    const odd = encodeErrorPayload(new ScratchBirdError('SB_INTERNAL', 'x', { a: 1 }))
    expect(decodeErrorPayload(odd, 'p').details).toEqual({ a: 1 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), b => {
      expect(decodeErrorPayload(b, 'p')).toBeInstanceOf(ScratchBirdError)
    }), { numRuns: FUZZ_RUNS })
  })
})
