// The configuration schema: the ONE place that says which keys exist, their types, ranges,
// defaults and documentation. The loader's error messages, etc/scratchbird.yaml and
// man/scratchbird.yaml.5 are all derived from it (DESIGN §8, §10 "one source per fact").
//
// Conventions the derivations rely on (see expectedOf below and docs.ts):
// - every key carries `.meta({ description })` on its outermost layer (after `.default()`);
// - `meta.noun` names a value when the type alone says too little ("a power of two",
//   "a HOST:PORT address"); ranges are still read from the min/max checks;
// - `meta.example` shows a value for keys that have no default (commented out in the YAML);
// - cross-field checks report at the offending key with `params.expected` (and `params.got`
//   when the offending thing is not the value at that path, e.g. a map key).
import cron from 'node-cron'
import { asNodeId, MAX_SHARDS, NODE_ID_MAX, NODE_ID_MIN } from '../ids'
import { REPLICATION_MODES } from '../replication-modes'
import { isIPv6 } from 'node:net'
import { isAbsolute, join } from 'node:path'
import { z } from 'zod'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
// setTimeout/setInterval silently treat delays above 2^31-1 ms as 1 ms, so no duration may exceed it.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * What a SIGHUP does with a changed key (meta.reload; absent = 'restart'). 'live': the running
 * components read the key from the node's one Config object at every use (never copied at start),
 * and the reload writes the new value into that object (config/reload.ts). 'restart': something
 * read it once at start (a listener, a worker, a timer, a placement); a reload reports the change
 * and keeps the running value.
 */
export type Reload = 'live' | 'restart'
const LIVE = { reload: 'live' as Reload }

/** Integer milliseconds usable as a Node timer delay. */
function ms (dflt: number, description: string, min = 1, reload: Reload = 'restart') {
  return z.int().min(min).max(MAX_TIMER_MS).meta({ noun: 'a whole number of milliseconds' }).default(dflt).meta({ description, ...(reload === 'live' ? LIVE : {}) })
}

/** replication.hint_* defaults, also what HintDelivery uses when not given a value. */
export const HINT_DEFAULTS = { expirationDays: 7, deliveryIntervalMs: 10_000, deliveryRate: 1000 } as const

/** storage.txn_idle_timeout_ms's default (also what ShardWorkers uses when not given one). */
export const TXN_IDLE_TIMEOUT_MS_DEFAULT = 600_000

/** node.datacenter's and cluster.nodes[].datacenter's default: one datacenter. */
export const DEFAULT_DATACENTER = 'dc1'

