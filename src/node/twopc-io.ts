import { DECISION_TABLE_ID, decisionShard, decodeDecision, encodeDecision, type Decision, type TwoPhaseIo } from '../cluster/twopc'
import type { HlcTs, Xid } from '../storage/types'
import type { ShardRequester } from './shard-router'
import type { ShardCountSource } from '../cluster/shard-count'

// The I/O shell of two-phase commit: participants and decision records are shards, served by
// this node's workers or, in a cluster, by their owners (through the shard router). Decision records are autocommit writes (durable per the shard's
// durability) in a reserved table; their version ids come from the caller's HLC. A decision is an
// insert, so a slot already decided refuses it (SB_UNIQUE_VIOLATION): see cluster/twopc/decision.ts.
// The shard count is read at each call (a split raises it). A decision record sits in shard
// xid mod n, so a split moves it by the rows' rule (xid mod 2n is xid mod n or xid mod n + n), but
// by its xid, not by a key hash: the split's copy filter must treat DECISION_TABLE_ID that way.

export function shardTwoPhaseIo (workers: ShardRequester, count: ShardCountSource, versionId: () => Uint8Array, hlcNow: () => HlcTs): TwoPhaseIo {
  return {
    prepare: async (shard, xid) => (await workers.request('PREPARE', { shard, xid })).floor,
    commitPrepared: async (shard, xid, commitHlc) => { await workers.request('COMMIT_PREPARED', { shard, xid, commitHlc }) },
    abortPrepared: async (shard, xid) => { await workers.request('ABORT_PREPARED', { shard, xid }) },
    rollback: async (shard, xid) => { await workers.request('ROLLBACK', { shard, xid }) },
    writeDecision: async (xid: Xid, decision: Decision) => {
      await workers.request('AUTOCOMMIT', {
        shard: decisionShard(xid, count.shards),
        writes: [{ op: 'insert', tableId: DECISION_TABLE_ID, pk: [xid], row: encodeDecision(decision), versionId: versionId() }],
        commitHlc: hlcNow()
      })
    },
    readDecision: async (xid: Xid) => {
      const { row } = await workers.request('GET', { shard: decisionShard(xid, count.shards), tableId: DECISION_TABLE_ID, pk: [xid] })
      return row === null ? null : decodeDecision(row)
    },
    dropDecision: async (xid: Xid) => {
      await workers.request('AUTOCOMMIT', {
        shard: decisionShard(xid, count.shards),
        writes: [{ op: 'put', tableId: DECISION_TABLE_ID, pk: [xid], row: null, versionId: versionId() }],
        commitHlc: hlcNow()
      })
    },
    listLimbo: async (shard) => (await workers.request('LIST_LIMBO', { shard })).limbo.map(l => l.xid)
  }
}
