// DATE and TIMESTAMP. A date is a day number (days since 1970-01-01), a timestamp microseconds
// since the epoch as a bigint, both in UTC: the node has no session time zone, so a TIMESTAMP
// names an instant. Years 1–9999 only, so every value has a four-digit ISO text form.
import { ScratchBirdError } from '../core/errors'

export class SqlDate {
  constructor (readonly days: number) {}
}

export class SqlTimestamp {
  constructor (readonly micros: bigint) {}
}

export const MIN_DAYS = -719162 // 0001-01-01
export const MAX_DAYS = 2932896 // 9999-12-31
export const MICROS_PER_DAY = 86_400_000_000n
export const MIN_MICROS = BigInt(MIN_DAYS) * MICROS_PER_DAY
export const MAX_MICROS = (BigInt(MAX_DAYS) + 1n) * MICROS_PER_DAY - 1n

function overflow (message: string): ScratchBirdError {
  return new ScratchBirdError('SB_DATETIME_FIELD_OVERFLOW', message)
}

function badText (type: string, text: string): ScratchBirdError {
  const shown = text.length > 64 ? text.slice(0, 64) + '…' : text
  return new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', `invalid input syntax for type ${type}: ${JSON.stringify(shown)}`)
}

// Civil-calendar conversions (proleptic Gregorian), after Howard Hinnant's days_from_civil.
export function daysFromCivil (y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

export function civilFromDays (days: number): { y: number, m: number, d: number } {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d }
}

function daysInMonth (y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) ? 29 : 28
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31
}

export function checkDays (days: number): number {
  if (!Number.isInteger(days) || days < MIN_DAYS || days > MAX_DAYS) throw overflow('date out of range (years 1–9999)')
  return days
}

export function checkMicros (micros: bigint): bigint {
  if (micros < MIN_MICROS || micros > MAX_MICROS) throw overflow('timestamp out of range (years 1–9999)')
  return micros
}

const DATE_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})/
const TIME_RE = /^[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?/
const ZONE_RE = /^(?:Z|([+-])(\d{2})(?::?(\d{2}))?)$/i

function parseDatePart (text: string, type: string): { days: number, rest: string } {
  const m = DATE_RE.exec(text)
  if (m === null) throw badText(type, text)
  const y = Number(m[1]); const mo = Number(m[2]); const d = Number(m[3])
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) throw overflow(`date/time field value out of range: ${JSON.stringify(text.slice(0, 64))}`)
  return { days: daysFromCivil(y, mo, d), rest: text.slice(m[0].length) }
}

/** 'YYYY-MM-DD'. */
export function parseDate (text: string): SqlDate {
  const t = text.trim()
  const { days, rest } = parseDatePart(t, 'date')
  if (rest !== '') throw badText('date', text)
  return new SqlDate(checkDays(days))
}

/** 'YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]'; a zone offset is applied (stored as UTC). */
export function parseTimestamp (text: string): SqlTimestamp {
  const t = text.trim()
  const { days, rest } = parseDatePart(t, 'timestamp')
  let micros = BigInt(days) * MICROS_PER_DAY
  let r = rest
  const tm = TIME_RE.exec(r)
  if (tm !== null) {
    const h = Number(tm[1]); const mi = Number(tm[2]); const s = Number(tm[3] ?? 0)
    if (h > 24 || mi > 59 || s > 59 || (h === 24 && (mi | s) !== 0)) throw overflow(`date/time field value out of range: ${JSON.stringify(t.slice(0, 64))}`)
    const frac = (tm[4] ?? '').padEnd(6, '0')
    micros += BigInt(((h * 60 + mi) * 60 + s)) * 1_000_000n + BigInt(frac)
    r = r.slice(tm[0].length)
  }
  if (r !== '') {
    const z = ZONE_RE.exec(r)
    if (z === null || tm === null) throw badText('timestamp', text)
    if (z[1] !== undefined) {
      const off = (Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000_000
      micros -= z[1] === '-' ? -BigInt(off) : BigInt(off)
    }
  }
  return new SqlTimestamp(checkMicros(micros))
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0')

export function formatDate (d: SqlDate): string {
  const { y, m, d: day } = civilFromDays(d.days)
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(day, 2)}`
}

function splitMicros (micros: bigint): { days: number, secOfDay: number, frac: number } {
  let days = micros / MICROS_PER_DAY
  let rem = micros % MICROS_PER_DAY
  if (rem < 0n) { rem += MICROS_PER_DAY; days -= 1n }
  const r = Number(rem)
  return { days: Number(days), secOfDay: Math.floor(r / 1e6), frac: r % 1e6 }
}

/** PostgreSQL's text form: 'YYYY-MM-DD HH:MM:SS[.ffffff]' (trailing zeros of the fraction dropped). */
export function formatTimestamp (ts: SqlTimestamp, sep = ' '): string {
  const { days, secOfDay, frac } = splitMicros(ts.micros)
  const base = `${formatDate(new SqlDate(days))}${sep}${pad(Math.floor(secOfDay / 3600), 2)}:${pad(Math.floor(secOfDay / 60) % 60, 2)}:${pad(secOfDay % 60, 2)}`
  return frac === 0 ? base : base + '.' + pad(frac, 6).replace(/0+$/, '')
}

/** ISO 8601 in UTC for JSON: milliseconds always, microseconds when present ('…T12:00:00.000Z'). */
export function timestampToIso (ts: SqlTimestamp): string {
  const { days, secOfDay, frac } = splitMicros(ts.micros)
  const f = frac % 1000 === 0 ? pad(frac / 1000, 3) : pad(frac, 6)
  return `${formatDate(new SqlDate(days))}T${pad(Math.floor(secOfDay / 3600), 2)}:${pad(Math.floor(secOfDay / 60) % 60, 2)}:${pad(secOfDay % 60, 2)}.${f}Z`
}

export function timestampFromMillis (ms: number): SqlTimestamp {
  return new SqlTimestamp(checkMicros(BigInt(Math.floor(ms)) * 1000n))
}

export function timestampToDate (ts: SqlTimestamp): SqlDate {
  return new SqlDate(splitMicros(ts.micros).days)
}

export function dateToTimestamp (d: SqlDate): SqlTimestamp {
  return new SqlTimestamp(BigInt(d.days) * MICROS_PER_DAY)
}
