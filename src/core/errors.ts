// The one table of ScratchBird error codes. Every error a user, operator or peer can see carries
// one of these codes; the code is stable across releases (clients match on it), the message is not.
// SQLSTATE follows PostgreSQL's classes where one fits so pg clients behave sensibly later.

export interface ErrorCodeInfo {
  /** SQLSTATE (5 chars) reported to SQL clients. */
  readonly sqlstate: string
  /** HTTP status the client API answers with. */
  readonly http: number
  /** One line for docs and man pages. */
  readonly summary: string
}

export const ERROR_CODES = {
  SB_INTERNAL: { sqlstate: 'XX000', http: 500, summary: 'internal error (a bug); the request changed nothing' },
  SB_CONFIG_INVALID: { sqlstate: 'F0000', http: 500, summary: 'configuration file has unknown keys or bad values' },
  SB_CONFIG_UNREADABLE: { sqlstate: 'F0000', http: 500, summary: 'configuration file cannot be read or parsed as YAML' },
  SB_DATA_DIR_LOCKED: { sqlstate: '55006', http: 500, summary: 'another process already uses this data directory' },
  SB_BAD_ARGUMENT: { sqlstate: '22023', http: 400, summary: 'invalid command-line argument or parameter value' },
  SB_UUID_INVALID: { sqlstate: '22P02', http: 400, summary: 'text is not a valid UUID' },
  SB_CLOCK_OFFSET_EXCEEDED: { sqlstate: '58000', http: 409, summary: 'a remote HLC timestamp is further ahead of the local clock than max_clock_offset_ms' },
  SB_HLC_STATE_INVALID: { sqlstate: 'XX001', http: 500, summary: 'persisted HLC high-water mark is unreadable' },
  SB_HLC_PERSIST_FAILED: { sqlstate: '58030', http: 503, summary: 'the HLC high-water mark could not be written to the data directory, so no timestamp past the last one written may be issued; the statement changed nothing' },
  SB_WORKER_DIED: { sqlstate: '58030', http: 503, summary: 'the shard worker serving the request died; the request outcome is unknown' },
  SB_SHUTTING_DOWN: { sqlstate: '57P01', http: 503, summary: 'the node is shutting down' },
  SB_NOT_FOUND: { sqlstate: '42704', http: 404, summary: 'no such resource' },
  SB_BODY_TOO_LARGE: { sqlstate: '54000', http: 413, summary: 'request body exceeds the configured limit' },
  SB_MALFORMED_REQUEST: { sqlstate: '08P01', http: 400, summary: 'request is not well-formed' },
  SB_UPDATE_CONFLICT: { sqlstate: '40001', http: 409, summary: 'update conflicts with concurrent update (the row was changed by a transaction this one cannot see); retry the transaction' },
  SB_UNIQUE_VIOLATION: { sqlstate: '23505', http: 409, summary: 'a row with this primary key (or UNIQUE key) already exists' },
  SB_FOREIGN_KEY_VIOLATION: { sqlstate: '23503', http: 409, summary: 'a foreign key is violated: the referenced row does not exist, or a referenced row still has referencing rows' },
  SB_WRONG_OBJECT_TYPE: { sqlstate: '42809', http: 400, summary: 'the name is an index or a view where a table is needed (views are read-only), or a table where an index or a view is' },
  SB_TXN_NOT_ACTIVE: { sqlstate: '25P01', http: 409, summary: 'the transaction is not active (already committed, rolled back, prepared or unknown)' },
  SB_TXN_IN_LIMBO: { sqlstate: '40001', http: 409, summary: 'a row the statement reads is held by a prepared two-phase transaction whose outcome is not known yet; the coordinator retried for a while — retry the statement' },
  SB_TXN_TOO_LARGE: { sqlstate: '54000', http: 400, summary: 'the transaction changed more rows or bytes than one transaction is bounded to' },
  SB_XID_EXHAUSTED: { sqlstate: '54000', http: 503, summary: 'the 48-bit transaction id counter of this node is used up' },
  SB_STORAGE_CORRUPT: { sqlstate: 'XX001', http: 500, summary: 'stored data of a shard replica is unreadable (corrupt key, record version, TIP entry or commit log entry)' },
  SB_MESSAGE_TOO_LARGE: { sqlstate: '54000', http: 413, summary: 'a message to or from a shard worker exceeds the ring message limit' },
  SB_RING_CLOSED: { sqlstate: '08006', http: 503, summary: 'the ring to or from a shard worker is closed (worker stopping or gone)' },
  SB_DIVISION_BY_ZERO: { sqlstate: '22012', http: 400, summary: 'division by zero' },
  SB_NUMERIC_OUT_OF_RANGE: { sqlstate: '22003', http: 400, summary: 'a numeric value is out of range for its type' },
  SB_INVALID_TEXT_REPRESENTATION: { sqlstate: '22P02', http: 400, summary: 'text cannot be read as a value of the target type' },
  SB_DATETIME_FIELD_OVERFLOW: { sqlstate: '22008', http: 400, summary: 'a date or timestamp is out of the supported range (years 1–9999) or has an invalid field' },
  SB_STRING_DATA_RIGHT_TRUNCATION: { sqlstate: '22001', http: 400, summary: 'a string is too long for its CHAR(n) / VARCHAR(n) column' },
  SB_DATATYPE_MISMATCH: { sqlstate: '42804', http: 400, summary: 'a value or operand has the wrong data type' },
  SB_SBLR_INVALID: { sqlstate: '08P01', http: 400, summary: 'an SBLR program is malformed (bad header, opcode, operand or jump target)' },
  SB_PROGRAM_LIMIT_EXCEEDED: { sqlstate: '54000', http: 400, summary: 'an SBLR program ran more instructions for one row than the VM allows' },
  SB_SYNTAX_ERROR: { sqlstate: '42601', http: 400, summary: 'the SQL text is not valid ScratchBird SQL (the message names the line, column and token)' },
  SB_INVALID_TABLE_OPTION: { sqlstate: '22023', http: 400, summary: 'a table replication option (WITH / ALTER TABLE SET) has an invalid value or breaks a rule (W ≤ N, R ≤ N, N ≤ live nodes, leaderless needs v8_hlc)' },
  SB_TOO_MANY_SESSIONS: { sqlstate: '53300', http: 503, summary: 'the node holds the maximum number of client sessions' },
  SB_SESSION_NOT_FOUND: { sqlstate: '08003', http: 404, summary: 'no such client session (closed, or timed out and rolled back)' },
  SB_SESSION_BUSY: { sqlstate: '55000', http: 409, summary: 'the client session is already running a request' },
  SB_DUPLICATE_TABLE: { sqlstate: '42P07', http: 409, summary: 'a table, index or view of that name already exists (they share one name space)' },
  SB_UNDEFINED_TABLE: { sqlstate: '42P01', http: 400, summary: 'no table of that name' },
  SB_DUPLICATE_COLUMN: { sqlstate: '42701', http: 400, summary: 'a column name appears twice in a table definition (or RENAME COLUMN to a name the table has)' },
  SB_UNDEFINED_COLUMN: { sqlstate: '42703', http: 400, summary: 'no column of that name' },
  SB_INVALID_TABLE_DEFINITION: { sqlstate: '42P16', http: 400, summary: 'the table definition breaks a rule (no primary key, several primary keys, a dependent table …)' },
  SB_NOT_NULL_VIOLATION: { sqlstate: '23502', http: 400, summary: 'a NOT NULL (or primary key) column was given NULL' },
  SB_UNDEFINED_FUNCTION: { sqlstate: '42883', http: 400, summary: 'no function of that name and argument count' },
  SB_UNDEFINED_PARAMETER: { sqlstate: '42P02', http: 400, summary: 'the statement refers to a $n parameter the request did not supply' },
  SB_DUPLICATE_ALIAS: { sqlstate: '42712', http: 400, summary: 'two FROM entries have the same name or alias; give one an alias' },
  SB_JOIN_ROW_LIMIT: { sqlstate: '54000', http: 400, summary: 'a join that cannot run inside the shards fetched more rows of one table to the coordinator than allowed; narrow the WHERE or colocate the tables' },
  SB_AMBIGUOUS_COLUMN: { sqlstate: '42702', http: 400, summary: 'a column name matches columns of more than one table; qualify it' },
  SB_GROUPING_ERROR: { sqlstate: '42803', http: 400, summary: 'a column is used outside an aggregate but is not in GROUP BY, or an aggregate appears where none is allowed' },
  SB_PARTITION_KEY_UPDATE: { sqlstate: '0A000', http: 400, summary: 'an UPDATE assigns a partition-key column (rows cannot move between shards by UPDATE); delete and re-insert instead' },
  SB_TXN_ABORTED: { sqlstate: '25P02', http: 409, summary: 'a statement of the open transaction failed; only ROLLBACK is accepted until the transaction ends' },
  SB_FEATURE_NOT_SUPPORTED: { sqlstate: '0A000', http: 400, summary: 'the statement form is valid SQL but not supported by this release' },
  SB_RPC_MALFORMED: { sqlstate: '08P01', http: 400, summary: 'a cluster RPC frame, payload or header is not well-formed; nothing in it was applied' },
  SB_CODEC_VERSION: { sqlstate: '08P01', http: 400, summary: 'a peer sent a payload in a newer codec version than this node speaks (details: codec, version, supported); nothing in it was applied — upgrade this node' },
  SB_RPC_UNAUTHENTICATED: { sqlstate: '28000', http: 401, summary: 'a cluster RPC lacks the cluster secret (security.cluster_secret) or presents a wrong one; nothing was applied' },
  SB_RPC_WRONG_CLUSTER: { sqlstate: '08004', http: 403, summary: 'a cluster RPC comes from a node of another cluster (cluster.name differs); nothing was applied' },
  SB_RPC_TOO_LARGE: { sqlstate: '54000', http: 413, summary: 'a cluster RPC message or reply exceeds the RPC body limit' },
  SB_RPC_UNKNOWN_OPCODE: { sqlstate: '0A000', http: 501, summary: 'the peer does not know this cluster RPC opcode (an older release)' },
  SB_RPC_QUEUE_FULL: { sqlstate: '53000', http: 503, summary: 'too many cluster RPC calls to one peer are outstanding; the call was not sent' },
  SB_RPC_TIMEOUT: { sqlstate: '57014', http: 504, summary: 'a cluster RPC got no reply within its deadline; its outcome on the peer is unknown' },
  SB_RPC_REMOTE_ERROR: { sqlstate: 'XX000', http: 502, summary: 'a cluster peer failed with an error code this release does not know (details carry remote_code)' },
  SB_NODE_UNREACHABLE: { sqlstate: '08001', http: 503, summary: 'a cluster peer cannot be reached (connection refused, reset or lost); the outcome of calls in flight is unknown' },
  SB_NODE_ID_MISMATCH: { sqlstate: '55000', http: 500, summary: 'the data directory was written by another node id or cluster, or the node id is already alive at another process' },
  SB_LAYOUT_MISMATCH: { sqlstate: '55000', http: 500, summary: 'the configured cluster layout (storage.shards, cluster.nodes) differs from the one recorded in the data directory, or a peer announces another one; the error names both values' },
  SB_MEMBERSHIP_REFUSED: { sqlstate: '55000', http: 409, summary: 'the cluster membership cannot change now (a node is not admitted: the error names the tables whose shards could not move and what to change first), or this node waits to be admitted and runs no DDL yet; nothing was changed' },
  SB_MEMBERSHIP_NO_MAJORITY: { sqlstate: '57P03', http: 503, summary: 'a membership change (DRAIN NODE, its CANCEL, REMOVE NODE) needs the votes of a majority of the current members, and the error names the ones that did not answer in time; so does a DDL statement that changes what a shard split depends on (the copies Mode 1 keeps, or what a split cannot copy): a majority must answer its catalog round, since a split intent they may hold would otherwise go unseen; nothing was changed — retry once they are reachable' },
  SB_DRAIN_REFUSED: { sqlstate: '55000', http: 409, summary: 'DRAIN NODE, DRAIN NODE … CANCEL or REMOVE NODE cannot run now: the node is not a member, is already draining or drained, another drain runs, too few nodes would stay for the tables\' replication_factor, or the node is down (use REMOVE NODE); the error says which; nothing was changed' },
  SB_SHARD_SPLIT_INVALID: { sqlstate: '22023', http: 400, summary: 'ALTER CLUSTER SET shards asks for a count other than twice the current one: a split only doubles (rows of shard s of n go to shards s and s + n of 2n); the error names the count accepted; nothing was changed' },
  SB_SHARD_SPLIT_UNSUPPORTED: { sqlstate: '0A000', http: 409, summary: 'ALTER CLUSTER SET shards = 2n cannot split the shards now: the error names each thing in the way (a table with a global index, a leaderless table, a table move or membership change under way, a DDL statement being applied or a replication group still changing its voters as the deciding node sees them, a node running alone); nothing was changed' },
  SB_SHARD_SPLIT_IN_PROGRESS: { sqlstate: '55000', http: 409, summary: 'a DDL statement would change what a shard split under way depends on — the copies Mode 1 keeps of each shard (a CREATE, ALTER … SET replication_factor or replication_mode, or DROP of a primary_replica table changing the largest N: every group would change its voters), or add a table a split cannot copy (leaderless, a global index, a table move); the error names the split; nothing was changed — retry once the split is done, or cancel it first' },
  SB_SHARD_SPLIT_CANCEL_REFUSED: { sqlstate: '55000', http: 409, summary: 'ALTER CLUSTER SET shards = n cannot cancel the split to 2n under way: every holder of some parent reported its child caught up, so that parent\'s primary may have begun its switch (the error names the parents); the split completes instead; nothing was changed' },
  SB_SPLIT_PROGRESS_MISMATCH: { sqlstate: '55000', http: 409, summary: 'a step of a shard split\'s copy into a child shard does not continue the progress the child records (details: shard, recorded, expected): another derive wrote it, or it was reset; nothing was applied' },
  SB_SHARD_SPLITTING: { sqlstate: '40001', http: 409, summary: 'the shard is switching to its split into twice as many shards: from its switch entry until this node adopts the new layout its writes of rows that move to the new shard (and of relations whose rows it cannot place), and the COMMIT or PREPARE of a transaction holding one, are refused (details: shard, shards, switch_lsn); nothing was changed — retry (roll back first in a transaction): the row is routed to its new shard once the new layout is in place' },
  SB_SHARD_COUNT_STALE: { sqlstate: '40001', http: 409, summary: 'a shard request was routed by a shard count other than the one the receiving node runs with (a split from n to 2n shards: the two nodes adopted the new layout at different moments; details: shard, routed_shards, shards, node); it was not applied — an autocommit statement is re-routed and retried by its coordinator for a while, a statement in a transaction fails (roll back and retry)' },
  SB_SPLIT_COPY_STALE: { sqlstate: '55000', http: 409, summary: 'a shard split\'s copy into a child shard cannot go on: the parent\'s log was cut back (a failover\'s suffix truncation or a snapshot install) or its pin was released while it ran, so the child may hold rows that are no longer the parent\'s (details: shard, child); the child must be derived again from empty' },
  SB_REMOVE_LOSES_DATA: { sqlstate: '55000', http: 409, summary: 'REMOVE NODE of a down node that holds the only copy of some shards of replication_factor 1 tables, or while a leaderless_quorum table acknowledges writes with write_quorum 1 (the error names them): their rows would be lost; bring the node back and drain it, or write REMOVE NODE n FORCE to remove it anyway; nothing was changed' },
  SB_NODE_ALIVE: { sqlstate: '55000', http: 409, summary: 'REMOVE NODE of a node gossip shows alive: REMOVE NODE is for a node gone for good; drain a running node with DRAIN NODE instead; nothing was changed' },
  SB_SHARD_UNAVAILABLE: { sqlstate: '57P03', http: 503, summary: 'the node owning the shard is down or unreachable; the statement changed nothing it could not undo' },
  SB_REPLICATION_UNAVAILABLE: { sqlstate: '0A000', http: 400, summary: 'the cluster cannot provide the requested replication for a table yet (the error names the option)' },
  SB_REPLICA_STALE: { sqlstate: '57P03', http: 503, summary: 'this replica of a leaderless_quorum shard has not completed a repair round within replication.tombstone_gc_grace_days (back from a long outage): until a round with every other replica completes it serves no reads or writes of the shard and the coordinator counts it as failed; nothing was changed' },
  SB_CATALOG_STALE: { sqlstate: '40001', http: 409, summary: 'a write was placed by a node whose catalog is older than the last change of a table\'s layout (partition key, mode, replication factor); it changed nothing — retry once that node has caught up (a gossip round); also a request reaching a node whose own catalog is older than the sender\'s (a node just admitted, or back from an outage), which cannot know how the shard is replicated yet' },
  SB_TABLE_ALTERING: { sqlstate: '55P03', http: 409, summary: 'the table is being altered (its layout or its columns change): its writes, and the commit of a transaction that wrote it, are refused until the ALTER TABLE ends; retry' },
  SB_DDL_QUEUE_FULL: { sqlstate: '53000', http: 503, summary: 'the catalog coordinator already has its maximum of DDL statements waiting; the statement was not run' },
  SB_CATALOG_CONFLICT: { sqlstate: '40001', http: 409, summary: 'a DDL statement lost to one a concurrent catalog coordinator ran at the same time; it was not installed on this node, but peers may have taken it (outcome unknown: check before retrying)' },
  SB_QUORUM_NOT_ACHIEVED: { sqlstate: '57P03', http: 503, summary: 'fewer than W (write) or R (read) replicas of a leaderless_quorum table were alive or answered within the timeout (details: available_replicas, required_replicas); during a join or drain a write also needs every replica being filled of its shard (details: pending_replicas); a write that was sent has an unknown outcome and may surface later' },
  SB_COMMIT_LOG_TRUNCATED: { sqlstate: '55000', http: 409, summary: 'the requested commit-log range of a shard was truncated (below what every consumer of the log still needs); details: shard, requested_lsn, first_available_lsn' },
  SB_AUTH_FAILED: { sqlstate: '28P01', http: 401, summary: 'a client did not authenticate: no credentials, an unknown user, a wrong password or token (PostgreSQL protocol: SCRAM-SHA-256, the connection is closed; HTTP: Basic or Bearer), or the session\'s user was dropped; nothing was run' },
  SB_AUTH_TIMEOUT: { sqlstate: '08006', http: 408, summary: 'a PostgreSQL-protocol client did not complete startup and authentication within node.pg_auth_timeout_ms; the connection is closed' },
  SB_REQUEST_TIMEOUT: { sqlstate: '08006', http: 408, summary: 'an HTTP client did not send a whole request (headers within 10 s, the whole request within 60 s); the connection is closed' },
  SB_LOGIN_THROTTLED: { sqlstate: '28000', http: 429, summary: 'too many failed logins from this client address (security.login_failures_max within security.login_lockout_ms): its logins are refused without a password check until the lockout ends (details: retry_after_ms; HTTP: Retry-After), correct credentials included' },
  SB_TOO_MANY_CONNECTIONS: { sqlstate: '53300', http: 503, summary: 'the client\'s address already holds node.max_connections_per_client connections on this listener (HTTP API or PostgreSQL protocol); the new one is refused and closed — close some' },
  SB_TLS_MATERIAL: { sqlstate: 'F0000', http: 500, summary: 'a TLS file (security.tls_cert, tls_key, tls_ca) cannot be read, holds no PEM certificate, or the key does not match the certificate (details: file); at start the node does not start, at a reload the running certificates stay' },
  SB_TLS_REQUIRED: { sqlstate: '28000', http: 403, summary: 'a PostgreSQL-protocol client sent its startup in plaintext to a node with security.tls_enabled; connect with sslmode=require, verify-ca or verify-full' },
  SB_TLS_PEER_REFUSED: { sqlstate: '28000', http: 401, summary: 'a cluster RPC came without a client certificate signed by security.tls_ca, or with one that names another node than the x-scratchbird-node-id it claims (security.tls_enabled); nothing was applied' },
  SB_UNDEFINED_PREPARED_STATEMENT: { sqlstate: '26000', http: 400, summary: 'a PostgreSQL-protocol Bind, Describe or Close names a prepared statement the connection does not have, or an HTTP request a statement id the node does not know (never prepared, or forgotten: prepare again)' },
  SB_DUPLICATE_PREPARED_STATEMENT: { sqlstate: '42P05', http: 409, summary: 'a PostgreSQL-protocol Parse names a prepared statement that already exists on the connection (Close it first)' },
  SB_UNDEFINED_PORTAL: { sqlstate: '34000', http: 400, summary: 'a PostgreSQL-protocol Describe or Execute names a portal the connection does not have' },
  SB_PG_LIMIT_EXCEEDED: { sqlstate: '54000', http: 400, summary: 'a PostgreSQL-protocol connection holds its maximum of prepared statements or portals; Close some' },
  SB_NOT_PRIMARY: { sqlstate: '57P03', http: 503, summary: 'this node is not the primary of the shard (primary_replica) or its read lease has lapsed; nothing was done — retry at the primary (details: shard, primary when known)' },
  SB_COMMIT_OUTCOME_UNKNOWN: { sqlstate: '40003', http: 503, summary: 'the shard\'s primary lost its role before the commit reached the replicas replication.sync_replicas requires; the commit may or may not survive under the new primary (details: lsn)' },
  SB_REPLICATION_BACKLOG_FULL: { sqlstate: '53000', http: 503, summary: 'the shard\'s primary already waits on its maximum of commits not yet acknowledged by its replicas; the commit was not replicated — retry later' },
  SB_HINT_LOG_FULL: { sqlstate: '53400', http: 503, summary: 'the hint log for a target node holds its maximum of hints or bytes; the hint was not stored (the write stays missing on that replica until a quorum read of the key or an anti-entropy round repairs it)' },
  SB_REPL_LOG_GAP: { sqlstate: '55000', http: 409, summary: 'a replicated commit-log batch does not continue this replica\'s log: its first LSN is above the next one expected (details: shard, expected_lsn, first_lsn); nothing was applied — send the missing entries first' },
  SB_REPL_LOG_CONFLICT: { sqlstate: '55000', http: 409, summary: 'a replicated commit-log entry at an LSN this replica already holds differs from the entry there (another generation or transaction; details: shard, lsn, generation, received_generation); nothing was applied — truncate the replica\'s log first' },
  SB_REPL_TRUNCATE_REFUSED: { sqlstate: '55000', http: 409, summary: 'a commit-log suffix truncation would remove committed entries or start below the first entry the log still holds (details: shard, lsn, commit_lsn, first_available_lsn); nothing changed' },
  SB_REPL_STATE_REFUSED: { sqlstate: '55000', http: 409, summary: 'a replication hard-state change would move the generation back or change the vote already cast in this generation (details: shard, generation, voted_for and the values asked for); nothing changed' },
  SB_REPL_BOOTSTRAPPING: { sqlstate: '57P03', http: 503, summary: 'the shard replica is being bootstrapped from a snapshot (or has open transactions that forbid starting one) and serves no reads or writes until the last chunk is installed (details: shard)' },
  SB_REPL_SNAPSHOT_GONE: { sqlstate: '55000', http: 409, summary: 'the shard snapshot named is not open on the source any more (expired, or the source restarted; details: shard, snapshot_id); start a new snapshot, which restarts the bootstrap' },
  SB_REPL_SNAPSHOT_MISMATCH: { sqlstate: '55000', http: 409, summary: 'a snapshot chunk does not continue the bootstrap in progress on this replica (another snapshot, or not right after the last key installed; details: shard, expected and received snapshot id, LSN and resume key); nothing was installed' },
  SB_MODE1_REPAIR_REFUSED: { sqlstate: '55000', http: 409, summary: 'a Mode 1 anti-entropy repair was refused: this replica of the shard is its primary, is not following a primary, or holds another generation than the request\'s (a stale old primary cannot push data; details: shard, generation, role); nothing changed' },
  SB_AUDIT_CHAIN_BROKEN: { sqlstate: 'XX001', http: 500, summary: 'an audit log\'s hash chain does not verify (scratchbird audit verify): a line was edited, removed, reordered or damaged, or lines were cut from the end (the message names the first bad line)' },
  SB_AUDIT_WRITE_FAILED: { sqlstate: '58030', http: 500, summary: 'an audit log line could not be written or fsynced (disk full, permissions); the audited action itself was done, and the node logs the event it could not record at ERROR' },
  SB_INVALID_CONFLICT_TARGET: { sqlstate: '42P10', http: 400, summary: 'INSERT … ON CONFLICT names columns that are not the table\'s primary key (the only unique constraint so far)' },
  SB_CARDINALITY_VIOLATION: { sqlstate: '21000', http: 400, summary: 'a scalar subquery answered more than one row, or INSERT … ON CONFLICT DO UPDATE met the same row twice in one statement; nothing was changed by the statement' },
  SB_REPL_CONTROL_REFUSED: { sqlstate: '55000', http: 409, summary: 'a replication control entry (noop or config) was asked for at a generation other than the shard\'s current one, or below the generation of its last entry (details: shard, generation, asked_generation); nothing was appended' },
  SB_REPL_SNAPSHOT_REFUSED: { sqlstate: '55000', http: 409, summary: 'a bootstrap snapshot chunk was refused: this node holds no replication group of the shard, or the sender is not a primary of a generation at least this replica\'s (fencing; details: shard, generation, sender_generation); nothing was installed' },
  // Backup, restore and point-in-time recovery (issue 17).
  SB_BACKUP_INVALID: { sqlstate: 'XX001', http: 500, summary: 'a backup file is damaged, truncated, incomplete or not a ScratchBird backup (the message names the member or byte); nothing was restored from it' },
  SB_BACKUP_REFUSED: { sqlstate: '55000', http: 409, summary: 'a backup or restore was refused: the target data directory is not empty (use --force) or belongs to another cluster, an incremental backup does not continue the last one, or the commit log no longer reaches back to it' },
  SB_DISK_FULL: { sqlstate: '53100', http: 507, summary: 'the node\'s data directory has no space left (or its quota is used up); the write was not made — free space and retry; reads continue' },
  SB_STORAGE_WRITE_FAILED: { sqlstate: '58030', http: 503, summary: 'a shard database refuses writes after a failed one (an I/O error) until it reopens cleanly; nothing of the refused write was made' },
  SB_DATA_FORMAT: { sqlstate: '55000', http: 500, summary: 'the data directory is in a format this release does not open: an older one (run the scratchbird_migrate command the message names) or a newer one (use the release that wrote it)' },
  // Users, grants and privileges (issue 18 item 2).
  SB_INSUFFICIENT_PRIVILEGE: { sqlstate: '42501', http: 403, summary: 'the session\'s user lacks the privilege the statement needs (SELECT, INSERT, UPDATE, DELETE on a table, admin rights for DDL, cluster commands, users, grants and backups; details: privilege, table); nothing was done' },
  SB_DUPLICATE_USER: { sqlstate: '42710', http: 409, summary: 'a user of that name already exists' },
  SB_UNDEFINED_USER: { sqlstate: '42704', http: 400, summary: 'no user of that name' },
  SB_INVALID_PASSWORD: { sqlstate: '28P01', http: 400, summary: 'a password or SCRAM-SHA-256 verifier given to CREATE/ALTER USER is not acceptable (empty, too long, or a malformed verifier)' },
  SB_LAST_SUPERUSER: { sqlstate: '55000', http: 409, summary: 'the statement would leave the cluster without a superuser (dropping or demoting the last one); nothing changed' },
  // Bearer tokens and per-client request limits (issue 18 items 1 and 5).
  SB_DUPLICATE_TOKEN: { sqlstate: '42710', http: 409, summary: 'the user already has a token of that name (CREATE TOKEN); nothing changed' },
  SB_UNDEFINED_TOKEN: { sqlstate: '42704', http: 400, summary: 'the user has no token of that name (DROP TOKEN)' },
  SB_TOKEN_REFUSED: { sqlstate: '22023', http: 400, summary: 'CREATE TOKEN was refused: VALID UNTIL is not in the future, the user already holds its maximum of tokens, or the session has no catalog user to own it (name one with FOR USER); nothing changed' },
  SB_TOO_MANY_REQUESTS: { sqlstate: '53400', http: 429, summary: 'the client\'s address has more requests in flight than node.max_requests_in_flight_per_client, or sends faster than node.max_requests_per_second_per_client; the request was refused before it ran (HTTP: Retry-After) — retry later' },
  // Table rewrites (issue 17 item 7).
  SB_COLUMN_IN_USE: { sqlstate: '2BP01', http: 409, summary: 'ALTER TABLE … DROP COLUMN or RENAME COLUMN of a column a key or an index needs (the primary key, the partition key, an index, a foreign key); nothing changed' },
  SB_CHECK_VIOLATION: { sqlstate: '23514', http: 400, summary: 'a value fails a CHECK constraint (of the column\'s domain); nothing was written' },
  SB_DUPLICATE_OBJECT: { sqlstate: '42710', http: 409, summary: 'a domain, domain constraint or ENUM/SET label of that name already exists' },
  SB_UNDEFINED_OBJECT: { sqlstate: '42704', http: 400, summary: 'no domain (type) or domain constraint of that name' },
  // Session settings: SET / RESET / SHOW (issue 19 item 4) and statement_timeout.
  SB_UNDEFINED_SETTING: { sqlstate: '42704', http: 400, summary: 'SET, RESET or SHOW names no session setting (SHOW ALL lists them; a custom setting is spelled prefix.name)' },
  SB_INVALID_SETTING_VALUE: { sqlstate: '22023', http: 400, summary: 'a value SET gave a session setting is outside what it takes (the message lists the allowed values); nothing changed' },
  SB_SETTING_READ_ONLY: { sqlstate: '55P02', http: 400, summary: 'the session setting cannot be changed (server_version …), or not now (transaction_isolation once the transaction has read or written)' },
  SB_STATEMENT_TIMEOUT: { sqlstate: '57014', http: 408, summary: 'the statement ran longer than the session\'s statement_timeout and was cancelled; inside a transaction, roll it back; outside one, a write already sent to its shards may still commit' },
  SB_DEPENDENT_OBJECTS_EXIST: { sqlstate: '2BP01', http: 409, summary: 'an object cannot be dropped while another depends on it: a table or view a view reads (details: dependent), a column a view reads (nor renamed), a domain a column uses (the message names the column); drop the dependents first; nothing changed' },
  SB_TEMP_TABLE_FULL: { sqlstate: '53400', http: 400, summary: 'the session\'s temporary tables would hold more rows\' bytes than node.temp_table_bytes_per_session, or more tables than a session may; the statement changed nothing' },
  // Moving a populated table to a new layout (issue 17 item 7, catalog/table-move.ts).
  SB_TABLE_MOVE_STATE: { sqlstate: '55000', http: 409, summary: 'a step of a table move (ALTER TABLE … MOVE, issued by the move itself) does not fit the move\'s phase (details: table, phase) or names a shard that does not exist; nothing changed' },
} as const satisfies Record<string, ErrorCodeInfo>

