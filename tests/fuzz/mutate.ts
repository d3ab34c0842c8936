import fc from 'fast-check'

// Byte-level mutations of real messages (the mutation corpus): what a broken client, a bad
// proxy or an attacker sends. Each arbitrary yields the mutated bytes; fast-check shrinks a
// failing case to the smallest corpus entry and mutation, and prints its seed.

/** Seed and run count of every fuzz target; FUZZ_SEED / FUZZ_RUNS replay or widen a run. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261205)
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 200)

/** Int32 values that sit on the edges of length checks. */
const EDGE_INT32 = [0, 1, 3, 4, 5, 8, 16, 0x7fff, 0xffff, 10_000, 10_001, 1 << 20, (1 << 20) + 5, 0x7fffffff, -1, -4, -0x80000000]

type Mutation = (b: Buffer) => Buffer

function writeInt32At (b: Buffer, at: number, v: number): Buffer {
  const out = Buffer.from(b)
  if (out.length < 4) return out
  out.writeInt32BE(v | 0, Math.min(at, out.length - 4))
  return out
}

/** One mutation of a buffer: flip, set, overwrite an int32 with an edge value, cut, insert, duplicate. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }).map(({ at, bit }) => (b: Buffer) => {
    const out = Buffer.from(b)
    if (out.length > 0) out[at % out.length]! ^= 1 << bit
    return out
  }),
  fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }).map(({ at, v }) => (b: Buffer) => {
    const out = Buffer.from(b)
    if (out.length > 0) out[at % out.length] = v
    return out
  }),
  fc.record({ at: fc.nat(), v: fc.constantFrom(...EDGE_INT32) }).map(({ at, v }) => (b: Buffer) => writeInt32At(b, b.length === 0 ? 0 : at % b.length, v)),
  fc.nat().map(at => (b: Buffer) => b.subarray(0, b.length === 0 ? 0 : at % b.length)),
  fc.record({ at: fc.nat(), ins: fc.uint8Array({ minLength: 1, maxLength: 16 }) }).map(({ at, ins }) => (b: Buffer) => {
    const i = b.length === 0 ? 0 : at % b.length
    return Buffer.concat([b.subarray(0, i), Buffer.from(ins), b.subarray(i)])
  }),
  fc.record({ from: fc.nat(), len: fc.integer({ min: 1, max: 32 }) }).map(({ from, len }) => (b: Buffer) => {
    const i = b.length === 0 ? 0 : from % b.length
    return Buffer.concat([b.subarray(0, i + len), b.subarray(i)])
  })
)

/** `base` with 1..4 mutations applied in turn. */
export function mutated (base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([b, ms]) => ms.reduce((acc, m) => m(acc), b))
}

/** Our stable error codes: SB_ and upper-case words. */
export const CODE = /^SB_[A-Z0-9_]+$/
