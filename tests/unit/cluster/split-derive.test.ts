import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { basePage, deriveStart, nextDeriveStep, tailBatch } from '../../../src/cluster/split-derive'
import { asHlcTs, asShardId, asXid } from '../../../src/core/ids'
import type { RawLogEntry } from '../../../src/storage/commit-log'
import { encodeTuple } from '../../../src/storage/keys'
import type { DeriveProgress } from '../../../src/storage/split-derive'
import type { SplitScanRow } from '../../../src/storage/version-scan'

// The sans-I/O core of a split's COPY on one replica (cluster/split-derive.ts): the next step from
// the child's progress alone, base pages and tail batches through splitAction.

const P = asShardId(1)
const v = (n: number): Uint8Array => { const b = new Uint8Array(16); b[15] = n; return b }
/** A row is the child's when its image starts with byte 1. */
const side = (_t: number, _pk: Uint8Array, row: Uint8Array): boolean => row[0] === 1
const scanRow = (pk: string, xid: number, row: number[] | null): SplitScanRow =>
  ({ pk: [pk], versionId: v(xid), row: row === null ? null : Uint8Array.from(row), commitHlc: asHlcTs(BigInt(1000 + xid)), xid: asXid(BigInt(xid)) })
const entry = (lsn: bigint, xid: number, rows: Array<number[] | null>, extra: Partial<RawLogEntry> = {}): RawLogEntry => ({
  lsn,
  generation: 2n,
  xid: asXid(BigInt(xid)),
  commitHlc: asHlcTs(BigInt(2000 + xid)),
  mutations: rows.map((r, i) => ({ tableId: 1024, pkBytes: encodeTuple([`k${i}`]), versionId: v(xid), row: r === null ? null : Uint8Array.from(r) })),
  ...extra
})

describe('split derive core', () => {
  it('steps: pin, each relation in id order page by page, then the tail after the last LSN applied', () => {
    expect(nextDeriveStep(null)).toEqual({ kind: 'pin' })
    const start = deriveStart(P, 4, 7n, [2000, 1024, 0xfffffff0])
    expect(start).toEqual({ parent: P, shards: 4, l0: 7n, through: 7n, base: { tableId: 1024, after: null }, switchAt: null })
    expect(nextDeriveStep(start)).toEqual({ kind: 'base', tableId: 1024, after: null })
    expect(deriveStart(P, 4, 7n, []).base).toBe('done')
    // A full page resumes after its last key, whatever side that row was on; a short one moves on.
    const full = basePage(start, [scanRow('a', 5, [1]), scanRow('b', 6, [0]), scanRow('c', 5, [1, 2])], 3, [1024, 2000], side)
    expect(full.to.base).toEqual({ tableId: 1024, after: encodeTuple(['c']) })
    expect(full.entries.map(e => [e.xid, e.commitHlc, e.mutations.map(m => m.pkBytes)])).toEqual([[5n, 1005n, [encodeTuple(['a']), encodeTuple(['c'])]]])
    const short = basePage(full.to, [scanRow('d', 8, null), scanRow('e', 9, [1])], 3, [1024, 2000], side)
    expect(short.entries.map(e => e.xid)).toEqual([9n])
    expect(short.to.base).toEqual({ tableId: 2000, after: null })
    const last = basePage(short.to, [], 3, [1024, 2000], side)
    expect(last.to.base).toBe('done')
    expect(nextDeriveStep(last.to)).toEqual({ kind: 'tail', fromLsn: 8n })
  })

  it('tail: commits split by side, prepares, aborts and control entries skipped, a gap refused', () => {
    const at: DeriveProgress = { parent: P, shards: 4, l0: 7n, through: 7n, base: 'done', switchAt: null }
    const out = tailBatch(at, [
      entry(8n, 1, [[1], [0], null]),
      entry(9n, 2, [[1]], { phase: 'prepare', commitHlc: asHlcTs(0n) }),
      entry(10n, 0, [], { control: { kind: 'noop' }, commitHlc: asHlcTs(0n) }),
      entry(11n, 2, [[1]], { phase: 'commit' }),
      entry(12n, 3, [[1]], { phase: 'abort', commitHlc: asHlcTs(0n) })
    ], side)
    expect(out.to.through).toBe(12n)
    expect(out.entries.map(e => [e.xid, e.mutations.map(m => m.row === null ? 'delete_if_present' : 'upsert')])).toEqual([
      [1n, ['upsert', 'delete_if_present', 'delete_if_present']],
      [2n, ['upsert']]
    ])
    expect(() => tailBatch(at, [entry(9n, 1, [[1]])], side)).toThrow(expect.objectContaining({ code: 'SB_REPL_LOG_GAP' }))
    expect(() => tailBatch({ ...at, base: { tableId: 1, after: null } }, [], side)).toThrow(expect.objectContaining({ code: 'SB_INTERNAL' }))
  })

  it('tail: stops exactly at this split\'s switch entry — everything before applied, nothing after, switchAt recorded', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.constantFrom<number[] | null>([1], [0], null), { minLength: 1, maxLength: 3 }), { minLength: 0, maxLength: 12 }),
      fc.array(fc.array(fc.constantFrom<number[] | null>([1], [0], null), { minLength: 1, maxLength: 3 }), { minLength: 0, maxLength: 12 }),
      fc.integer({ min: 1, max: 6 }),
      (before, after, batch) => {
        const at: DeriveProgress = { parent: P, shards: 4, l0: 7n, through: 7n, base: 'done', switchAt: null }
        let lsn = 8n
        const log: RawLogEntry[] = []
        before.forEach((rows, i) => log.push(entry(lsn++, i + 1, rows)))
        // A switch of another split (another n) is only a control entry here.
        log.push(entry(lsn++, 0, [], { control: { kind: 'split_switch', shards: 8 }, commitHlc: asHlcTs(0n) }))
        const s = lsn++
        log.push(entry(s, 0, [], { control: { kind: 'split_switch', shards: 4 }, commitHlc: asHlcTs(0n) }))
        after.forEach((rows, i) => log.push(entry(lsn++, 100 + i, rows)))
        // Fed in batches of `batch` entries, as the shell reads them, until the derive is switched.
        let progress = at
        const applied: bigint[] = []
        // Bounded: a derive that does not stop would read the empty end of the log for ever.
        for (let i = 0; i <= log.length && nextDeriveStep(progress).kind === 'tail'; i++) {
          const from = progress.through + 1n
          const r = tailBatch(progress, log.filter(e => e.lsn >= from).slice(0, batch), side)
          applied.push(...r.entries.map(e => e.xid))
          progress = r.to
        }
        expect(nextDeriveStep(progress)).toEqual({ kind: 'switched', at: s })
        expect(progress).toMatchObject({ through: s, switchAt: s })
        expect(applied).toEqual(before.map((_r, i) => BigInt(i + 1)))
        expect(() => tailBatch(progress, [], side)).toThrow(expect.objectContaining({ code: 'SB_INTERNAL' }))
      }))
  })
})
