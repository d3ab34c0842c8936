import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CodecReader, CodecWriter, encodeWith, versioned } from '../../../src/core/codec'
import { ScratchBirdError, isScratchBirdError } from '../../../src/core/errors'

// The codec toolkit every cross-node payload is built with: each read checks its bound and fails
// through the codec's own factory; the version byte refuses a newer codec naming both versions.

const fail = (why: string): ScratchBirdError => new ScratchBirdError('SB_RPC_MALFORMED', why)
const reader = (b: Uint8Array | number[]): CodecReader => new CodecReader(b instanceof Uint8Array ? b : Uint8Array.from(b), fail)
const write = (f: (w: CodecWriter) => void): Uint8Array => { const w = new CodecWriter(4); f(w); return w.take() }

function code (f: () => unknown): string {
  try { f(); return 'ok' } catch (e) { if (isScratchBirdError(e)) return e.code; throw e }
}

describe('codec toolkit', () => {
  it('round-trips u64, uint, bool, blob, str, opt and arrays', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.boolean(), fc.uint8Array({ maxLength: 300 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }), fc.option(fc.nat(), { nil: undefined }), fc.array(fc.string({ maxLength: 5 }), { maxLength: 5 }),
      (u64, uint, bool, blob, str, opt, list) => {
        const b = write(w => { w.u64(u64); w.uint(uint); w.bool(bool); w.blob(blob); w.str(str); w.opt(opt, v => w.uint(v)); w.array(list, s => w.str(s)) })
        const r = reader(b)
        expect([r.u64(), r.uint(), r.bool(), [...r.blob()], r.str(), r.opt(() => r.uint()), r.array(() => r.str())]).toEqual([u64, uint, bool, [...blob], str, opt, list])
        r.finish()
      }))
  })

  it('blobPairs: (key, value) pairs as views into one copy of their bytes, not of the body; a length past the end is refused', () => {
    const pairs = [{ key: Uint8Array.of(1, 2), value: Uint8Array.of(3) }, { key: Uint8Array.of(), value: Uint8Array.of(4, 5, 6) }]
    const body = Buffer.from(write(w => { w.u8(9); for (const p of pairs) { w.blob(p.key); w.blob(p.value) } w.u8(7) }))
    const r = reader(body)
    expect(r.u8()).toBe(9)
    const got = r.blobPairs(2)
    expect(got.map(p => [[...p.key], [...p.value]])).toEqual(pairs.map(p => [[...p.key], [...p.value]]))
    expect(r.u8()).toBe(7)
    r.finish()
    expect(new Set(got.flatMap(p => [p.key.buffer, p.value.buffer])).size).toBe(1)
    expect(got[0]!.key.buffer).not.toBe(body.buffer)
    expect(Buffer.isBuffer(got[0]!.key)).toBe(false)
    body[2] = 0xee // the caller's body changes: the decoded bytes do not
    expect([...got[0]!.key]).toEqual([1, 2])
    expect(code(() => reader([2, 1, 2, 5, 1]).blobPairs(1))).toBe('SB_RPC_MALFORMED')
    expect(code(() => reader([1, 1]).blobPairs(1))).toBe('SB_RPC_MALFORMED')
  })

  it('refuses what a peer could send wrong: bounds, counts, presence and boolean bytes, UTF-8, big integers, trailing bytes', () => {
    expect(code(() => reader([5, 1, 2]).blob())).toBe('SB_RPC_MALFORMED') // length past the end
    expect(code(() => reader([0x80, 0x80, 0x80, 0x80, 0x10]).count())).toBe('SB_RPC_MALFORMED') // 2^32 items in 0 bytes
    expect(code(() => reader([3, 1, 2]).count(1))).toBe('SB_RPC_MALFORMED')
    expect(reader([2, 1, 2]).count(1)).toBe(2)
    expect(code(() => reader([2]).opt(() => 0))).toBe('SB_RPC_MALFORMED')
    expect(code(() => reader([2]).bool())).toBe('SB_RPC_MALFORMED')
    expect(code(() => reader([2, 0xc3, 0x28]).str())).toBe('SB_RPC_MALFORMED')
    expect(code(() => reader([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).uint())).toBe('SB_RPC_MALFORMED') // 2^56 - 1 > 2^53
    expect(code(() => reader([9]).pick(['a', 'b'], 'thing'))).toBe('SB_RPC_MALFORMED')
    expect(code(() => reader([0x7f, 0xf0, 0, 0, 0, 0, 0, 0]).finite())).toBe('SB_RPC_MALFORMED') // +Infinity (big-endian)
    expect(code(() => { const r = reader([1, 2]); r.u8(); r.finish() })).toBe('SB_RPC_MALFORMED')
    expect(code(() => reader([]).u64())).toBe('SB_RPC_MALFORMED')
  })

  it('hands out plain Uint8Array copies, even when reading a Buffer', () => {
    const body = Buffer.from([3, 7, 8, 9])
    const got = reader(body).blob()
    expect(Buffer.isBuffer(got)).toBe(false)
    body[1] = 0
    expect([...got]).toEqual([7, 8, 9])
  })

  it('a writer refuses a list that is not an array and integers out of range', () => {
    expect(code(() => write(w => w.array('abc' as never, () => {})))).toBe('SB_BAD_ARGUMENT')
    expect(() => write(w => w.uint(-1))).toThrow(/assertion/)
    expect(() => write(w => w.u64(-1n))).toThrow(/assertion/)
  })

  it('versioned codecs: version first, older ones decoded, a newer one refused naming both, version 0 malformed', () => {
    const v2 = versioned<number>('thing', 2, () => fail, (w, v) => w.uint(v), (r, version) => version === 1 ? r.u8() * 1000 : r.uint())
    expect([...v2.encode(300)]).toEqual([2, 0xac, 0x02])
    expect(v2.decode(Uint8Array.of(2, 0xac, 0x02))).toBe(300)
    expect(v2.decode(Uint8Array.of(1, 7))).toBe(7000) // a peer still on version 1
    expect(code(() => v2.decode(Uint8Array.of(0, 1)))).toBe('SB_RPC_MALFORMED')
    const err = (() => { try { v2.decode(Uint8Array.of(3, 1)) } catch (e) { return e as ScratchBirdError } })()
    expect(err).toMatchObject({ code: 'SB_CODEC_VERSION', details: { codec: 'thing', version: 3, supported: 2 } })
    expect(err!.message).toBe('thing payload is codec version 3, this node speaks up to version 2; it was not applied (upgrade this node)')
    fc.assert(fc.property(fc.uint8Array({ maxLength: 12 }), b => { expect(['ok', 'SB_RPC_MALFORMED', 'SB_CODEC_VERSION']).toContain(code(() => v2.decode(b))) }))
  })
})

