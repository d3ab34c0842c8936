import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { configuredLayout, parseLayout, startLayoutCheck, type ClusterLayout } from '../cluster/layout'
import { writeFileAtomic } from '../core/atomic-file'
import type { Config } from '../core/config/load'
import { ScratchBirdError, messageOf } from '../core/errors'
import { isNodeId, type NodeId } from '../core/ids'

// <data_dir>/cluster.json: the cluster layout this data directory was written under (cluster
// name, shard count, membership epoch and members; cluster/layout.ts holds the rules). Read and
// checked at every start before any shard is opened; written at the first start, and again (atomic
// replace) each time the node adopts a later membership epoch, before it acts on it.

export const LAYOUT_FILE = 'cluster.json'
/**
 * <data_dir>/removed-members.json: the nodes this node saw removed from the layout (REMOVE NODE),
 * whose Mode 1 votes it stops counting (cluster/membership/forced-removal.ts): `{"removed":[3]}`.
 * Absent: none. Written (atomic replace) before the layout removing them, reloaded at start.
 */
export const REMOVED_FILE = 'removed-members.json'

/** The layout a configuration asks for: cluster.name, storage.shards, cluster.nodes' ids and this node's. */
export function layoutOfConfig (config: Config): ClusterLayout {
  return configuredLayout(config.cluster.name, config.storage.shards, [...config.cluster.nodes.map(n => n.id), config.node.id])
}

/** The layout to run with; throws SB_LAYOUT_MISMATCH when the configuration disagrees with the recorded one. */
export function checkClusterLayout (dataDir: string, configured: ClusterLayout): ClusterLayout {
  const path = join(dataDir, LAYOUT_FILE)
  let recorded: ClusterLayout | null = null
  let text: string | null = null
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ScratchBirdError('SB_STORAGE_CORRUPT', `cannot read ${path}: ${messageOf(e)}`, { path })
  }
  if (text !== null) {
    let json: unknown
    try { json = JSON.parse(text) } catch { json = undefined }
    recorded = parseLayout(json)
    if (recorded === null) {
      throw new ScratchBirdError('SB_STORAGE_CORRUPT', `${path} is not a valid cluster layout (cluster, shards, epoch, members); it records how this data directory's rows are sharded`, { path })
    }
  }
  const { layout, record } = startLayoutCheck(recorded, configured, `data directory ${dataDir}`)
  if (record) writeFileAtomic(path, JSON.stringify(layout) + '\n')
  return layout
}

/** Records `layout` (a later membership epoch) in the data directory: atomic, durable before it returns. */
export function recordClusterLayout (dataDir: string, layout: ClusterLayout): void {
  writeFileAtomic(join(dataDir, LAYOUT_FILE), JSON.stringify(layout) + '\n')
}

/**
 * The removed members recorded in the data directory, less the members of `layout` (a node
 * admitted again); [] when none were. SB_STORAGE_CORRUPT when the file is not what
 * recordRemovedMembers writes: guessing would make a group count votes it should not, or wait.
 */
export function readRemovedMembers (dataDir: string, layout: ClusterLayout): NodeId[] {
  const path = join(dataDir, REMOVED_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `cannot read ${path}: ${messageOf(e)}`, { path })
  }
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  const removed = (json as { removed?: unknown } | undefined)?.removed
  if (!Array.isArray(removed) || !removed.every(id => typeof id === 'number' && isNodeId(id))) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `${path} is not a valid list of removed nodes ({"removed": [node ids]}); it records which nodes REMOVE NODE dropped, whose votes this node's replication groups stop counting`, { path })
  }
  return (removed as NodeId[]).filter(id => !layout.members.includes(id))
}

/** Records the removed members (forced-removal.ts) in the data directory: atomic, durable before it returns. */
export function recordRemovedMembers (dataDir: string, removed: readonly NodeId[]): void {
  writeFileAtomic(join(dataDir, REMOVED_FILE), JSON.stringify({ removed }) + '\n')
}
