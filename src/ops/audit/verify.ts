// Checks an audit log's hash chain (chain.ts): what `scratchbird audit verify FILE` runs. Pure:
// the file's text and its head file's content in, a verdict naming the first bad line out.
import { CHAIN_BREAK, GENESIS, isRecord, lineHash, parseLine, type AuditHead } from './chain'

/** A CHAIN BREAK line the node wrote (continuing after a damaged line or a missing end). */
export interface RecordedBreak {
  /** Line number of the CHAIN BREAK record. */
  readonly line: number
  readonly reason: string
}

export type AuditVerdict =
  | { readonly ok: true, readonly lines: number, readonly breaks: readonly RecordedBreak[], readonly head: 'matched' | 'absent' }
  | { readonly ok: false, readonly lines: number, readonly line: number, readonly reason: string }

/** The file's lines: the last one may lack its newline (a write cut short); an empty file has none. */
export function splitLines (text: string): string[] {
  if (text === '') return []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines
}

/**
 * Every line must parse, carry seq = its line number and prev = sha256 of the line before (GENESIS
 * for the first). A damaged line is accepted only when the next line is the node's CHAIN BREAK
 * acknowledging it (prev = hash of the damaged bytes): a torn write at a crash. With a head, the
 * line it names must be in the file with the hash it records: lines cut off the end are caught.
 */
export function verifyAuditLog (text: string, head: AuditHead | null): AuditVerdict {
  const lines = splitLines(text)
  const fail = (line: number, reason: string): AuditVerdict => ({ ok: false, lines: lines.length, line, reason })
  const breaks: RecordedBreak[] = []
  let prev = GENESIS
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    const n = i + 1
    const parsed = parseLine(raw)
    if (!isRecord(parsed)) {
      const next = i + 1 < lines.length ? parseLine(lines[i + 1]!) : null
      const acknowledged = next !== null && isRecord(next) && next.event === CHAIN_BREAK && next.prev === lineHash(raw) && next.seq === n + 1
      if (!acknowledged) return fail(n, `${parsed.bad}${i === lines.length - 1 ? ' (the file may have been cut short here)' : ''}`)
      prev = lineHash(raw)
      continue
    }
    if (parsed.seq !== n) {
      return fail(n, `seq ${parsed.seq} on line ${n}: lines were removed, inserted or reordered before it`)
    }
    if (parsed.prev !== prev) {
      return fail(n, n === 1
        ? 'the first line does not start the chain (prev is not the genesis hash): lines were removed from the start'
        : `prev hash does not match line ${n - 1}: line ${n - 1} was edited, or lines were removed or reordered`)
    }
    if (parsed.event === CHAIN_BREAK) breaks.push({ line: n, reason: parsed.statement })
    prev = lineHash(raw)
  }
  if (head === null) return { ok: true, lines: lines.length, breaks, head: 'absent' }
  if (head.seq > lines.length) {
    return fail(lines.length, `the head file records line ${head.seq} but the file ends at line ${lines.length}: lines were cut from the end`)
  }
  if (head.seq > 0 && lineHash(lines[head.seq - 1]!) !== head.hash) {
    return fail(head.seq, `line ${head.seq} does not hash to the value its head file recorded`)
  }
  return { ok: true, lines: lines.length, breaks, head: 'matched' }
}