const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const HOST_NAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`)

/** HOST:PORT where HOST is a DNS name, an IPv4 address or a bracketed IPv6 address. */
export function isHostPort (text: string, allowPortZero: boolean): boolean {
  const colon = text.lastIndexOf(':')
  if (colon <= 0) return false
  const host = text.slice(0, colon)
  const port = text.slice(colon + 1)
  if (!/^(0|[1-9][0-9]{0,4})$/.test(port)) return false
  const portNumber = Number(port)
  if (portNumber > 65535 || (portNumber === 0 && !allowPortZero)) return false
  if (host.startsWith('[') && host.endsWith(']')) return isIPv6(host.slice(1, -1))
  return host.length <= 253 && HOST_NAME.test(host)
}

// Listening addresses may use port 0 (the OS picks a free port: tests, ephemeral nodes); peer
// addresses may not, because nobody can connect to port 0.
const listenAddress = z.string().refine((s) => isHostPort(s, true))
  .meta({ noun: 'a HOST:PORT address (host name, IPv4 or [IPv6], port 0 to 65535)' })
const peerAddress = z.string().refine((s) => isHostPort(s, false))
  .meta({ noun: 'a HOST:PORT address (host name, IPv4 or [IPv6], port 1 to 65535)' })

const nodeId = z.int().min(NODE_ID_MIN).max(NODE_ID_MAX)
const nonEmpty = z.string().min(1)
const filePath = nonEmpty.meta({ noun: 'a file path' })
const dirPath = nonEmpty.meta({ noun: 'a directory path' })
const isPowerOfTwo = (n: number) => n > 0 && Number.isInteger(Math.log2(n))

/**
 * Run a cross-field check only when the fields it reads parsed cleanly, so that one bad value
 * is reported once (as itself) and the other checks still run: every problem gets listed.
 * Unknown-key issues do not block it: they say nothing about the known fields' values.
 */
function onlyWhenValid (...fields: string[]) {
  return {
    when: (payload: { value: unknown, issues: readonly { code?: string, path?: PropertyKey[] }[] }) =>
      typeof payload.value === 'object' && payload.value !== null &&
      payload.issues.every((i) => i.code === 'unrecognized_keys' ||
        ((i.path?.length ?? 0) > 0 && !fields.includes(String(i.path?.[0]))))
  }
}

const node = z.strictObject({
  id: nodeId.default(1).meta({ description: 'This node\'s id, unique in the cluster. When cluster.nodes is not empty it must be one of their ids.' }),
  data_dir: dirPath.default('./data').meta({ description: 'Directory holding the shard databases, the commit logs and the HLC state. Relative paths resolve against the working directory of the scratchbird process. One process per data directory (it is locked).' }),
  listen: listenAddress.default('127.0.0.1:8080').meta({ description: 'Address of the client HTTP API (POST /v1/sql, /v1/sessions, /v1/health), and of the cluster RPC too unless node.rpc_listen is set. Use 0.0.0.0:PORT to accept connections from other hosts.' }),
  // No schema default: unset keeps the RPC on node.listen, as every configuration before this key did.
  rpc_listen: listenAddress.optional().meta({ description: 'Address of the cluster RPC listener (POST /v1/rpc: gossip, forwarded shard requests, replication between nodes), apart from the client API so a firewall can keep clients off it. Peers reach it at this node\'s cluster.nodes address, which must then lead here. When set, node.listen serves only the client API and rpc_listen only the RPC: each answers the other\'s paths with 404 SB_NOT_FOUND. Not set: the RPC is served on node.listen beside the client API. A node without other cluster members opens no RPC listener. Must differ from node.listen.', example: '10.0.0.1:7000' }),
  metrics_listen: listenAddress.default('127.0.0.1:9090').meta({ description: 'Address serving Prometheus metrics at /metrics.' }),
  pg_listen: z.union([z.literal('off'), listenAddress]).default('127.0.0.1:5432').meta({
    description: 'Address of the PostgreSQL wire protocol (v3) listener: psql, pgbench and PostgreSQL drivers connect here, with the same sessions, transactions and SQL as the HTTP API. 5432 is PostgreSQL\'s own port, so a PostgreSQL server on the same host needs another port here (or off). off: no PostgreSQL listener. Authentication: see security.pg_password.'
  }),
  max_connections_per_client: z.int().min(0).max(1_000_000).default(1000).meta({ description: 'Connections one client address (IP, whatever its ports) may hold open at once on each client listener: the HTTP API (node.listen) and the PostgreSQL protocol (node.pg_listen), counted apart. One more is refused: the HTTP API answers its request 503 SB_TOO_MANY_CONNECTIONS and closes; the PostgreSQL protocol sends a FATAL ErrorResponse (SQLSTATE 53300) and closes. Peers reaching the cluster RPC on node.listen count too (on node.rpc_listen they do not). 0: no limit.' }),
  max_requests_in_flight_per_client: z.int().min(0).max(1_000_000).default(0).meta({ description: 'Requests one client address (IP) may have running at once on this node, the HTTP API (every route but /v1/health) and the PostgreSQL protocol (Query and Execute messages) counted together. One more is refused before it runs: HTTP 429 SB_TOO_MANY_REQUESTS with Retry-After, on the PostgreSQL protocol an ErrorResponse (SQLSTATE 53400; the connection stays). Counted in scratchbird_client_refusals_total{reason="requests_in_flight"}. 0: no limit (each connection still runs one request at a time, so node.max_connections_per_client bounds it).', ...LIVE }),
  max_requests_per_second_per_client: z.int().min(0).max(1_000_000).default(0).meta({ description: 'Requests per second one client address (IP) may send to this node (HTTP API routes but /v1/health, PostgreSQL Query and Execute messages, counted together), as a token bucket of request_burst_per_client requests refilled at this rate. A request beyond it is refused before it runs: HTTP 429 SB_TOO_MANY_REQUESTS with Retry-After (when the bucket holds one again), on the PostgreSQL protocol an ErrorResponse (SQLSTATE 53400; the connection stays). Counted in scratchbird_client_refusals_total{reason="request_rate"}. 0: no rate limit.', ...LIVE }),
  request_burst_per_client: z.int().min(1).max(1_000_000).default(100).meta({ description: 'Size of the token bucket of max_requests_per_second_per_client: how many requests a client address that has been quiet may send at once before the rate applies. Unused while that key is 0.', ...LIVE }),
  pg_auth_timeout_ms: ms(60000, 'A PostgreSQL-protocol connection that has not completed its startup and authentication this long after connecting is closed (PostgreSQL\'s authentication_timeout), so clients that connect and say nothing cannot hold connections.'),
  // No schema default: it follows this node's cluster.nodes entry (filled in by configSchema), so
  // the shared cluster section alone says where every node is.
  datacenter: nonEmpty.optional().meta({ description: `Datacenter (or availability zone) of this node, announced in gossip and shown by SHOW CLUSTER MEMBERS. Default: the datacenter of this node's cluster.nodes entry (${DEFAULT_DATACENTER} without one). When set it must equal that entry's datacenter, which is what placement reads.`, example: 'us-east-1a' }),
  durability: z.enum(['sync', 'none']).default('sync').meta({ description: 'sync: a commit is acknowledged only after its batch is on disk (fsync). none: acknowledged once written to the OS; faster, but a power loss can lose recently acknowledged commits (a process crash cannot).' }),
  max_clock_offset_ms: z.int().min(1).default(500).meta({ description: 'Largest accepted distance between a remote hybrid-logical-clock timestamp and the local clock; messages further ahead are rejected (SB_CLOCK_OFFSET_EXCEEDED) so one bad clock cannot win every conflict.' }),
  shutdown_timeout_ms: ms(10000, 'On SIGTERM/SIGINT, how long the stop may take before the node exits anyway: first each shard this node is primary of is handed to a caught-up replica (at most 2 × replication.election_timeout_ms, within a quarter of this), then in-flight requests finish and the shards are closed.', 0, 'live'),
  temp_table_bytes_per_session: z.int().min(KiB).max(64 * GiB).default(64 * MiB).meta({ description: 'Most bytes the rows of one client session\'s temporary tables (CREATE TEMPORARY TABLE) may hold together: keys, row images and about 64 bytes per row. Temporary tables live in this node\'s memory, owned by the session (HTTP session or PostgreSQL connection), and go with it; a write that would pass the limit fails with SB_TEMP_TABLE_FULL and changes nothing. Read at every statement.', ...LIVE })
}).superRefine((n, ctx) => {
  // Two listeners on one HOST:PORT cannot both bind (port 0 picks two free ports, so it may repeat).
  if (n.rpc_listen !== undefined && n.rpc_listen === n.listen && !n.listen.endsWith(':0')) {
    ctx.addIssue({ code: 'custom', path: ['rpc_listen'], message: 'same address as node.listen', params: { expected: `an address other than node.listen (${n.listen}), or nothing to serve the RPC on node.listen` } })
  }
}, onlyWhenValid('listen', 'rpc_listen')).meta({ description: 'Settings of this node (process): identity, directories and listening addresses.' })

// Shard ids are map keys in YAML (`{0: 0, 5: 1}`), which arrive as strings.
const shardIdKey = z.string().regex(/^(0|[1-9][0-9]{0,3})$/).meta({ noun: 'a shard id (a whole number)' })
const workerIndex = z.int().min(0).meta({ noun: 'a worker index' })

const storage = z.strictObject({
  shards: z.int().min(1).max(MAX_SHARDS).default(16).meta({ description: 'Number of shards every table is hash-partitioned into. All nodes of a cluster must use the same value. The first start records it in the data directory (cluster.json); a later start with another value is refused (SB_LAYOUT_MISMATCH), and so is a peer announcing another value in gossip. The count changes only by a split, ALTER CLUSTER SET shards = 2 x the current count (only doubling: shard s of n becomes shards s and s + n of 2n), recorded in every cluster.json; after a recorded split, a file that still says a count the cluster was split from starts with the recorded count and a WARNING (cluster.json wins). In a cluster the split runs online (each holder derives the new shards from its own copy; the new shard s + n is placed on the nodes of its parent); a node running alone refuses it with SB_SHARD_SPLIT_UNSUPPORTED.' }),
  workers: z.union([z.int().min(1).max(1024), z.literal('auto')]).default('auto').meta({ description: 'Number of shard worker threads; "auto" runs one per CPU core. Each worker owns a subset of the shards and is the only thread touching their databases.' }),
  shard_workers: z.record(shardIdKey, workerIndex).default({}).meta({
    noun: 'a mapping of shard id to worker index',
    description: 'Explicit placement of shards on workers, shard id -> worker index (both counted from 0). Shards not listed are assigned round-robin. Shard ids must be below storage.shards and, when storage.workers is a number, worker indexes below storage.workers.',
    example: { 0: 0, 5: 1 }
  }),
  ring_bytes: z.int().min(64 * KiB).max(GiB).refine(isPowerOfTwo).default(4 * MiB).meta({
    noun: 'a power of two',
    description: 'Capacity in bytes of each worker\'s request ring and of its response ring (shared memory between the main thread and the worker). Memory used: 2 x workers x ring_bytes.'
  }),
  max_message_bytes: z.int().min(KiB).max(256 * MiB).default(MiB).meta({ description: 'Largest single message (request or response frame) on a ring. At most ring_bytes / 4, so a ring always holds several messages and backpressure cannot deadlock.' }),
  sweep_schedule: z.string().refine((v) => cron.validate(v)).default('*/5 * * * *').meta({
    noun: 'a cron expression (5 fields, or 6 with seconds first)',
    description: 'When the sweep runs on every shard (node-cron syntax): it removes record versions no transaction can see any more (superseded back versions, versions of dead transactions, and rows of primary_replica tables deleted before the horizon — leaderless tables keep their tombstones until anti-entropy can purge them — and the whole storage of relations dropped from the catalog: rows, back versions, index entries and Merkle leaves, from the first run after the one that saw the drop whose horizon has passed it), then truncates the commit log (storage.commit_log_retention_hours). Firebird\'s sweep; the horizon is the start of the oldest snapshot transaction open on this node or, in a cluster, announced in gossip by any live node.'
  }),
  commit_log_retention_hours: z.int().min(0).max(87_600).default(24).meta({
    noun: 'a whole number of hours',
    description: 'How long each shard keeps its commit log (the committed mutations replicas, incremental backups and point-in-time replay read). At each sweep, entries committed more than this many hours ago are truncated, unless another consumer of the log still needs them: once a backup has been completed (scratchbird_backup), every entry after it is kept for the next incremental backup, whatever its age. 0 keeps nothing beyond what other consumers need. Reading a truncated range fails with SB_COMMIT_LOG_TRUNCATED, naming the first LSN still available.'
  }),
  txn_idle_timeout_ms: ms(TXN_IDLE_TIMEOUT_MS_DEFAULT, 'An active (not prepared) transaction on a shard that receives no request for this long is rolled back by its shard worker, so a coordinator node that died or lost its session cannot leave rows locked (and the sweep held back) forever; a later request for it fails with SB_TXN_NOT_ACTIVE. This is also how long a PostgreSQL-protocol connection may sit idle inside a transaction (its connection itself never times out). Prepared (limbo) transactions are never expired: 2PC recovery decides them. Must be greater than http.session_idle_timeout_ms, so a live client session never loses its shard transactions first.', 1000)
}).superRefine((s, ctx) => {
  for (const [shard, worker] of Object.entries(s.shard_workers)) {
    if (Number(shard) >= s.shards) {
      ctx.addIssue({ code: 'custom', path: ['shard_workers', shard], message: 'shard id out of range', params: { expected: `a shard id below storage.shards (${s.shards})`, got: Number(shard) } })
    }
    if (typeof s.workers === 'number' && worker >= s.workers) {
      ctx.addIssue({ code: 'custom', path: ['shard_workers', shard], message: 'worker index out of range', params: { expected: `a worker index below storage.workers (${s.workers})` } })
    }
  }
}, onlyWhenValid('shards', 'workers', 'shard_workers')).superRefine((s, ctx) => {
  if (s.max_message_bytes > s.ring_bytes / 4) {
    ctx.addIssue({ code: 'custom', path: ['max_message_bytes'], message: 'message larger than a quarter ring', params: { expected: `an integer ≤ storage.ring_bytes / 4 (${s.ring_bytes / 4})` } })
  }
}, onlyWhenValid('ring_bytes', 'max_message_bytes'))
  .meta({ description: 'Local storage: shards, shard worker threads and the rings connecting them to the main thread.' })

const clusterNode = z.strictObject({
  id: nodeId.meta({ description: 'The member\'s node.id.' }),
  address: peerAddress.meta({ description: 'The member\'s cluster RPC address as reachable from the other nodes: its node.rpc_listen, or its node.listen when it sets no rpc_listen.', example: 'node1.example.com:7000' }),
  datacenter: nonEmpty.default(DEFAULT_DATACENTER).meta({ description: 'The member\'s datacenter (or availability zone). Replica placement reads it: a shard\'s replicas are spread over datacenters first (each of D datacenters holds N/D of a shard\'s N replicas, rounded up or down, before any holds more). Every node must list the same datacenters, or they would disagree on placement.' })
}).meta({ noun: 'a cluster member (a mapping with id, address and datacenter)' })

const cluster = z.strictObject({
  name: nonEmpty.default('scratchbird').meta({ description: 'Cluster name. Peers announcing a different name are refused, so two clusters cannot merge by accident.' }),
  nodes: z.array(clusterNode).default([]).meta({
    noun: 'a list of cluster members',
    description: 'The cluster members (including this node) used to join the cluster through gossip. Empty: a one-node cluster. The first start records the member ids in the data directory (cluster.json, membership epoch 1). To add a node, start it with a cluster.nodes listing itself and the running members (seeds): the lowest live member admits it through gossip (membership epoch + 1, recorded in every data directory; the other nodes need no restart or edit) unless a primary_replica table of replication_factor 1 shares the cluster with one of replication_factor 2 or more (SB_MEMBERSHIP_REFUSED in its log), and it receives its shard replicas by bootstrap (a single copy — replication_factor 1, the default — moves by a replication group run for the move: it stays joining until every shard it now owns moved from its old owner) (with leaderless_quorum tables it stays joining, counted toward no W or R, until their rows are filled on it; meanwhile a write to a shard it is being filled for needs its acknowledgement besides W of the old replicas, and fails with SB_QUORUM_NOT_ACHIEVED while it is down). A later start listing a node the recorded layout lacks is refused (SB_LAYOUT_MISMATCH, saying how to admit it), and so is one listing fewer members at epoch 1; after a membership change cluster.nodes only seeds gossip. To remove a node, run DRAIN NODE n (it ends left, holding nothing), stop it, then remove it from cluster.nodes; REMOVE NODE n drops a node gone for good (REMOVE NODE n FORCE if it held the only copy of some shards). Addresses may change.',
    example: [
      { id: 1, address: 'node1.example.com:8080', datacenter: 'dc1' },
      { id: 2, address: 'node2.example.com:8080', datacenter: 'dc2' }
    ]
  }),
  rebalance_rate_bytes_per_s: z.int().min(0).default(0).meta({ description: 'Bytes per second this node streams, at most, to bootstrap shard replicas on other nodes by snapshot (a node joining, DRAIN NODE, REMOVE NODE, a raised replication_factor): the snapshot chunks of all its streams share it (a token bucket holding one second\'s worth), so a move leaves disk and network to the client load. A chunk (at most 64 KiB and 512 keys, and half storage.max_message_bytes) is sent whole and the next waits until the rate has paid for it. The log entries that follow a snapshot are not limited (they are the writes of the moment). 0: unlimited. Read at start.', example: 50_000_000 }),
  rebalance_max_busy_share: z.number().gt(0).max(1).default(0.2).meta({ description: 'Share of the time each snapshot stream of this node (see rebalance_rate_bytes_per_s) may be busy: after each chunk it waits in proportion to how long that chunk took from its read here to the replica\'s reply (read on this node\'s shard worker, transfer, install on the replica\'s), so a stream busy for 10 ms waits 40 ms at 0.2. On idle nodes chunks are quick and the move runs at this share of full speed; while client statements keep the shard workers at either end busy, chunks queue behind them, take longer, and the move slows by itself, leaving the cores to the clients. Recoveries are not paced: a bootstrap of a voter that fell behind the primary\'s log, or of the replacement of a node REMOVE NODE took out (the shard lacks a copy until it is done). 1: no pacing (as fast as the rate allows). Read at start.', example: 0.5 }),
  rebalance_max_concurrent_shards: z.int().min(1).max(64).default(2).meta({ description: 'Shard replicas this node bootstraps on other nodes at once by snapshot (each holds a storage snapshot open here while it streams); further shards wait their turn, offered again by their replication group. Read at start.' })
}).superRefine((c, ctx) => {
  const ids = new Map<number, number>()
  const addresses = new Map<string, number>()
  c.nodes.forEach((n, i) => {
    const sameId = ids.get(n.id)
    if (sameId !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: 'duplicate node id', params: { expected: `an id not used by cluster.nodes[${sameId}]` } })
    } else ids.set(n.id, i)
    const sameAddress = addresses.get(n.address)
    if (sameAddress !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['nodes', i, 'address'], message: 'duplicate address', params: { expected: `an address not used by cluster.nodes[${sameAddress}]` } })
    } else addresses.set(n.address, i)
  })
}, onlyWhenValid('nodes'))
  .meta({ description: 'Cluster membership (the seed\'s cluster.yaml). The same section can be shared by all nodes.' })

const replication = z.strictObject({
  default_mode: z.enum(REPLICATION_MODES).default('primary_replica').meta({ description: 'Replication mode of new tables whose CREATE TABLE does not set replication_mode: primary_replica (one primary per shard replicating its commit log to the others of the shard\'s replication_factor copies: see sync_replicas, election_timeout_ms) or leaderless_quorum (any replica accepts writes; hybrid-logical-clock last-writer-wins; new tables get uuid_type v8_hlc).' }),
  default_factor: z.int().min(1).default(1).meta({ description: 'Replicas per shard of new tables whose CREATE TABLE does not set replication_factor. At most the configured members (cluster.nodes; a node alone is one) — the node refuses to start otherwise; a CREATE TABLE taking it fails while fewer nodes are live.' }),
  write_quorum: z.int().min(1).default(1).meta({ description: 'Replicas that must acknowledge a write in leaderless_quorum mode, for new tables whose CREATE TABLE does not set write_quorum (lowered to the replication_factor of the table, with a warning, when the statement sets a smaller one). Lower: faster writes, less durability. At most default_factor.' }),
  read_quorum: z.int().min(1).default(1).meta({ description: 'Replicas that must answer a read in leaderless_quorum mode, for new tables whose CREATE TABLE does not set read_quorum (lowered to the replication_factor of the table, with a warning, when the statement sets a smaller one). Lower: faster reads that may be stale. At most default_factor.' }),
  sync_replicas: z.union([z.literal('majority'), z.int().min(0)]).default('majority').meta({ description: 'primary_replica tables: how many replicas must hold a commit durably before the primary acknowledges it. majority (default): enough replicas that, with the primary, a majority of the shard\'s voting replicas has it — no acknowledged commit is lost when a minority fails. 0: asynchronous (PostgreSQL\'s default): the primary acknowledges on its own durable append and replicas follow; a failover can lose the commits of the replication lag window. A number k: the primary and k replicas (capped at the voting replicas there are; below a majority a failover can lose acknowledged commits, as with 0).' }),
  election_timeout_ms: ms(1000, 'primary_replica tables with more than one copy: how long a replica hears nothing from its shard\'s primary before it asks the others to elect it (each wait is drawn between this and twice this); also how long a primary cut off from a majority keeps the role before stepping down. A primary serves reads only within a lease of 0.8 × this from its last heartbeat a majority acknowledged, so a primary cut off from the others refuses reads (SB_NOT_PRIMARY) before a new one can be elected. A failover takes about this long. At least 4 × heartbeat_ms.', 10),
  heartbeat_ms: ms(100, 'primary_replica tables with more than one copy: how often a shard\'s primary sends its replicas a heartbeat (and resends what they lack); the replication groups\' timers tick at half this. At most election_timeout_ms / 4.', 1),
  log_retention_bytes: z.int().min(1024).default(64 * 1024 * 1024).meta({ description: 'primary_replica tables with more than one copy: how many bytes of entries each shard\'s primary keeps in its replication log for replicas that lag behind (a stopped node, a slow link). A replica that falls further behind than this is re-bootstrapped: the primary streams it a consistent snapshot of the shard in chunks (storage.max_message_bytes each, resumed from the last chunk installed after an interruption), then the log from the snapshot\'s LSN; the replica counts toward acknowledgements and votes only once caught up. Larger: a returning replica catches up from the log more often, at the cost of memory on the primary.' }),
  lag_warning_ms: ms(1000, 'primary_replica tables with more than one copy: a shard\'s primary writes a warning to replication.log when one of its replicas falls further behind than this (the age of the oldest entry it lacks, as SHOW REPLICATION LAG shows), once when it crosses the threshold and once more when it is back under it.', 1),
  write_timeout_ms: ms(5000, 'How long a write waits for its quorum before failing (SB_QUORUM_NOT_ACHIEVED). Increase for slow networks.', 1, 'live'),
  read_timeout_ms: ms(3000, 'How long a read waits for its quorum before failing. Decrease for low-latency queries.', 1, 'live'),
  hint_expiration_days: z.number().positive().default(HINT_DEFAULTS.expirationDays).meta({ description: 'Hints (writes stored for an unreachable replica) older than this are dropped; what they carried stays missing on that replica until a quorum read of each key or an anti-entropy repair round (anti_entropy.enabled) repairs it.', ...LIVE }),
  hint_delivery_interval_ms: ms(HINT_DEFAULTS.deliveryIntervalMs, 'How often stored hints are offered again to their target nodes.', 1, 'live'),
  hint_delivery_rate: z.int().min(1).default(HINT_DEFAULTS.deliveryRate).meta({ description: 'Most hints per second delivered to one target node, so a returning node is not flooded.', ...LIVE }),
  tombstone_gc_grace_days: z.number().positive().default(10).meta({ description: 'Deletion tombstones of leaderless_quorum tables are purged by the sweep only after this many days (counted from the later of the delete and its arrival on the replica) AND once an anti-entropy repair round with every other replica of the shard has verified they hold it (or something newer) — so a replica that missed the delete cannot bring the row back. In a cluster without anti-entropy rounds (anti_entropy.enabled false) they are never purged; a single node purges them by age alone. primary_replica tables need no grace: the sweep purges their deletes once below its horizon. A replica that has completed no repair round of a shard within this grace (a node back from a long outage) neither serves the shard nor counts toward its quorums (it refuses them, and scans of its leaderless tables, with SB_REPLICA_STALE; a scan goes to another replica that serves the shard) until a round with every other replica has completed. Must exceed hint_expiration_days.' })
}).superRefine((r, ctx) => {
  if (r.tombstone_gc_grace_days <= r.hint_expiration_days) {
    ctx.addIssue({ code: 'custom', path: ['tombstone_gc_grace_days'], message: 'grace too short', params: { expected: `a number > replication.hint_expiration_days (${r.hint_expiration_days})` } })
  }
}, onlyWhenValid('tombstone_gc_grace_days', 'hint_expiration_days')).superRefine((r, ctx) => {
  if (r.heartbeat_ms * 4 > r.election_timeout_ms) {
    ctx.addIssue({ code: 'custom', path: ['heartbeat_ms'], message: 'heartbeat too slow for the election timeout', params: { expected: `an integer ≤ replication.election_timeout_ms / 4 (${Math.floor(r.election_timeout_ms / 4)})` } })
  }
}, onlyWhenValid('heartbeat_ms', 'election_timeout_ms')).superRefine((r, ctx) => {
  for (const key of ['write_quorum', 'read_quorum'] as const) {
    if (r[key] > r.default_factor) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'quorum above factor', params: { expected: `an integer ≤ replication.default_factor (${r.default_factor})` } })
    }
  }
}, onlyWhenValid('default_factor', 'write_quorum', 'read_quorum'))
  .meta({ description: 'Cluster-wide defaults of new tables: a CREATE TABLE takes mode, factor and quorums from here unless its WITH (...) sets them (sys_tables shows the values a table got); each table may change them with ALTER TABLE ... SET.' })

const antiEntropy = z.strictObject({
  enabled: z.boolean().default(true).meta({ description: 'Keep a Merkle forest per shard replica and, in a cluster, run repair rounds between the replicas of leaderless_quorum tables: windows whose roots differ are drilled into bucket by bucket and each side gets the versions it lacks (anti_entropy.log). Rounds pace themselves to about 2 % of the time; SHOW ANTI_ENTROPY STATUS shows them and REPAIR SHARD n / REPAIR TABLE t starts one now. The shards of primary_replica tables are verified by their primary, with each other replica in turn: both hash the rows they store at a snapshot the replica holds in full (now minus its replication lag and 2 s), differing buckets are drilled into, each row the replica does not hold as the primary does is logged (anti_entropy.log, WARNING), and a replica\'s damaged copy of the primary\'s version gets the primary\'s image back. With false the shards keep no forest either (no leaves on the write path, nothing sealed, SHOW MERKLE FOREST SIZE shows zeros) and no rounds run.' }),
  interval_ms: ms(60000, 'How often each shard this node holds a leaderless replica of (or is the primary of, for primary_replica tables) starts a repair round, with its next live replica peer in turn. Increase to reduce overhead.'),
  merkle_tree_window_hours: z.number().positive().default(1).meta({ description: 'Width in hours of one time window of the Merkle forest: a leaderless version belongs to the window of its version id\'s timestamp. Larger windows: fewer trees, coarser repair. Changing it makes each shard rebuild its forest from its rows at the next start. Not used when enabled is false (no forest is kept).' }),
  sealing_grace_period_minutes: z.number().min(0).default(10).meta({ description: 'A window is sealed this many minutes after it ends: its tree is written out and only its root stays in memory. Later writes into it still land (each counts as a reseal). Not used when enabled is false.' })
}).meta({ description: 'Replica convergence by time-partitioned Merkle trees.' })

const gossip = z.strictObject({
  interval_ms: ms(1000, 'Time between gossip rounds. The seed\'s example uses 10000 (less traffic, slower failure detection); the default of 1000 detects failures within seconds.'),
  fanout: z.int().min(1).default(3).meta({ description: 'Peers contacted per gossip round.' }),
  heartbeat_timeout_ms: ms(30000, 'A peer not heard from for this long is marked down. Must be greater than interval_ms.')
}).superRefine((g, ctx) => {
  if (g.heartbeat_timeout_ms <= g.interval_ms) {
    ctx.addIssue({ code: 'custom', path: ['heartbeat_timeout_ms'], message: 'timeout not above interval', params: { expected: `an integer > gossip.interval_ms (${g.interval_ms})` } })
  }
}, onlyWhenValid('interval_ms', 'heartbeat_timeout_ms'))
  .meta({ description: 'Membership and failure detection.' })

const TLS_FILES = ['tls_cert', 'tls_key', 'tls_ca'] as const

const security = z.strictObject({
  tls_enabled: z.boolean().default(false).meta({ description: 'Serve TLS only, on every listener: the client HTTP API (node.listen: https://), the cluster RPC (node.rpc_listen) and the PostgreSQL protocol (node.pg_listen: SSLRequest, then TLS; a plaintext startup is refused — clients use sslmode=require or stronger). Between nodes, mutual TLS: a peer\'s RPC is served only when its client certificate chains to tls_ca and names the node id the RPC claims, and this node accepts a peer only when its server certificate names the node cluster.nodes lists at that address. A node certificate names node N as SAN URI:scratchbird://node/N, SAN DNS:nodeN or CN=nodeN (README "TLS" has the openssl commands). Refused peers and clients are counted in scratchbird_tls_handshake_failures_total. Requires tls_cert, tls_key and tls_ca. The metrics listener (node.metrics_listen) stays plaintext.' }),
  tls_cert: filePath.optional().meta({ description: 'This node\'s certificate (PEM), optionally followed by its intermediate CA certificates; presented to clients and, as the client certificate, to peers. It names this node (see tls_enabled) and, for clients verifying the host (psql sslmode=verify-full), the host names and addresses clients use (SAN DNS:/IP:). Read again on SIGHUP and when the file changes (polled every 2 s): new connections get the new certificate, established ones keep theirs; a set that does not load keeps the running one and logs an ERROR. Expiry within 14 days logs a WARNING at start and daily (scratchbird_tls_cert_expiry_seconds). Relative paths resolve against the working directory.', example: '/etc/scratchbird/certs/node.crt' }),
  tls_key: filePath.optional().meta({ description: 'Private key of tls_cert (PEM, unencrypted). Reloaded with tls_cert. Keep it private.', example: '/etc/scratchbird/certs/node.key' }),
  tls_ca: filePath.optional().meta({ description: 'CA certificate(s) (PEM) that peer certificates must chain to; the cluster\'s own CA, not a public one (any certificate it signed that names a node can act as that node). Reloaded with tls_cert.', example: '/etc/scratchbird/certs/ca.crt' }),
  cluster_secret: z.string().min(16).optional().meta({ description: 'Shared secret every node presents on cluster RPC; RPCs without it are rejected. At least 16 characters. Keep this file private when set.', example: 'change-me-to-a-long-random-string' }),
  auth: z.enum(['scram', 'trust']).default('scram').meta({
    description: 'How clients of the HTTP API (node.listen) and the PostgreSQL protocol (node.pg_listen) authenticate. scram: as a user of the catalog (CREATE USER … PASSWORD), PostgreSQL clients with SCRAM-SHA-256 against the stored verifier, HTTP clients with HTTP Basic (Authorization: Basic base64(user:password)); /v1/health needs none. Every statement then runs with its user\'s privileges (GRANT/REVOKE; SQLSTATE 42501 SB_INSUFFICIENT_PRIVILEGE otherwise). While the catalog holds no user yet: with bootstrap_admin set, only that administrator\'s credentials are accepted (the node creates it as a superuser at first start); without it every client is admitted as a superuser with a WARNING at start — allowed only when every client listener is on a loopback address (the node refuses to start otherwise), and ended by the first CREATE USER. trust: every client is admitted as a superuser, whatever it sends; for development on loopback only: the node refuses to start with it unless node.listen and node.pg_listen are loopback addresses, and warns at start.'
  }),
  bootstrap_admin: z.string().regex(/^[a-z_][a-z0-9_$]{0,62}$/).optional().meta({
    noun: 'a user name (lower-case letters, digits, _ and $; 63 characters at most)',
    description: 'A superuser the node creates at the first start of a cluster (when the catalog holds no user), with the password read from bootstrap_admin_password_file or, when that is not set, the environment variable SCRATCHBIRD_ADMIN_PASSWORD (one of the two is required). Until the user is in the catalog (in a cluster: once the catalog coordinator has taken it) these credentials are the only ones accepted. Once any user exists the key does nothing: changing it or the password later changes no user (use ALTER USER).',
    example: 'admin'
  }),
  bootstrap_admin_password_file: filePath.optional().meta({
    description: 'File holding the password of bootstrap_admin (its first line; surrounding white space removed). Relative paths resolve against the working directory. Keep it private.',
    example: '/etc/scratchbird/admin-password'
  }),
  login_failures_max: z.int().min(0).max(1_000_000).default(10).meta({ description: 'Failed logins (wrong password, unknown user; HTTP Basic and PostgreSQL SCRAM alike) one client address may make within login_lockout_ms before its logins are refused for login_lockout_ms without any password check: HTTP 429 SB_LOGIN_THROTTLED with Retry-After, on the PostgreSQL protocol a FATAL (SQLSTATE 28000) before the SCRAM exchange — correct credentials included. A successful login clears the count. Counted per node and per client IP. 0: never throttle.', ...LIVE }),
  login_lockout_ms: z.int().min(1).max(86_400_000).default(60_000).meta({ description: 'How long a client address is refused after login_failures_max failed logins, and the window in which its failures are counted (milliseconds).', ...LIVE }),
  pg_password: z.string().min(1).optional().meta({
    description: 'Deprecated (use users: CREATE USER … PASSWORD, or bootstrap_admin). Applies only while the catalog holds no user and no bootstrap_admin is set: PostgreSQL-protocol clients (node.pg_listen) must then prove this password with SCRAM-SHA-256, whatever user name they give; once a user exists, logins are checked against the users and this key is ignored (a WARNING at start says so). Read at each new connection: a reload changes it for the next ones. Keep this file private when set.',
    example: 'change-me',
    ...LIVE
  })
}).superRefine((s, ctx) => {
  if (!s.tls_enabled) return
  for (const key of TLS_FILES) {
    if (s[key] === undefined) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'missing TLS file', params: { expected: 'a file path because security.tls_enabled is true' } })
    }
  }
}, onlyWhenValid('tls_enabled', ...TLS_FILES))
  .meta({ description: 'Authentication and encryption between nodes and clients.' })

export const AUDIT_EVENTS = [
  'CREATE TABLE', 'ALTER TABLE', 'DROP TABLE',
  'SET replication_mode', 'SET replication_factor', 'SET write_quorum', 'SET read_quorum',
  'SET uuid_type', 'SET partition_key_columns',
  'GRANT', 'REVOKE', 'CREATE USER', 'ALTER USER', 'DROP USER', 'CREATE TOKEN', 'DROP TOKEN', 'TOPOLOGY', 'LOGIN'
] as const

const audit = z.strictObject({
  enabled: z.boolean().default(false).meta({ description: 'Write the hash-chained audit log (audit.log_file): one JSON line per event of audit.events with seq, time, node, event, user (the authenticated user; trust under security.auth trust or before any user exists), client address, protocol, statement, outcome (ok or the error code) and prev, the sha256 of the line before, so an edited, removed or reordered line is detected (scratchbird audit verify FILE). Each line is fsynced before the audited statement is answered (a login: before the client is admitted); the head file FILE.head (last line number and hash, replaced atomically after each line) lets verify detect lines cut from the end. A restart continues the chain from the last line; a damaged last line (a write cut short) or a file shorter than its head is followed by a CHAIN BREAK line. A line that cannot be written is logged at ERROR (SB_AUDIT_WRITE_FAILED) and counted; the statement itself has run.' }),
  // No schema default: the default follows logging.dir and logging.files.audit (filled in by
  // configSchema's transform) so the two settings can never name different files by accident.
  log_file: filePath.optional().meta({ description: 'Audit log file. Default: logging.files.audit under logging.dir (./data/logs/audit.log). Relative paths resolve against the working directory. Its head file is the same path with .head appended.', example: '/var/log/scratchbird/audit.log' }),
  events: z.array(z.enum(AUDIT_EVENTS)).default(['CREATE TABLE', 'ALTER TABLE', 'DROP TABLE']).meta({ noun: 'a list of audit event names', description: `Events to record. Allowed: ${AUDIT_EVENTS.join(', ')}. CREATE TABLE, ALTER TABLE, DROP TABLE: those statements, succeeded or failed, through any protocol on this node (the node the client sent them to). SET <option>: a CREATE TABLE … WITH or ALTER TABLE … SET naming that table option (one line per statement, listing every matching event). GRANT, REVOKE: those statements (table privileges and ADMIN / SUPERUSER), succeeded or failed; details name the table. CREATE USER, ALTER USER, DROP USER: those statements (passwords are never written: PASSWORD '********'). CREATE TOKEN, DROP TOKEN: those statements (bearer tokens; neither the token nor its hash is written). LOGIN: logins, admitted (outcome ok) and refused (SB_AUTH_FAILED): PostgreSQL-protocol connections, and HTTP requests whose credentials fail (a good HTTP request is not a login line: every request carries its credentials). TOPOLOGY: membership changes this node's gossip sees (a node joined, up, suspect, down, left).` })
}).meta({ description: 'Audit trail (the seed\'s "Audit Logging").' })

