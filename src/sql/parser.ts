// Entry points: `parse` for `;`-separated scripts, `parseOne` for exactly one statement.
// Recursive descent over the tokens of lexer.ts (DESIGN §5). Every failure, on any input, is a
// ScratchBirdError with code SB_SYNTAX_ERROR: the HTTP API maps it to 400 and never to a crash.

import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type {
  BeginStatement, ExplainStatement, ExplainableStatement, Expr, IsolationLevel, ShowSettingStatement, ShowStatement, ShowTarget, Statement
} from './ast'
import { Cursor } from './cursor'
import { tokenize } from './lexer'
import { parseAlterTable, parseCreateTable, parseDropTable } from './parse-ddl'
import { atAlterIndex, atCreateIndex, atDropIndex, parseAlterIndex, parseCreateIndex, parseDropIndex } from './parse-index'
import { parseDelete, parseInsert, parseSelect, parseUpdate } from './parse-dml'
import { parseExpr } from './parse-expr'
import { parseUserStatement } from './parse-users'
import { parseTokenStatement } from './parse-tokens'
import { parseDomainStatement } from './parse-domain'
import { parseReset, parseSet, parseShowSetting } from './parse-settings'
import { parseViewStatement } from './parse-view'
import { parseTruncate } from './parse-truncate'
import { syntaxError } from './syntax-error'

export { MAX_PARSE_DEPTH, MAX_EXPR_HEIGHT } from './cursor'
export { MAX_SQL_LENGTH } from './lexer'

/** Parses a script of statements separated by `;` (empty statements are skipped). */
export function parse (sql: string): Statement[] {
  return guard(sql, (c) => {
    const statements: Statement[] = []
    for (;;) {
      while (c.isOp(';')) c.next()
      if (c.atEnd()) return statements
      statements.push(parseStatement(c))
      if (!c.atEnd() && !c.isOp(';')) throw c.error('end of statement')
    }
  })
}

/** Parses exactly one statement (a trailing `;` is allowed). */
export function parseOne (sql: string): Statement {
  const statements = parse(sql)
  if (statements.length === 1) return statements[0]!
  if (statements.length === 0) {
    throw syntaxError('expected a statement, got end of input', { line: 1, column: 1, offset: 0 }, '')
  }
  const second = statements[1]!
  throw syntaxError('expected exactly one statement, got more', second.pos, '')
}

/** Parses exactly one expression (a column DEFAULT as the catalog stores it). */
export function parseExpression (sql: string): Expr {
  return guard(sql, (c) => {
    const e = parseExpr(c)
    if (!c.atEnd()) throw c.error('end of expression')
    return e
  })
}

function guard<T> (sql: string, body: (c: Cursor) => T): T {
  if (typeof sql !== 'string') throw syntaxError('SQL text must be a string', { line: 1, column: 1, offset: 0 }, '')
  try {
    const c = new Cursor(tokenize(sql))
    c.subquery = parseSelect
    return body(c)
  } catch (e) {
    if (isScratchBirdError(e)) throw e
    // Depth bounds make this unreachable in practice; if the engine's stack is smaller than we
    // assumed, the client still gets a syntax error, not a 500.
    if (e instanceof RangeError) {
      throw syntaxError('statement nested too deeply', { line: 1, column: 1, offset: 0 }, '')
    }
    // A bug of ours: still a coded error (SB_INTERNAL, never a crash), and the fuzz tests fail on it.
    throw new ScratchBirdError('SB_INTERNAL', 'internal error while parsing SQL', {}, { cause: e })
  }
}

