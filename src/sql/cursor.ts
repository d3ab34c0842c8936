// Token cursor shared by the statement parsers: lookahead, "expected …" bookkeeping for error
// messages, and the depth bound that keeps hostile input from overflowing the stack.

import type { ScratchBirdError } from '../core/errors'
import type { Expr, Pos, SelectStatement } from './ast'
import type { Token } from './lexer'
import { syntaxError } from './syntax-error'

/** Deepest recursion the parser allows (parentheses, unary operators, nested calls, CASE …). */
export const MAX_PARSE_DEPTH = 200
/**
 * Tallest expression tree the parser builds. Left-associative chains (`a + b + c …`) do not
 * recurse in the parser but do in every later stage that walks the tree, so they are bounded too.
 */
export const MAX_EXPR_HEIGHT = 1000

/**
 * Words that cannot be bare identifiers, because they can follow an expression or a table name
 * (where an implicit alias would be read) or start an expression. Everything else that is a
 * keyword somewhere (VALUE, LEVEL, DATE, KEY, NULLS …) stays usable as a name.
 */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  'all', 'and', 'as', 'asc', 'between', 'case', 'cast', 'check', 'column', 'constraint', 'create',
  'cross', 'default', 'desc', 'distinct', 'else', 'end', 'except', 'false', 'foreign', 'from',
  'full', 'group', 'having', 'ilike', 'in', 'inner', 'intersect', 'into', 'is', 'join', 'left',
  'like', 'limit', 'natural', 'not', 'null', 'offset', 'on', 'or', 'order', 'outer', 'primary',
  'references', 'returning', 'right', 'select', 'table', 'then', 'true', 'union', 'unique',
  'using', 'when', 'where', 'with'
])

export class Cursor {
  private readonly tokens: readonly Token[]
  private index = 0
  private depth = 0
  /** What the parser looked for at the current token; reset whenever a token is consumed. */
  private expected: string[] = []
  private readonly heights = new WeakMap<Expr, number>()
  /**
   * Parses a SELECT for a subquery expression: set by parser.ts, so parse-expr.ts need not import
   * parse-dml.ts (which imports it).
   */
  subquery: ((c: Cursor) => SelectStatement) | null = null

  constructor (tokens: readonly Token[]) {
    this.tokens = tokens
  }

  peek (ahead = 0): Token {
    const i = Math.min(this.index + ahead, this.tokens.length - 1)
    return this.tokens[i]!
  }

  get pos (): Pos { return this.peek().pos }

  atEnd (): boolean { return this.peek().kind === 'eof' }

  next (): Token {
    const t = this.peek()
    if (t.kind !== 'eof') this.index++
    if (this.expected.length > 0) this.expected = []
    return t
  }

  /** Is the token `ahead` the bare word `w`? Records nothing: for lookahead and operator loops. */
  isWord (w: string, ahead = 0): boolean {
    const t = this.peek(ahead)
    return t.kind === 'word' && t.value === w
  }

  isOp (op: string, ahead = 0): boolean {
    const t = this.peek(ahead)
    return t.kind === 'op' && t.value === op
  }

  /** Consumes the word `w` if it is next; otherwise remembers it for the error message. */
  acceptWord (w: string, label?: string): boolean {
    if (this.isWord(w)) { this.next(); return true }
    this.expect(label ?? w.toUpperCase())
    return false
  }

  acceptOp (op: string): boolean {
    if (this.isOp(op)) { this.next(); return true }
    this.expect(`"${op}"`)
    return false
  }

  wantWord (w: string): Token {
    const t = this.peek()
    if (!this.acceptWord(w)) throw this.error()
    return t
  }

  wantOp (op: string): Token {
    const t = this.peek()
    if (!this.acceptOp(op)) throw this.error()
    return t
  }

  /** Adds an alternative to the "expected …" list of the current token. */
  expect (label: string): void {
    if (!this.expected.includes(label)) this.expected.push(label)
  }

  /** Is the next token usable as an identifier (a non-reserved word or a quoted name)? */
  atIdentifier (ahead = 0): boolean {
    const t = this.peek(ahead)
    return t.kind === 'quoted' || (t.kind === 'word' && !RESERVED_WORDS.has(t.value))
  }

  /** An identifier, case-folded unless quoted. `anyWord` also admits reserved words (after AS). */
  identifier (label = 'identifier', anyWord = false): string {
    const t = this.peek()
    if (this.atIdentifier() || (anyWord && t.kind === 'word')) {
      this.next()
      return t.value
    }
    this.expect(label)
    throw this.error()
  }

  /** `( name, name … )` */
  identifierList (label = 'column name'): string[] {
    this.wantOp('(')
    const names = [this.identifier(label)]
    while (this.acceptOp(',')) names.push(this.identifier(label))
    this.wantOp(')')
    return names
  }

  /** The error for the current token: what was expected here, and what was found. */
  error (label?: string): ScratchBirdError {
    if (label !== undefined) this.expect(label)
    const t = this.peek()
    const got = t.kind === 'eof' ? 'end of input' : `"${t.text}"`
    const list = this.expected.length === 0 ? 'something else' : joinAlternatives(this.expected)
    return syntaxError(`expected ${list}, got ${got}`, t.pos, t.text)
  }

  /** An error at a given place with a message of its own (not an "expected" one). */
  errorAt (what: string, pos: Pos, token: string): ScratchBirdError {
    return syntaxError(what, pos, token)
  }

  enter (): void {
    if (++this.depth > MAX_PARSE_DEPTH) throw this.tooDeep(this.pos)
  }

  leave (): void { this.depth-- }

  /** Records the height of a new expression node; refuses trees taller than MAX_EXPR_HEIGHT. */
  node<T extends Expr> (e: T, children: readonly Expr[]): T {
    let h = 1
    for (const c of children) h = Math.max(h, (this.heights.get(c) ?? 1) + 1)
    if (h > MAX_EXPR_HEIGHT) throw this.tooDeep(e.pos)
    this.heights.set(e, h)
    return e
  }

  private tooDeep (pos: Pos): ScratchBirdError {
    return syntaxError(`statement nested too deeply (more than ${MAX_PARSE_DEPTH} levels of nesting or ${MAX_EXPR_HEIGHT} of operators)`,
      pos, this.peek().text)
  }
}

function joinAlternatives (labels: readonly string[]): string {
  if (labels.length === 1) return labels[0]!
  return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]!}`
}
