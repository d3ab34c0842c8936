import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, type WriteStream } from 'node:fs'
import { createGunzip, createGzip, type Gzip } from 'node:zlib'
import { request } from 'undici'
import { scanBackup, type ScanReport } from '../backup/scan'
import { ERROR_CODES, ScratchBirdError, isScratchBirdError, messageOf, type ErrorCode } from '../core/errors'
import type { ParsedFlags } from './args'
import { authHeaders } from './credentials'
import { baseUrl } from './client'
import { trustCa } from './tls-client'

// scratchbird_backup and scratchbird_verify_backup (issue 17; the seeds' "Backup Strategy"):
//   scratchbird_backup --type=full --output=FILE [--url URL | --config FILE]
// asks the node for its backup (GET /v1/admin/backup, src/node/backup-source.ts) and writes it to
// FILE (gzip-compressed when FILE ends in .gz or .tgz), checking the archive as it passes exactly
// as verify does — so a backup that finishes with exit 0 has been verified once already. It is
// written to FILE.partial and renamed at the end: FILE never holds a half backup.
//   scratchbird_verify_backup --file=FILE
// reads FILE (plain or gzip) end to end and prints what it checked (src/backup/scan.ts).

const TIMEOUT_MS = 60_000

function stderr (line: string): void { process.stderr.write(line + '\n') }

function mb (bytes: number): string { return `${(bytes / 1048576).toFixed(1)} MB` }

/** An output file, optionally gzip-compressed, written with backpressure. */
export class Output {
  private readonly file: WriteStream
  private readonly gzip: Gzip | null
  private failed: Error | null = null

  constructor (path: string, compress: boolean) {
    this.file = createWriteStream(path, { flags: 'wx' })
    this.gzip = compress ? createGzip() : null
    if (this.gzip !== null) this.gzip.pipe(this.file)
    this.file.on('error', (e) => { this.failed = e })
    this.gzip?.on('error', (e) => { this.failed = e })
  }

  private get head (): NodeJS.WritableStream { return this.gzip ?? this.file }

  async write (b: Uint8Array): Promise<void> {
    if (this.failed !== null) throw this.failed
    if (!this.head.write(b)) await new Promise<void>(resolve => this.head.once('drain', resolve))
    if (this.failed !== null) throw this.failed
  }

  async close (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.file.once('close', () => { if (this.failed !== null) reject(this.failed); else resolve() })
      this.file.once('error', reject)
      this.head.end()
    })
  }

  destroy (): void { this.gzip?.destroy(); this.file.destroy() }
}

function printError (program: string, e: unknown): void {
  stderr(isScratchBirdError(e) ? `${program}: ${e.message} [${e.code}]` : `${program}: ${messageOf(e)}`)
}

