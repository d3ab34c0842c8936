import { describe, expect, it } from 'vitest'
import { toRawEntry, toReplEntry } from '../../../../src/node/replication/entry-payload'
import { asHlcTs, asXid } from '../../../../src/core/ids'
import { encodeTuple } from '../../../../src/storage/keys'
import type { RawLogEntry } from '../../../../src/storage/commit-log'
import type { ReplEntry } from '../../../../src/cluster/replication/types'

// A Mode 1 log entry's data payload travels from the primary to every replica, so it follows the
// wire rule (core/codec-versions.ts): written in the lowest version that carries it — a plain
// commit in v1, which a replica of the release before two-phase entries reads; a two-phase step
// in v2, a split switch in v3, one carrying its fence's rule in v4.

const pk = encodeTuple(['k1'])
const base: RawLogEntry = {
  lsn: 7n,
  generation: 3n,
  xid: asXid(42n),
  commitHlc: asHlcTs(99n),
  mutations: [{ tableId: 5, pkBytes: pk, versionId: new Uint8Array(16).fill(1), row: new Uint8Array([1, 2, 3]) }]
}

function payloadOf (e: ReplEntry): Uint8Array {
  if (e.kind !== 'data') throw new Error(`a ${e.kind} entry`)
  return e.payload
}

describe('the replicated entry payload on the wire', () => {
  it('writes a plain commit in v1 and a two-phase step in v2; both read back as they were', () => {
    const plain = toReplEntry(base)
    expect(payloadOf(plain)[0]).toBe(1)
    expect(toRawEntry(plain)).toEqual(base)
    for (const phase of ['prepare', 'commit', 'abort'] as const) {
      const e = toReplEntry({ ...base, phase })
      expect(payloadOf(e)[0], phase).toBe(2)
      expect(toRawEntry(e), phase).toEqual({ ...base, phase })
    }
  })

  it('reads a plain commit in its v2 form (step byte 0) the same as its v1 form', () => {
    const v1 = payloadOf(toReplEntry(base))
    const v2 = Uint8Array.of(2, ...v1.subarray(1), 0)
    expect(toRawEntry({ lsn: 7n, generation: 3, kind: 'data', payload: v2 })).toEqual(base)
  })

  it('carries a split switch entry as a v3 data payload that reads back as the control entry; a malformed one is refused', () => {
    const sw: RawLogEntry = { lsn: 9n, generation: 3n, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: { kind: 'split_switch', shards: 8 } }
    const e = toReplEntry(sw)
    expect(e.kind).toBe('data')
    expect(payloadOf(e)[0]).toBe(3)
    expect(toRawEntry(e)).toEqual(sw)
    // Shard count 0, and a split switch that claims a transaction, do not decode.
    const bad = payloadOf(e).slice()
    bad.fill(0, bad.length - 4)
    expect(() => toRawEntry({ ...e, payload: bad } as ReplEntry)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
    const withXid = payloadOf(e).slice()
    withXid[8] = 1
    expect(() => toRawEntry({ ...e, payload: withXid } as ReplEntry)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
    // An xid-0 plain commit stays malformed.
    const zero = payloadOf(toReplEntry({ ...base, xid: asXid(0n) }))
    expect(() => toRawEntry({ lsn: 7n, generation: 3, kind: 'data', payload: zero })).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
  })

  it('carries a split switch with its fence\'s rule in v4 (so the replica fences the same child-side writes); a rule not of 2n is refused', () => {
    const rule = { shards: 16, relations: [{ tableId: 0xfffffff0, parts: [{ pos: 0, kind: 'xid' as const }] }, { tableId: 1000, parts: [{ pos: 1, kind: 'text' as const }] }] }
    const sw: RawLogEntry = { lsn: 9n, generation: 3n, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: { kind: 'split_switch', shards: 8, rule } }
    const e = toReplEntry(sw)
    expect(payloadOf(e)[0]).toBe(4)
    expect(toRawEntry(e)).toEqual(sw)
    const wrong = toReplEntry({ ...sw, control: { kind: 'split_switch', shards: 4, rule } })
    expect(() => toRawEntry(wrong)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
  })
})
