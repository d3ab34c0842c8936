// Runs a script of SQL statements for one request: parse, then each statement in order —
// stopping at the first error — with autocommit outside a transaction and the session's open
// transaction inside one. Also EXPLAIN (bytecode + routing) and the single-node SHOW statements.
import type { Clock } from '../core/clock'
import type { Catalog } from '../catalog/catalog'
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import { disassemble } from '../sblr/disassemble'
import type { Program } from '../sblr/program'
import type { DdlStatement, ExplainableStatement, Statement, TokenStatement, UserStatement } from '../sql/ast'
import { formatStatement } from '../sql/format'
import { DOMAIN_STATEMENT_KINDS } from '../sql/ast'
import { verifyStoredValues } from './domain-ddl'
import { T } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { posDetails } from '../plan/compile-expr'
import { alterUnderFence } from './ddl-needs-empty'
import { alterLeaderlessFactor } from './leaderless-raise'
import { repair, showAntiEntropyStatus } from './anti-entropy-statements'
import type { CatalogPort, ClusterView, DdlPort, ExecEnv } from './env'
import { insertWrites, planInsert } from './insert'
import { executeModify, planModify } from './modify'
import { atStatementReadPoint } from './read-point'
import { uncachedScript, type CachedScript, type PlanSlot } from './plan-cache'
import { insertPlanFor, modifyPlanFor, selectPlanFor } from './cached-plans'
import { commandResult, rowsResult, type StatementResult } from './result'
import { showTransactionsHorizon } from './horizon-statements'
import { showReplicationLag } from './replication-statements'
import { returningResult, returningRows } from './returning'
import { insertOnConflict } from './on-conflict'
import { executeSelect } from './select-exec'
import { planSelect } from '../plan/select-plan'
import { SYSTEM_TABLES } from '../plan/system-tables'
import { explainRouting, TEMP_ROWS_WHERE } from '../plan/temp-explain'
import { keyListRouting } from '../plan/key-lists'
import { pointList } from './index-lookup'
import { withDomainCasts } from '../plan/domain-cast'
import { ddlContext } from '../plan/column-default'
import { SessionState, SqlTxn } from './txn'
import { tableAccess } from './access/choose'
import { checkStatement } from '../security/privileges'
import { alterClusterShards } from './shard-split-statement'
import { decodeVerifier, looksLikeVerifier } from '../security/scram-verifier'
import { applyUserStatement, withoutTableGrants } from '../catalog/users'
import { applyTokenStatement } from '../catalog/tokens'
import { executeTokenStatement } from './token-ddl'
import type { UsersPort } from './env'
import { writeWithIndexes } from './index-writes'
import { enforceForeignKeys, hasForeignKeys } from './foreign-keys'
import { timestampFromMillis } from '../types/datetime'
import { createIndex } from './index-build'
import { runSettingStatement } from './settings/statements'
import { withStatementTimeout } from './statement-timeout'
import { explainReplicaRead, replicaReadEnv } from './replica-reads'
import { checkNoViewReadsColumn } from './view-columns'
import { executeTruncate } from './truncate'
import { needsStatementSnapshot, statementSnapshotEnv, withLimboRetry } from './statement-snapshot'
import { nextHlcTs } from '../storage/hlc-ts'
import type { SelectPlan } from '../plan/select-plan'
import { applyViewDdl, isViewStatement } from './view-ddl'
import { explainSelect } from './explain-select'
import { explainPointModify, oneRequest } from './point-modify'
import type { PlanEnv } from '../plan/plan-env'
import { ownTempStatement, runTempStatement, sessionEnv, usesSessionCatalog } from './temp-statements'
import { TEMP_TABLE_BYTES_PER_SESSION_DEFAULT } from './temp-tables'
import type { TraceParent } from '../core/trace-context'
import { tracedScript } from './traced-script'
import { withShardCount } from './shard-count-retry'

export interface ScriptOutcome { results: StatementResult[], error: ScratchBirdError | null }

