import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { CODEC_VERSIONS, WIRE_CODECS } from '../core/codec-versions'
import { isScratchBirdError } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'

// The one table of ScratchBird's Prometheus metrics (DESIGN §9). Later issues add the seed's
// replication, quorum, hint and anti-entropy series here; everything else reads them from here.
//
// Label values are written as the seed's examples print them, through the helpers below (never
// String(id) at the call site), so a dashboard built from the seed matches every series:
//   shard_id="001"  (shardLabel: zero-padded to 3 digits; shards above 999 keep all digits)
//   replica="node2", target_node="node3"  (nodeLabel: "node" + node id)
//   node_id="1"  (nodeIdLabel: the bare id, as the seed's scratchbird_hlc_counter{node_id="1"})

/** shard_id label value: 7 → "007", 1234 → "1234". */
export function shardLabel (shard: ShardId): string {
  return String(shard).padStart(3, '0')
}

/** replica / target_node label value: 3 → "node3". */
export function nodeLabel (nodeId: NodeId): string {
  return `node${nodeId}`
}

/** node_id label value: 1 → "1". */
export function nodeIdLabel (nodeId: NodeId): string {
  return String(nodeId)
}

export interface NodeMetrics {
  readonly registry: Registry
  readonly buildInfo: Gauge<'version' | 'node_id'>
  readonly hlcCounter: Gauge<'node_id'>
  readonly hlcRemoteRejections: Counter<'node_id'>
  readonly hlcWarnings: Counter<'node_id' | 'kind'>
  readonly shardWorkers: Gauge
  readonly shardsOpen: Gauge
  readonly shardWorkerRestarts: Gauge
  readonly sweepRuns: Counter
  readonly sweepRemoved: Counter<'kind'>
  readonly droppedRelationPurged: Counter<'kind'>
  readonly leaderlessReleased: Counter<'kind'>
  readonly splitCleanup: Counter<'kind'>
  readonly rpcRejected: Counter<'reason'>
  readonly rpcMessagesReceived: Counter<'opcode'>
  readonly rpcBatchesSent: Counter<'peer'>
  readonly rpcCallsSent: Counter<'opcode'>
  readonly rpcCallsFailed: Counter<'opcode' | 'code'>
  readonly hintLogSizeBytes: Gauge<'target_node'>
  readonly hintCount: Gauge<'target_node'>
  readonly hintsDelivered: Counter<'target_node'>
  readonly hintsUnstored: Gauge
  readonly hintsUnstoredDropped: Counter
  readonly quorumWriteFailures: Counter<'shard_id'>
  readonly quorumReadFailures: Counter<'shard_id'>
  readonly readRepairs: Counter<'shard_id'>
  readonly antiEntropyCpuPercent: Gauge<'shard_id'>
  readonly antiEntropyCpuSeconds: Counter<'shard_id'>
  readonly antiEntropyReplicaServing: Gauge<'shard_id'>
  readonly antiEntropyRounds: Counter<'shard_id' | 'outcome'>
  readonly antiEntropyDivergences: Counter<'shard_id'>
  readonly antiEntropyRowsRepaired: Counter<'shard_id'>
  readonly auditEvents: Counter<'event'>
  readonly auditWriteFailures: Counter
  readonly writeTps: Gauge<'shard_id' | 'mode'>
  readonly replicationLagMs: Gauge<'shard_id' | 'replica'>
  readonly replicationLagLsns: Gauge<'shard_id' | 'replica'>
  readonly readLatencyP99Ms: Gauge<'shard_id' | 'mode'>
  readonly shardWrites: Counter<'shard_id' | 'mode'>
  readonly shardReads: Counter<'shard_id' | 'mode'>
  readonly statementSeconds: Histogram<'kind' | 'protocol'>
  readonly statementErrors: Counter<'kind' | 'protocol' | 'code'>
  readonly ringUsedBytes: Gauge<'worker' | 'direction'>
  readonly ringCapacityBytes: Gauge
  readonly ringInFlight: Gauge<'worker'>
  readonly workerBusySeconds: Gauge<'worker'>
  readonly sessions: Gauge
  readonly tempTables: Gauge
  readonly tempTableBytes: Gauge
  readonly connections: Gauge<'listener'>
  readonly tlsHandshakeFailures: Counter<'listener' | 'reason'>
  readonly tlsCertExpirySeconds: Gauge<'file'>
  readonly tlsReloads: Counter<'outcome'>
  readonly clientRefusals: Counter<'listener' | 'reason'>
  readonly rpcBatchSeconds: Histogram<'peer'>
  readonly codecVersion: Gauge<'codec'>
  readonly codecVersionRefused: Counter<'codec'>
  readonly clusterMembers: Gauge<'state'>
  readonly tracingSpansExported: Counter
  readonly tracingSpansDropped: Counter<'reason'>
}

