import { linkSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ScratchBirdError } from '../core/errors'

// One node per data directory. A pid file created with link() (atomic: fails if it exists) is the
// first line of defence and gives the operator a clear message naming the other process; each
// shard's LevelDB LOCK is the second (a worker failing to open with LEVEL_LOCKED also refuses).

export const LOCK_FILE = 'scratchbird.pid'

export interface DataDirLock {
  readonly path: string
  release (): void
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

export function lockDataDir (dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, LOCK_FILE)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${process.pid}\n`)
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, path)
        return {
          path,
          release () { try { if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path) } catch { /* already gone */ } }
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        let other = NaN
        try { other = Number.parseInt(readFileSync(path, 'utf8'), 10) } catch { /* vanished: retry */ }
        if (Number.isInteger(other) && other !== process.pid && alive(other)) {
          throw new ScratchBirdError('SB_DATA_DIR_LOCKED',
            `data directory ${dataDir} is in use by another ScratchBird process (pid ${other}); ` +
            'stop it first or give this node its own --data-dir', { dataDir, pid: other })
        }
        // Stale lock of a process that died without cleaning up: take it over.
        rmSync(path, { force: true })
      }
    }
    throw new ScratchBirdError('SB_DATA_DIR_LOCKED', `could not lock data directory ${dataDir}`, { dataDir })
  } finally {
    rmSync(tmp, { force: true })
  }
}
