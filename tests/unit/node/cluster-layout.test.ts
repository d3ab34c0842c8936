import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { configuredLayout } from '../../../src/cluster/layout'
import { checkClusterLayout, LAYOUT_FILE, readRemovedMembers, recordClusterLayout, recordRemovedMembers, REMOVED_FILE } from '../../../src/node/cluster-layout'
import { asNodeId } from '../../../src/core/ids'

// Issue 13 item 2: <data_dir>/cluster.json pins the layout a data directory was written under;
// issue 20: a later membership epoch adopted at run time replaces it, and rules the next start.

describe('checkClusterLayout', () => {
  const dirs: string[] = []
  const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), 'sb-layout-')); dirs.push(d); return d }
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('records the layout at the first start and accepts the same configuration after', () => {
    const d = tempDir()
    expect(checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1), asNodeId(2), asNodeId(3)]))).toEqual({ cluster: 'prod', shards: 16, epoch: 1, members: [1, 2, 3] })
    expect(JSON.parse(readFileSync(join(d, LAYOUT_FILE), 'utf8'))).toEqual({ cluster: 'prod', shards: 16, epoch: 1, members: [1, 2, 3] })
    expect(checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(3), asNodeId(2), asNodeId(1)]))).toMatchObject({ shards: 16 })
  })

  it('refuses another shard count or membership with SB_LAYOUT_MISMATCH and leaves the file as it was', () => {
    const d = tempDir()
    checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1), asNodeId(2), asNodeId(3)]))
    const before = readFileSync(join(d, LAYOUT_FILE), 'utf8')
    expect(() => checkClusterLayout(d, configuredLayout('prod', 8, [asNodeId(1), asNodeId(2), asNodeId(3)]))).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH', message: expect.stringContaining('holds 16 shards, but storage.shards is 8') }))
    expect(() => checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)]))).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH' }))
    expect(readFileSync(join(d, LAYOUT_FILE), 'utf8')).toBe(before)
  })

  it('refuses a damaged file with SB_STORAGE_CORRUPT instead of recording a new layout over it', () => {
    const d = tempDir()
    writeFileSync(join(d, LAYOUT_FILE), '{"cluster":"prod","shards":"16"}')
    expect(() => checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1)]))).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    writeFileSync(join(d, LAYOUT_FILE), '{not json')
    expect(() => checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1)]))).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })

  it('a later epoch recorded at run time rules the next start: the unchanged cluster.nodes (fewer members) seeds it', async () => {
    const d = tempDir()
    const config = configuredLayout('prod', 16, [asNodeId(1), asNodeId(2), asNodeId(3)])
    checkClusterLayout(d, config)
    await recordClusterLayout(d, { cluster: 'prod', shards: 16, epoch: 2, members: [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)] })
    expect(checkClusterLayout(d, config)).toEqual({ cluster: 'prod', shards: 16, epoch: 2, members: [1, 2, 3, 4] })
    expect(() => checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1), asNodeId(5)]))).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH', message: expect.stringContaining('to add node 5, start it with a cluster.nodes') }))
  })
  it('a split recorded in cluster.json rules a start whose storage.shards is the pre-split count, and the file stays as it was', async () => {
    const d = tempDir()
    const config = configuredLayout('prod', 4, [asNodeId(1), asNodeId(2), asNodeId(3)])
    checkClusterLayout(d, config)
    await recordClusterLayout(d, { cluster: 'prod', shards: 8, epoch: 2, members: [asNodeId(1), asNodeId(2), asNodeId(3)], splitFrom: [4] })
    const before = readFileSync(join(d, LAYOUT_FILE), 'utf8')
    expect(checkClusterLayout(d, config)).toEqual({ cluster: 'prod', shards: 8, epoch: 2, members: [1, 2, 3], splitFrom: [4] })
    expect(checkClusterLayout(d, configuredLayout('prod', 8, [asNodeId(1), asNodeId(2), asNodeId(3)]))).toMatchObject({ shards: 8 })
    expect(() => checkClusterLayout(d, configuredLayout('prod', 16, [asNodeId(1), asNodeId(2), asNodeId(3)]))).toThrow(expect.objectContaining({ code: 'SB_LAYOUT_MISMATCH' }))
    expect(readFileSync(join(d, LAYOUT_FILE), 'utf8')).toBe(before)
  })
})

// Issue 20: the nodes REMOVE NODE dropped, whose Mode 1 votes a survivor stops counting
// (cluster/membership/forced-removal.ts), survive a restart of the survivor.
describe('readRemovedMembers / recordRemovedMembers', () => {
  const dirs: string[] = []
  const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), 'sb-removed-')); dirs.push(d); return d }
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })
  const layout = { cluster: 'prod', shards: 4, epoch: 3, members: [asNodeId(1), asNodeId(2)] }

  it('none recorded: none removed', () => {
    expect(readRemovedMembers(tempDir(), layout)).toEqual([])
  })

  it('reads back what was recorded, less the members of the layout run with (a node admitted again)', () => {
    const d = tempDir()
    recordRemovedMembers(d, [asNodeId(3), asNodeId(4)])
    expect(JSON.parse(readFileSync(join(d, REMOVED_FILE), 'utf8'))).toEqual({ removed: [3, 4] })
    expect(readRemovedMembers(d, layout)).toEqual([3, 4])
    expect(readRemovedMembers(d, { ...layout, members: [asNodeId(1), asNodeId(2), asNodeId(4)] })).toEqual([3])
  })

  it('a damaged file is SB_STORAGE_CORRUPT, not an empty set', () => {
    const d = tempDir()
    for (const text of ['{', '{"removed":[0]}', '{"removed":"3"}', '[3]', '{"removed":[1.5]}']) {
      writeFileSync(join(d, REMOVED_FILE), text)
      expect(() => readRemovedMembers(d, layout), text).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    }
  })
})