/** JSON request parameters → SQL values: integral numbers are BIGINT, others DOUBLE. */
export function paramValues (params: readonly (string | number | boolean | null)[]): SqlValue[] {
  return params.map(p => typeof p === 'number' && Number.isInteger(p) ? BigInt(p) : p)
}

/**
 * `sessionId`: the client session running the script, for the statement reports (slow-query log).
 * `parent`: a client's trace context (HTTP traceparent) the statements' spans continue.
 */
export async function executeScript (env: ExecEnv, session: SessionState, sql: string, params: readonly SqlValue[], sessionId?: string, parent?: TraceParent): Promise<ScriptOutcome> {
  // Tracing on: the same steps inside spans (traced-script.ts); off, nothing of it runs.
  if (env.tracer != null) return await tracedScript(env.tracer, { env, session, sql, params, sessionId, parent }, parseScript, runOne)
  const results: StatementResult[] = []
  let script: CachedScript
  // Parsed once per distinct text and parameter types while the plan cache keeps it.
  try { script = parseScript(env, sql, params) } catch (e) { return { results, error: asCoded(e) } }
  for (let i = 0; i < script.statements.length; i++) {
    const error = await runOne(env, session, script, i, params, sessionId, results)
    if (error !== null) return { results, error }
  }
  return { results, error: null }
}

/** The script's statements and plan slots, parsed once per distinct text and parameter types while the plan cache keeps it. */
export function parseScript (env: ExecEnv, sql: string, params: readonly SqlValue[]): CachedScript {
  return env.planCache?.script(sql, params) ?? uncachedScript(sql)
}

/**
 * Statements re-run after SB_SHARD_COUNT_STALE outside a transaction: a refused one changed nothing
 * (one AUTOCOMMIT request, or an implicit transaction rolled back). Not DDL: a catalog change may
 * be installed before a shard refuses its row work (CREATE INDEX's build), so it is the client's.
 */
const ROW_STATEMENTS: ReadonlySet<Statement['kind']> = new Set<Statement['kind']>(['select', 'insert', 'update', 'delete'])

/** Runs statement `i` of the script; its result joins `results`; the error that ends the script, else null. */
async function runOne (env: ExecEnv, session: SessionState, script: CachedScript, i: number, params: readonly SqlValue[], sessionId: string | undefined, results: StatementResult[]): Promise<ScratchBirdError | null> {
  const s = script.statements[i]!
  const started = env.clock.monotonic()
  try {
    // Privileges before any work (issue 18 item 2): a refused statement has touched nothing.
    if (session.principal !== undefined && !ownTempStatement(session.temp, s)) checkStatement(env.catalog(), session.principal, s)
    session.temp.limit = env.tempTableBytesPerSession?.() ?? TEMP_TABLE_BYTES_PER_SESSION_DEFAULT
    // Routed by one shard count; an autocommit row statement refused for it runs again (shard-count-retry.ts).
    const retryable = session.txn === null && ROW_STATEMENTS.has(s.kind)
    const result = await withStatementTimeout(env, session.settings.statementTimeoutMs, s, session.txn !== null,
      () => withShardCount(env, () => retryable && session.txn === null, e => executeStatement(e, session, s, params, script.slots[i]!)))
    results.push(result)
    // A statement outside a transaction committed: ON COMMIT DELETE ROWS / DROP of temporary tables apply.
    if (session.txn === null && s.kind !== 'commit' && s.kind !== 'rollback') session.temp.endTxn(true)
    report(env, s, started, result.rowCount, undefined, session, sessionId)
    return null
  } catch (e) {
    const err = asCoded(e)
    // A failed statement poisons the open transaction (its partial writes cannot be undone alone).
    if (session.txn !== null) session.txn.failed = true
    report(env, s, started, 0, err.code, session, sessionId)
    return err
  }
}

function report (env: ExecEnv, s: Statement, started: number, rowCount: number, error: string | undefined, session: SessionState, sessionId: string | undefined): void {
  if (env.statementDone === undefined) return
  env.statementDone({
    sql: () => formatStatement(s),
    durationMs: env.clock.monotonic() - started,
    rowCount,
    error,
    session: sessionId,
    txnShards: session.txn?.shards,
    client: session.client,
    kind: s.kind,
    statement: s
  })
}

