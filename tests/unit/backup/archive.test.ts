import { describe, expect, it } from 'vitest'
import { checkChunkEntries, decodeChunk, encodeChunk } from '../../../src/backup/chunk'
import { parseTarHeader, readTar, tarHeader, TAR_END, tarPadding } from '../../../src/backup/tar'
import { encodeVersionOf } from '../../../src/storage/versions'
import { rowKey } from '../../../src/storage/keys'
import { asXid } from '../../../src/core/ids'

// The backup archive's framing and chunk codec (issue 17): what verify relies on to name damage.

async function * once (b: Uint8Array): AsyncGenerator<Uint8Array> { yield b }

async function members (b: Uint8Array): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  for await (const m of readTar(once(b))) out.push([m.name, Buffer.from(m.data).toString()])
  return out
}

function archive (files: Array<[string, string]>): Buffer {
  const parts: Uint8Array[] = []
  for (const [name, text] of files) {
    const data = Buffer.from(text)
    parts.push(tarHeader(name, data.length, 0), data, tarPadding(data.length))
  }
  parts.push(TAR_END)
  return Buffer.concat(parts)
}

describe('ustar framing', () => {
  it('round-trips members of any size, split into arbitrary pieces', async () => {
    const files: Array<[string, string]> = [['a.json', '{}'], ['shards/0/000001.kv', 'x'.repeat(1500)], ['empty', '']]
    expect(await members(archive(files))).toEqual(files)
  })
  it('refuses a damaged header, a truncated archive and a missing end marker', async () => {
    const good = archive([['a', 'hello']])
    const flipped = Buffer.from(good); flipped[3] = flipped[3]! ^ 0x01
    await expect(members(flipped)).rejects.toMatchObject({ code: 'SB_BACKUP_INVALID', message: expect.stringMatching(/bad checksum/) })
    await expect(members(good.subarray(0, 520))).rejects.toMatchObject({ code: 'SB_BACKUP_INVALID', message: expect.stringMatching(/ends inside member a/) })
    await expect(members(good.subarray(0, 1024))).rejects.toMatchObject({ code: 'SB_BACKUP_INVALID', message: expect.stringMatching(/without its end marker/) })
  })
  it('refuses unsafe member names', () => {
    const h = tarHeader('../etc/passwd', 1, 0)
    expect(() => parseTarHeader(h, 0)).toThrow(expect.objectContaining({ code: 'SB_BACKUP_INVALID' }))
  })
})

describe('snapshot chunk members', () => {
  const row = { key: rowKey(1, [1n]), value: encodeVersionOf(asXid(1n), new Uint8Array(16), false, undefined, undefined, Uint8Array.of(1, 2)) }
  it('round-trip and check', async () => {
    const c = { shard: 3, lsn: 42n, generation: 0n, hlcHighWater: 7n, done: true, entries: [row] }
    const back = await decodeChunk('m', await encodeChunk(c))
    expect(back).toMatchObject({ shard: 3, lsn: 42n, done: true })
    expect(checkChunkEntries('m', back, null)).toEqual(row.key)
  })
  it('name the member when an entry does not decode or keys go backwards', () => {
    const broken = { shard: 0, lsn: 1n, generation: 0n, hlcHighWater: 0n, done: true, entries: [{ key: row.key, value: Uint8Array.of(9) }] }
    expect(() => checkChunkEntries('shards/0/000001.kv', broken, null)).toThrow(/shards\/0\/000001\.kv: entry .* does not decode/)
    const ok = { ...broken, entries: [row] }
    expect(() => checkChunkEntries('m', ok, row.key)).toThrow(/keys out of order/)
  })
})
