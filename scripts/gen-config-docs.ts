// Writes the documentation derived from the configuration schema:
//   etc/scratchbird.yaml      every key, commented, with its default
//   man/scratchbird.yaml.5    the man page
// Usage: npx tsx scripts/gen-config-docs.ts [--check]
// --check writes nothing and exits 1 when a committed file differs from what the schema gives
// (for CI; tests/unit/config/docs.test.ts checks the same).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderDefaultYaml, renderManPage } from '../src/core/config/docs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outputs: [string, string][] = [
  ['etc/scratchbird.yaml', renderDefaultYaml()],
  ['man/scratchbird.yaml.5', renderManPage()]
]

function current (file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

const check = process.argv.includes('--check')
let stale = 0
for (const [name, text] of outputs) {
  const file = resolve(root, name)
  if (current(file) === text) continue
  if (check) {
    stale++
    process.stderr.write(`${relative(process.cwd(), file)} is out of date; run: npx tsx scripts/gen-config-docs.ts\n`)
  } else {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
    process.stdout.write(`wrote ${relative(process.cwd(), file)}\n`)
  }
}
process.exitCode = stale > 0 ? 1 : 0
