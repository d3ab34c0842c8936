import { createHash } from 'node:crypto'
import { MANIFEST_NAME, type BackupManifest, type MemberInfo } from './manifest'
import { TAR_END, tarHeader, tarPadding } from './tar'

// Writes a backup archive member by member to a sink that applies backpressure (the sink's
// promise resolves when it can take more), recording each member's size and SHA-256 for the
// manifest, which finish() writes last, followed by the tar end marker.

export type Sink = (bytes: Uint8Array) => Promise<void>

export class ArchiveWriter {
  private readonly members: MemberInfo[] = []
  bytes = 0

  constructor (private readonly sink: Sink, private readonly mtimeMs: number) {}

  async add (name: string, data: Uint8Array): Promise<void> {
    this.members.push({ name, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') })
    await this.raw(name, data)
  }

  /** Write the manifest (with the members written so far) and the end marker. */
  async finish (manifest: Omit<BackupManifest, 'members'>): Promise<BackupManifest> {
    const full: BackupManifest = { ...manifest, members: this.members }
    await this.raw(MANIFEST_NAME, Buffer.from(JSON.stringify(full, null, 1) + '\n'))
    await this.sink(TAR_END)
    this.bytes += TAR_END.length
    return full
  }

  private async raw (name: string, data: Uint8Array): Promise<void> {
    const header = tarHeader(name, data.length, this.mtimeMs)
    const pad = tarPadding(data.length)
    await this.sink(header)
    await this.sink(data)
    if (pad.length > 0) await this.sink(pad)
    this.bytes += header.length + data.length + pad.length
  }
}