export type ErrorCode = keyof typeof ERROR_CODES

/**
 * The error every user- or operator-visible failure is. `details` carries the fields an operator
 * needs (key path, node id, required replicas …) so they are machine-readable, not only in text.
 */
export class ScratchBirdError extends Error {
  readonly code: ErrorCode
  readonly details: Readonly<Record<string, unknown>>

  constructor (code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ScratchBirdError'
    this.code = code
    this.details = details
  }

  get sqlstate (): string { return ERROR_CODES[this.code].sqlstate }
  get httpStatus (): number { return ERROR_CODES[this.code].http }

  toJSON (): Record<string, unknown> {
    return { code: this.code, sqlstate: this.sqlstate, message: this.message, ...this.details }
  }
}

export function isScratchBirdError (e: unknown, code?: ErrorCode): e is ScratchBirdError {
  return e instanceof ScratchBirdError && (code === undefined || e.code === code)
}

/** Programmer errors: crash loudly. Never use for user, peer or file input. */
export function assert (cond: unknown, message = 'assertion failed'): asserts cond {
  if (!cond) throw new Error(`ScratchBird assertion: ${message}`)
}

/**
 * What a log line records of a caught value (pino's `err` field): a ScratchBirdError's code,
 * SQLSTATE, message and details; another Error's message and stack; anything else as a string.
 */
