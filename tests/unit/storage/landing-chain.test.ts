import { describe, expect, it } from 'vitest'
import { newestWrite, patchReads, survivors, unlanded, type ChainPass } from '../../../src/storage/landing-chain'

// The rules of which unlanded passes a group-commit pass reads through (writer.ts loop()); the
// engine compliance suite drives them through real passes ("pipelined passes").

interface P extends ChainPass { name: string, outcome: 'pending' | 'landed' | 'failed', under: P | undefined }
const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const s = (v: Uint8Array | undefined): string | undefined => v === undefined ? undefined : new TextDecoder().decode(v)
function pass (name: string, outcome: P['outcome'], under: P | undefined, writes: Record<string, string> = {}): P {
  return { name, outcome, under, overlay: new Map(Object.entries(writes).map(([k, v]) => [k, b(v)])) }
}
const names = (ps: readonly P[]): string[] => ps.map(p => p.name)

describe('landing chain', () => {
  it('unlanded: every pass from the top down to the first landed one, newest first', () => {
    const a = pass('a', 'landed', undefined)
    const c = pass('c', 'pending', pass('b', 'pending', a))
    const d = pass('d', 'pending', c)
    expect(names(unlanded(d))).toEqual(['d', 'c', 'b'])
    expect(unlanded<P>(undefined)).toEqual([])
    expect(unlanded(a)).toEqual([])
  })

  it('unlanded: a failed pass is the last one (its link was dropped; below it everything settled)', () => {
    const f = pass('f', 'failed', undefined)
    expect(names(unlanded(pass('g', 'pending', f)))).toEqual(['g', 'f'])
  })

  it('survivors: cuts the oldest failed pass and everything above it, even one not marked failed yet', () => {
    const a = pass('a', 'landed', undefined)
    const b1 = pass('b', 'failed', a)
    const c = pass('c', 'pending', b1) // doomed: fails with b a few turns later
    expect(names(survivors([c, b1, a]))).toEqual(['a'])
    expect(names(survivors([c, pass('x', 'failed', undefined), b1, a]))).toEqual(['a'])
    expect(names(survivors([c, b1]))).toEqual([])
    const chain = [c, pass('y', 'pending', undefined), a]
    expect(survivors(chain)).toBe(chain)
  })

  it('newestWrite and patchReads: the newest pass that wrote a key wins; keys nobody wrote keep what was read', () => {
    const chain = [pass('c', 'pending', undefined, { k2: 'c' }), pass('b', 'pending', undefined, { k1: 'b', k2: 'b' }), pass('a', 'landed', undefined, { k1: 'a', k3: 'a' })]
    expect(s(newestWrite(chain, 'k1'))).toBe('b')
    expect(s(newestWrite(chain, 'k2'))).toBe('c')
    expect(s(newestWrite(chain, 'k3'))).toBe('a')
    expect(newestWrite(chain, 'k4')).toBeUndefined()
    const reads = new Map<string, Uint8Array | undefined>([['k1', b('old')], ['k3', undefined], ['k4', b('store')]])
    patchReads(reads, chain)
    expect([...reads].map(([k, v]) => [k, s(v)])).toEqual([['k1', 'b'], ['k3', 'a'], ['k4', 'store']])
  })
})