describe('encodeWith: pooled writers, one per nesting depth', () => {
  it('an encode inside another, a throwing one and a large one leave every later encode intact', () => {
    const inner = (n: number): Uint8Array => encodeWith(w => { w.uint(n); w.str('x'.repeat(n)) })
    const outer = encodeWith(w => { w.u8(7); w.blob(inner(3)); w.blob(inner(5000)); w.u8(9) })
    const r = reader(outer)
    expect(r.u8()).toBe(7)
    expect(reader(r.blob()).uint()).toBe(3)
    const big = reader(r.blob())
    expect(big.uint()).toBe(5000)
    expect(big.str()).toBe('x'.repeat(5000))
    expect(r.u8()).toBe(9)
    r.finish()
    expect(() => encodeWith(w => { w.u8(1); throw new Error('boom') })).toThrow('boom')
    expect([...encodeWith(w => { w.u8(2) })]).toEqual([2])
    const huge = encodeWith(w => { w.bytes(new Uint8Array(3 << 20).fill(1)) })
    expect(huge.length).toBe(3 << 20)
    // The result is a copy: a later encode reusing the writer does not change it.
    const first = encodeWith(w => { w.u8(5) })
    encodeWith(w => { w.u8(6) })
    expect([...first]).toEqual([5])
  })
})
