import pino, { type DestinationStream } from 'pino'

// A log file that a full disk (or any write error) cannot turn into a crash or a hang. Two
// failure modes of sonic-boom (pino's file destination) seen on a full tmpfs: an async write
// failing with ENOSPC emits 'error' on the destination — with no listener, an uncaught exception
// that ends the process — and then pino's exit hook calls flushSync, which retries a failing write
// forever (it sleeps and retries every error except EAGAIN/EBUSY), so the process neither serves
// nor exits. Here: errors are listened to; while writes fail the lines wait in memory up to
// MAX_BUFFERED bytes, then are dropped and counted (a bounded queue); flushSync is skipped while
// the file is failing; a notice goes to stderr when a file starts failing and when it recovers.

/** Bytes of log lines held in memory while the file cannot be written; beyond, lines are dropped. */
export const MAX_BUFFERED = 8 * 1024 * 1024

export type LogFileDestination = DestinationStream & { reopen?: () => void, flushSync?: () => void, end?: () => void }

export interface LogFileTrouble {
  /** A file started failing (first error of an episode). */
  failing: (path: string, err: Error) => void
  /** Writes succeed again; `dropped` lines were lost meanwhile. */
  recovered: (path: string, dropped: number) => void
}

const toStderr: LogFileTrouble = {
  failing: (path, err) => { process.stderr.write(`scratchbird: cannot write log file ${path} (${err.message}); log lines are held in memory (up to ${MAX_BUFFERED} bytes) and then dropped until it can be written again\n`) },
  recovered: (path, dropped) => { process.stderr.write(`scratchbird: log file ${path} is writable again${dropped > 0 ? `; ${dropped} log lines were dropped meanwhile` : ''}\n`) }
}

export function logFileDestination (path: string, trouble: LogFileTrouble = toStderr): LogFileDestination {
  const dest = pino.destination({ dest: path, mkdir: true, sync: false, minLength: 0, maxLength: MAX_BUFFERED }) as unknown as LogFileDestination & NodeJS.EventEmitter
  let failing = false
  let dropped = 0
  dest.on('error', (err: Error) => {
    if (!failing) trouble.failing(path, err)
    failing = true
  })
  dest.on('drop', () => { dropped++ })
  dest.on('write', () => {
    if (!failing) return
    failing = false
    trouble.recovered(path, dropped)
    dropped = 0
  })
  const flushSync = dest.flushSync?.bind(dest)
  if (flushSync !== undefined) {
    dest.flushSync = () => { if (!failing) flushSync() }
  }
  return dest
}