function asCoded (e: unknown): ScratchBirdError {
  if (isScratchBirdError(e)) return e
  throw e
}

/**
 * A SELECT's rows. Outside a transaction: at a replica under read_from = replica; else, when it
 * reads several shards outside a transaction or in a read committed one, at one snapshot HLC
 * (statement-snapshot.ts), registered as an open snapshot meanwhile so the sweep keeps what it
 * reads. A read that met a prepared version runs
 * again once that is decided (withLimboRetry) — in a snapshot transaction too.
 */
async function runSelect (env: ExecEnv, session: SessionState, plan: SelectPlan, params: readonly SqlValue[], txn: SqlTxn | null): Promise<SqlValue[][]> {
  // read_from = replica: outside a transaction, replicated primary_replica tables are read at a replica.
  if (txn === null && session.settings.readFrom === 'replica') return await executeSelect(replicaReadEnv(env), plan, params, txn)
  if (!needsStatementSnapshot(plan, txn)) return await withLimboRetry(env, () => executeSelect(env, plan, params, txn))
  const readHlc = nextHlcTs(env.hlc)
  const token = env.snapshots.register(readHlc)
  try {
    return await withLimboRetry(env, () => executeSelect(statementSnapshotEnv(env, readHlc), plan, params, txn))
  } finally { env.snapshots.release(token) }
}

