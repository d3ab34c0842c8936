import { closeSync, openSync, readSync } from 'node:fs'
import type { ThreadCpuNs } from '../src/shard/ae-cpu'

// This thread's CPU time (Node 20 has no per-thread CPU clock; process.cpuUsage() counts every
// thread): Linux's /proc/thread-self/schedstat, whose first field is the ns the calling thread
// has run on a CPU. Opened once by the thread that measures (the path resolves to the opener);
// each reading is one pread of a few bytes. undefined where it cannot be read (not Linux).

export function threadCpuClock (): ThreadCpuNs | undefined {
  let fd: number
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r')
  } catch {
    return undefined
  }
  const buf = Buffer.alloc(96)
  const read = (): number => {
    const n = readSync(fd, buf, 0, buf.length, 0)
    const end = buf.indexOf(0x20)
    return Number(buf.toString('latin1', 0, end < 0 || end > n ? n : end))
  }
  try {
    if (!Number.isFinite(read())) { closeSync(fd); return undefined }
  } catch {
    closeSync(fd)
    return undefined
  }
  return read
}