/** Buckets (seconds) of the latency histograms: 100 µs to 10 s. */
export const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export function createMetrics (): NodeMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'scratchbird_process_' })
  return {
    registry,
    buildInfo: new Gauge({ name: 'scratchbird_build_info', help: 'Always 1; labels carry the build', labelNames: ['version', 'node_id'], registers: [registry] }),
    hlcCounter: new Gauge({ name: 'scratchbird_hlc_counter', help: 'Logical counter of the node\'s hybrid logical clock (high values mean clock trouble)', labelNames: ['node_id'], registers: [registry] }),
    hlcRemoteRejections: new Counter({ name: 'scratchbird_hlc_remote_rejections_total', help: 'Remote HLC timestamps rejected for exceeding max_clock_offset_ms', labelNames: ['node_id'], registers: [registry] }),
    hlcWarnings: new Counter({ name: 'scratchbird_hlc_warnings_total', help: 'HLC warnings (counter above 3000, running ahead of the wall clock)', labelNames: ['node_id', 'kind'], registers: [registry] }),
    shardWorkers: new Gauge({ name: 'scratchbird_shard_workers', help: 'Shard worker threads running', registers: [registry] }),
    shardsOpen: new Gauge({ name: 'scratchbird_shards_open', help: 'Shard replicas open on this node', registers: [registry] }),
    shardWorkerRestarts: new Gauge({ name: 'scratchbird_shard_worker_restarts_total', help: 'Shard workers restarted after dying', registers: [registry] }),
    sweepRuns: new Counter({ name: 'scratchbird_sweep_runs_total', help: 'Completed sweeps of all shards', registers: [registry] }),
    sweepRemoved: new Counter({ name: 'scratchbird_sweep_versions_removed_total', help: 'Record versions removed by the sweep (kind: back = superseded, dead = of dead transactions, tombstone = deleted rows of primary_replica tables purged)', labelNames: ['kind'], registers: [registry] }),
    droppedRelationPurged: new Counter({ name: 'scratchbird_dropped_relation_rows_purged_total', help: 'Storage of dropped relations (DROP TABLE, DROP INDEX, relations a table move retired) deleted by the sweep on this node\'s shard replicas (kind: row = primary record versions and index entries, back = back versions, leaf = Merkle forest leaves)', labelNames: ['kind'], registers: [registry] }),
    leaderlessReleased: new Counter({ name: 'scratchbird_leaderless_rows_released_total', help: 'Leaderless copies deleted by the sweep on shards this node no longer replicates after a join, drain or REMOVE NODE ended (kind: row = primary record versions and index entries, back = back versions, leaf = Merkle forest leaves)', labelNames: ['kind'], registers: [registry] }),
    splitCleanup: new Counter({ name: 'scratchbird_split_cleanup_rows_total', help: 'Versions deleted from this node\'s copies of former parent shards after a shard split, of the keys that moved to the new shards (kind: row = primary record versions, index entries and 2PC decision records, back = back versions)', labelNames: ['kind'], registers: [registry] }),
    rpcRejected: new Counter({ name: 'scratchbird_rpc_rejected_total', help: 'Cluster RPC requests rejected before dispatch (reason: unauthenticated, wrong_cluster, malformed, too_large); nothing of them was applied', labelNames: ['reason'], registers: [registry] }),
    rpcMessagesReceived: new Counter({ name: 'scratchbird_rpc_messages_received_total', help: 'Cluster RPC messages dispatched to a method by this node', labelNames: ['opcode'], registers: [registry] }),
    rpcBatchesSent: new Counter({ name: 'scratchbird_rpc_batches_sent_total', help: 'Cluster RPC batches (HTTP POSTs) sent, by peer address', labelNames: ['peer'], registers: [registry] }),
    rpcCallsSent: new Counter({ name: 'scratchbird_rpc_calls_sent_total', help: 'Cluster RPC calls sent to peers', labelNames: ['opcode'], registers: [registry] }),
    rpcCallsFailed: new Counter({ name: 'scratchbird_rpc_calls_failed_total', help: 'Cluster RPC calls that failed (code: the ScratchBird error code, remote or local)', labelNames: ['opcode', 'code'], registers: [registry] }),
    hintLogSizeBytes: new Gauge({ name: 'scratchbird_hint_log_size_bytes', help: 'Bytes of hints (stored keys + values) this node keeps for a target node', labelNames: ['target_node'], registers: [registry] }),
    hintCount: new Gauge({ name: 'scratchbird_hints', help: 'Hints this node keeps for a target node', labelNames: ['target_node'], registers: [registry] }),
    hintsDelivered: new Counter({ name: 'scratchbird_hints_delivered_total', help: 'Hints delivered to and acknowledged by a target node', labelNames: ['target_node'], registers: [registry] }),
    hintsUnstored: new Gauge({ name: 'scratchbird_hints_unstored', help: 'Hints the hint log refused (e.g. SB_DISK_FULL), held in memory and stored again when it takes them', registers: [registry] }),
    hintsUnstoredDropped: new Counter({ name: 'scratchbird_hints_unstored_dropped_total', help: 'Refused hints dropped because the in-memory hold was full (their replicas are left to read repair and anti-entropy)', registers: [registry] }),
    quorumWriteFailures: new Counter({ name: 'scratchbird_quorum_write_failures_total', help: 'leaderless_quorum shard writes that did not reach W acknowledgements (SB_QUORUM_NOT_ACHIEVED)', labelNames: ['shard_id'], registers: [registry] }),
    quorumReadFailures: new Counter({ name: 'scratchbird_quorum_read_failures_total', help: 'leaderless_quorum point reads that did not reach R answers (SB_QUORUM_NOT_ACHIEVED)', labelNames: ['shard_id'], registers: [registry] }),
    readRepairs: new Counter({ name: 'scratchbird_read_repairs_total', help: 'Read repairs sent: the winning version written to a replica that answered a quorum read with an older version or none', labelNames: ['shard_id'], registers: [registry] }),
    antiEntropyReplicaServing: new Gauge({ name: 'scratchbird_anti_entropy_replica_serving', help: 'Whether this node\'s replica of a leaderless_quorum shard serves it (1) or is stale (0: no repair round within replication.tombstone_gc_grace_days; it serves again after a round with every other replica)', labelNames: ['shard_id'], registers: [registry] }),
    antiEntropyCpuPercent: new Gauge({ name: 'scratchbird_anti_entropy_cpu_percent', help: 'CPU this node\'s shard worker spent on the shard\'s anti-entropy (its own repair rounds and its peers\': roots, bucket hashes, leaf pages, adopted leaves, repair reads and writes; thread CPU time of that work), as a percent of one core over the last 10 s, per shard (seeds: under 2 % of the node\'s CPU; rounds pace themselves)', labelNames: ['shard_id'], registers: [registry] }),
    antiEntropyRounds: new Counter({ name: 'scratchbird_anti_entropy_rounds_total', help: 'Anti-entropy repair rounds finished, per shard and outcome (completed, aborted)', labelNames: ['shard_id', 'outcome'], registers: [registry] }),
    antiEntropyDivergences: new Counter({ name: 'scratchbird_anti_entropy_divergent_windows_total', help: 'Merkle windows found divergent by anti-entropy rounds, per shard', labelNames: ['shard_id'], registers: [registry] }),
    antiEntropyCpuSeconds: new Counter({ name: 'scratchbird_anti_entropy_cpu_seconds_total', help: 'Thread CPU seconds this node\'s shard worker has spent on the shard\'s anti-entropy, counted every 10 s (what scratchbird_anti_entropy_cpu_percent is the rate of), per shard', labelNames: ['shard_id'], registers: [registry] }),
    antiEntropyRowsRepaired: new Counter({ name: 'scratchbird_anti_entropy_rows_repaired_total', help: 'Row versions written by anti-entropy repairs (either side), per shard', labelNames: ['shard_id'], registers: [registry] }),
    auditEvents: new Counter({ name: 'scratchbird_audit_events_total', help: 'Lines written to the audit log, per event (the first of audit.events the line matched; CHAIN BREAK when the node continued a broken chain)', labelNames: ['event'], registers: [registry] }),
    tracingSpansExported: new Counter({ name: 'scratchbird_tracing_spans_exported_total', help: 'Spans the OTLP collector (tracing.otlp_endpoint) accepted', registers: [registry] }),
    tracingSpansDropped: new Counter({ name: 'scratchbird_tracing_spans_dropped_total', help: 'Finished spans not exported (reason: queue_full = tracing.queue_spans reached while the collector was slow or down, export_failed = the collector refused or could not be reached, shutdown = still queued when the shutdown budget ran out)', labelNames: ['reason'], registers: [registry] }),
    auditWriteFailures: new Counter({ name: 'scratchbird_audit_write_failures_total', help: 'Audit events that could not be written or fsynced (SB_AUDIT_WRITE_FAILED; each is logged at ERROR with the event)', registers: [registry] }),
    replicationLagMs: new Gauge({ name: 'scratchbird_replication_lag_ms', help: 'Mode 1 replication, measured on the shard\'s primary: how long ago the oldest log entry the replica does not hold yet landed in the primary\'s log (0 when it holds everything); one series per shard this node is primary of and replica (replica="node2", as the seeds print it)', labelNames: ['shard_id', 'replica'], registers: [registry] }),
    replicationLagLsns: new Gauge({ name: 'scratchbird_replication_lag_lsns', help: 'Mode 1 replication, measured on the shard\'s primary: log entries the replica does not hold yet', labelNames: ['shard_id', 'replica'], registers: [registry] }),
    writeTps: new Gauge({ name: 'scratchbird_write_tps', help: 'Write transactions committed per second on this node\'s replica of the shard over the last 60 s (a sliding window of 6 x 10 s slots, src/ops/window-histogram.ts): autocommit statements, COMMITs and 2PC commits that wrote (mode primary_replica), leaderless replica writes and single-node leaderless autocommits (mode leaderless_quorum)', labelNames: ['shard_id', 'mode'], registers: [registry] }),
    readLatencyP99Ms: new Gauge({ name: 'scratchbird_read_latency_p99_ms', help: '99th percentile in ms of the reads served by this node\'s replica of the shard over the last 60 s, ring round trip included (point reads, scans, shard queries; leaderless replica reads as mode leaderless_quorum): from a sliding-window histogram, interpolated inside its bucket; absent until the shard served a read', labelNames: ['shard_id', 'mode'], registers: [registry] }),
    shardWrites: new Counter({ name: 'scratchbird_shard_writes_total', help: 'Write transactions committed on this node\'s replica of the shard (what scratchbird_write_tps counts; rate() of it is the per-shard write rate)', labelNames: ['shard_id', 'mode'], registers: [registry] }),
    shardReads: new Counter({ name: 'scratchbird_shard_reads_total', help: 'Reads served by this node\'s replica of the shard (what scratchbird_read_latency_p99_ms measures)', labelNames: ['shard_id', 'mode'], registers: [registry] }),
    statementSeconds: new Histogram({ name: 'scratchbird_statement_duration_seconds', help: 'Statement latency on the node the client sent it to (parse excluded), by statement kind (select, insert, create_table …) and protocol (http, pg)', labelNames: ['kind', 'protocol'], buckets: LATENCY_BUCKETS_S, registers: [registry] }),
    statementErrors: new Counter({ name: 'scratchbird_statement_errors_total', help: 'Statements that failed, by kind, protocol and error code', labelNames: ['kind', 'protocol', 'code'], registers: [registry] }),
    ringUsedBytes: new Gauge({ name: 'scratchbird_ring_used_bytes', help: 'Bytes waiting in a shard worker\'s ring at scrape time (direction: request = main to worker, response = worker to main)', labelNames: ['worker', 'direction'], registers: [registry] }),
    ringCapacityBytes: new Gauge({ name: 'scratchbird_ring_capacity_bytes', help: 'Capacity of each ring (storage.ring_bytes)', registers: [registry] }),
    ringInFlight: new Gauge({ name: 'scratchbird_ring_requests_in_flight', help: 'Requests sent to a shard worker and not yet answered, at scrape time', labelNames: ['worker'], registers: [registry] }),
    workerBusySeconds: new Gauge({ name: 'scratchbird_shard_worker_busy_seconds_total', help: 'Seconds a shard worker had at least one request in flight (a counter: rate() is its busy share; a restarted worker continues the count)', labelNames: ['worker'], registers: [registry] }),
    sessions: new Gauge({ name: 'scratchbird_sessions', help: 'Client sessions open: HTTP sessions (POST /v1/sessions) and PostgreSQL connections past login', registers: [registry] }),
    tempTables: new Gauge({ name: 'scratchbird_temp_tables', help: 'Temporary tables (CREATE TEMPORARY TABLE) the open client sessions hold, at scrape time', registers: [registry] }),
    tempTableBytes: new Gauge({ name: 'scratchbird_temp_table_bytes', help: 'Bytes the rows of the open client sessions\' temporary tables hold in this node\'s memory, as counted against node.temp_table_bytes_per_session, at scrape time', registers: [registry] }),
    tlsHandshakeFailures: new Counter({ name: 'scratchbird_tls_handshake_failures_total', help: 'TLS peers and clients refused (security.tls_enabled), by listener (client, rpc, pg; rpc_client: a peer this node called whose certificate names another node) and reason (no_certificate, untrusted_certificate, wrong_node, plaintext; aborted: the client hung up mid-handshake, not logged; handshake: other)', labelNames: ['listener', 'reason'], registers: [registry] }),
    tlsCertExpirySeconds: new Gauge({ name: 'scratchbird_tls_cert_expiry_seconds', help: 'Seconds until the earliest notAfter of the certificates in a TLS file (security.tls_cert, tls_ca); negative: expired. A WARNING is logged within 14 days, at start and daily', labelNames: ['file'], registers: [registry] }),
    tlsReloads: new Counter({ name: 'scratchbird_tls_reloads_total', help: 'TLS certificate reloads (SIGHUP or a changed file) by outcome: ok, or failed (the running certificates stay)', labelNames: ['outcome'], registers: [registry] }),
    clientRefusals: new Counter({ name: 'scratchbird_client_refusals_total', help: 'Client connections, requests and logins refused by the per-client limits, by listener (client = node.listen, pg = node.pg_listen) and reason: max_connections (node.max_connections_per_client), requests_in_flight (node.max_requests_in_flight_per_client), request_rate (node.max_requests_per_second_per_client), login_throttled (security.login_failures_max)', labelNames: ['listener', 'reason'], registers: [registry] }),
    connections: new Gauge({ name: 'scratchbird_connections', help: 'Open TCP connections per listener (client = node.listen, rpc = node.rpc_listen, pg = node.pg_listen)', labelNames: ['listener'], registers: [registry] }),
    rpcBatchSeconds: new Histogram({ name: 'scratchbird_rpc_duration_seconds', help: 'Round trip of cluster RPC batches this node sent, per peer address (answered batches only)', labelNames: ['peer'], buckets: LATENCY_BUCKETS_S, registers: [registry] }),
    codecVersion: codecVersionGauge(registry),
    codecVersionRefused: new Counter({ name: 'scratchbird_codec_version_refused_total', help: 'Payloads from peers refused because they are in a newer codec version than this node reads (SB_CODEC_VERSION: nothing in them was applied; a peer of a newer release wrote a message this release cannot represent), by codec as the error names it (e.g. gossip ping, SHARD_QUERY, replication message, replicated entry, cluster RPC frame)', labelNames: ['codec'], registers: [registry] }),
    clusterMembers: new Gauge({ name: 'scratchbird_cluster_members', help: 'Members of cluster.nodes (this node included) by the state this node\'s gossip sees them in (normal, suspect, down, joining, leaving, left, unknown, refused); a single node counts itself normal', labelNames: ['state'], registers: [registry] })
  }
}

/** The highest version of each wire codec this build reads (core/codec-versions.ts), set once. */
function codecVersionGauge (registry: Registry): Gauge<'codec'> {
  const g = new Gauge({ name: 'scratchbird_codec_version', help: 'Highest version of each wire codec this node reads (core/codec-versions.ts; it writes each message in the lowest version that carries it): tells the releases of a cluster in a rolling upgrade apart', labelNames: ['codec'], registers: [registry] })
  for (const c of WIRE_CODECS) g.set({ codec: c }, CODEC_VERSIONS[c])
  return g
}

/**
 * Counts `e` when it is SB_CODEC_VERSION raised by decoding a peer's bytes on this node (callers
 * pass only errors of their own decoding, never a peer's error reply); anything else is ignored.
 */
export function countCodecRefusal (metrics: Pick<NodeMetrics, 'codecVersionRefused'>, e: unknown): void {
  if (!isScratchBirdError(e, 'SB_CODEC_VERSION')) return
  const codec = e.details.codec
  metrics.codecVersionRefused.inc({ codec: typeof codec === 'string' ? codec : 'unknown' })
}
