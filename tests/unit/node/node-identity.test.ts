import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkNodeIdentity, IDENTITY_FILE } from '../../../src/node/node-identity'

describe('node identity in the data directory', () => {
  const dirs: string[] = []
  const dir = (): string => { const d = mkdtempSync(join(tmpdir(), 'sb-ident-')); dirs.push(d); return d }
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('records the id on first start and accepts the same id again', () => {
    const d = dir()
    checkNodeIdentity(d, { nodeId: 3, cluster: 'prod' })
    expect(JSON.parse(readFileSync(join(d, IDENTITY_FILE), 'utf8'))).toEqual({ nodeId: 3, cluster: 'prod' })
    expect(() => checkNodeIdentity(d, { nodeId: 3, cluster: 'prod' })).not.toThrow()
  })

  it('refuses another node id or cluster name with SB_NODE_ID_MISMATCH', () => {
    const d = dir()
    checkNodeIdentity(d, { nodeId: 3, cluster: 'prod' })
    expect(() => checkNodeIdentity(d, { nodeId: 4, cluster: 'prod' })).toThrow(expect.objectContaining({ code: 'SB_NODE_ID_MISMATCH', message: expect.stringContaining('belongs to node 3') }))
    expect(() => checkNodeIdentity(d, { nodeId: 3, cluster: 'test' })).toThrow(expect.objectContaining({ code: 'SB_NODE_ID_MISMATCH' }))
  })

  it('a garbled identity file is a coded error, not a crash', () => {
    const d = dir()
    writeFileSync(join(d, IDENTITY_FILE), '{not json')
    expect(() => checkNodeIdentity(d, { nodeId: 1, cluster: 'x' })).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })
})
