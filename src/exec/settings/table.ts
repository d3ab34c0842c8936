// The one table of session settings (issue 19 item 4, P-007): what SET, RESET, SHOW and SHOW ALL
// know, on the HTTP API's sessions and PostgreSQL connections alike. Each row: its name as
// PostgreSQL spells it, its default, what it does, whether a transaction may change it, and how a
// value given to SET is checked and written (the text SHOW prints). Names are matched without
// case. A value outside a setting's domain is SB_INVALID_SETTING_VALUE (22023) naming the allowed
// values; a real PostgreSQL value this release does not honour (another client encoding) is
// SB_FEATURE_NOT_SUPPORTED (0A000), as PostgreSQL answers for an unavailable conversion.
import { ScratchBirdError } from '../../core/errors'
import { VERSION } from '../../version'

export interface SettingDef {
  /** As PostgreSQL spells it (SHOW's column, ParameterStatus). */
  readonly name: string
  readonly default: string
  /** SHOW ALL's description; the README's table. */
  readonly description: string
  /** The allowed values, for the error message and SHOW ALL (free text: undefined). */
  readonly allowed?: string
  /** 'yes': SET works anywhere; 'no': not inside a transaction; 'txn': only inside a transaction, before its first statement. */
  readonly inTxn: 'yes' | 'no' | 'txn'
  /** The value SHOW prints for what SET was given; throws the setting's coded error. Absent: read-only. */
  readonly parse?: (value: string) => string
  /** Reported to PostgreSQL clients at startup and whenever it changes (ParameterStatus; PostgreSQL's GUC_REPORT set). */
  readonly reported?: true
  /** Accepted so drivers and tools that set it work; ScratchBird does nothing with it (SET answers a notice saying so). */
  readonly noEffect?: true
}

/** The PostgreSQL server_version we report: drivers pick their dialect by it. */
export const SERVER_VERSION = `15.0 (ScratchBird ${VERSION})`

export function invalidValue (name: string, value: string, allowed: string): ScratchBirdError {
  return new ScratchBirdError('SB_INVALID_SETTING_VALUE', `invalid value for setting "${name}": ${JSON.stringify(value)} (allowed: ${allowed})`, { setting: name, value, allowed })
}

