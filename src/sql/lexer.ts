// SQL tokenizer. Hand-written (DESIGN §5) so positions, limits and error messages are ours.
// Keywords are not a token kind: a bare word is one `word` token, lower-cased, and the parser
// decides whether it is a keyword where it reads it. That keeps non-reserved keywords (VALUE,
// LEVEL, KEY, DATE …) usable as column names without a second table of exceptions here.

import { syntaxError } from './syntax-error'
import type { Pos } from './ast'

/** Longest SQL text the tokenizer accepts (UTF-16 code units). Bounded like every input. */
export const MAX_SQL_LENGTH = 1 << 20
/** Longest number literal: more digits than any DECIMAL holds, and BigInt parsing stays cheap. */
export const MAX_NUMBER_LENGTH = 1000

export type TokenKind =
  | 'word' // bare identifier or keyword; `value` is lower-cased
  | 'quoted' // "double-quoted identifier"; `value` keeps its case
  | 'integer' // digits only; `value` is the digits
  | 'decimal' // digits with a point and/or exponent; `value` is the text as written
  | 'string' // 'text' with '' unescaped in `value`
  | 'param' // $n; `value` is the digits
  | 'op' // punctuation and operators; `value` is the operator text
  | 'eof'

export interface Token {
  readonly kind: TokenKind
  readonly value: string
  /** The source text of the token, for error messages. */
  readonly text: string
  readonly pos: Pos
}

const OPERATORS_2 = new Set(['<>', '!=', '<=', '>=', '||', '::'])
const OPERATORS_1 = new Set(['(', ')', ',', ';', '.', '*', '+', '-', '/', '%', '=', '<', '>'])

// Character classes by code unit: the tokenizer runs for every request, so no per-char strings.
function isDigit (c: number): boolean { return c >= 48 && c <= 57 }
function isWordStart (c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c > 127
}
function isWordPart (c: number): boolean { return isWordStart(c) || isDigit(c) || c === 36 }
/** ASCII blanks, and a byte-order mark (files saved by some editors and fed to `-f` start with one). */
function isSpace (c: number): boolean { return c === 32 || (c >= 9 && c <= 13) || c === 0xfeff }

/** Turns SQL text into tokens, ending with one `eof` token. Throws only SB_SYNTAX_ERROR. */
export function tokenize (sql: string): Token[] {
  if (sql.length > MAX_SQL_LENGTH) {
    throw syntaxError(`statement text too long: ${sql.length} characters, at most ${MAX_SQL_LENGTH}`,
      { line: 1, column: 1, offset: 0 }, '')
  }
  const tokens: Token[] = []
  let i = 0
  let line = 1
  let lineStart = 0
  const posAt = (offset: number): Pos => ({ line, column: offset - lineStart + 1, offset })
  // Newlines inside strings and comments still count, so positions after them stay right.
  const skipTo = (end: number): void => {
    for (let k = i; k < end; k++) {
      if (sql[k] === '\n') { line++; lineStart = k + 1 }
    }
    i = end
  }

  const code = (k: number): number => sql.charCodeAt(k) // NaN past the end: no class matches
  while (i < sql.length) {
    const c = code(i)
    if (isSpace(c)) {
      if (c === 10) { line++; lineStart = i + 1 }
      i++
      continue
    }
    if (c === 45 && code(i + 1) === 45) { // --
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? sql.length : nl
      continue
    }
    if (c === 47 && code(i + 1) === 42) { // /*
      const end = sql.indexOf('*/', i + 2)
      if (end === -1) throw syntaxError('unterminated /* comment', posAt(i), '/*')
      skipTo(end + 2)
      continue
    }
    const pos = posAt(i)
    if (isWordStart(c)) {
      let j = i + 1
      while (j < sql.length && isWordPart(code(j))) j++
      const text = sql.slice(i, j)
      tokens.push({ kind: 'word', value: text.toLowerCase(), text, pos })
      i = j
      continue
    }
    if (isDigit(c) || (c === 46 && isDigit(code(i + 1)))) {
      let j = i
      while (isDigit(code(j))) j++
      let kind: TokenKind = 'integer'
      if (code(j) === 46) { // .
        kind = 'decimal'
        j++
        while (isDigit(code(j))) j++
      }
      if (code(j) === 101 || code(j) === 69) { // e E
        let k = j + 1
        if (code(k) === 43 || code(k) === 45) k++
        if (isDigit(code(k))) {
          kind = 'decimal'
          while (isDigit(code(k))) k++
          j = k
        }
      }
      // `123abc` is one bad token, not the number 123 followed by the word abc.
      if (isWordStart(code(j))) {
        let k = j
        while (isWordPart(code(k))) k++
        throw syntaxError(`invalid number "${sql.slice(i, k)}"`, pos, sql.slice(i, k))
      }
      const text = sql.slice(i, j)
      if (text.length > MAX_NUMBER_LENGTH) throw syntaxError(`number literal longer than ${MAX_NUMBER_LENGTH} characters`, pos, text.slice(0, 20))
      tokens.push({ kind, value: text, text, pos })
      i = j
      continue
    }
    if (c === 39 || c === 34) { // ' "
      // Both quote forms double the quote character to escape it.
      const q = sql[i]!
      let value = ''
      let j = i + 1
      for (;;) {
        const end = sql.indexOf(q, j)
        if (end === -1) {
          throw syntaxError(c === 39 ? 'unterminated string literal' : 'unterminated quoted identifier', pos, sql.slice(i, i + 20))
        }
        value += sql.slice(j, end)
        if (code(end + 1) === c) { value += q; j = end + 2; continue }
        j = end + 1
        break
      }
      const text = sql.slice(i, j)
      if (c === 34 && value === '') throw syntaxError('zero-length quoted identifier', pos, text)
      skipTo(j)
      tokens.push({ kind: c === 39 ? 'string' : 'quoted', value, text, pos })
      continue
    }
    if (c === 36 && isDigit(code(i + 1))) { // $n
      let j = i + 1
      while (isDigit(code(j))) j++
      const text = sql.slice(i, j)
      tokens.push({ kind: 'param', value: text.slice(1), text, pos })
      i = j
      continue
    }
    const two = sql.slice(i, i + 2)
    if (OPERATORS_2.has(two)) {
      tokens.push({ kind: 'op', value: two, text: two, pos })
      i += 2
      continue
    }
    const one = sql[i]!
    if (OPERATORS_1.has(one)) {
      tokens.push({ kind: 'op', value: one, text: one, pos })
      i++
      continue
    }
    const ch = String.fromCodePoint(sql.codePointAt(i)!)
    throw syntaxError(`unexpected character "${ch}"`, pos, ch)
  }
  tokens.push({ kind: 'eof', value: '', text: '', pos: posAt(i) })
  return tokens
}
