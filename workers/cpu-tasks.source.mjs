// Source-mode entry of the CPU-pool task module (tests, tsx runs): Node 20 does not pass
// `--import tsx` on to worker threads, so register tsx here and load the TypeScript module.
// Bundles and the single executable use the bundled cpu-tasks.cjs instead.
import { register } from 'tsx/esm/api'

register()
const mod = await import('./cpu-tasks.ts')
export default mod.default
