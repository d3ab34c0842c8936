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
const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), ...rest], { stdio: 'inherit' })
process.exit(r.status ?? 1)
