#!/usr/bin/env node
// Builds ScratchBird (DESIGN §11):
//   1. esbuild bundles the main program and every worker entry to CommonJS for node20
//      (dist/bundle/*.cjs) — runnable as is with `node dist/bundle/main.cjs` (that is `npm start`);
//   2. unless --bundle-only, wraps them into one Node single-executable application
//      dist/scratchbird with the worker bundles and classic-level's native addon as SEA assets,
//      plus dist/<program> symlinks for every program name (busybox-style dispatch).
// Options: --outdir DIR bundles into DIR instead of dist/bundle (implies --bundle-only);
// --next-codec NAME[,NAME] builds a rehearsal of the next release that reads those wire codecs up
// to their version + 1 (src/core/codec-versions.ts; a compile-time define, for the rolling-upgrade test).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
/** The value after `--name`, or undefined. */
function option (name) {
  const i = process.argv.indexOf(name)
  if (i < 0) return undefined
  const v = process.argv[i + 1]
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`)
  return v
}
const outdir = option('--outdir')
const nextCodec = option('--next-codec')
const bundleOnly = process.argv.includes('--bundle-only') || outdir !== undefined
const dist = join(root, 'dist')
const out = outdir === undefined ? join(dist, 'bundle') : resolve(outdir)

// The program names of the seeds; every one is the same binary (src/cli/programs.ts dispatches).
export const PROGRAMS = ['scratchbird_cli', 'scratchbird_migrate', 'scratchbird_backup',
  'scratchbird_verify_backup', 'scratchbird_restore', 'scratchbird_replay_commit_log']

const levelDir = dirname(require.resolve('classic-level/package.json'))
const addonPath = join(levelDir, 'prebuilds', `${process.platform}-${process.arch}`, 'classic-level.node')
if (!existsSync(addonPath)) throw new Error(`classic-level prebuilt addon not found at ${addonPath}`)
// piscina's exports hide package.json; its main entry lives in dist/.
const piscinaDir = dirname(dirname(require.resolve('piscina')))

// classic-level loads its addon with node-gyp-build, which searches node_modules on disk. In a
// SEA nothing is on disk, so its ./binding module is replaced: the addon path comes from
// SCRATCHBIRD_LEVEL_ADDON (set by src/node/assets.ts after extracting the SEA asset) and falls
// back to the prebuilt found at build time (plain bundles run from the source tree).
const nativeBindingPlugin = {
  name: 'classic-level-binding',
  setup (b) {
    b.onResolve({ filter: /^\.\/binding(\.js)?$/ }, args =>
      args.importer.startsWith(levelDir) ? { path: 'classic-level-binding', namespace: 'sb-native' } : undefined)
    b.onLoad({ filter: /.*/, namespace: 'sb-native' }, () => ({
      loader: 'js',
      contents: `const p = process.env.SCRATCHBIRD_LEVEL_ADDON || ${JSON.stringify(addonPath)}
const m = { exports: {} }
process.dlopen(m, p)
module.exports = m.exports`
    }))
  }
}

// piscina starts its own worker file resolved next to its index.js; in a SEA that file is
// extracted to a temp dir, so the path is taken from SCRATCHBIRD_PISCINA_WORKER when set.
const PISCINA_WORKER_EXPR = "(0, node_path_1.resolve)(__dirname, 'worker.js')"
const piscinaWorkerPlugin = {
  name: 'piscina-worker-path',
  setup (b) {
    b.onLoad({ filter: /piscina[\\/]dist[\\/]index\.js$/ }, args => {
      const src = readFileSync(args.path, 'utf8')
      if (!src.includes(PISCINA_WORKER_EXPR)) {
        throw new Error('piscina changed how it locates worker.js; update build.mjs piscinaWorkerPlugin')
      }
      return {
        loader: 'js',
        contents: src.replace(PISCINA_WORKER_EXPR, `(process.env.SCRATCHBIRD_PISCINA_WORKER || ${PISCINA_WORKER_EXPR})`)
      }
    })
  }
}

const buildDate = process.env.SOURCE_DATE_EPOCH
  ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10)
  : new Date().toISOString().slice(0, 10)

// main.cjs and shard-worker.cjs are the code-cache loader (src/boot/compile-cache.ts), which runs
// the program bundled as <name>.app.cjs; the single executable runs the .app.cjs programs itself.
const CACHED = ['main', 'shard-worker']
const entries = {
  'main.app': join(root, 'src/main.ts'),
  'shard-worker.app': join(root, 'workers/shard-worker.ts'),
  'cpu-tasks': join(root, 'workers/cpu-tasks.ts'),
  worker: join(piscinaDir, 'dist/worker.js') // piscina's own worker, bundled so it needs no node_modules
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
/** What every bundle of ours shares: CommonJS files for Node 20 in `out`. */
const COMMON = { outdir: out, outExtension: { '.js': '.cjs' }, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' }
await build({
  ...COMMON,
  entryPoints: entries,
  // Linked, not inline: an inline map tripled the files every process and shard worker reads at
  // start (19 MB for main); `node --enable-source-maps` finds the .map next to the bundle.
  sourcemap: 'linked',
  // import() becomes require(): everything is bundled but Node built-ins (a bundled exporter
  // imports 'http' lazily), and a single executable's code cache cannot run import() (Node 20).
  supported: { 'dynamic-import': false },
  // import.meta.url does not exist in CommonJS; give modules the file URL of their bundle.
  banner: { js: "const __sb_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  define: {
    'import.meta.url': '__sb_import_meta_url',
    __SB_VERSION__: JSON.stringify(pkg.version),
    __SB_BUILD_DATE__: JSON.stringify(buildDate),
    __SB_BUNDLED__: 'true',
    ...(nextCodec === undefined ? {} : { __SB_NEXT_CODEC__: JSON.stringify(nextCodec) })
  },
  // piscina's optional thread-priority addon: loaded in a try/catch, we never set niceIncrement.
  external: ['@napi-rs/nice'],
  plugins: [nativeBindingPlugin, piscinaWorkerPlugin]
})
await build({ ...COMMON, entryPoints: Object.fromEntries(CACHED.map(name => [name, join(root, 'src/boot/cached-entry.ts')])) })
console.log(`bundled ${Object.keys(entries).join(', ')} → ${out}${nextCodec === undefined ? '' : ` (next release rehearsal: codec ${nextCodec} + 1)`}`)
if (bundleOnly) process.exit(0)

// --- single executable application -------------------------------------------------------------
const blob = join(dist, 'sea-prep.blob')
const seaConfig = {
  main: join(out, 'main.app.cjs'),
  output: blob,
  disableExperimentalSEAWarning: true,
  useSnapshot: false,
  useCodeCache: true,
  assets: {
    'shard-worker.cjs': join(out, 'shard-worker.app.cjs'),
    'cpu-tasks.cjs': join(out, 'cpu-tasks.cjs'),
    'piscina-worker.cjs': join(out, 'worker.cjs'),
    'classic-level.node': addonPath
  }
}
writeFileSync(join(dist, 'sea-config.json'), JSON.stringify(seaConfig, null, 2))
execFileSync(process.execPath, ['--experimental-sea-config', join(dist, 'sea-config.json')], { stdio: 'inherit' })

const exe = join(dist, 'scratchbird')
rmSync(exe, { force: true })
copyFileSync(process.execPath, exe)
chmodSync(exe, 0o755)
const { inject } = require('postject')
await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), {
  sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
})
for (const name of PROGRAMS) {
  const link = join(dist, name)
  rmSync(link, { force: true })
  symlinkSync('scratchbird', link)
}
console.log(`built ${resolve(exe)} (${buildDate}) and ${PROGRAMS.length} program links`)
