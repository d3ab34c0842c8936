// V8 code cache for the bundled programs (DESIGN §11): a node's start compiles ~5 MB of bundled
// JavaScript in the main thread and ~0.9 MB in every shard worker. Node 22 caches that with
// module.enableCompileCache(); Node 20 has no such switch, so the plain bundle does it by hand,
// the way Node 22 does: dist/bundle/main.cjs and shard-worker.cjs are this small loader, which
// compiles its program (main.app.cjs, shard-worker.app.cjs) with vm.Script and V8 cached data,
// and writes that data once the program has run a while. A joining node — the case that matters
// for a rebalance: its compile competes with the move and the writes for the same cores — then
// starts from the cache the machine's other nodes (or its own earlier runs) wrote.
//
// THE CACHE is one file per program, source and runtime: <dir>/<program>-<sha256 of the source,
// 16 hex>-<key of the node version, arch and exec flags>.v8. V8 checks its own version and flags
// but of the source only its LENGTH, so the content hash in the name is what keeps a rebuilt
// bundle from running another build's code. A cache V8 rejects anyway (a flag it hashes that the
// name missed) is ignored and rewritten. Written to a temporary name and renamed, so a reader
// never sees half a file; several processes writing at once each write a whole one.
//
// WHEN IT IS WRITTEN: WRITE_AFTER_MS after the program started, if no valid cache was read, by
// the first process still running then. V8's cached data taken after the program ran holds the
// functions compiled so far (start-up and serving paths), not only the top level; a command-line
// program that exits sooner never writes one (its paths are not the server's).
//
// WHERE: $SCRATCHBIRD_COMPILE_CACHE (a directory; `off` disables the cache), else
// <os.tmpdir()>/scratchbird-compile-cache-<uid>. The data is code V8 runs, so a directory owned
// by another user or writable by group or others is not used (nothing is read or written; the
// program compiles as without a cache): another user must not be able to plant code.
//
// The program runs as Node would run it as a CommonJS main module: the same wrapper (require,
// module, exports, __filename, __dirname), require resolving from its own directory. It must not
// call import(): Node 20 loses a script's dynamic-import callback when V8 compiles it from cached
// data (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING on a hit only), so build.mjs compiles import() to
// require() and the loader gives none, so that an import() fails on every run, not on some.

import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import vm from 'node:vm'
import { threadId } from 'node:worker_threads'

/** How long a program runs before its cache is written (its start-up and first serving paths compiled). */
export const WRITE_AFTER_MS = 10_000
/** The environment variable naming the cache directory (`off`: no cache). */
export const CACHE_ENV = 'SCRATCHBIRD_COMPILE_CACHE'

/** The cache directory to use, or null when the cache is off. */
export function cacheDir (env: NodeJS.ProcessEnv = process.env): string | null {
  const set = env[CACHE_ENV]
  if (set === 'off') return null
  if (set !== undefined && set !== '') return set
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0
  return join(tmpdir(), `scratchbird-compile-cache-${uid}`)
}

/** The cache file of `program` with this source, under this runtime. */
export function cacheFile (dir: string, program: string, source: string): string {
  const src = createHash('sha256').update(source).digest('hex').slice(0, 16)
  const runtime = createHash('sha256')
    .update(`${process.version}\0${process.arch}\0${process.execArgv.join('\0')}`).digest('hex').slice(0, 8)
  return join(dir, `${program}-${src}-${runtime}.v8`)
}

/**
 * Whether `dir` may hold code for this process: it exists (created 0700 if not), is a directory,
 * belongs to this user and is writable by nobody else.
 */
export function trustedDir (dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const st = statSync(dir)
    if (!st.isDirectory()) return false
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return false
    return (st.mode & 0o022) === 0
  } catch {
    return false
  }
}

function readCache (file: string): Buffer | undefined {
  try { return readFileSync(file) } catch { return undefined }
}

/** Writes `data` to `file` whole or not at all (temporary name + rename); failures are ignored: the cache is an optimisation. */
export function writeCache (file: string, data: Buffer): void {
  // One writer per thread at a time: its process and thread ids make the name unique.
  const tmp = `${file}.${process.pid}-${threadId}.tmp`
  try {
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, data)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
  } catch {
    rmQuiet(tmp)
  }
}

