import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../core/atomic-file'
import { ScratchBirdError, messageOf } from '../core/errors'

// A data directory belongs to one node id of one cluster for life (issue 5 "Identity"): its shard
// replicas, XIDs (node id << 48) and HLC were written under that id. The first start records
// <data_dir>/node.json; a later start with another id or cluster name is refused before anything
// is opened, so a copied or mixed-up directory cannot serve under a wrong identity.

export const IDENTITY_FILE = 'node.json'

export interface NodeIdentity { nodeId: number, cluster: string }

export function checkNodeIdentity (dataDir: string, want: NodeIdentity): void {
  const path = join(dataDir, IDENTITY_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ScratchBirdError('SB_STORAGE_CORRUPT', `cannot read ${path}: ${messageOf(e)}`, { path })
    writeFileAtomic(path, JSON.stringify({ nodeId: want.nodeId, cluster: want.cluster }) + '\n')
    return
  }
  let have: Partial<NodeIdentity>
  try { have = JSON.parse(text) as Partial<NodeIdentity> } catch {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `${path} is not valid JSON; it records which node owns this data directory`, { path })
  }
  if (have.nodeId !== want.nodeId) {
    throw new ScratchBirdError('SB_NODE_ID_MISMATCH',
      `data directory ${dataDir} belongs to node ${String(have.nodeId)}, but this node is configured as node ${want.nodeId}; use the right --data-dir or --node-id`,
      { dataDir, recorded: have.nodeId, configured: want.nodeId })
  }
  if (have.cluster !== want.cluster) {
    throw new ScratchBirdError('SB_NODE_ID_MISMATCH',
      `data directory ${dataDir} belongs to cluster "${String(have.cluster)}", but cluster.name is "${want.cluster}"`,
      { dataDir, recorded: have.cluster, configured: want.cluster })
  }
}
