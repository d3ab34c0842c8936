import { tokenize } from '../sql/lexer'

// Interactive input (scratchbird_cli prompt): lines accumulate until they hold a complete
// statement — a `;` outside strings, quoted identifiers and comments, as the SQL tokenizer sees
// it. An unterminated string or comment means "keep reading", not an error.

export function isComplete (text: string): boolean {
  if (text.trim() === '') return false
  try {
    const tokens = tokenize(text)
    const last = tokens[tokens.length - 2] // the token before eof
    return last !== undefined && last.kind === 'op' && last.value === ';'
  } catch {
    return false // unterminated literal or comment: the statement continues on the next line
  }
}