function unsupported (name: string, value: string, why: string): ScratchBirdError {
  return new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${name} = ${JSON.stringify(value)} is not supported: ${why}`, { setting: name, value })
}

function oneOf (name: string, values: readonly string[], aliases: Readonly<Record<string, string>> = {}): (v: string) => string {
  return v => {
    const k = v.trim().toLowerCase().replace(/[_\s]+/g, ' ')
    const hit = aliases[k] ?? values.find(x => x === k)
    if (hit === undefined) throw invalidValue(name, v, values.join(', '))
    return hit
  }
}

/** Longest statement_timeout: what a JavaScript timer takes (about 24.8 days). */
export const MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647
const TIME_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds, as PostgreSQL reads them: a bare integer is ms, or with a unit (ms, s, min, h, d). */
function parseTimeout (name: string): (v: string) => string {
  const allowed = `0 (no limit) to ${MAX_STATEMENT_TIMEOUT_MS} ms, as an integer of ms or with a unit: ms, s, min, h, d`
  return v => {
    const m = /^\s*(\d{1,16})\s*(ms|s|min|h|d)?\s*$/i.exec(v)
    const ms = m === null ? NaN : Number(m[1]) * TIME_UNITS[(m[2] ?? 'ms').toLowerCase()]!
    if (!Number.isSafeInteger(ms) || ms > MAX_STATEMENT_TIMEOUT_MS) throw invalidValue(name, v, allowed)
    return String(ms)
  }
}

/** ScratchBird has one schema: search_path may name it (and PostgreSQL's "$user", which resolves to nothing here). */
function parseSearchPath (v: string): string {
  const items = v.split(',').map(s => s.trim().replace(/^"(.*)"$/, '$1').toLowerCase()).filter(s => s !== '')
  if (!items.includes('public') || items.some(s => s !== 'public' && s !== '$user')) {
    throw invalidValue('search_path', v, 'public (ScratchBird has one schema, public), optionally after "$user"')
  }
  return items.includes('$user') ? '"$user", public' : 'public'
}

function free (v: string): string { return v }

/** The level names SET and BEGIN take; 'repeatable read' is PostgreSQL's name for snapshot isolation. */
const ISOLATION_VALUES = ['snapshot', 'read committed'] as const
const isolation = (name: string): (v: string) => string => oneOf(name, ISOLATION_VALUES, { 'repeatable read': 'snapshot', 'read committed': 'read committed', snapshot: 'snapshot' })

export const SESSION_SETTINGS: readonly SettingDef[] = [
  {
    name: 'transaction_isolation',
    default: 'snapshot',
    description: 'Isolation level of the open transaction (SHOW outside one: default_transaction_isolation). SET it, or SET TRANSACTION ISOLATION LEVEL, inside BEGIN … COMMIT before its first statement; a statement outside a transaction always reads committed data.',
    allowed: 'snapshot (also: repeatable read), read committed',
    inTxn: 'txn',
    parse: isolation('transaction_isolation')
  },
  {
    name: 'default_transaction_isolation',
    default: 'snapshot',
    description: 'Isolation level of the transactions BEGIN starts without ISOLATION LEVEL.',
    allowed: 'snapshot (also: repeatable read), read committed',
    inTxn: 'yes',
    parse: isolation('default_transaction_isolation')
  },
  {
    name: 'read_from',
    default: 'primary',
    description: 'Where a SELECT outside BEGIN … COMMIT reads a primary_replica table with more than one copy: primary (under its read lease, always current) or replica (the nearest caught-up replica, this node when it holds one, at its applied LSN: it may miss the latest commits; EXPLAIN shows which replica and how far behind). Writes and statements inside a transaction always go to the primary.',
    allowed: 'primary, replica',
    inTxn: 'yes',
    parse: oneOf('read_from', ['primary', 'replica'])
  },
  {
    name: 'statement_timeout',
    default: '0',
    description: 'Milliseconds a statement may run before the node answers it with SB_STATEMENT_TIMEOUT (57014); 0: no limit. Inside a transaction the transaction must then be rolled back; outside one, a write already sent to its shards may still commit.',
    allowed: `0 to ${MAX_STATEMENT_TIMEOUT_MS} (ms; units ms, s, min, h, d)`,
    inTxn: 'yes',
    parse: parseTimeout('statement_timeout')
  },
  {
    name: 'search_path',
    default: '"$user", public',
    description: 'Schemas names are looked up in: ScratchBird has one, public.',
    allowed: 'public, "$user", public',
    inTxn: 'yes',
    parse: parseSearchPath
  },
  {
    name: 'client_encoding',
    default: 'UTF8',
    description: 'Encoding of text to and from the client: UTF8 only.',
    allowed: 'UTF8',
    inTxn: 'yes',
    reported: true,
    parse: v => {
      if (!/^\s*(utf-?8|unicode)\s*$/i.test(v)) throw unsupported('client_encoding', v, 'ScratchBird speaks UTF8 only')
      return 'UTF8'
    }
  },
  {
    name: 'DateStyle',
    default: 'ISO, MDY',
    description: 'How dates are printed: ISO only (the order word is kept for input only).',
    allowed: 'ISO, MDY | ISO, DMY | ISO, YMD',
    inTxn: 'yes',
    reported: true,
    parse: v => {
      if (!/^\s*iso\b/i.test(v)) throw unsupported('DateStyle', v, 'dates are printed in ISO style only')
      return /dmy/i.test(v) ? 'ISO, DMY' : /ymd/i.test(v) ? 'ISO, YMD' : 'ISO, MDY'
    }
  },
  {
    name: 'standard_conforming_strings',
    default: 'on',
    description: 'Backslashes in string literals are literal: always on.',
    allowed: 'on',
    inTxn: 'yes',
    reported: true,
    parse: v => {
      if (!/^\s*(on|true|1)\s*$/i.test(v)) throw unsupported('standard_conforming_strings', v, 'backslashes in string literals are always literal')
      return 'on'
    }
  },
  { name: 'application_name', default: '', description: 'The client\'s name for itself (PostgreSQL clients send it at connect).', inTxn: 'yes', reported: true, parse: free },
  { name: 'TimeZone', default: 'UTC', description: 'Accepted for drivers; TIMESTAMP has no time zone here, so it changes nothing printed.', inTxn: 'yes', reported: true, parse: free },
  { name: 'IntervalStyle', default: 'postgres', description: 'Accepted for drivers; there is no INTERVAL type yet.', inTxn: 'yes', reported: true, noEffect: true, parse: free },
  {
    name: 'extra_float_digits',
    default: '1',
    description: 'Accepted for drivers (JDBC sets 3): DOUBLE values are always printed in the shortest form that reads back exactly.',
    allowed: '-15 to 3',
    inTxn: 'yes',
    parse: v => {
      const n = Number(v.trim())
      if (!Number.isInteger(n) || n < -15 || n > 3) throw invalidValue('extra_float_digits', v, '-15 to 3')
      return String(n)
    }
  },
  { name: 'client_min_messages', default: 'notice', description: 'Accepted for tools (pg_dump, psql scripts); every notice is sent.', inTxn: 'yes', noEffect: true, parse: oneOf('client_min_messages', ['debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'log', 'notice', 'warning', 'error']) },
  { name: 'server_version', default: SERVER_VERSION, description: 'The PostgreSQL version the wire protocol follows, and ScratchBird\'s own.', inTxn: 'yes', reported: true },
  { name: 'server_version_num', default: '150000', description: 'server_version as a number.', inTxn: 'yes' },
  { name: 'server_encoding', default: 'UTF8', description: 'Encoding of stored text.', inTxn: 'yes', reported: true },
  { name: 'integer_datetimes', default: 'on', description: 'Timestamps are stored as integers.', inTxn: 'yes', reported: true },
  { name: 'is_superuser', default: 'on', description: 'Reported for drivers; privileges are those of the session\'s user.', inTxn: 'yes', reported: true },
  { name: 'session_authorization', default: '', description: 'The user the session runs as.', inTxn: 'yes', reported: true },
  { name: 'max_identifier_length', default: '63', description: 'Longest name PostgreSQL clients expect.', inTxn: 'yes' }
]

const BY_NAME: ReadonlyMap<string, SettingDef> = new Map(SESSION_SETTINGS.map(d => [d.name.toLowerCase(), d]))

/** The setting's row, or undefined. A custom setting (`prefix.name`, PostgreSQL's placeholder variables) has none. */
export function settingDef (name: string): SettingDef | undefined {
  return BY_NAME.get(name.toLowerCase())
}

/** PostgreSQL accepts any `prefix.name` as a custom text setting (extensions, applications): so do we. */
export function isCustomSetting (name: string): boolean {
  return /^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/i.test(name)
}

export function unknownSetting (name: string): ScratchBirdError {
  return new ScratchBirdError('SB_UNDEFINED_SETTING', `unrecognized configuration parameter "${name.toLowerCase()}" (SHOW ALL lists the settings)`, { setting: name.toLowerCase() })
}
