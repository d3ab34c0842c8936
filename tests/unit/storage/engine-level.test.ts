import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelKv } from '../../../src/storage/kv-level'
import { registerEngineCompliance } from './compliance'

// Real LevelDB in a fresh temporary directory per test.
registerEngineCompliance('classic-level', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-shard-'))
  return {
    open: () => LevelKv.open(dir),
    destroy: async () => rmSync(dir, { recursive: true, force: true })
  }
})
