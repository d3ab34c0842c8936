import { afterEach, describe, expect, it } from 'vitest'
import { asShardId } from '../../../src/core/ids'
import { assemble } from '../../../src/sblr/assemble'
import { serialize, type Program } from '../../../src/sblr/program'
import { ProgramCache } from '../../../src/shard/program-cache'
import { decodeRows, encodeRows } from '../../../src/shard/protocol/value-rows'
import { encodeRow } from '../../../src/types/row-codec'
import { T } from '../../../src/types/sql-types'
import { Vm } from '../../../src/vm/vm'
import { nextHlc, vid } from '../node/worker-fixtures'
import { startHost, type HostClient } from './host-fixtures'

// Shard workers keep the programs they decoded and verified, by their bytes (issue 16 item 3):
// a statement from the plan cache ships the same bytes each time and is decoded once per worker;
// bytes that are not a valid program are refused every time and never kept.

const COLUMNS = [{ name: 'k', type: T.text }, { name: 'v', type: T.bigint }]

/** Emits v + $1 of rows whose v > $2 (no UUID generators: it may run in a worker). */
function program (constant = 0n): Program {
  return {
    registers: 4,
    params: 2,
    constants: [constant],
    types: [T.bigint],
    columns: COLUMNS,
    outputs: [{ name: 'w', type: T.bigint }],
    aggregates: [],
    code: assemble([
      ['LOAD_COLUMN', 0, 1], ['LOAD_PARAM', 1, 1], ['GT', 2, 0, 1], ['JUMP_IF_NOT_TRUE', 2, 'skip'],
      ['LOAD_PARAM', 1, 0], ['ADD', 3, 0, 1, 0], ['EMIT', 3, 1], 'skip:', ['SKIP']
    ])
  }
}

let h: HostClient | undefined
afterEach(async () => { await h?.host.close(); h = undefined })

describe('ProgramCache', () => {
  it('decodes and verifies equal bytes once, whatever array holds them', () => {
    const cache = new ProgramCache()
    const bytes = serialize(program())
    cache.program(bytes) // the first arrival is decoded and not kept
    expect(cache.size).toBe(0)
    const a = cache.program(Uint8Array.from(bytes))
    const b = cache.program(Uint8Array.from(bytes))
    expect(b).toBe(a)
    expect([cache.misses, cache.hits]).toEqual([2, 1])
    // other bytes (another constant) are another program
    const other = serialize(program(5n))
    cache.program(other)
    expect(cache.program(other)).not.toBe(a)
    expect(cache.size).toBe(2)
  })

  it('refuses bytes that are not a valid program every time and keeps nothing of them', () => {
    const cache = new ProgramCache()
    const good = serialize(program())
    cache.program(good)
    cache.program(good)
    const bad = Uint8Array.from(good)
    bad[bad.length - 2] = 0x7f // a code word changed: an unknown opcode or operand
    for (let i = 0; i < 2; i++) expect(() => cache.program(bad)).toThrow(expect.objectContaining({ code: 'SB_SBLR_INVALID' }))
    expect(() => cache.program(new Uint8Array([1, 2, 3]))).toThrow(expect.objectContaining({ code: 'SB_SBLR_INVALID' }))
    expect(cache.size).toBe(1)
  })

  it('keeps the most recently used programs up to its capacity', () => {
    const cache = new ProgramCache(2)
    const bytes = [0n, 1n, 2n].map(c => serialize(program(c)))
    const twice = (b: Uint8Array): Program => { cache.program(b); return cache.program(b) }
    const first = twice(bytes[0]!)
    twice(bytes[1]!)
    cache.program(bytes[0]!) // used again: the most recent
    twice(bytes[2]!) // evicts program 1
    expect(cache.size).toBe(2)
    expect(cache.program(bytes[0]!)).toBe(first)
    const misses = cache.misses
    cache.program(bytes[1]!)
    expect(cache.misses).toBe(misses + 1) // decoded again after eviction
  })

  it('a Vm still verifies a program object it has not seen verified', () => {
    const broken = { ...program(), registers: 1 } // registers out of range for its code
    for (let i = 0; i < 2; i++) expect(() => new Vm(broken, { params: [0n, 0n] } as never)).toThrow(expect.objectContaining({ code: 'SB_SBLR_INVALID' }))
  })
})

describe('QUERY in a shard host', () => {
  it('runs a program shipped again and again from one decoding, with each request\'s parameters', async () => {
    h = await startHost([asShardId(0)])
    const types = COLUMNS.map(c => c.type)
    const writes = [1n, 2n, 3n].map(v => ({ op: 'insert' as const, tableId: 9, pk: [`k${v}`], row: encodeRow(types, [`k${v}`, v]), versionId: vid() }))
    await h.request('AUTOCOMMIT', { shard: asShardId(0), writes, commitHlc: nextHlc() })
    const bytes = serialize(program())
    const query = async (add: bigint, above: bigint): Promise<unknown[][]> => decodeRows((await h!.request('QUERY', {
      shard: asShardId(0), tableId: 9, options: {}, program: Uint8Array.from(bytes), params: encodeRows([[add, above]])
    })).rows)
    expect(await query(10n, 0n)).toEqual([[11n], [12n], [13n]])
    expect(await query(100n, 1n)).toEqual([[102n], [103n]])
    expect(await query(0n, 2n)).toEqual([[3n]])
    expect([h.host.programs.misses, h.host.programs.hits]).toEqual([2, 1]) // kept from the second arrival on
    const bad = Uint8Array.from(bytes)
    bad[bad.length - 2] = 0x7f
    await expect(h.request('QUERY', { shard: asShardId(0), tableId: 9, options: {}, program: bad, params: encodeRows([[0n, 0n]]) })).rejects.toMatchObject({ code: 'SB_SBLR_INVALID' })
    expect(h.host.programs.size).toBe(1)
  })
})
