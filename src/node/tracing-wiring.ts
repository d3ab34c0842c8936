// Spans around the node's ports (issue 18 item 8) when tracing is on: a single node's shard
// requests (a cluster's go through ShardRouter, which spans them itself), the statement-level
// quorum write and read (their replica round trips are spans of node/quorum.ts), and the phases
// of two-phase commit. With tracing off the node passes its ports unwrapped: nothing here runs.
import type { TwoPhaseIo } from '../cluster/twopc'
import type { TracePort } from '../core/trace-context'
import type { NodeId } from '../core/ids'
import type { QuorumIo } from '../exec/env'
import type { ShardRequester } from './shard-router'

/** This node's workers as a ShardRequester whose requests are spans (a node without a cluster). */
export function tracedLocalShards<T extends ShardRequester> (workers: T, tracer: TracePort, self: NodeId): ShardRequester {
  return {
    request: (op, req) => tracer.span('shard request', { 'scratchbird.shard': req.shard, 'scratchbird.op': op, 'scratchbird.to_node': self, 'scratchbird.via': 'local' }, () => workers.request(op, req))
  }
}

/** Quorum writes and reads as spans naming W or R of N (their replica round trips are child spans). */
export function tracedQuorum (q: QuorumIo, tracer: TracePort): QuorumIo {
  return {
    write: (table, writes) => tracer.span('quorum write', {
      'scratchbird.table': table.name, 'scratchbird.shards': writes.size, 'scratchbird.w': table.replication.write_quorum, 'scratchbird.n': table.replication.replication_factor
    }, () => q.write(table, writes)),
    writeBatches: (batches) => tracer.span('quorum write', {
      'scratchbird.shards': batches.length, 'scratchbird.w': batches[0]?.writeQuorum ?? 0, 'scratchbird.n': batches[0]?.replicationFactor ?? 0
    }, () => q.writeBatches(batches)),
    maxBatchBytes: q.maxBatchBytes,
    read: (table, shard, pks) => tracer.span('quorum read', {
      'scratchbird.table': table.name, 'scratchbird.shard': shard, 'scratchbird.keys': pks.length, 'scratchbird.r': table.replication.read_quorum, 'scratchbird.n': table.replication.replication_factor
    }, () => q.read(table, shard, pks)),
    replicas: (shard, n) => q.replicas(shard, n),
    scanReplicas: (table, shard, after, limit) => q.scanReplicas(table, shard, after, limit)
  }
}

/** The participant and decision steps of two-phase commit as spans (2pc prepare, 2pc decision, 2pc commit …). */
export function tracedTwoPhase (io: TwoPhaseIo, tracer: TracePort): TwoPhaseIo {
  return {
    prepare: (shard, xid) => tracer.span('2pc prepare', { 'scratchbird.shard': shard }, () => io.prepare(shard, xid)),
    commitPrepared: (shard, xid, hlc) => tracer.span('2pc commit prepared', { 'scratchbird.shard': shard }, () => io.commitPrepared(shard, xid, hlc)),
    abortPrepared: (shard, xid) => tracer.span('2pc abort prepared', { 'scratchbird.shard': shard }, () => io.abortPrepared(shard, xid)),
    rollback: (shard, xid) => tracer.span('2pc rollback', { 'scratchbird.shard': shard }, () => io.rollback(shard, xid)),
    writeDecision: (xid, d) => tracer.span('2pc write decision', {}, () => io.writeDecision(xid, d)),
    readDecision: (xid) => io.readDecision(xid),
    dropDecision: (xid) => tracer.span('2pc drop decision', {}, () => io.dropDecision(xid)),
    listLimbo: (shard) => io.listLimbo(shard)
  }
}
