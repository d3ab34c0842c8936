import { describe, expect, it } from 'vitest'
import { cutEntries, cutEntry } from '../../../src/backup/cluster-cut'
import { checkNodeArchives, parseClusterManifest, type ClusterManifest } from '../../../src/backup/cluster-manifest'
import type { BackupManifest } from '../../../src/backup/manifest'
import type { RawLogEntry } from '../../../src/storage/commit-log'
import { checkEntries } from '../../../src/storage/replica-apply'
import { asHlcTs, asXid } from '../../../src/core/ids'
import { hlcTs } from '../../../src/storage/types'
import { ScratchBirdError } from '../../../src/core/errors'

// The cut a cluster backup's restore applies to each node's commit log (issue 17 item 5), and the
// cluster manifest that binds the nodes' archives.

const mutation = { tableId: 1, pkBytes: Uint8Array.of(0x14), versionId: new Uint8Array(16), row: null }
const plain = (lsn: number, ms: number): RawLogEntry => ({ lsn: BigInt(lsn), generation: 2n, xid: asXid(BigInt(100 + lsn)), commitHlc: hlcTs(ms, 1), mutations: [mutation] })
const twoPhase = (lsn: number, phase: 'prepare' | 'commit' | 'abort', xid: number, ms = 0): RawLogEntry =>
  ({ lsn: BigInt(lsn), generation: 2n, xid: asXid(BigInt(xid)), commitHlc: phase === 'commit' ? hlcTs(ms, 1) : asHlcTs(0n), mutations: phase === 'prepare' ? [mutation] : [], phase })

describe('cutEntries', () => {
  const cut = hlcTs(200, 0)

  it('keeps what committed at or below the cut and empties what committed above it, every entry at its LSN', () => {
    // A two-phase COMMIT at HLC 150 after a local commit at 250 (its HLC was chosen on another node).
    const log = [plain(1, 100), twoPhase(2, 'prepare', 7), plain(3, 250), twoPhase(4, 'commit', 7, 150), twoPhase(5, 'prepare', 8), twoPhase(6, 'commit', 8, 300), twoPhase(7, 'abort', 9)]
    const { entries, emptied } = cutEntries(log, cut)
    expect(emptied).toBe(2)
    expect(entries.map(e => e.lsn)).toEqual(log.map(e => e.lsn))
    expect(entries[0]).toBe(log[0])
    expect(entries[1]).toBe(log[1])
    expect(entries[2]).toEqual({ ...log[2], mutations: [] }) // a local commit above the cut: no rows
    expect(entries[3]).toBe(log[3]) // not a prefix: the two-phase commit below the cut is kept
    expect(entries[4]).toBe(log[4])
    expect(entries[5]).toEqual({ lsn: 6n, generation: 2n, xid: 8n, commitHlc: 0n, mutations: [], phase: 'abort' }) // above: aborted
    expect(entries[6]).toBe(log[6])
    // What comes out is a batch the replica apply takes (consecutive LSNs, an abort carries HLC 0).
    expect(() => checkEntries(entries)).not.toThrow()
  })

  it('keeps a commit exactly at the cut and leaves control entries alone', () => {
    const at = plain(1, 200)
    expect(cutEntry({ ...at, commitHlc: cut }, cut).mutations).toHaveLength(1)
    const noop: RawLogEntry = { lsn: 2n, generation: 3n, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: { kind: 'noop' } }
    expect(cutEntry(noop, hlcTs(1, 0))).toBe(noop)
  })
})

const sha = 'a'.repeat(64)
const clusterManifest = (): ClusterManifest => ({
  kind: 'scratchbird-cluster-backup',
  format: 1,
  clusterBackupId: '900',
  cutHlc: '900',
  cluster: 'c1',
  version: '0.1.0',
  createdAtMs: 1,
  nodes: [1, 2].map(nodeId => ({
    nodeId,
    full: { file: `node-${nodeId}.full.tar`, backupId: String(10 + nodeId), bytes: 10, sha256: sha },
    log: { file: `node-${nodeId}.log.tar`, backupId: String(20 + nodeId), bytes: 10, sha256: sha }
  }))
})
const backup = (o: Partial<BackupManifest>): BackupManifest => ({
  kind: 'scratchbird-backup',
  format: 1,
  type: 'full',
  backupId: '11',
  parentId: null,
  version: '0.1.0',
  cluster: 'c1',
  nodeId: 1,
  shardCount: 1,
  createdAtMs: 1,
  hlc: '11',
  shards: [{ shard: 0, lsn: '5', generation: '1', hlcHighWater: '1', keys: 1, rows: 1, chunks: 1 }],
  members: [],
  ...o
})
const bytes = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v))

describe('cluster manifest', () => {
  it('parses a valid one and refuses malformed ones with SB_BACKUP_INVALID', () => {
    expect(parseClusterManifest(bytes(clusterManifest())).cutHlc).toBe('900')
    const bad = [
      { ...clusterManifest(), kind: 'scratchbird-backup' },
      { ...clusterManifest(), format: 2 },
      { ...clusterManifest(), cutHlc: 'x' },
      { ...clusterManifest(), nodes: [] },
      { ...clusterManifest(), nodes: [clusterManifest().nodes[0], clusterManifest().nodes[0]] },
      { ...clusterManifest(), nodes: [{ ...clusterManifest().nodes[0], full: { ...clusterManifest().nodes[0]!.full, file: 'node-2.full.tar' } }] }
    ]
    for (const m of bad) expect(() => parseClusterManifest(bytes(m))).toThrow(expect.objectContaining({ code: 'SB_BACKUP_INVALID' }))
    expect(() => parseClusterManifest(Buffer.from('{'))).toThrow(ScratchBirdError)
  })

  it('accepts a node\'s own pair of archives and refuses one of another cluster backup', () => {
    const cm = clusterManifest()
    const full = backup({})
    const log = backup({ type: 'incremental', backupId: '21', parentId: '11', shards: [{ shard: 0, fromLsn: '6', lsn: '8', generation: '1', hlcHighWater: '1', keys: 3, rows: 3, chunks: 1 }] })
    expect(checkNodeArchives(cm, 1, full, log).nodeId).toBe(1)
    const refused = expect.objectContaining({ code: 'SB_BACKUP_REFUSED' })
    expect(() => checkNodeArchives(cm, 3, full, log)).toThrow(refused) // no such node in it
    expect(() => checkNodeArchives(cm, 1, { ...full, backupId: '99' }, { ...log, parentId: '99' })).toThrow(refused) // another cluster backup's full backup
    expect(() => checkNodeArchives(cm, 1, full, { ...log, backupId: '98' })).toThrow(refused) // another's log
    expect(() => checkNodeArchives(cm, 2, { ...full, backupId: '12', nodeId: 1 }, { ...log, backupId: '22', parentId: '12' })).toThrow(refused) // node 1's archive as node 2's
    expect(() => checkNodeArchives(cm, 1, full, { ...log, shards: [{ ...log.shards[0]!, fromLsn: '7', keys: 2 }] })).toThrow(refused) // a gap after the snapshot
  })
})
