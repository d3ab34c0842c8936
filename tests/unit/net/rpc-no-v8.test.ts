import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

// Issue 12 acceptance: no v8.serialize reachable from src/net/rpc. Walks the static imports from
// every module of src/net/rpc through src/ and fails if any reachable module imports node:v8 (whose
// format changes between Node majors and whose deserializer builds arbitrary object graphs).

const ROOT = resolve(__dirname, '../../..')
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function resolveModule (from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null
  const base = resolve(dirname(from), spec)
  for (const f of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(f)) return f
  return null
}

function reachable (entries: string[]): { files: Set<string>, v8: string[] } {
  const files = new Set<string>()
  const v8: string[] = []
  const todo = [...entries]
  while (todo.length > 0) {
    const f = todo.pop()!
    if (files.has(f)) continue
    files.add(f)
    const text = readFileSync(f, 'utf8')
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!
      if (spec === 'node:v8' || spec === 'v8') v8.push(f)
      const next = resolveModule(f, spec)
      if (next !== null) todo.push(next)
    }
  }
  return { files, v8 }
}

describe('cluster RPC reaches no v8 serialisation', () => {
  it('no module reachable from src/net/rpc imports node:v8', () => {
    const dir = join(ROOT, 'src/net/rpc')
    const { files, v8 } = reachable(readdirSync(dir).filter(f => f.endsWith('.ts')).map(f => join(dir, f)))
    // The walk really reaches the shard protocol and gossip codecs that SHARD_QUERY and GOSSIP_SYNC carry.
    expect([...files].some(f => f.endsWith('src/shard/protocol/op-codecs.ts'))).toBe(true)
    expect([...files].some(f => f.endsWith('src/cluster/gossip/codec.ts'))).toBe(true)
    expect(v8).toEqual([])
  })

  it('the walk finds a node:v8 import behind another module', () => {
    const { v8 } = reachable([join(ROOT, 'tests/unit/net/fixtures/reaches-v8.ts')])
    expect(v8.map(f => f.slice(ROOT.length))).toEqual(['/tests/unit/net/fixtures/uses-v8.ts'])
  })
})
