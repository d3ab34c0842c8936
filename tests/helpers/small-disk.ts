import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// A small real filesystem (tmpfs) for disk-full tests: `mount -t tmpfs -o size=…` needs root (or
// CAP_SYS_ADMIN); where that is refused the tests that need it skip with the reason. Nothing is
// simulated: LevelDB and node:fs get ENOSPC from the kernel.

export interface SmallDisk {
  readonly dir: string
  /** Change the size (remount), e.g. to give space back. */
  resize: (bytes: number) => void
  unmount: () => void
}

/** Why a tmpfs cannot be mounted here, or null when it can. */
export function smallDiskUnavailable (): string | null {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux'
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  let probe: SmallDisk | null = null
  try {
    probe = mountSmallDisk(64 * 1024)
    return null
  } catch (e) {
    return `mount -t tmpfs failed: ${(e as Error).message.split('\n')[0]}`
  } finally {
    probe?.unmount()
  }
}

export function mountSmallDisk (bytes: number): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), 'sb-small-disk-'))
  mkdirSync(dir, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' })
  return {
    dir,
    resize: (n) => { execFileSync('mount', ['-o', `remount,size=${n}`, dir], { stdio: 'pipe' }) },
    unmount: () => {
      try { execFileSync('umount', ['-l', dir], { stdio: 'pipe' }) } catch {}
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Write `path` until the filesystem is full (ENOSPC): the disk-full fault. */
export function fillDisk (path: string): void {
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(1024 * 1024)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e
  } finally {
    closeSync(fd)
  }
}
