import type { AeReply, AeRequestBody, RepairVersion, WindowRoot } from '../../src/cluster/anti-entropy/types'
import { ForestIndex } from '../../src/storage/merkle/forest-index'
import { MERKLE_BUCKETS, rowImageHash, type MerkleLeaf } from '../../src/storage/merkle/tree'
import { compareVersionIds } from '../../src/storage/lww'
import type { LwwOutcome } from '../../src/storage/row-write'
import type { VersionId } from '../../src/storage/types'

// One shard replica for the anti-entropy simulation: the latest committed version per row key
// (the LWW rule of REPLICA_APPLY) and the pure Merkle forest (storage/merkle/forest-index.ts)
// maintained as the shard workers maintain it — every version received, even one LWW keeps as
// older, puts its leaf into ITS window (ForestIndex.apply keeps the highest per key and window) —
// answering the anti-entropy requests with the shard ops' semantics (round types.ts):
// MERKLE_ROOTS (sealing what is due first), MERKLE_BUCKETS, MERKLE_LEAVES (bounded, `more`),
// MERKLE_ADOPT, REPLICA_READ, REPLICA_APPLY. A purged tombstone leaves the row map; its leaf stays
// (the forest is write history).

export interface StoredVersion {
  readonly key: Uint8Array
  readonly versionId: VersionId
  readonly row: Uint8Array | null
  /** Local time this replica wrote it (its commit HLC). */
  readonly writtenAt: number
}

export function keyId (key: Uint8Array): string { return Buffer.from(key).toString('latin1') }

export class SimReplica {
  readonly rows = new Map<string, StoredVersion>()
  readonly forest: ForestIndex

  constructor (windowMs: number, sealGraceMs: number, private readonly maxLeavesPerReply: number) {
    this.forest = new ForestIndex({ windowMs, graceMs: sealGraceMs })
  }

  /** REPLICA_APPLY of one version (a client write, a hint, a repair). */
  apply (v: RepairVersion, nowMs: number): LwwOutcome {
    this.forest.apply(v.key, v.versionId, rowImageHash(v.row))
    const cur = this.rows.get(keyId(v.key))
    const order = cur === undefined ? 1 : compareVersionIds(v.versionId, cur.versionId)
    if (order < 0) return 'older'
    if (order === 0) return 'same'
    this.rows.set(keyId(v.key), { key: v.key, versionId: v.versionId, row: v.row, writtenAt: nowMs })
    return 'newer'
  }

  purge (key: Uint8Array): void { this.rows.delete(keyId(key)) }

  handle (req: AeRequestBody, nowMs: number): AeReply {
    switch (req.op) {
      case 'roots': {
        this.forest.seal(nowMs)
        const windows: WindowRoot[] = this.forest.list().map(w => ({ window: w.window, sealed: w.sealed, root: w.root, leaves: w.leafCount }))
        return { op: 'roots', windows }
      }
      case 'buckets':
        return { op: 'buckets', hashes: this.forest.tree(req.window)?.bucketHashes() ?? new Array<bigint>(MERKLE_BUCKETS).fill(0n) }
      case 'leaves': {
        const tree = this.forest.tree(req.window)
        const leaves: MerkleLeaf[] = []
        let more = false
        for (const b of [...req.buckets].sort((x, y) => x - y)) {
          for (const l of tree?.leavesOf(b) ?? []) {
            if (leaves.length >= this.maxLeavesPerReply) { more = true; break }
            leaves.push(l)
          }
          if (more) break
        }
        return { op: 'leaves', leaves, more }
      }
      case 'adopt':
        return {
          op: 'adopt',
          needsData: req.leaves.map(l => {
            const cur = this.rows.get(keyId(l.key))
            if (cur === undefined || compareVersionIds(cur.versionId, l.version) < 0) return true
            this.forest.apply(l.key, l.version, l.rowHash)
            return false
          })
        }
      case 'read':
        return { op: 'read', versions: req.keys.map(k => { const v = this.rows.get(keyId(k)); return v === undefined ? null : { versionId: v.versionId, row: v.row } }) }
      case 'apply':
        return { op: 'apply', applied: req.versions.map(v => this.apply(v, nowMs)) }
    }
  }
}
