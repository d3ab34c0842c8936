import fc from 'fast-check'
import YAML from 'yaml'
import { describe, expect, it } from 'vitest'
import { describeConfigKeys, loadConfig, validateConfig } from '../../../src/core/config/load'
import { ScratchBirdError } from '../../../src/core/errors'

// Whatever an operator (or a fuzzer) puts at any known key, loading either succeeds or fails
// with a ScratchBirdError whose problems all name a path: never a TypeError from our own code.

const paths = describeConfigKeys().map((k) => k.path.replace('[]', '[0]'))

/** Set `value` at a dotted path like `cluster.nodes[0].id`, creating containers on the way. */
function setAt (doc: Record<string, unknown>, path: string, value: unknown): void {
  const segs = path.split(/\.|\[(\d+)\]/).filter((s) => s !== undefined && s !== '')
  let cur: Record<string, unknown> = doc
  segs.forEach((seg, i) => {
    if (i === segs.length - 1) { cur[seg] = value; return }
    const nextIsIndex = /^\d+$/.test(segs[i + 1]!)
    // Only plain containers can be descended into (a typed array would swallow the object).
    if (!isContainer(cur[seg])) cur[seg] = nextIsIndex ? [] : {}
    cur = cur[seg] as Record<string, unknown>
  })
}

function isContainer (v: unknown): boolean {
  if (Array.isArray(v)) return true
  if (typeof v !== 'object' || v === null) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

const junk = fc.oneof(
  fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true, withMap: true, withSet: true }),
  fc.constantFrom(0, -1, 1.5, NaN, Infinity, -0, 2 ** 53, '', 'auto', '127.0.0.1:0', '[::1]:8080', 'INFO', true, null, [], {}, '__proto__', 'constructor')
)

const documents = fc.array(fc.tuple(fc.constantFrom(...paths), junk), { maxLength: 6 }).map((entries) => {
  const doc: Record<string, unknown> = {}
  for (const [path, value] of entries) setAt(doc, path, value)
  return doc
})

function acceptsOrExplains (load: () => unknown): void {
  try {
    load()
  } catch (e) {
    expect(e).toBeInstanceOf(ScratchBirdError)
    const err = e as ScratchBirdError
    expect(['SB_CONFIG_INVALID', 'SB_CONFIG_UNREADABLE']).toContain(err.code)
    if (err.code === 'SB_CONFIG_INVALID') {
      const problems = err.details.problems as string[]
      expect(problems.length).toBeGreaterThan(0)
      for (const p of problems) expect(p).toMatch(/^.+?: (expected .+, got .+|unknown key \(expected one of .+\))$/s)
    }
  }
}

describe('config loading under random junk', () => {
  it('random values at random known paths give a Config or a ScratchBirdError', () => {
    fc.assert(fc.property(documents, (doc) => acceptsOrExplains(() => validateConfig(doc))), { numRuns: 500 })
  })

  it('the same documents as YAML text give a Config or a ScratchBirdError', () => {
    fc.assert(fc.property(documents, (doc) => {
      let text: string
      try {
        text = YAML.stringify(doc)
      } catch {
        return // values YAML cannot write (e.g. some typed arrays) are not files anyone can have
      }
      acceptsOrExplains(() => loadConfig({ text }))
    }), { numRuns: 300 })
  })

  it('arbitrary text gives a Config or a ScratchBirdError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => acceptsOrExplains(() => loadConfig({ text }))), { numRuns: 500 })
  })

  it('random overrides give a Config or a ScratchBirdError', () => {
    const override = fc.record({ data_dir: junk, listen: junk, metrics_listen: junk, node_id: junk }, { requiredKeys: [] })
    fc.assert(fc.property(documents, override, (doc, overrides) => acceptsOrExplains(() => validateConfig(doc, { overrides }))), { numRuns: 300 })
  })
})
