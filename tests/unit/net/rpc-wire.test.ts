import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ScratchBirdError, isScratchBirdError } from '../../../src/core/errors'
import { RPC_OPCODES, RPC_OPCODE_INFO, rpcOpcodeInfo, rpcOpcodeLabel } from '../../../src/net/rpc/opcodes'
import { RPC_MAX_ERROR_PAYLOAD_BYTES, decodeErrorPayload, encodeErrorPayload } from '../../../src/net/rpc/remote-error'
import {
  RPC_MAX_BODY_BYTES, RPC_MAX_MESSAGES, decodeBatch, decodePayload, encodeBatch, encodeFrame, type RpcFrameSide, type RpcKind, type RpcMessage
} from '../../../src/net/rpc/wire'

// The cluster RPC wire format: round trips, and a decoder that answers any bytes from the network
// with messages or SB_RPC_MALFORMED — never another exception.

const FUZZ_RUNS = 2000

/** Decodes or returns the coded error; any other exception fails the test. */
function decodeOrCode (bytes: Uint8Array, side: RpcFrameSide): RpcMessage[] | 'SB_RPC_MALFORMED' {
  try {
    return decodeBatch(bytes, side)
  } catch (e) {
    if (isScratchBirdError(e, 'SB_RPC_MALFORMED')) return 'SB_RPC_MALFORMED'
    throw e
  }
}

const normalized = (v: unknown): unknown => v === undefined ? undefined : JSON.parse(JSON.stringify(v)) as unknown

const payloadArb = fc.option(fc.jsonValue({ maxDepth: 4 }), { nil: undefined })

function batchArb (side: RpcFrameSide): fc.Arbitrary<RpcMessage[]> {
  const kinds: RpcKind[] = side === 'request' ? ['request'] : ['ok', 'error']
  return fc.uniqueArray(
    fc.record({ kind: fc.constantFrom(...kinds), opcode: fc.integer({ min: 1, max: 255 }), id: fc.nat({ max: 0xffff_ffff }), payload: payloadArb }),
    { minLength: 1, maxLength: 8, selector: m => m.id })
}

const sideArb = fc.constantFrom<RpcFrameSide>('request', 'reply')

function header (count: number, version = 1): number[] {
  return [0x53, 0x42, 0x52, 0x31, version, count >> 8, count & 0xff]
}

describe('RPC wire format', () => {
  it('lays out magic, version, count, then kind | opcode | id | length | JSON payload', () => {
    const bytes = encodeBatch([{ kind: 'request', opcode: RPC_OPCODES.PING, id: 0x01020304, payload: { a: 1 } }])
    expect([...bytes]).toEqual([
      ...header(1),
      0, 0x01, 1, 2, 3, 4, 0, 0, 0, 7,
      ...Buffer.from('{"a":1}')
    ])
  })

  it('round-trips any batch of JSON payloads', () => {
    fc.assert(fc.property(sideArb.chain(side => fc.tuple(fc.constant(side), batchArb(side))), ([side, batch]) => {
      const decoded = decodeBatch(encodeBatch(batch), side)
      expect(decoded).toEqual(batch.map(m => ({ ...m, payload: normalized(m.payload) })))
    }), { numRuns: 500 })
  })

  it('refuses frames of the other side, bad headers, trailing bytes and duplicate ids', () => {
    const req = encodeBatch([{ kind: 'request', opcode: 1, id: 1, payload: 1 }])
    const reply = encodeBatch([{ kind: 'ok', opcode: 1, id: 1, payload: 1 }])
    const cases: Array<[Uint8Array, RegExp]> = [
      [req, /request in a reply frame/],
      [Uint8Array.of(...header(1).slice(0, 6)), /shorter than its header/],
      [Uint8Array.of(0x53, 0x42, 0x52, 0x32, ...header(1).slice(4)), /bad magic/],
      [Uint8Array.of(...header(1, 2)), /wire version 2/],
      [Uint8Array.of(...header(0)), /count 0/],
      [Uint8Array.of(...header(RPC_MAX_MESSAGES + 1)), /count 1025/],
      [Uint8Array.of(...reply, 0), /1 bytes after the last message/],
      [Uint8Array.of(...header(1), 3, 1, 0, 0, 0, 1, 0, 0, 0, 0), /unknown kind 3/],
      [Uint8Array.of(...header(1), 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), /opcode 0/],
      [Uint8Array.of(...header(1), 1, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1), /runs past the end/],
      [Uint8Array.of(...header(2), 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0), /repeats request id 1/],
      [Uint8Array.of(...header(1), 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff), /not valid UTF-8/],
      [Uint8Array.of(...header(1), 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x7b), /not valid JSON/]
    ]
    for (const [bytes, message] of cases) {
      expect(() => decodeBatch(bytes, 'reply')).toThrow(message)
      expect(decodeOrCode(bytes, 'reply')).toBe('SB_RPC_MALFORMED')
    }
    expect(decodeOrCode(new Uint8Array(RPC_MAX_BODY_BYTES + 1), 'request')).toBe('SB_RPC_MALFORMED')
  })

  it('decodes an empty payload as undefined and survives pathological JSON', () => {
    expect(decodePayload(new Uint8Array(0))).toBeUndefined()
    const deep = Buffer.from('['.repeat(200_000) + ']'.repeat(200_000))
    const frame = encodeFrame([{ kind: 'request', opcode: 1, id: 1, body: deep }])
    const r = decodeOrCode(frame, 'request')
    expect(r === 'SB_RPC_MALFORMED' || Array.isArray(r)).toBe(true)
  })

  it('fuzz: random bytes decode or fail with SB_RPC_MALFORMED', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), sideArb, (bytes, side) => {
      decodeOrCode(bytes, side)
    }), { numRuns: FUZZ_RUNS })
    // Past the magic check: a valid header followed by random bytes reaches the message parser.
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 512 }), sideArb, (count, rest, side) => {
      decodeOrCode(Uint8Array.of(...header(count), ...rest), side)
    }), { numRuns: FUZZ_RUNS })
  })

  it('fuzz: mutated valid frames decode or fail with SB_RPC_MALFORMED', () => {
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
      const frame = mutations.reduce(apply, encodeBatch(batch))
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
    const back = decodeErrorPayload(decodePayload(encodeErrorPayload(err)), '127.0.0.1:1')
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
      expect(decodeErrorPayload(decodePayload(bytes), 'p').code).toBe('SB_INTERNAL')
    }
  })

  it('map unknown remote codes to SB_RPC_REMOTE_ERROR and junk to SB_RPC_MALFORMED', () => {
    const e = decodeErrorPayload({ code: 'SB_FROM_THE_FUTURE', message: 'new' }, 'p:1')
    expect(e.code).toBe('SB_RPC_REMOTE_ERROR')
    expect(e.details).toMatchObject({ remote_code: 'SB_FROM_THE_FUTURE', peer: 'p:1' })
    expect(decodeErrorPayload([1], 'p:1').code).toBe('SB_RPC_MALFORMED')
    expect(decodeErrorPayload(null, 'p:1').code).toBe('SB_RPC_MALFORMED')
    // Inherited names are not codes.
    expect(decodeErrorPayload({ code: 'toString', message: 'x' }, 'p:1').code).toBe('SB_RPC_REMOTE_ERROR')
  })
})