export async function runBackup (flags: ParsedFlags): Promise<number> {
  const type = flags.type ?? 'full'
  if (type !== 'full' && type !== 'incremental') throw new ScratchBirdError('SB_BAD_ARGUMENT', `--type: expected full or incremental, got "${String(type)}"`)
  const output = flags.output
  if (typeof output !== 'string' || output === '') throw new ScratchBirdError('SB_BAD_ARGUMENT', 'scratchbird_backup: --output=FILE is required')
  if (existsSync(output)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `scratchbird_backup: ${output} exists; give a new file name (a backup never overwrites one)`, { output })
  const base = baseUrl(flags)
  // Backups need admin rights on the node (--user; credentials.ts).
  const headers = authHeaders(flags, process.env)
  trustCa(flags)
  const url = `${base}/v1/admin/backup?type=${type}`
  const partial = `${output}.partial`
  let out: Output | null = null
  try {
    let res
    try {
      res = await request(url, { method: 'GET', headers, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
    } catch (e) {
      throw new ScratchBirdError('SB_NODE_UNREACHABLE', `cannot reach the node at ${url}: ${messageOf(e)}`, { url })
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text()
      let msg = text
      let code = 'SB_BAD_ARGUMENT'
      try {
        const err = (JSON.parse(text) as { error?: { message?: string, code?: string } }).error
        msg = err?.message ?? text
        code = err?.code ?? code
      } catch { /* not JSON */ }
      // The node's own code (SB_AUTH_FAILED for a wrong token or password, …) when it is one of ours.
      throw new ScratchBirdError(Object.hasOwn(ERROR_CODES, code) ? code as ErrorCode : 'SB_BAD_ARGUMENT', `the node refused the backup (HTTP ${res.statusCode}): ${msg}`, { url })
    }
    out = new Output(partial, /\.(t?gz)$/i.test(output))
    const o = out
    let total = 0
    let rows = 0
    const body = res.body
    const tee = async function * (): AsyncGenerator<Uint8Array> {
      for await (const c of body) { await o.write(c as Uint8Array); yield c as Uint8Array }
    }
    const report = await scanBackup(tee(), {
      onMember: (name, bytes, memberRows) => {
        total += bytes
        rows += memberRows
        if (name.startsWith('shards/')) stderr(`backup: ${mb(total)}, ${rows} row(s) (${name})`)
      }
    })
    await out.close()
    out = null
    renameSync(partial, output)
    const m = report.manifest
    // Only now is this backup the base of the next incremental (the node records it).
    const done = await request(`${base}/v1/admin/backup/done`, { method: 'POST', headers, body: JSON.stringify({ backupId: m.backupId }), headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
    const doneText = await done.body.text()
    if (done.statusCode !== 200) throw new ScratchBirdError('SB_BACKUP_INVALID', `${output} is written and checked, but the node did not record it as the last backup (HTTP ${done.statusCode}: ${doneText}); the next incremental would not continue it`)
    stderr(`backup: wrote ${output}: ${m.type} backup ${m.backupId}${m.parentId !== null ? ` (continues ${m.parentId})` : ''} of node ${m.nodeId} (cluster "${m.cluster}"), ${report.rows} row(s) in ${m.shardCount} shard(s), ${mb(report.bytes)}; ` +
      `shard LSNs ${m.shards.map(s => `${s.shard}:${s.lsn}`).join(' ')}`)
    return 0
  } catch (e) {
    out?.destroy()
    rmSync(partial, { force: true })
    printError('scratchbird_backup', e)
    return 1
  }
}

/** The bytes of a backup file, gunzipped when it starts with the gzip magic. */
export async function * backupFileBytes (path: string): AsyncGenerator<Uint8Array> {
  let first: Buffer
  try {
    const fd = createReadStream(path, { start: 0, end: 1 })
    const parts: Buffer[] = []
    for await (const c of fd) parts.push(c as Buffer)
    first = Buffer.concat(parts)
  } catch (e) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `cannot read backup file ${path}: ${messageOf(e)}`, { path })
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 })
  if (first.length === 2 && first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = createGunzip()
    raw.pipe(gunzip)
    raw.on('error', (e) => gunzip.destroy(e))
    try {
      for await (const c of gunzip) yield c as Uint8Array
    } catch (e) {
      throw new ScratchBirdError('SB_BACKUP_INVALID', `backup file ${path} does not decompress: ${messageOf(e)} (truncated or damaged)`, { path })
    }
    return
  }
  for await (const c of raw) yield c as Uint8Array
}

/** The backup file named by --file (or --backup, the spelling of the seeds' rollback section). */
export function backupFileFlag (program: string, flags: ParsedFlags): string {
  const f = typeof flags.file === 'string' ? flags.file : typeof flags.backup === 'string' ? flags.backup : undefined
  if (f === undefined || f === '') throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: --file=FILE is required`)
  return f
}

export async function runVerifyBackup (flags: ParsedFlags): Promise<number> {
  const file = backupFileFlag('scratchbird_verify_backup', flags)
  let report: ScanReport
  try {
    report = await scanBackup(backupFileBytes(file))
  } catch (e) {
    printError(`scratchbird_verify_backup: ${file}`, e)
    return 1
  }
  const m = report.manifest
  const lines = [
    `${file}: ${m.type} backup ${m.backupId}${m.parentId !== null ? ` (continues ${m.parentId})` : ''} of node ${m.nodeId}, cluster "${m.cluster}", taken ${new Date(m.createdAtMs).toISOString()} by ScratchBird ${m.version} (format ${m.format})`,
    ...report.checked.map(l => `  ok: ${l}`),
    `${file}: OK (${report.members} members, ${report.rows} rows, ${mb(report.bytes)})`
  ]
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}
