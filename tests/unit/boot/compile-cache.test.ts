// The bundle's V8 code-cache loader (src/boot/compile-cache.ts): a program runs as a CommonJS main
// module would, its cache is written once and read at the next run, a cache of other source is
// never used, and an untrusted directory is left alone.
import { execFileSync } from 'node:child_process'
import { buildSync } from 'esbuild'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CACHE_ENV, KEEP_PER_PROGRAM, cacheDir, pruneCache, trustedDir } from '../../../src/boot/compile-cache'

let root: string
let cache: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sb-cc-'))
  cache = join(root, 'cache')
})
afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

const SOURCE = resolve(__dirname, '../../../src/boot/compile-cache.ts')
/**
 * Runs `file` through runCached in a fresh node process (V8 keeps compiled scripts per isolate,
 * so only a new process shows whether the cache is used), waits for its write, and answers the
 * run's CacheUse and what the program saw.
 */
function run (file: string, env: Record<string, string | undefined> = {}, nodeArgs: string[] = []): { use: Record<string, unknown>, seen: Record<string, unknown> } {
  // Bundled as build.mjs bundles it (tsx would turn source maps on, which the loader honours).
  const loader = join(root, 'loader.cjs')
  buildSync({ entryPoints: [SOURCE], outfile: loader, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' })
  const runner = join(root, 'runner.cjs')
  writeFileSync(runner, `
const { runCached } = require(${JSON.stringify(loader)})
const use = runCached(process.argv[2], { writeAfterMs: 50 })
setTimeout(() => console.log(JSON.stringify({ use, seen: globalThis.__ccSeen })), 300)
`)
  const out = execFileSync(process.execPath, [...nodeArgs, runner, file], {
    env: { ...process.env, [CACHE_ENV]: cache, ...env }, encoding: 'utf8'
  })
  return JSON.parse(out.trim().split('\n').pop()!) as { use: Record<string, unknown>, seen: Record<string, unknown> }
}
/** A program that reports, through globalThis, what a CommonJS main module sees. */
function program (name: string, marker: string): string {
  const file = join(root, `${name}.app.cjs`)
  writeFileSync(join(root, 'helper.cjs'), 'module.exports = { twice: x => 2 * x }\n')
  writeFileSync(file, `
const helper = require('./helper.cjs')
module.exports.seen = { marker: ${JSON.stringify(marker)}, file: __filename, dir: __dirname, twice: helper.twice(21), same: module.exports === exports }
globalThis.__ccSeen = module.exports.seen
`)
  return file
}
const cacheFiles = (): string[] => readdirSync(cache).filter(n => n.endsWith('.v8'))

describe('runCached', () => {
  it('runs a program as a CommonJS main module, writes its cache once, and compiles from it next time', () => {
    const file = program('p', 'one')
    const first = run(file)
    expect(first.use.state).toBe('miss')
    expect(first.seen).toEqual({ marker: 'one', file, dir: root, twice: 42, same: true })
    expect(cacheFiles()).toHaveLength(1)
    expect(cacheFiles()[0]).toMatch(/^p\.app-[0-9a-f]{16}-[0-9a-f]{8}\.v8$/)

    const second = run(file)
    expect(second.use).toEqual({ file: join(cache, cacheFiles()[0]!), state: 'hit' })
    expect(second.seen.marker).toBe('one')
    expect(cacheFiles()).toHaveLength(1)
  })

  it('never runs a cache written for other source of the same length', () => {
    const file = program('p', 'one')
    run(file)
    program('p', 'two') // same length, other code: V8 alone would accept the cache (it checks the length)
    const second = run(file)
    expect(second.use.state).toBe('miss')
    expect(second.seen.marker).toBe('two')
    expect(cacheFiles()).toHaveLength(2)
  })

  it('replaces a cache V8 rejects and still runs the program', () => {
    const file = program('p', 'one')
    const first = run(file)
    writeFileSync(first.use.file as string, Buffer.alloc(4096, 7))
    const second = run(file)
    expect(second.use.state).toBe('miss')
    expect(second.seen.marker).toBe('one')
    expect(run(file).use.state).toBe('hit')
  })

  it('uses no directory writable by others, and none when the cache is off', () => {
    mkdirSync(cache, { recursive: true })
    chmodSync(cache, 0o777)
    expect(trustedDir(cache)).toBe(false)
    const file = program('p', 'one')
    expect(run(file).use).toEqual({ file: null, state: 'off' })
    expect(cacheFiles()).toEqual([])
    chmodSync(cache, 0o700)
    expect(trustedDir(cache)).toBe(true)

    const off = run(file, { [CACHE_ENV]: 'off' })
    expect(off.use.state).toBe('off')
    expect(off.seen.marker).toBe('one')
    expect(cacheFiles()).toEqual([])
    // Source maps asked for: Node maps only modules it loads itself, so the program is required plainly.
    const mapped = run(file, {}, ['--enable-source-maps'])
    expect(mapped.use.state).toBe('off')
    expect(mapped.seen.marker).toBe('one')
    expect(cacheFiles()).toEqual([])
    expect(cacheDir({ [CACHE_ENV]: 'off' })).toBeNull()
    expect(cacheDir({})).toMatch(/scratchbird-compile-cache-\d+$/)
  })
})

describe('pruneCache', () => {
  it('keeps the newest files of a program and removes stale temporaries, leaving other programs alone', () => {
    mkdirSync(cache)
    const now = Date.now()
    const names = Array.from({ length: KEEP_PER_PROGRAM + 3 }, (_, i) => `main.app-${String(i).padStart(16, '0')}-00000000.v8`)
    names.forEach((n, i) => {
      writeFileSync(join(cache, n), 'x')
      utimesSync(join(cache, n), (now - i * 60_000) / 1000, (now - i * 60_000) / 1000)
    })
    writeFileSync(join(cache, 'shard-worker.app-0000000000000000-00000000.v8'), 'x')
    writeFileSync(join(cache, 'main.app-old.tmp'), 'x')
    utimesSync(join(cache, 'main.app-old.tmp'), (now - 7_200_000) / 1000, (now - 7_200_000) / 1000)
    writeFileSync(join(cache, 'main.app-fresh.tmp'), 'x')
    pruneCache(cache, 'main.app', now)
    const left = readdirSync(cache).sort()
    expect(left).toEqual([...names.slice(0, KEEP_PER_PROGRAM), 'main.app-fresh.tmp', 'shard-worker.app-0000000000000000-00000000.v8'].sort())
  })
})