export function describe (e: unknown): Record<string, unknown> | string {
  if (e instanceof ScratchBirdError) return e.toJSON()
  if (e instanceof Error) return { message: e.message, stack: e.stack }
  return String(e)
}

/** The one-line message of a caught value, for log and error texts. */
export function messageOf (e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/**
 * An operating-system or LevelDB failure as the coded error a client can act on, or null when it
 * is not one we classify. Disk full is the one that matters: LevelDB reports it as the text
 * "IO error: …: No space left on device" (no errno crosses its binding) and node:fs as ENOSPC /
 * EDQUOT; either way the write was refused before it landed (LevelDB keeps the batch out of the
 * memtable when the log write fails, and writes resume once space is back), so
 * SB_DISK_FULL "the write was not made" is true and a retry is safe.
 */
export function classifyIoError (e: unknown): ScratchBirdError | null {
  if (e instanceof ScratchBirdError) return null
  const code = (e as { code?: unknown } | null)?.code
  const text = messageOf(e)
  if (code === 'ENOSPC' || code === 'EDQUOT' || /No space left on device|Disk quota exceeded|ENOSPC|EDQUOT/.test(text)) {
    return new ScratchBirdError('SB_DISK_FULL', `the data directory has no space left: ${text}`, {}, { cause: e })
  }
  return null
}
