import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  hardStateCodec, logBaseCodec, REPLICATION_CODEC_VERSION, replEntryCodec, replEnvelopeCodec, type ReplEnvelope
} from '../../../../src/cluster/replication/codec'
import { MAX_ENTRIES_PER_APPEND, type ReplEntry, type ReplMessage } from '../../../../src/cluster/replication/types'
import { isScratchBirdError } from '../../../../src/core/errors'
import { asNodeId, asShardId } from '../../../../src/core/ids'

// The Mode 1 replication codecs (src/cluster/replication/codec.ts): every message round-trips;
// anything malformed is SB_RPC_MALFORMED, a newer version SB_CODEC_VERSION, never another throw.

const n = asNodeId
const entries: ReplEntry[] = [
  { lsn: 5n, generation: 2, kind: 'data', payload: new Uint8Array([1, 2, 3]) },
  { lsn: 6n, generation: 3, kind: 'noop' },
  { lsn: 7n, generation: 3, kind: 'config', voters: [n(1), n(2), n(65535)] }
]
const messages: ReplMessage[] = [
  { type: 'append', generation: 3, from: n(1), prevLsn: 4n, prevGeneration: 2, entries, leaderCommit: 6n, stamp: 1234.5 },
  { type: 'append', generation: 3, from: n(1), prevLsn: 0n, prevGeneration: 0, entries: [], leaderCommit: 0n, stamp: 0 },
  { type: 'append-reply', generation: 3, from: n(2), ok: true, matchLsn: 7n, hintLsn: 0n, hintGeneration: 0, stamp: 1234.5 },
  { type: 'append-reply', generation: 4, from: n(2), ok: false, matchLsn: 0n, hintLsn: 3n, hintGeneration: 1, stamp: 9 },
  { type: 'vote', generation: 9, from: n(3), lastLsn: 0xffff_ffff_ffffn, lastGeneration: 8, preVote: true },
  { type: 'vote-reply', generation: 9, from: n(4), granted: false, preVote: false },
  { type: 'snapshot', generation: 2, from: n(1), base: { lsn: 100n, generation: 2, voters: [n(1), n(2), n(3)] } },
  { type: 'snapshot', generation: 2, from: n(1), base: { lsn: 0n, generation: 0, voters: [] } },
  { type: 'vote', generation: 10, from: n(2), lastLsn: 44n, lastGeneration: 9, preVote: false, transfer: true },
  { type: 'timeout-now', generation: 9, from: n(1) }
]

function malformedOrVersion (f: () => unknown): void {
  try {
    f()
  } catch (e) {
    expect(isScratchBirdError(e, 'SB_RPC_MALFORMED') || isScratchBirdError(e, 'SB_CODEC_VERSION'), String(e)).toBe(true)
  }
}

describe('replication codecs', () => {
  it('round-trip every message type in an envelope', () => {
    for (const msg of messages) {
      const env: ReplEnvelope = { shard: asShardId(4095), msg }
      expect(replEnvelopeCodec.decode(replEnvelopeCodec.encode(env))).toEqual(env)
    }
  })

  it('writes each message in the lowest version that carries it: a node of the previous release reads all but a transfer\'s (issue 20 item 4)', () => {
    for (const msg of messages) {
      const b = replEnvelopeCodec.encode({ shard: asShardId(1), msg })
      const needsV2 = msg.type === 'timeout-now' || (msg.type === 'vote' && msg.transfer === true)
      expect(b[0], msg.type).toBe(needsV2 ? 2 : 1)
    }
    // The v1 bytes of a vote (no transfer flag) are what version 1 wrote; they decode without the flag.
    const v1 = replEnvelopeCodec.encode({ shard: asShardId(1), msg: messages[4]! })
    expect(replEnvelopeCodec.decode(v1).msg).toEqual(messages[4])
    expect('transfer' in replEnvelopeCodec.decode(v1).msg).toBe(false)
    // A TimeoutNow can only be v2: one claiming v1 is malformed, never read as something else.
    const tn = new Uint8Array(replEnvelopeCodec.encode({ shard: asShardId(1), msg: messages[9]! }))
    tn[0] = 1
    expect(() => replEnvelopeCodec.decode(tn)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
  })

  it('round-trip the records the storage side persists', () => {
    for (const e of entries) expect(replEntryCodec.decode(replEntryCodec.encode(e))).toEqual(e)
    expect(hardStateCodec.decode(hardStateCodec.encode({ generation: 7, votedFor: n(3) }))).toEqual({ generation: 7, votedFor: 3 })
    expect(hardStateCodec.decode(hardStateCodec.encode({ generation: 0, votedFor: 0 }))).toEqual({ generation: 0, votedFor: 0 })
    const base = { lsn: 42n, generation: 3, voters: [n(2), n(5)] }
    expect(logBaseCodec.decode(logBaseCodec.encode(base))).toEqual(base)
  })

  it('every truncation of a valid payload is SB_RPC_MALFORMED, and so are trailing bytes', () => {
    for (const msg of messages) {
      const b = replEnvelopeCodec.encode({ shard: asShardId(1), msg })
      for (let i = 0; i < b.length; i++) {
        expect(() => replEnvelopeCodec.decode(b.subarray(0, i))).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
      }
      expect(() => replEnvelopeCodec.decode(new Uint8Array([...b, 0]))).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
    }
  })

  it('refuses a newer version, bounds and bad values with coded errors', () => {
    const b = replEnvelopeCodec.encode({ shard: asShardId(1), msg: messages[0]! })
    const newer = new Uint8Array(b)
    newer[0] = REPLICATION_CODEC_VERSION + 1
    expect(() => replEnvelopeCodec.decode(newer)).toThrow(expect.objectContaining({ code: 'SB_CODEC_VERSION' }))
    const many = Array.from({ length: MAX_ENTRIES_PER_APPEND + 1 }, (_, i): ReplEntry => ({ lsn: BigInt(i + 1), generation: 1, kind: 'noop' }))
    const tooMany = replEnvelopeCodec.encode({ shard: asShardId(1), msg: { ...messages[1]! as Extract<ReplMessage, { type: 'append' }>, entries: many } })
    expect(() => replEnvelopeCodec.decode(tooMany)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringMatching(/entries in one append/) }))
    const twice = replEntryCodec.encode({ lsn: 1n, generation: 1, kind: 'config', voters: [n(2), n(2)] })
    expect(() => replEntryCodec.decode(twice)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringMatching(/twice/) }))
    const zeroLsn = replEntryCodec.encode({ lsn: 0n, generation: 1, kind: 'noop' })
    expect(() => replEntryCodec.decode(zeroLsn)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
    // Sender node id 0 (bytes: version, shard u32, type, generation varint, from u16).
    const vote = replEnvelopeCodec.encode({ shard: asShardId(1), msg: messages[4]! })
    const noSender = new Uint8Array(vote)
    noSender[7] = 0; noSender[8] = 0
    expect(() => replEnvelopeCodec.decode(noSender)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringMatching(/node id 0/) }))
  })

  it('arbitrary bytes and mutated payloads decode or fail with a coded error, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), b => { malformedOrVersion(() => replEnvelopeCodec.decode(b)) }), { numRuns: 2000 })
    const valid = messages.map(msg => replEnvelopeCodec.encode({ shard: asShardId(1), msg }))
    fc.assert(fc.property(fc.nat(valid.length - 1), fc.nat(), fc.nat(255), (which, at, v) => {
      const b = new Uint8Array(valid[which]!)
      b[at % b.length] = v
      malformedOrVersion(() => replEnvelopeCodec.decode(b))
    }), { numRuns: 3000 })
  })
})
