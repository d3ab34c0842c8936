import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

// Replaces a small file so that a crash leaves either the old or the new content, never a mix:
// write a temp file, fsync it, rename over the target, fsync the directory (the rename itself).
export function writeFileAtomic (path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  try {
    if (typeof data === 'string') writeSync(fd, data)
    else writeSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  const dir = openSync(dirname(path), 'r')
  try { fsyncSync(dir) } finally { closeSync(dir) }
}

/**
 * writeFileAtomic off the event loop (libuv's thread pool does the writes and fsyncs), with its
 * own temp file `${path}${tmpSuffix}`. The caller runs at most one at a time per path and never a
 * synchronous write of the same path meanwhile: renames landing out of order could go backwards.
 */
export async function writeFileAtomicAsync (path: string, data: Uint8Array, tmpSuffix = '.tmp-async'): Promise<void> {
  const tmp = `${path}${tmpSuffix}`
  const fh = await open(tmp, 'w')
  try {
    await fh.write(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try { await dir.sync() } finally { await dir.close() }
}
