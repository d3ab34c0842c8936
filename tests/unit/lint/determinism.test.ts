import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../../helpers/node-process'

// The determinism rule (eslint.config.mjs, issue 12 item 8): outside the composition roots no
// code reads the wall clock or the CSPRNG, nor imports the system clock or the crypto Rng —
// they arrive injected. Linted as text under the path it would have, so the test follows the config.

const eslint = new ESLint({ cwd: ROOT })

async function ruleIds (path: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: `${ROOT}/${path}` })
  return r!.messages.map(m => m.ruleId ?? 'parse')
}

const GLOBAL_TIME = 'export const t = [Date.now(), performance.now(), Math.random(), new Date()]\n'
const SYSTEM_IMPORTS = "import { systemClock } from '../core/clock'\nimport { cryptoRng } from '../core/rng'\nexport const io = [systemClock, cryptoRng]\n"

describe('determinism lint rule', () => {
  it.each(['src/node/cluster.ts', 'src/node/quorum.ts', 'src/net/sql-api.ts', 'src/shard/host.ts', 'src/storage/engine.ts'])('refuses global time and randomness in %s', async (path) => {
    expect(await ruleIds(path, GLOBAL_TIME)).toEqual(['no-restricted-properties', 'no-restricted-properties', 'no-restricted-properties', 'no-restricted-syntax'])
    expect(await ruleIds(path, SYSTEM_IMPORTS)).toEqual(['no-restricted-imports', 'no-restricted-imports'])
  })

  it.each(['src/node/node.ts', 'src/main.ts', 'workers/shard-worker.ts'])('lets the composition root %s build them', async (path) => {
    expect(await ruleIds(path, SYSTEM_IMPORTS)).toEqual([])
  })
})