const lsm = z.strictObject({
  l0_compaction_trigger: z.int().min(1).default(4).meta({ description: 'Level-0 files that trigger a compaction (the seed\'s Compaction Tuning). LevelDB as built into classic-level fixes this at build time (4) and exposes no option for it.' }),
  max_bytes_for_level_base: z.int().min(MiB).default(256 * MiB).meta({ description: 'Size in bytes of level 1 (the seed\'s Compaction Tuning). LevelDB as built into classic-level fixes this at build time (10 MiB, x10 per level) and exposes no option for it.' }),
  write_buffer_size: z.int().min(64 * KiB).max(GiB).default(4 * MiB).meta({ description: 'Bytes of writes buffered in memory per shard before they are written to a level-0 file (LevelDB write_buffer_size, classic-level writeBufferSize). Larger: fewer, bigger level-0 files and so less compaction, at the cost of memory and a longer log replay after a crash.' }),
  block_cache_bytes: z.int().min(0).max(64 * GiB).default(8 * MiB).meta({ description: 'Block cache per shard in bytes (LevelDB block_cache, classic-level cacheSize).' }),
  max_open_files: z.int().min(1).max(1_000_000).default(1000).meta({ description: 'Open table files per shard (LevelDB max_open_files, classic-level maxOpenFiles). Mind the process file limit: shards x max_open_files.' }),
  block_size: z.int().min(KiB).max(4 * MiB).default(4 * KiB).meta({ description: 'Approximate bytes of (uncompressed) key/value data per table block, the unit read from disk and cached (LevelDB block_size, classic-level blockSize). Larger: better scans and compression, slower point reads.' }),
  max_file_size: z.int().min(MiB).max(GiB).default(2 * MiB).meta({ description: 'Bytes LevelDB writes to a table file before starting the next one (LevelDB max_file_size, classic-level maxFileSize). Larger: fewer files (see max_open_files), longer compactions.' }),
  compression: z.boolean().default(true).meta({ description: 'Compress table blocks with Snappy (LevelDB compression, classic-level compression).' })
}).meta({ description: 'Storage engine (LevelDB via classic-level) tuning, per shard database.' })

