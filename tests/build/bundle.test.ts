import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// `npm start` runs the esbuild bundle with plain node: its workers (shard worker, piscina CPU
// pool) must load from dist/bundle without tsx. `npm test` builds dist/ first.

let node: RunningNode | undefined
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('dist/bundle/main.cjs (npm start)', () => {
  it('starts, opens its shards, answers health and stops cleanly', async () => {
    const main = join(ROOT, 'dist', 'bundle', 'main.cjs')
    expect(existsSync(main)).toBe(true)
    const dir = tempDir('sb-bundle-')
    node = await startNode(process.execPath, [main, '--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const health = await (await fetch(node.url('/v1/health'))).json() as Record<string, unknown>
    expect(health).toMatchObject({ state: 'ready', shardsOpen: 16 })
    node.proc.kill('SIGTERM')
    expect(await node.exited).toBe(0)
  })
})
