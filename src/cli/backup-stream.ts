import { createReadStream, createWriteStream, renameSync, rmSync, type WriteStream } from 'node:fs'
import { createGunzip, createGzip, type Gzip } from 'node:zlib'
import { request } from 'undici'
import { scanBackup, type ScanReport } from '../backup/scan'
import { ERROR_CODES, ScratchBirdError, isScratchBirdError, messageOf, type ErrorCode } from '../core/errors'

// What scratchbird_backup (one node or --cluster), verify_backup and restore share: streaming one
// node's backup into a file while checking it, a node's admin answers as coded errors, the bytes
// of a backup file (plain or gzip), and their stderr lines.

const TIMEOUT_MS = 60_000

export function stderr (line: string): void { process.stderr.write(line + '\n') }

export function mb (bytes: number): string { return `${(bytes / 1048576).toFixed(1)} MB` }

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

export function printError (program: string, e: unknown): void {
  stderr(isScratchBirdError(e) ? `${program}: ${e.message} [${e.code}]` : `${program}: ${messageOf(e)}`)
}

/** A node's JSON answer, or its refusal as a coded error (the node's own code when it is one of ours). */
export async function nodeCall (url: string, headers: Record<string, string>, method: 'GET' | 'POST', body?: unknown): Promise<Record<string, unknown>> {
  let res
  try {
    res = await request(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
  } catch (e) {
    throw new ScratchBirdError('SB_NODE_UNREACHABLE', `cannot reach the node at ${url}: ${messageOf(e)}`, { url })
  }
  const text = await res.body.text()
  if (res.statusCode !== 200) throw refusal(url, res.statusCode, text)
  try { return JSON.parse(text) as Record<string, unknown> } catch { throw new ScratchBirdError('SB_BAD_ARGUMENT', `${url} answered something that is not JSON: ${text.slice(0, 200)}`, { url }) }
}

function refusal (url: string, status: number, text: string): ScratchBirdError {
  let msg = text
  let code = 'SB_BAD_ARGUMENT'
  try {
    const err = (JSON.parse(text) as { error?: { message?: string, code?: string } }).error
    msg = err?.message ?? text
    code = err?.code ?? code
  } catch { /* not JSON */ }
  // The node's own code (SB_AUTH_FAILED for a wrong token or password, …) when it is one of ours.
  return new ScratchBirdError(Object.hasOwn(ERROR_CODES, code) ? code as ErrorCode : 'SB_BAD_ARGUMENT', `the node refused (HTTP ${status}): ${msg}`, { url })
}

/**
 * Stream one backup of the node at `base` into `output` (via output.partial, renamed once the
 * archive passed every check), then tell the node it is done (the base of its next incremental).
 */
export async function streamBackup (base: string, headers: Record<string, string>, type: 'full' | 'incremental', output: string): Promise<{ report: ScanReport }> {
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
      const e = refusal(url, res.statusCode, await res.body.text())
      throw new ScratchBirdError(e.code, e.message.replace('the node refused', 'the node refused the backup'), { url })
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
    return { report }
  } catch (e) {
    out?.destroy()
    rmSync(partial, { force: true })
    throw e
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