const LOG_LEVELS = ['ERROR', 'WARNING', 'INFO', 'DEBUG'] as const

const logFile = (dflt: string, description: string) =>
  filePath.default(dflt).meta({ description: `${description} Relative to logging.dir unless absolute.` })

const logging = z.strictObject({
  // Upper-cased first so `info` and `Info` work as well as `INFO` (operators type all three).
  level: z.preprocess((v) => typeof v === 'string' ? v.toUpperCase() : v, z.enum(LOG_LEVELS)).default('INFO').meta({ description: 'Least severe level written: ERROR (quorum failures, node failures), WARNING (failed hint delivery, clock skew), INFO (joins, shard moves), DEBUG (replication messages, Merkle comparisons). Case-insensitive.', ...LIVE }),
  // No schema default: it follows node.data_dir (filled in by configSchema), so a node started
  // with --data-dir keeps its logs with its data.
  dir: dirPath.optional().meta({ description: 'Directory of the log files. Default: logs under node.data_dir (./data/logs). Relative paths resolve against the working directory.', example: '/var/log/scratchbird' }),
  files: z.strictObject({
    main: logFile('scratchbird.log', 'Main log.'),
    replication: logFile('replication.log', 'Replication events.'),
    anti_entropy: logFile('anti_entropy.log', 'Anti-entropy reports.'),
    slow_query: logFile('slow_query.log', 'Slow queries (see slow_query_ms).'),
    audit: logFile('audit.log', 'Audit log, used when audit.log_file is not set.')
  }).prefault({}).meta({ description: 'Log file names, one per stream.' }),
  slow_query_ms: z.int().min(0).max(MAX_TIMER_MS).default(1000).meta({ description: 'Statements taking at least this many milliseconds (measured on the node that ran them, parse excluded) are written to the slow-query log (logging.files.slow_query) as one JSON line at WARNING: statement text (canonical SQL, at most 2000 characters), durationMs, rows returned or affected, the first 8 characters of the client session, the shards its open transaction has touched, the error code of a failed one. 0 logs every statement. Nothing is written when logging.level is ERROR.', ...LIVE }),
  console: z.enum(['auto', 'pretty', 'json', 'off']).default('auto').meta({ description: 'Log output on stdout: pretty (human-readable), json (one object per line), off, or auto: pretty on a terminal, JSON otherwise.' })
}).meta({ description: 'Logs (the seed\'s "Logging").' })