function parseStatement (c: Cursor): Statement {
  const t = c.peek()
  if (t.kind === 'word') {
    switch (t.value) {
      case 'begin': case 'start': return parseBegin(c)
      // END and ABORT: PostgreSQL's spellings of COMMIT and ROLLBACK (pgbench's TPC-B script ends with END).
      case 'commit': case 'rollback': case 'end': case 'abort': {
        c.next()
        if (!c.acceptWord('transaction')) c.acceptWord('work')
        return t.value === 'commit' || t.value === 'end' ? { kind: 'commit', pos: t.pos } : { kind: 'rollback', pos: t.pos }
      }
      case 'explain': return parseExplain(c)
      case 'show': return parseShow(c)
      case 'set': return parseSet(c)
      case 'reset': return parseReset(c)
      case 'deliver': {
        c.next()
        c.wantWord('hints')
        c.wantWord('to')
        c.wantWord('node')
        return { kind: 'deliver_hints', pos: t.pos, node: parseNodeId(c) }
      }
      case 'drain': {
        c.next()
        c.wantWord('node')
        const node = parseNodeId(c)
        return c.acceptWord('cancel') ? { kind: 'drain_node', pos: t.pos, node, op: 'cancel' } : { kind: 'drain_node', pos: t.pos, node }
      }
      case 'remove': {
        c.next()
        c.wantWord('node')
        const node = parseNodeId(c)
        return c.acceptWord('force') ? { kind: 'drain_node', pos: t.pos, node, op: 'remove', force: true } : { kind: 'drain_node', pos: t.pos, node, op: 'remove' }
      }
      case 'alter': {
        // ALTER CLUSTER SET shards = n; every other ALTER is DDL (parseExplainable).
        if (!c.isWord('cluster', 1)) break
        c.next()
        c.next()
        c.wantWord('set')
        c.wantWord('shards')
        if (!c.acceptOp('=')) c.wantWord('to')
        return { kind: 'alter_cluster', pos: t.pos, shards: parseSmallInt(c, 'a shard count (integer)') }
      }
      case 'repair': {
        c.next()
        if (c.acceptWord('table')) return { kind: 'repair', pos: t.pos, shard: null, table: c.identifier('table name') }
        c.wantWord('shard')
        return { kind: 'repair', pos: t.pos, shard: parseSmallInt(c, 'a shard id (integer)'), table: null }
      }
    }
  }
  const users = parseUserStatement(c)
  if (users !== null) return users
  const token = parseTokenStatement(c)
  if (token !== null) return token
  const domain = parseDomainStatement(c)
  if (domain !== null) return domain
  const view = parseViewStatement(c)
  if (view !== null) return view
  const truncate = parseTruncate(c)
  if (truncate !== null) return truncate
  const explainable = parseExplainable(c)
  if (explainable !== null) return explainable
  throw c.error('a statement')
}

function parseExplainable (c: Cursor): ExplainableStatement | null {
  switch (c.peek().kind === 'word' ? c.peek().value : '') {
    case 'select': return parseSelect(c)
    case 'insert': return parseInsert(c)
    case 'update': return parseUpdate(c)
    case 'delete': return parseDelete(c)
    case 'create': return atCreateIndex(c) ? parseCreateIndex(c) : parseCreateTable(c)
    case 'alter': return atAlterIndex(c) ? parseAlterIndex(c) : parseAlterTable(c)
    case 'drop': return atDropIndex(c) ? parseDropIndex(c) : parseDropTable(c)
    default: return null
  }
}

function parseExplain (c: Cursor): ExplainStatement {
  const pos = c.next().pos
  const statement = parseExplainable(c)
  if (statement === null) throw c.error('SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER or DROP')
  return { kind: 'explain', pos, statement }
}

function parseBegin (c: Cursor): BeginStatement {
  const t = c.next()
  if (t.value === 'start') c.wantWord('transaction')
  else if (!c.acceptWord('transaction')) c.acceptWord('work')
  let isolation: IsolationLevel | null = null
  if (c.acceptWord('isolation')) {
    c.wantWord('level')
    if (c.acceptWord('snapshot')) {
      isolation = 'snapshot'
    } else {
      c.wantWord('read')
      c.wantWord('committed')
      isolation = 'read_committed'
    }
  }
  return { kind: 'begin', pos: t.pos, isolation }
}

const SHOW_TARGETS: ReadonlyArray<readonly [ShowTarget, readonly string[]]> = [
  ['cluster_members', ['cluster', 'members']],
  ['shard_map', ['shard', 'map']],
  ['replication_lag', ['replication', 'lag']],
  ['merkle_forest_size', ['merkle', 'forest', 'size']],
  ['anti_entropy_status', ['anti_entropy', 'status']],
  ['transactions_horizon', ['transactions', 'horizon']]
]

/** SHOW of a cluster target (all its words must follow), else of a session setting (parse-settings.ts). */
function parseShow (c: Cursor): ShowStatement | ShowSettingStatement {
  const pos = c.next().pos
  for (const [target, words] of SHOW_TARGETS) {
    if (c.isWord(words[0]!) && c.isWord(words[1]!, 1)) {
      for (const w of words) c.wantWord(w)
      return { kind: 'show', pos, target }
    }
  }
  return parseShowSetting(c, pos)
}

/** Node ids are small positive integers (core/ids.ts: NODE_ID_MIN‥NODE_ID_MAX); the range is checked by the cluster. */
function parseNodeId (c: Cursor): number {
  return parseSmallInt(c, 'a node id (integer)')
}

/** A non-negative integer of at most 9 digits (node and shard ids; their ranges are checked where they are used). */
function parseSmallInt (c: Cursor, what: string): number {
  const t = c.peek()
  if (t.kind !== 'integer' || t.value.length > 9) throw c.error(what)
  c.next()
  return Number(t.value)
}
