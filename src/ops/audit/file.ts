// The audit log file (issue 18 item 4): appends hash-chained lines (chain.ts) and keeps the head
// file beside it. Durability policy: every line is written and fsynced before append() returns,
// and the head file is then replaced atomically (write, fsync, rename, fsync the directory). The
// node calls append() synchronously on the path of the audited action — after a DDL ran, before
// its answer is sent; on a login before AuthenticationOk — so an acknowledged action has its line
// on disk. (A crash between the action and the append can lose that one line; it cannot reorder
// or corrupt the earlier ones.)
//
// On open the chain continues from the file's last line. A last line cut short (a crash during a
// write) is kept as evidence and followed by a CHAIN BREAK line whose prev is that damaged line's
// hash; a file that ends before the line its head file records (lines cut off the end) or is
// missing while its head is not gets a CHAIN BREAK too. Either way the break is in the chain and
// `scratchbird audit verify` lists it.
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { writeFileAtomic } from '../../core/atomic-file'
import { CHAIN_BREAK, formatLine, GENESIS, headPath, isRecord, lineHash, parseHead, parseLine, type AuditEvent, type AuditHead } from './chain'

/** How much of the file's end open() reads to find the last lines (lines are bounded well below it). */
const TAIL_BYTES = 256 * 1024
/** Longest statement text on a line: one line stays bounded (and inside the tail open() reads). */
export const AUDIT_MAX_STATEMENT = 4000

export interface AuditFileOptions {
  readonly path: string
  readonly node: number
  /** Wall-clock milliseconds for each line's time (the node's injected Clock). */
  readonly now: () => number
}

/** Where the chain stands: the last line's seq and hash. */
interface Position { seq: number, prev: string }

export class AuditFile {
  private fd: number | null = null
  private pos: Position = { seq: 0, prev: GENESIS }
  /** Breaks found on open, written as the first lines of this run. */
  readonly openedWith: string[] = []

  constructor (private readonly o: AuditFileOptions) {}

  /** Opens (creating the file and its directory) and continues the chain; CHAIN BREAK lines for what it found broken. */
  open (): void {
    mkdirSync(dirname(this.o.path), { recursive: true })
    const head = readHead(this.o.path)
    this.fd = openSync(this.o.path, 'a+')
    const found = this.recover(this.fd)
    this.pos = found.pos
    for (const reason of found.breaks) {
      this.openedWith.push(reason)
      this.append({ event: CHAIN_BREAK, user: 'system', client: '', protocol: 'node', statement: reason, outcome: 'ok' })
    }
    if (head !== null && head.seq > this.pos.seq) {
      const reason = `the file ends at line ${this.pos.seq} but its head file recorded line ${head.seq}: lines were removed from the end`
      this.openedWith.push(reason)
      this.append({ event: CHAIN_BREAK, user: 'system', client: '', protocol: 'node', statement: reason, outcome: 'ok' })
    }
  }

  /** Appends one line and fsyncs it, then records the new head. Throws on an I/O error (the caller logs and counts it). */
  append (e: AuditEvent): void {
    if (this.fd === null) this.open()
    const statement = e.statement.length > AUDIT_MAX_STATEMENT ? `${e.statement.slice(0, AUDIT_MAX_STATEMENT - 1)}…` : e.statement
    const seq = this.pos.seq + 1
    const line = formatLine({ ...e, statement }, seq, this.o.now(), this.o.node, this.pos.prev)
    try {
      writeSync(this.fd!, line + '\n')
      fsyncSync(this.fd!)
    } catch (err) {
      // Part of the line may be on disk: reopen next time, which re-reads where the file stands.
      this.close()
      throw err
    }
    this.pos = { seq, prev: lineHash(line) }
    writeFileAtomic(headPath(this.o.path), JSON.stringify({ seq, hash: this.pos.prev }) + '\n')
  }

  close (): void {
    if (this.fd !== null) { try { closeSync(this.fd) } catch { /* already closed */ } }
    this.fd = null
  }

  /** Where the file's chain ends, and the breaks to record before continuing it. */
  private recover (fd: number): { pos: Position, breaks: string[] } {
    const size = fstatSync(fd).size
    if (size === 0) return { pos: { seq: 0, prev: GENESIS }, breaks: [] }
    const start = Math.max(0, size - TAIL_BYTES)
    const buf = Buffer.alloc(size - start)
    readSync(fd, buf, 0, buf.length, start)
    const text = buf.toString('utf8')
    if (!text.endsWith('\n')) {
      // A write cut short: end that line, so the next one starts on its own.
      writeSync(fd, '\n')
      fsyncSync(fd)
    }
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    // Reading from the middle of the file, the first piece may be the end of a longer line.
    if (start > 0) lines.shift()
    const last = lines.at(-1)!
    const parsed = parseLine(last)
    if (isRecord(parsed)) return { pos: { seq: parsed.seq, prev: lineHash(last) }, breaks: [] }
    // The damaged last line's number: the file's line count when the whole file is in view, else
    // one past the last good line's.
    let seq = lines.length
    if (start > 0) {
      for (let k = lines.length - 2; k >= 0; k--) {
        const r = parseLine(lines[k]!)
        if (isRecord(r)) { seq = r.seq + (lines.length - 1 - k); break }
      }
    }
    return { pos: { seq, prev: lineHash(last) }, breaks: [`line ${seq} was damaged (${parsed.bad}), probably a write cut short by a crash; the chain continues after it`] }
  }
}

function readHead (path: string): AuditHead | null {
  const p = headPath(path)
  if (!existsSync(p)) return null
  return parseHead(readFileSync(p, 'utf8'))
}
