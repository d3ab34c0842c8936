import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { WorkerOptions } from 'node:worker_threads'
import { BUNDLED } from '../version'

// Where the worker programs and the native addon come from, in the three ways ScratchBird runs:
//  - single executable (dist/scratchbird): SEA assets. Shard workers start from their text
//    (`eval: true`); the LevelDB addon and piscina's files must exist on disk, so they are written
//    once to a content-hashed directory under the OS temp dir;
//  - bundle (dist/bundle/main.cjs, `npm start`): files next to the bundle;
//  - source (tsx, vitest): the .ts files, with tsx loaded into the worker.

export type WorkerProgram = 'shard-worker' | 'cpu-tasks'

interface SeaModule { isSea (): boolean, getAsset (key: string): ArrayBuffer }

function seaModule (): SeaModule | null {
  try {
    const req = createRequire(import.meta.url)
    const sea = req('node:sea') as SeaModule
    return sea.isSea() ? sea : null
  } catch { return null }
}

const sea = seaModule()
export const IS_SEA = sea !== null

function assetBytes (key: string): Buffer {
  if (!sea) throw new Error('not a single executable')
  return Buffer.from(sea.getAsset(key))
}

let extracted: string | null = null

/** Writes a SEA asset to disk once per content hash; returns its path. */
function extract (key: string, fileName: string): string {
  const bytes = assetBytes(key)
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
  const dir = join(tmpdir(), `scratchbird-${hash}`)
  const path = join(dir, fileName)
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true })
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, bytes, { mode: 0o755 })
    renameSync(tmp, path) // atomic: a concurrent start sees either nothing or the whole file
  }
  return path
}

/**
 * Makes the native addon and piscina's worker available to the code that needs them. Must run
 * before any worker starts; a no-op outside a single executable. Environment variables are how
 * the build-time redirects (build.mjs) learn the paths, in this thread and in workers.
 */
export function prepareAssets (): void {
  if (!sea || extracted) return
  process.env.SCRATCHBIRD_LEVEL_ADDON = extract('classic-level.node', 'classic-level.node')
  process.env.SCRATCHBIRD_PISCINA_WORKER = extract('piscina-worker.cjs', 'piscina-worker.cjs')
  extracted = extract('cpu-tasks.cjs', 'cpu-tasks.cjs')
}

export interface WorkerSpec {
  filename: string | URL
  options: WorkerOptions
}

/** How to start a worker program with `new Worker(spec.filename, spec.options)`. */
export function workerSpec (program: WorkerProgram): WorkerSpec {
  if (sea) {
    prepareAssets()
    if (program === 'cpu-tasks') return { filename: extracted!, options: {} }
    return { filename: assetBytes(`${program}.cjs`).toString('utf8'), options: { eval: true } }
  }
  // Benchmarks run from source but measure the bundled workers production runs.
  const bundleDir = BUNDLED ? dirname(fileURLToPath(import.meta.url)) : process.env.SCRATCHBIRD_WORKER_BUNDLE_DIR
  if (bundleDir) {
    const dir = bundleDir
    // piscina's bundled worker is .cjs: a .js file in this "type": "module" package would load as ESM.
    process.env.SCRATCHBIRD_PISCINA_WORKER ??= join(dir, 'worker.cjs')
    return { filename: join(dir, `${program}.cjs`), options: {} }
  }
  // Node 20 does not apply `--import tsx` to worker threads, so the worker registers tsx itself
  // before importing its .ts entry (source mode only: tests and tsx runs).
  const file = new URL(`../../workers/${program}.ts`, import.meta.url).href
  if (program === 'cpu-tasks') return { filename: fileURLToPath(new URL('../../workers/cpu-tasks.source.mjs', import.meta.url)), options: {} }
  const boot = `import('tsx/esm/api').then(api => { api.register(); return import(${JSON.stringify(file)}) })` +
    '.catch(e => { console.error(e); process.exit(70) })'
  return { filename: boot, options: { eval: true } }
}
