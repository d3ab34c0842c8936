// `scratchbird audit verify FILE` (scratchbird_audit): checks an audit log's hash chain
// (src/ops/audit/verify.ts) and its head file. Exit 0 with a summary when intact (recorded chain
// breaks — the node continuing after a crash-torn line or a cut end — are listed as warnings);
// exit 1 naming the first bad line otherwise; a file that cannot be read is SB_BAD_ARGUMENT (2).
import { existsSync, readFileSync } from 'node:fs'
import { messageOf, ScratchBirdError } from '../core/errors'
import { headPath, parseHead, type AuditHead } from '../ops/audit/chain'
import { verifyAuditLog } from '../ops/audit/verify'
import type { ParsedFlags } from './args'

function readText (path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `cannot read ${what} ${path}: ${messageOf(e)}`, { path })
  }
}

function readHeadFile (path: string): AuditHead {
  const head = parseHead(readText(path, 'audit head file'))
  if (head === null) throw new ScratchBirdError('SB_BAD_ARGUMENT', `audit head file ${path} is not {"seq": N, "hash": "<sha256 hex>"}`, { path })
  return head
}

export function runAuditVerify (flags: ParsedFlags, positionals: readonly string[], out: NodeJS.WritableStream = process.stdout): number {
  if (positionals[0] !== 'verify' || positionals.length !== 2) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', 'usage: scratchbird audit verify FILE [--head FILE] [--json]')
  }
  const file = positionals[1]!
  const text = readText(file, 'audit log')
  const headFile = typeof flags.head === 'string' ? flags.head : existsSync(headPath(file)) ? headPath(file) : null
  const verdict = verifyAuditLog(text, headFile === null ? null : readHeadFile(headFile))
  if (flags.json === true) {
    out.write(JSON.stringify(verdict.ok ? { file, ...verdict } : { file, ...verdict, code: 'SB_AUDIT_CHAIN_BROKEN' }) + '\n')
    return verdict.ok ? 0 : 1
  }
  if (!verdict.ok) {
    out.write(`${file}: line ${verdict.line}: ${verdict.reason} [SB_AUDIT_CHAIN_BROKEN]\n`)
    return 1
  }
  const headNote = verdict.head === 'matched' ? `, end matches ${headFile!}` : ', no head file (lines cut from the end cannot be detected)'
  out.write(`${file}: intact, ${verdict.lines} line${verdict.lines === 1 ? '' : 's'}${headNote}\n`)
  for (const b of verdict.breaks) out.write(`warning: line ${b.line} records a chain break: ${b.reason}\n`)
  return 0
}