/** What a run of a program through the cache did (for tests and the start-up log). */
export interface CacheUse {
  file: string | null
  /** 'hit': compiled from the cache; 'miss': no cache (or rejected): the cache is written later; 'off': no cache used. */
  state: 'hit' | 'miss' | 'off'
}

interface NodeModule {
  filename: string
  paths: string[]
  exports: unknown
  loaded: boolean
}
interface ModuleStatics {
  new (id: string, parent: unknown): NodeModule
  wrap: (source: string) => string
  _nodeModulePaths: (dir: string) => string[]
}

/** Cache files of one program kept per directory: every build writes its own, so old ones go (newest kept). */
export const KEEP_PER_PROGRAM = 8
/** A temporary file older than this is a crashed writer's. */
const STALE_TMP_MS = 3_600_000

/**
 * Removes `program`'s cache files beyond the KEEP_PER_PROGRAM newest, and crashed writers'
 * leftovers; `now` in ms since the epoch (the writer passes its new file's mtime).
 */
export function pruneCache (dir: string, program: string, now: number): void {
  let names: string[]
  try { names = readdirSync(dir) } catch { return }
  const mine: Array<{ name: string, mtime: number }> = []
  for (const name of names) {
    if (!name.startsWith(`${program}-`)) continue
    let mtime: number
    try { mtime = statSync(join(dir, name)).mtimeMs } catch { continue }
    if (name.endsWith('.tmp')) {
      if (now - mtime > STALE_TMP_MS) rmQuiet(join(dir, name))
    } else if (name.endsWith('.v8')) {
      mine.push({ name, mtime })
    }
  }
  mine.sort((a, b) => b.mtime - a.mtime)
  for (const old of mine.slice(KEEP_PER_PROGRAM)) rmQuiet(join(dir, old.name))
}

function rmQuiet (file: string): void {
  try { unlinkSync(file) } catch { /* gone already */ }
}

export interface RunOptions {
  /** Names the cache files (default: the file's name without .cjs). */
  program?: string
  /** Default WRITE_AFTER_MS. */
  writeAfterMs?: number
}

/**
 * Runs the CommonJS program `file` as this process's (or worker's) main module, compiled with
 * V8 cached data where a trusted cache holds it.
 */
export function runCached (file: string, opts: RunOptions = {}): CacheUse {
  const program = opts.program ?? basename(file, '.cjs')
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true) {
    // Node 20 maps stack traces of modules it loads, not of a vm.Script: `--enable-source-maps` asks for the maps.
    createRequire(file)(file)
    return { file: null, state: 'off' }
  }
  const source = readFileSync(file, 'utf8')
  const dir = cacheDir()
  const usable = dir !== null && trustedDir(dir)
  const cache = usable ? cacheFile(dir, program, source) : null
  const cachedData = cache === null ? undefined : readCache(cache)
  const M = Module as unknown as ModuleStatics
  const script = new vm.Script(M.wrap(source), {
    filename: file,
    cachedData
  })
  const hit = cachedData !== undefined && !script.cachedDataRejected
  if (cache !== null && !hit) {
    setTimeout(() => {
      // Another process may have written it meanwhile; one whole file is enough (a rejected one is replaced).
      if (readCache(cache) !== undefined && cachedData === undefined) return
      writeCache(cache, script.createCachedData())
      try { pruneCache(dirname(cache), program, statSync(cache).mtimeMs) } catch { /* not written */ }
    }, opts.writeAfterMs ?? WRITE_AFTER_MS).unref()
  }
  const mod = new M(file, null)
  mod.filename = file
  mod.paths = M._nodeModulePaths(dirname(file))
  const fn = script.runInThisContext() as (exports: unknown, require: unknown, module: unknown, filename: string, dirname: string) => void
  fn.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file))
  mod.loaded = true
  return { file: cache, state: cache === null ? 'off' : hit ? 'hit' : 'miss' }
}
