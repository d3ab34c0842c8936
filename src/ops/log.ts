import { isAbsolute, join } from 'node:path'
import pino, { type DestinationStream, type Logger } from 'pino'
import { logFileDestination, type LogFileDestination } from './log-file'

// Logs (DESIGN §9, seed "Logging"): levels ERROR / WARNING / INFO / DEBUG; one JSON file per
// stream (main, replication, anti-entropy, slow-query) and a readable line on a terminal. The audit
// log is not one of them: its lines are hash-chained and fsynced one by one (src/ops/audit/).
//   [INFO] 2026-01-09 15:30:00 Node 2 joined cluster (gossip)
// No pino transports: they load modules from disk in worker threads, which a single executable
// cannot do; file streams are sonic-boom destinations in this thread.

export const LOG_LEVELS = ['ERROR', 'WARNING', 'INFO', 'DEBUG'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export const LOG_STREAMS = ['main', 'replication', 'anti_entropy', 'slow_query'] as const
export type LogStreamName = typeof LOG_STREAMS[number]

const TO_PINO: Record<LogLevel, pino.Level> = { ERROR: 'error', WARNING: 'warn', INFO: 'info', DEBUG: 'debug' }
const FROM_PINO: Record<string, string> = { fatal: 'ERROR', error: 'ERROR', warn: 'WARNING', info: 'INFO', debug: 'DEBUG', trace: 'DEBUG' }

export type ConsoleMode = 'auto' | 'pretty' | 'json' | 'off'

export interface LogSettings {
  level: LogLevel
  dir: string
  /** File name per stream, relative to `dir` unless absolute; null = no file for that stream. */
  files: Record<LogStreamName, string | null>
  console: ConsoleMode
}

export type Loggers = Record<LogStreamName, Logger> & {
  /** Change the level of every stream (SIGHUP reload). */
  setLevel (level: LogLevel): void
  /** Reopen the files (after logrotate moved them), keeping the loggers. */
  reopen (): void
  /** Flush and close the files. */
  close (): void
  readonly paths: Record<LogStreamName, string | null>
}

/** Renders a pino JSON line the way the seed's examples show it. */
export function formatPretty (line: string): string {
  let rec: Record<string, unknown>
  try { rec = JSON.parse(line) as Record<string, unknown> } catch { return line }
  const { level, time, msg, stream, pid: _pid, hostname: _host, node: _node, ...rest } = rec
  const t = typeof time === 'number' ? new Date(time).toISOString().replace('T', ' ').slice(0, 19) : ''
  const extras = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')
  const tag = stream && stream !== 'main' ? ` (${String(stream)})` : ''
  return `[${String(level)}] ${t} ${String(msg ?? '')}${tag}${extras ? ' ' + extras : ''}\n`
}

function consoleStream (mode: ConsoleMode, out: NodeJS.WritableStream): DestinationStream | null {
  const pretty = mode === 'pretty' || (mode === 'auto' && (out as { isTTY?: boolean }).isTTY === true)
  if (mode === 'off') return null
  if (!pretty) return { write: (s: string) => { out.write(s) } }
  return { write: (s: string) => { out.write(formatPretty(s)) } }
}

export function createLoggers (settings: LogSettings, base: Record<string, unknown> = {},
  out: NodeJS.WritableStream = process.stdout): Loggers {
  const files: Partial<Record<LogStreamName, LogFileDestination>> = {}
  const paths = {} as Record<LogStreamName, string | null>
  const con = consoleStream(settings.console, out)
  const loggers = {} as Record<LogStreamName, Logger>
  for (const name of LOG_STREAMS) {
    const file = settings.files[name]
    const path = file == null ? null : (isAbsolute(file) ? file : join(settings.dir, file))
    paths[name] = path
    const targets: pino.StreamEntry[] = []
    if (path) {
      const dest = logFileDestination(path)
      files[name] = dest
      targets.push({ level: 'trace', stream: dest })
    }
    if (con) targets.push({ level: 'trace', stream: con })
    loggers[name] = pino({
      level: TO_PINO[settings.level],
      base: { ...base, ...(name === 'main' ? {} : { stream: name }) },
      formatters: { level: (label) => ({ level: FROM_PINO[label] ?? label.toUpperCase() }) },
      timestamp: pino.stdTimeFunctions.epochTime
    }, pino.multistream(targets))
  }
  return Object.assign(loggers, {
    paths,
    setLevel (level: LogLevel) { for (const name of LOG_STREAMS) loggers[name].level = TO_PINO[level] },
    reopen () { for (const f of Object.values(files)) f.reopen?.() },
    close () {
      for (const f of Object.values(files)) {
        try { f.flushSync?.() } catch { /* not yet open: nothing to flush */ }
        f.end?.()
      }
    }
  })
}

export function parseLogLevel (s: string): LogLevel | undefined {
  const up = s.toUpperCase() === 'WARN' ? 'WARNING' : s.toUpperCase()
  return (LOG_LEVELS as readonly string[]).includes(up) ? up as LogLevel : undefined
}
