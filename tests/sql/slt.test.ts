import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { runSlt } from './slt'

// Every tests/sql/*.slt file against one real node (each file uses its own table names).
const dir = join(ROOT, 'tests/sql')
const files = readdirSync(dir).filter(f => f.endsWith('.slt')).sort()
let node: RunningNode

beforeAll(async () => {
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', join(tempDir(), 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  node = await startNode(cmd, args)
})
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('sqllogictest files', () => {
  for (const f of files) {
    it(f, async () => {
      expect(await runSlt(join(dir, f), node.url('/v1/sql'))).toEqual([])
    })
  }
})