const http = z.strictObject({
  max_body_bytes: z.int().min(KiB).max(GiB).default(MiB).meta({ description: 'Largest accepted request body; larger requests fail with SB_BODY_TOO_LARGE.' }),
  session_idle_timeout_ms: ms(300000, 'A client session (and its open transaction) idle this long is closed and rolled back.')
}).meta({ description: 'Client HTTP API limits.' })

// OpenTelemetry tracing (issue 18 item 8; src/ops/tracing.ts). Off unless an endpoint is given.
const tracing = z.strictObject({
  otlp_endpoint: z.string().max(2048).default('').refine((v) => v === '' || /^https?:\/\/[^\s]+$/.test(v)).meta({ noun: 'an http:// or https:// URL, or empty (off)', description: 'OTLP/HTTP traces endpoint spans are exported to (JSON encoding, POST), e.g. http://127.0.0.1:4318/v1/traces. Empty (the default): tracing is off and costs nothing — no span is created, and trace context arriving from peers or clients is ignored.', example: 'http://127.0.0.1:4318/v1/traces' }),
  sample_ratio: z.number().min(0).max(1).default(1).meta({ description: 'Share of statements traced (0..1), decided when a statement starts its trace here; a statement continuing a trace (a W3C traceparent from the client, or a peer\'s forwarded work) follows that trace\'s sampled flag.' }),
  service_name: z.string().min(1).max(200).default('scratchbird').meta({ description: 'The service.name resource attribute of every exported span (beside service.instance.id, the node id).' }),
  queue_spans: z.int().min(16).max(1_000_000).default(2048).meta({ description: 'Finished spans held for export; when the collector is slow or down and the queue is full, further spans are dropped and counted (scratchbird_tracing_spans_dropped_total), never blocking a statement. Sent in batches of up to 512 every second, and at shutdown within a quarter of node.shutdown_timeout_ms (at most 2 s); what is left then is dropped and counted.' })
}).meta({ description: 'OpenTelemetry tracing of statements (exported with OTLP/HTTP).' })