async function executeStatement (nodeEnv: ExecEnv, session: SessionState, s: Statement, params: readonly SqlValue[], slot: PlanSlot): Promise<StatementResult> {
  const txn = session.txn
  if (txn?.failed === true && s.kind !== 'rollback' && s.kind !== 'commit') {
    throw new ScratchBirdError('SB_TXN_ABORTED', 'current transaction is aborted, commands ignored until end of transaction block')
  }
  // The session's temporary tables (temp-statements.ts): their own DDL, and the catalog DML plans against.
  const own = runTempStatement(nodeEnv, session.temp, s)
  if (own !== null) return own
  const env = usesSessionCatalog(s) ? sessionEnv(nodeEnv, session.temp) : nodeEnv
  // CAST to a domain: checked and folded before planning (plan/domain-cast.ts).
  if (usesSessionCatalog(s)) s = withDomainCasts(env, s)
  switch (s.kind) {
    case 'begin':
      if (txn !== null) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', 'there is already a transaction in progress', posDetails(s.pos))
      session.txn = new SqlTxn(env, s.isolation ?? session.settings.defaultIsolation, true)
      session.settings.beginTxn()
      session.temp.beginTxn()
      return commandResult('BEGIN')
    case 'commit': {
      if (txn === null) return commandResult('COMMIT', 0, ['there is no transaction in progress'])
      session.txn = null
      if (txn.failed) {
        session.settings.endTxn(false)
        session.temp.endTxn(false)
        await txn.rollback()
        return commandResult('ROLLBACK', 0, ['the transaction had a failed statement and was rolled back'])
      }
      try { await (env.tracer == null ? txn.commit() : env.tracer.span('commit', {}, () => txn.commit())) } catch (e) { session.settings.endTxn(false); session.temp.endTxn(false); await txn.rollback(); throw e }
      session.settings.endTxn(true)
      session.temp.endTxn(true)
      return commandResult('COMMIT')
    }
    case 'rollback':
      if (txn === null) return commandResult('ROLLBACK', 0, ['there is no transaction in progress'])
      session.txn = null
      session.settings.endTxn(false)
      session.temp.endTxn(false)
      await txn.rollback()
      return commandResult('ROLLBACK')
    case 'select': {
      const plan = env.tracer == null ? selectPlanFor(env, s, params, slot) : env.tracer.span('plan', {}, () => selectPlanFor(env, s, params, slot))
      const rows = await runSelect(env, session, plan, params, txn)
      return rowsResult('SELECT', plan.columns, rows)
    }
    case 'insert': {
      const unpin = env.catalogPins.pin(env.catalog().version)
      try {
        const plan = env.tracer == null ? insertPlanFor(env, s, params, slot) : env.tracer.span('plan', {}, () => insertPlanFor(env, s, params, slot))
        if (plan.onConflict !== null) {
          const returned: SqlValue[][] = []
          const n = await insertOnConflict(env, tableAccess(env, plan.shape.info), plan, params, txn, returned)
          return returningResult('INSERT', plan.returning, returned, n)
        }
        const rows: SqlValue[][] = []
        const writes = insertWrites(env, plan, params, rows)
        const returned = returningRows(env, plan.returning, rows, params)
        const access = tableAccess(env, plan.shape.info)
        // Foreign keys read the referenced rows first: the statement then needs a transaction.
        const n = !hasForeignKeys(env.catalog(), plan.shape.info)
          ? await writeWithIndexes(plan.shape.info, plan.indexes, access, writes, txn)
          : await access.statement(txn, async t => {
            // The referenced rows are written back as lock writes: in read committed the check
            // reads them and the writes go at one read point (read-point.ts, as an UPDATE's do), so
            // a parent row another transaction committed after the check is refused
            // (SB_UPDATE_CONFLICT), never overwritten with the version the check read.
            return await atStatementReadPoint(env, access, t, async (at, a) => {
              await enforceForeignKeys(at, plan.shape, rows.map(r => ({ old: null, next: r })), writes, t, timestampFromMillis(env.clock.now()))
              return await writeWithIndexes(plan.shape.info, plan.indexes, a, writes, t)
            })
          })
        return returningResult('INSERT', plan.returning, returned, n)
      } finally { unpin() }
    }
    case 'update': case 'delete': {
      const unpin = env.catalogPins.pin(env.catalog().version)
      try {
        const plan = env.tracer == null ? modifyPlanFor(env, s, params, slot) : env.tracer.span('plan', {}, () => modifyPlanFor(env, s, params, slot))
        const access = tableAccess(env, plan.shape.info)
        const returned: SqlValue[][] = []
        const n = await executeModify(env, access, plan, params, txn, returned)
        return returningResult(s.kind.toUpperCase(), plan.returning, returned, n)
      } finally { unpin() }
    }
    case 'create_table': case 'alter_table': case 'drop_table': case 'create_index': case 'drop_index': case 'alter_index': {
      const run = async (): Promise<StatementResult> => await runDdl(env, s)
      if (s.kind === 'create_index') return await createIndex(env, s, d => runDdl(env, d))
      const result = s.kind === 'alter_table' ? await alterUnderFence(env, s, async () => await alterLeaderlessFactor(env, s, run, d => runDdl(env, d)), d => runDdl(env, d)) : await run()
      return s.kind === 'drop_table' ? result : await withPrimaries(env, result)
    }
    case 'create_domain': case 'alter_domain': case 'drop_domain':
      if (s.kind === 'alter_domain') await verifyStoredValues(env, s)
      return await runDdl(env, s)
    case 'create_view': case 'drop_view': return await runDdl(env, s)
    case 'truncate': {
      // The session's view of the catalog: its temporary tables are emptied like the others.
      const unpin = env.catalogPins.pin(env.catalog().version)
      try { return await executeTruncate(sessionEnv(nodeEnv, session.temp), s, txn) } finally { unpin() }
    }
    case 'create_token': case 'drop_token': return await executeTokenStatement(env, session, s, d => runDdl(env, d))
    case 'create_user': case 'alter_user': case 'drop_user': case 'grant': case 'revoke': {
      const stored = withVerifier(env, s)
      return env.runDdl !== undefined ? await env.runDdl(stored) : applyDdl(env, stored)
    }
    case 'explain': return explain(env, s.statement, params, txn === null && session.settings.readFrom === 'replica')
    case 'show':
      if (s.target === 'merkle_forest_size') return await showMerkleForestSize(env, s.pos)
      if (s.target === 'anti_entropy_status') return showAntiEntropyStatus(env, s.pos)
      if (s.target === 'transactions_horizon') return showTransactionsHorizon(env)
      if (s.target === 'replication_lag') return showReplicationLag(env, s.pos)
      return show(env, s.target, s.pos)
    case 'set': case 'reset': case 'show_setting': return runSettingStatement(env, session, s)
    case 'repair': return repair(env, s)
    case 'deliver_hints': {
      if (env.hints === undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'DELIVER HINTS needs a cluster: a single node keeps no hints', posDetails(s.pos))
      const r = await env.hints.deliver(s.node)
      return rowsResult('DELIVER HINTS', [{ name: 'target_node', type: T.integer }, { name: 'delivered', type: T.bigint }, { name: 'remaining', type: T.bigint }],
        [[BigInt(r.target), BigInt(r.delivered), BigInt(r.remaining)]])
    }
    case 'drain_node': {
      // DRAIN NODE [CANCEL] / REMOVE NODE: the cluster's decider writes the next layout (node/cluster.ts).
      if (env.membershipOp === undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${s.op === 'remove' ? 'REMOVE' : 'DRAIN'} NODE needs a cluster: a single node has no other node to move its shards to`, posDetails(s.pos))
      return await env.membershipOp(s)
    }
    case 'alter_cluster': return await alterClusterShards(env, s)
  }
}

/** A DDL statement through the cluster (every node) or on this node alone. */
export async function runDdl (env: ExecEnv, s: DdlStatement): Promise<StatementResult> {
  return env.runDdl !== undefined ? await env.runDdl(s) : applyDdl(env, s)
}

const USER_STATEMENTS: ReadonlySet<string> = new Set(['create_user', 'alter_user', 'drop_user', 'grant', 'revoke', 'create_token', 'drop_token'] satisfies Array<(UserStatement | TokenStatement)['kind']>)
/** Users, grants and their bearer tokens (issue 18) travel the DDL path but change the catalog's users, not its tables. */
export function isUserStatement (s: DdlStatement): s is UserStatement | TokenStatement { return USER_STATEMENTS.has(s.kind) }

/** Validates a DDL statement against this node's catalog and installs the next version; `clock`: now() of an added column's DEFAULT. */
export function applyDdl (env: CatalogPort & DdlPort & PlanEnv & { readonly clock?: Clock }, s: DdlStatement): StatementResult {
  if (isUserStatement(s)) return applyUserDdl(env, s)
  if (isViewStatement(s)) {
    if (SYSTEM_TABLES[s.name] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${s.name} is a system table; it cannot be created, altered or dropped`, posDetails(s.pos))
    return applyViewDdl(env, s)
  }
  const name = s.kind === 'alter_table' || s.kind === 'create_index' ? s.table : s.name
  if (!DOMAIN_STATEMENT_KINDS.has(s.kind) && SYSTEM_TABLES[name] !== undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${name} is a system table; it cannot be created, altered or dropped`, posDetails(s.pos))
  const ctx = ddlContext(env.liveNodes(), env.tableDefaults, env.clock)
  const cat: Catalog = env.catalog()
  const res = cat.apply(s, ctx)
  // A column a view reads is neither dropped nor renamed (view-columns.ts): judged by planning the views without it.
  if (s.kind === 'alter_table' && (s.action.kind === 'drop_column' || s.action.kind === 'rename_column') && res.catalog !== cat) {
    checkNoViewReadsColumn(env, cat, res.catalog, s.table, s.action.column, s.action.kind === 'drop_column' ? 'drop' : 'rename')
  }
  // A dropped table's grants go with it (the same catalog version).
  const next = s.kind === 'drop_table' && res.table !== null ? withoutTableGrants(res.catalog, res.table.id) : res.catalog
  if (next !== cat) env.setCatalog(next)
  for (const w of res.warnings) env.warn(w, { table: name, statement: s.kind })
  const command = s.kind.replace('_', ' ').toUpperCase()
  return commandResult(command, 0, res.warnings)
}

const USER_COMMANDS: Record<UserStatement['kind'], string> = { create_user: 'CREATE ROLE', alter_user: 'ALTER ROLE', drop_user: 'DROP ROLE', grant: 'GRANT', revoke: 'REVOKE' }

/** CREATE/ALTER/DROP USER, GRANT, REVOKE: the next catalog version (catalog/users.ts); the statement carries a verifier by now. */
function applyUserDdl (env: CatalogPort & DdlPort, s: UserStatement | TokenStatement): StatementResult {
  const cat = env.catalog()
  if (s.kind === 'create_token' || s.kind === 'drop_token') {
    const res = applyTokenStatement(cat, s)
    if (res.catalog !== cat) env.setCatalog(res.catalog)
    return commandResult(s.kind === 'create_token' ? 'CREATE TOKEN' : 'DROP TOKEN', 0, res.warnings)
  }
  const res = applyUserStatement(cat, s, (v) => { decodeVerifier(v) })
  if (res.catalog !== cat) env.setCatalog(res.catalog)
  return commandResult(USER_COMMANDS[s.kind], 0, res.warnings)
}

/**
 * The statement with its password replaced by a SCRAM-SHA-256 verifier (a fresh salt), before it
 * travels to the catalog coordinator or is stored: the password goes no further than this node.
 */
function withVerifier (env: UsersPort, s: UserStatement): UserStatement {
  const password = s.kind === 'create_user' ? s.password : s.kind === 'alter_user' && s.action.kind === 'password' ? s.action.password : null
  if (password === null) return s
  let verifier: string
  if (looksLikeVerifier(password)) {
    decodeVerifier(password)
    verifier = password
  } else {
    if (env.verifierOf === undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'passwords need the node\'s user support (no verifier source here)', posDetails(s.pos))
    verifier = env.verifierOf(password)
  }
  if (s.kind === 'create_user') return { ...s, password: verifier }
  return s.kind === 'alter_user' ? { ...s, action: { kind: 'password', password: verifier } } : s
}

function programLines (title: string, p: Program): string[] {
  return [`${title}:`, ...disassemble(p).map(l => `  ${l}`)]
}

/** `replicaReads`: the session reads at replicas (read_from = replica, outside a transaction). */
function explain (env: ExecEnv, s: ExplainableStatement, params: readonly SqlValue[], replicaReads: boolean): StatementResult {
  const lines: string[] = []
  switch (s.kind) {
    case 'select':
      lines.push(...explainSelect(env, planSelect(env, s, params), replicaReads ? (info, shards) => explainReplicaRead(env, info, shards) : null))
      break
    case 'insert': {
      const p = planInsert(env, s, params)
      const shards = [...insertWrites(env, p, params).keys()].sort((a, b) => a - b)
      lines.push(`Insert into ${p.shape.info.name} (table ${p.shape.info.id}): ${p.programs.length} row(s) to ${p.shape.info.temporary === true ? TEMP_ROWS_WHERE : `shard(s) ${shards.join(', ')}`}`)
      lines.push(...tableAccess(env, p.shape.info).explainInsert(shards))
      p.programs.forEach((prog, i) => lines.push(...programLines(`VALUES row ${i + 1}`, prog)))
      break
    }
    case 'update': case 'delete': {
      const p = planModify(env, s, params)
      const keys = pointList(env, p.shape, p.routing)
      lines.push(`${s.kind === 'update' ? 'Update' : 'Delete'} ${p.shape.info.name} (table ${p.shape.info.id}): ${keys !== undefined ? keyListRouting(keys) : explainRouting(p.shape.info, p.routing.routing, p.routing.options)}`)
      const access = tableAccess(env, p.shape.info)
      lines.push(...access.explainModify(p.routing.shards, p.routing.options, keys))
      const point = explainPointModify(access, p, env.catalog())
      if (point !== null) lines.push(point)
      lines.push(...programLines('Filter program (shards)', p.filter))
      if (p.assign !== null) lines.push(...programLines(`SET program (${oneRequest(access, p, env.catalog()) ? 'shard' : 'coordinator'})`, p.assign))
      break
    }
    default:
      lines.push(`${s.kind.replace('_', ' ').toUpperCase()}: catalog change on this node (no shards involved)`)
  }
  return rowsResult('EXPLAIN', [{ name: 'QUERY PLAN', type: T.text }], lines.map(l => [l]))
}

/** SHOW MERKLE FOREST SIZE: per shard replica of this node, its forest's windows and sizes. */
async function showMerkleForestSize (env: ExecEnv, pos: Parameters<typeof posDetails>[0]): Promise<StatementResult> {
  if (env.merkleForestSize === undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'SHOW MERKLE FOREST SIZE needs the node\'s shard workers', posDetails(pos))
  const rows = await env.merkleForestSize()
  const n = (v: number): bigint => BigInt(v)
  return rowsResult('SHOW', [
    { name: 'shard_id', type: T.integer }, { name: 'windows', type: T.bigint }, { name: 'sealed_windows', type: T.bigint },
    { name: 'active_leaves', type: T.bigint }, { name: 'bytes_in_memory', type: T.bigint }, { name: 'bytes_on_disk', type: T.bigint },
    { name: 'reseals', type: T.bigint }, { name: 'rebuilds', type: T.bigint }
  ], rows.map(r => [n(r.shard), n(r.windows), n(r.sealed), n(r.activeLeaves), n(r.bytesInMemory), n(r.bytesOnDisk), n(r.reseals), n(r.rebuilds)]))
}

function show (env: ClusterView, target: string, pos: Parameters<typeof posDetails>[0]): StatementResult {
  if (target === 'cluster_members') {
    const int = (v: number | null): bigint | null => v === null ? null : BigInt(v)
    return rowsResult('SHOW', [
      { name: 'node_id', type: T.integer }, { name: 'address', type: T.text }, { name: 'datacenter', type: T.text },
      { name: 'state', type: T.text }, { name: 'heartbeat_age_ms', type: T.bigint }, { name: 'clock_offset_ms', type: T.bigint },
      { name: 'shard_replicas', type: T.integer }
    ], env.members().map(m => [BigInt(m.nodeId), m.address, m.datacenter, m.state, int(m.heartbeatAgeMs), int(m.clockOffsetMs), BigInt(m.shardReplicas)]))
  }
  if (target === 'shard_map') {
    return rowsResult('SHOW', [
      { name: 'shard_id', type: T.integer }, { name: 'preference_list', type: T.text }, { name: 'primary_node', type: T.integer },
      { name: 'replicas', type: T.text }, { name: 'live_replicas', type: T.text },
      { name: 'generation', type: T.bigint }, { name: 'replica_states', type: T.text }, { name: 'leaderless_bootstrap', type: T.text },
      { name: 'moving', type: T.text }
    ], env.shardMap().map(r => {
      // A Mode 1 group's primary is whoever won its election; without one, the shard's first preference node.
      const primary = r.mode1 === undefined ? BigInt(r.preference[0]!) : r.mode1.primary === null ? null : BigInt(r.mode1.primary)
      return [BigInt(r.shard), r.preference.join(','), primary, r.replicas.join(','), r.live.join(','),
        r.mode1 === undefined ? null : BigInt(r.mode1.generation), r.mode1?.replicaStates ?? null, r.leaderlessBootstrap ?? null, r.moving ?? null]
    }))
  }
  throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `SHOW ${target.replace(/_/g, ' ').toUpperCase()} is not available yet (it arrives with replication and anti-entropy)`, posDetails(pos))
}

/**
 * A table DDL may have started Mode 1 replication groups here (the first table with
 * replication_factor ≥ 2, or N raised): its answer waits until they know their primaries (bounded:
 * ClusterView.awaitPrimaries), so the client's first writes do not meet SB_NOT_PRIMARY during the
 * elections; shards still without one by then are named in a warning.
 */
async function withPrimaries (env: ExecEnv, result: StatementResult): Promise<StatementResult> {
  if (env.awaitPrimaries === undefined) return result
  const without = await env.awaitPrimaries()
  if (without.length === 0) return result
  const warning = `${without.length} shard(s) have not elected a primary yet (${without.slice(0, 8).join(', ')}${without.length > 8 ? ', …' : ''}): writes to them fail with SB_NOT_PRIMARY until they do`
  return { ...result, warnings: [...(result.warnings ?? []), warning] }
}
