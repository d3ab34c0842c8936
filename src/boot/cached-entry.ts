// The entry of dist/bundle/main.cjs and shard-worker.cjs (build.mjs): runs the program bundled
// next to it as <name>.app.cjs through the V8 code cache (compile-cache.ts says why and how).
import { basename, join } from 'node:path'
import { runCached } from './compile-cache'

runCached(join(__dirname, `${basename(__filename, '.cjs')}.app.cjs`))
