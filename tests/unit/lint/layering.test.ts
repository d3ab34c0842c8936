import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'

// The layering rule set (.dependency-cruiser.cjs) run on small throw-away trees: it must reject a
// deliberate layer violation and a deliberate cycle, and accept the same tree without them — so
// `npm run lint` passing on main means something.
const root = resolve(__dirname, '../../..')
const depcruise = join(root, 'node_modules', '.bin', 'depcruise')
const config = join(root, '.dependency-cruiser.cjs')
const run = promisify(execFile)
const dirs: string[] = []

function tree (files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-layering-'))
  dirs.push(dir)
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  return dir
}

async function cruise (dir: string): Promise<{ code: number, out: string }> {
  try {
    const r = await run(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd: dir })
    return { code: 0, out: r.stdout }
  } catch (e) {
    const x = e as { code: number, stdout: string }
    return { code: x.code, out: x.stdout }
  }
}

const clean = {
  'src/core/clock.ts': 'export const now = (): number => 0\n',
  'src/plan/pins.ts': "import { now } from '../core/clock'\nexport const pin = (): number => now()\n",
  'src/exec/executor.ts': "import { pin } from '../plan/pins'\nexport const run = (): number => pin()\n"
}

afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('layering rules (npm run lint)', () => {
  it('accept a tree that imports only downwards', async () => {
    const r = await cruise(tree(clean))
    expect(r.out).toContain('no dependency violations')
    expect(r.code).toBe(0)
  })

  it('reject an import against the layer order (plan importing exec)', async () => {
    const r = await cruise(tree({ ...clean, 'src/plan/pins.ts': "import { run } from '../exec/executor'\nexport const pin = (): number => run()\n" }))
    expect(r.code).not.toBe(0)
    expect(r.out).toMatch(/layer-plan: src\/plan\/pins\.ts → src\/exec\/executor\.ts/)
  })

  it('reject anything but main.ts and cli/ importing node/', async () => {
    const r = await cruise(tree({ ...clean, 'src/node/node.ts': 'export const n = 1\n', 'src/net/api.ts': "import { n } from '../node/node'\nexport const a = n\n" }))
    expect(r.code).not.toBe(0)
    expect(r.out).toMatch(/layer-net: src\/net\/api\.ts → src\/node\/node\.ts/)
  })

  it('reject the main thread reaching LevelKv, even through a layer it may import (DESIGN §2: only shard workers open LevelDB)', async () => {
    const storage = {
      'src/storage/kv-level.ts': 'export class LevelKv {}\n',
      'src/shard/open.ts': "import { LevelKv } from '../storage/kv-level'\nexport const open = (): LevelKv => new LevelKv()\n"
    }
    const workerOnly = await cruise(tree({ ...clean, ...storage }))
    expect(workerOnly.out).toContain('no dependency violations')
    const r = await cruise(tree({ ...clean, ...storage, 'src/node/node.ts': "import { open } from '../shard/open'\nexport const n = open()\n" }))
    expect(r.code).not.toBe(0)
    expect(r.out).toMatch(/main-thread-no-leveldb: src\/node\/node\.ts → src\/storage\/kv-level\.ts/)
  })

  it('reject an import cycle, type-only imports included', async () => {
    const r = await cruise(tree({
      ...clean,
      'src/plan/a.ts': "import type { B } from './b'\nexport interface A { b: B }\n",
      'src/plan/b.ts': "import type { A } from './a'\nexport interface B { a: A | null }\n"
    }))
    expect(r.code).not.toBe(0)
    expect(r.out).toContain('no-circular')
  })
})