/** The document as written: strict sections, each defaulting to `{}` so an empty file is valid. */
export const documentSchema = z.strictObject({
  node: node.prefault({}),
  storage: storage.prefault({}),
  cluster: cluster.prefault({}),
  replication: replication.prefault({}),
  anti_entropy: antiEntropy.prefault({}),
  gossip: gossip.prefault({}),
  security: security.prefault({}),
  audit: audit.prefault({}),
  lsm: lsm.prefault({}),
  logging: logging.prefault({}),
  http: http.prefault({}),
  tracing: tracing.prefault({})
}).superRefine((c, ctx) => {
  // A node missing from a non-empty member list would gossip under an id nobody expects.
  if (c.cluster.nodes.length > 0 && !c.cluster.nodes.some((n) => n.id === c.node.id)) {
    ctx.addIssue({ code: 'custom', path: ['node', 'id'], message: 'node not a member', params: { expected: `the id of one of cluster.nodes (${c.cluster.nodes.map((n) => n.id).join(', ')})` } })
  }
}, onlyWhenValid('node', 'cluster')).superRefine((c, ctx) => {
  // Placement reads the datacenters of cluster.nodes (the same on every node); this node's own
  // node.datacenter (what it announces) saying something else would be a lie about where it is.
  const self = c.cluster.nodes.find((n) => n.id === c.node.id)
  if (self !== undefined && c.node.datacenter !== undefined && self.datacenter !== c.node.datacenter) {
    const i = c.cluster.nodes.indexOf(self)
    ctx.addIssue({ code: 'custom', path: ['node', 'datacenter'], message: 'datacenter differs from the member list', params: { expected: `${JSON.stringify(self.datacenter)}, the datacenter of this node's entry cluster.nodes[${i}]${self.datacenter === DEFAULT_DATACENTER ? ' (its default: set cluster.nodes[].datacenter for every member)' : ''}, or nothing` } })
  }
}, onlyWhenValid('node', 'cluster')).superRefine((c, ctx) => {
  // The participant's lease must outlast the client session: otherwise a client idle between
  // statements (its session still open) would find its shard transactions rolled back under it.
  if (c.storage.txn_idle_timeout_ms <= c.http.session_idle_timeout_ms) {
    ctx.addIssue({ code: 'custom', path: ['storage', 'txn_idle_timeout_ms'], message: 'lease not above session timeout', params: { expected: `an integer > http.session_idle_timeout_ms (${c.http.session_idle_timeout_ms})` } })
  }
}, onlyWhenValid('storage', 'http')).superRefine((c, ctx) => {
  // A table's replicas are on distinct members: a default N above them would refuse every CREATE
  // TABLE that does not set replication_factor itself — refused here instead, at start.
  const members = Math.max(1, c.cluster.nodes.length)
  if (c.replication.default_factor > members) {
    ctx.addIssue({ code: 'custom', path: ['replication', 'default_factor'], message: 'factor above members', params: { expected: `an integer ≤ the ${members} configured member${members === 1 ? '' : 's'} of the cluster (cluster.nodes; a node alone is one): a table keeps each replica on a different node` } })
  }
}, onlyWhenValid('replication', 'cluster'))

/** documentSchema plus the values derived from other keys. */
export const configSchema = documentSchema.prefault({}).transform((c) => {
  const dir = c.logging.dir ?? join(c.node.data_dir, 'logs')
  const datacenter = c.node.datacenter ?? c.cluster.nodes.find((n) => n.id === c.node.id)?.datacenter ?? DEFAULT_DATACENTER
  return {
    ...c,
    // Node ids leave the loader branded (the schema checked their range above): a node id read
    // from the config can be passed where a NodeId is expected, a plain number cannot.
    node: { ...c.node, id: asNodeId(c.node.id), datacenter },
    cluster: { ...c.cluster, nodes: c.cluster.nodes.map((n) => ({ ...n, id: asNodeId(n.id) })) },
    logging: { ...c.logging, dir },
    audit: {
      ...c.audit,
      log_file: c.audit.log_file ?? (isAbsolute(c.logging.files.audit) ? c.logging.files.audit : join(dir, c.logging.files.audit))
    }
  }
})

/** A validated configuration with defaults applied (paths as written; see load.ts). */
export type Config = z.output<typeof configSchema>
/** What a configuration file may contain. */
export type ConfigInput = z.input<typeof documentSchema>
