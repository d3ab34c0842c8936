import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { configuredLayout, parseLayout, startLayoutCheck, type ClusterLayout } from '../cluster/layout'
import { writeFileAtomic, writeFileAtomicAsync } from '../core/atomic-file'
import type { Config } from '../core/config/load'
import { ScratchBirdError, messageOf } from '../core/errors'
import { isNodeId, type NodeId } from '../core/ids'
import type { Ballot, DecreeRecord } from '../cluster/membership/epoch-decree'

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

/**
 * Records `layout` (a later membership epoch) in the data directory: atomic, durable before it
 * resolves, written off the event loop (the node serves on meanwhile). The caller runs one at a
 * time (ClusterShell.adoptLayout); the start's synchronous record uses another temporary file.
 */
export async function recordClusterLayout (dataDir: string, layout: ClusterLayout): Promise<void> {
  await writeFileAtomicAsync(join(dataDir, LAYOUT_FILE), Buffer.from(JSON.stringify(layout) + '\n'))
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

/**
 * <data_dir>/membership-decree.json: this node's acceptor record of the next membership epoch's
 * decree (cluster/membership/epoch-decree.ts): `{"epoch":3,"promised":{"round":1,"node":1},
 * "accepted":null|{"ballot":…,"layout":…}}`. Absent: none. Written (atomic replace, fsync) before
 * this node answers a prepare or accept, reloaded at start: a promise forgotten by a restart could
 * let two layouts be chosen for one epoch. Beside cluster.json rather than in it: cluster.json is
 * the layout this directory runs, checked at every start; this is a vote about the next one.
 */
export const DECREE_FILE = 'membership-decree.json'

function parseBallot (v: unknown): Ballot | null {
  const b = v as { round?: unknown, node?: unknown } | null
  return typeof b === 'object' && b !== null && typeof b.round === 'number' && Number.isSafeInteger(b.round) && b.round >= 0 && typeof b.node === 'number' && isNodeId(b.node)
    ? { round: b.round, node: b.node as NodeId }
    : null
}

/** The acceptor record in the data directory (null: none); SB_STORAGE_CORRUPT when it is not what recordDecree writes. */
export function readDecree (dataDir: string): DecreeRecord | null {
  const path = join(dataDir, DECREE_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `cannot read ${path}: ${messageOf(e)}`, { path })
  }
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  const r = json as { epoch?: unknown, promised?: unknown, accepted?: { ballot?: unknown, layout?: unknown, judgedAt?: unknown } | null } | undefined
  const promised = parseBallot(r?.promised)
  const acceptedBallot = r?.accepted === null ? null : parseBallot(r?.accepted?.ballot)
  const acceptedLayout = r?.accepted === null ? null : parseLayout(r?.accepted?.layout)
  // judgedAt: a split intent's catalog version (cluster/membership/epoch-decree.ts); absent in records written before it.
  const judgedAt = r?.accepted?.judgedAt
  const judgedOk = judgedAt === undefined || (typeof judgedAt === 'number' && Number.isSafeInteger(judgedAt) && judgedAt >= 0)
  if (typeof r?.epoch !== 'number' || !Number.isSafeInteger(r.epoch) || promised === null || !judgedOk || (r.accepted !== null && (acceptedBallot === null || acceptedLayout === null || acceptedLayout.epoch !== r.epoch))) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `${path} is not a valid membership decree record (epoch, promised ballot, accepted ballot and layout); it records this node's votes on the next membership epoch, which must not be forgotten`, { path })
  }
  if (acceptedBallot === null || acceptedLayout === null) return { epoch: r.epoch, promised, accepted: null }
  return { epoch: r.epoch, promised, accepted: typeof judgedAt === 'number' ? { ballot: acceptedBallot, layout: acceptedLayout, judgedAt } : { ballot: acceptedBallot, layout: acceptedLayout } }
}

/** Records the acceptor record in the data directory: atomic, durable before it resolves, off the event loop (DecreeShell runs one at a time). */
export async function recordDecree (dataDir: string, record: DecreeRecord): Promise<void> {
  await writeFileAtomicAsync(join(dataDir, DECREE_FILE), Buffer.from(JSON.stringify(record) + '\n'))
}
