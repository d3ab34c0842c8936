// What the executor reports of every statement it ran: one record shared by the executor (which
// fills it) and the slow-query log (src/ops/slow-query.ts, which reads it), neither of which may
// import the other.

/** Who sent a statement: the audit log and the per-protocol metrics read it. */
export interface ClientInfo {
  /** 'http' (the SQL API) or 'pg' (the PostgreSQL protocol). */
  readonly protocol: 'http' | 'pg'
  /** The PostgreSQL user name; 'http' for the HTTP API until users exist (issue 18 item 2). */
  readonly user: string
  /** The client's address, HOST:PORT as the node's socket sees it. */
  readonly address: string
}

/** What the executor reports of every statement it ran (the slow-query log, the audit log and the metrics read it). */
export interface StatementReport {
  /** The statement as canonical SQL (formatted on demand: most reports are dropped unread). */
  readonly sql: () => string
  /** Measured with the env's clock (monotonic), from the start of the statement to its result. */
  readonly durationMs: number
  /** Rows returned (SELECT, SHOW) or affected (INSERT, UPDATE, DELETE); 0 for a failed statement. */
  readonly rowCount: number
  /** The error code of a failed statement. */
  readonly error: string | undefined
  /** The client session (X-ScratchBird-Session), undefined for a one-request script. */
  readonly session: string | undefined
  /** Inside BEGIN … COMMIT: the shards the transaction has touched so far (after the statement). */
  readonly txnShards: readonly number[] | undefined
  /** Who sent it; undefined when the session did not say (tools, tests). */
  readonly client: ClientInfo | undefined
  /** The statement's kind as the parser names it ('select', 'create_table', …). */
  readonly kind: string
}
