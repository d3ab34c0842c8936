import { ScratchBirdError } from '../core/errors'

// POSIX ustar framing (no npm tar package is installed here, and the format is small): a member is
// a 512-byte header, its bytes, and zero padding to a multiple of 512; an archive ends with two
// zero blocks. Only what a backup writes is read back: regular files with names of at most 100
// bytes; anything else in a header is refused with a coded error rather than guessed at. The
// result is a plain tar that `tar -tvf` lists and extracts.

export const BLOCK = 512
/** Two zero blocks: the end of an archive. */
export const TAR_END = new Uint8Array(2 * BLOCK)
/** Largest member size the 11-digit octal field holds (8 GiB − 1). */
export const MAX_MEMBER_BYTES = 8 ** 11 - 1

function bad (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_INVALID', message, details)
}

function putString (h: Uint8Array, pos: number, len: number, s: string): void {
  const b = Buffer.from(s, 'utf8')
  if (b.length > len) throw new ScratchBirdError('SB_BAD_ARGUMENT', `tar field too long: ${s}`)
  h.set(b, pos)
}

function putOctal (h: Uint8Array, pos: number, len: number, v: number): void {
  putString(h, pos, len, v.toString(8).padStart(len - 1, '0') + '\0')
}

/** The header of a regular file member `name` of `size` bytes, modified at `mtimeMs`. */
export function tarHeader (name: string, size: number, mtimeMs: number): Uint8Array {
  if (!Number.isInteger(size) || size < 0 || size > MAX_MEMBER_BYTES) throw new ScratchBirdError('SB_BAD_ARGUMENT', `tar member ${name}: size ${size} out of range`)
  const h = new Uint8Array(BLOCK)
  putString(h, 0, 100, name)
  putOctal(h, 100, 8, 0o644)
  putOctal(h, 108, 8, 0)
  putOctal(h, 116, 8, 0)
  putOctal(h, 124, 12, size)
  putOctal(h, 136, 12, Math.floor(mtimeMs / 1000))
  h.fill(0x20, 148, 156) // checksum counted as spaces
  h[156] = 0x30 // '0': regular file
  putString(h, 257, 6, 'ustar\0')
  putString(h, 263, 2, '00')
  let sum = 0
  for (const b of h) sum += b
  putString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ')
  return h
}

/** Zero bytes after a member of `size` bytes up to the next block. */
export function tarPadding (size: number): Uint8Array {
  const r = size % BLOCK
  return new Uint8Array(r === 0 ? 0 : BLOCK - r)
}

export interface TarMemberHeader { readonly name: string, readonly size: number }

function field (h: Uint8Array, pos: number, len: number): string {
  let end = pos
  while (end < pos + len && h[end] !== 0) end++
  return Buffer.from(h.subarray(pos, end)).toString('utf8')
}

/** Decode one header block; null for a zero block (the end). */
export function parseTarHeader (h: Uint8Array, offset: number): TarMemberHeader | null {
  if (h.length !== BLOCK) throw bad('truncated tar header', { offset })
  if (h.every(b => b === 0)) return null
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!
  const stored = Number.parseInt(field(h, 148, 8).trim(), 8)
  if (stored !== sum) throw bad(`tar header at byte ${offset} has a bad checksum (the file is damaged)`, { offset })
  if (field(h, 257, 6) !== 'ustar') throw bad(`tar header at byte ${offset} is not ustar`, { offset })
  const type = h[156]
  if (type !== 0x30 && type !== 0) throw bad(`tar member at byte ${offset} is not a regular file`, { offset, type })
  const name = field(h, 0, 100)
  const sizeText = field(h, 124, 12).trim()
  if (!/^[0-7]+$/.test(sizeText)) throw bad(`tar header at byte ${offset} has a bad size`, { offset })
  const size = Number.parseInt(sizeText, 8)
  if (name === '' || name.includes('..') || name.startsWith('/')) throw bad(`tar member at byte ${offset} has an unsafe name "${name}"`, { offset })
  return { name, size }
}

/** A member as a reader yields it: its header and its bytes, in pieces of at most one chunk. */
export interface TarMember extends TarMemberHeader {
  /** The member's bytes, whole (members of a backup are bounded: chunks, small JSON files). */
  readonly data: Uint8Array
}

/** Largest member a reader takes into memory (a snapshot chunk is far below it). */
export const MAX_READ_MEMBER_BYTES = 64 * 1024 * 1024

/**
 * Members of a tar stream, in order. Throws SB_BACKUP_INVALID on a damaged header, a member
 * larger than MAX_READ_MEMBER_BYTES, or a stream that ends before the end blocks.
 */
export async function * readTar (source: AsyncIterable<Uint8Array>): AsyncGenerator<TarMember> {
  let buf = Buffer.alloc(0)
  let offset = 0
  const it = source[Symbol.asyncIterator]()
  let ended = false
  const fill = async (n: number): Promise<boolean> => {
    while (buf.length < n && !ended) {
      const r = await it.next()
      if (r.done === true) { ended = true; break }
      buf = buf.length === 0 ? Buffer.from(r.value) : Buffer.concat([buf, r.value])
    }
    return buf.length >= n
  }
  const take = (n: number): Buffer => {
    const out = buf.subarray(0, n)
    buf = buf.subarray(n)
    offset += n
    return out
  }
  for (;;) {
    if (!await fill(BLOCK)) throw bad(`the archive ends at byte ${offset + buf.length} without its end marker (truncated)`, { offset })
    const at = offset
    const header = parseTarHeader(new Uint8Array(take(BLOCK)), at)
    if (header === null) return
    if (header.size > MAX_READ_MEMBER_BYTES) throw bad(`tar member ${header.name} is ${header.size} bytes, more than a backup member holds`, { name: header.name })
    const padded = header.size + tarPadding(header.size).length
    if (!await fill(padded)) throw bad(`the archive ends inside member ${header.name} (truncated at byte ${offset + buf.length})`, { name: header.name })
    const data = new Uint8Array(Buffer.from(take(header.size)))
    take(padded - header.size)
    yield { name: header.name, size: header.size, data }
  }
}
