#!/usr/bin/env node
// `npm run bench -- <name> [args]` runs bench/<name>.ts with tsx; `npm run bench` lists them.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const names = readdirSync(here).filter(f => f.endsWith('.ts')).map(f => f.slice(0, -3)).sort()
const [name, ...rest] = process.argv.slice(2)
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args]\nbenchmarks: ${names.join(', ')}`)
  process.exit(name ? 2 : 0)
}
// Shard workers run from the esbuild bundle, as in production (not through tsx's loader).
const root = join(here, '..')
const built = spawnSync(process.execPath, [join(root, 'build.mjs'), '--bundle-only'], { stdio: ['ignore', 'ignore', 'inherit'] })
if (built.status !== 0) process.exit(built.status ?? 1)
const env = { ...process.env, SCRATCHBIRD_WORKER_BUNDLE_DIR: join(root, 'dist', 'bundle') }
const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, `${name}.ts`), ...rest], { stdio: 'inherit', env })
process.exit(r.status ?? 1)
