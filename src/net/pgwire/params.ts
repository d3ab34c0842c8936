// The run-time parameters of one PostgreSQL-protocol connection: the ones reported at startup
// with ParameterStatus (drivers read server_version, client_encoding, standard_conforming_strings,
// integer_datetimes and DateStyle to choose their parsers), and those a client SETs. Values that
// would change how we print or read data are accepted only where they match what we do (UTF8,
// ISO dates, standard strings); TimeZone is free because TIMESTAMP has no zone here.
import { ScratchBirdError } from '../../core/errors'

/** Reported in ParameterStatus at startup and again when SET changes them (PostgreSQL's GUC_REPORT set). */
const REPORTED = ['server_version', 'server_encoding', 'client_encoding', 'application_name', 'DateStyle', 'IntervalStyle',
  'integer_datetimes', 'standard_conforming_strings', 'TimeZone', 'is_superuser', 'session_authorization'] as const

/** Parameters that mean something here (the rest are stored and shown but change nothing: a notice says so). */
const IN_EFFECT = new Set(['client_encoding', 'application_name', 'datestyle', 'timezone', 'standard_conforming_strings', 'extra_float_digits'])

const READ_ONLY = new Set(['server_version', 'server_encoding', 'integer_datetimes', 'is_superuser', 'session_authorization', 'server_version_num'])

interface Param { name: string, value: string }

function refuse (name: string, value: string, why: string): ScratchBirdError {
  return new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `${name} = ${JSON.stringify(value)} is not supported: ${why}`, { parameter: name })
}

export interface SetOutcome {
  /** ParameterStatus to send (the parameter is one clients track). */
  readonly report: { name: string, value: string } | null
  /** The parameter is accepted but has no effect in ScratchBird. */
  readonly noEffect: boolean
}

export class ServerParams {
  private readonly params = new Map<string, Param>()

  constructor (serverVersion: string, user: string) {
    const initial: Array<[string, string]> = [
      ['server_version', serverVersion], ['server_version_num', serverVersionNum(serverVersion)], ['server_encoding', 'UTF8'],
      ['client_encoding', 'UTF8'], ['application_name', ''], ['DateStyle', 'ISO, MDY'], ['IntervalStyle', 'postgres'],
      ['integer_datetimes', 'on'], ['standard_conforming_strings', 'on'], ['TimeZone', 'UTC'], ['is_superuser', 'on'],
      ['session_authorization', user], ['extra_float_digits', '1'], ['search_path', '"$user", public'],
      ['transaction_isolation', 'repeatable read'], ['default_transaction_isolation', 'repeatable read'], ['max_identifier_length', '63']
    ]
    for (const [name, value] of initial) this.params.set(name.toLowerCase(), { name, value })
  }

  /** The parameters ParameterStatus reports after authentication. */
  reported (): Array<[string, string]> {
    return REPORTED.map(n => [n, this.params.get(n.toLowerCase())!.value])
  }

  get (name: string): string | undefined { return this.params.get(name.toLowerCase())?.value }

  /** The name as PostgreSQL spells it (SHOW's column), or the lower-cased one given. */
  displayName (name: string): string { return this.params.get(name.toLowerCase())?.name ?? name.toLowerCase() }

  /**
   * Startup packet parameters: applied like SET, except that a value we cannot honour does not
   * refuse the connection (libpq sends client_encoding=SQL_ASCII under the C locale; we speak
   * UTF8 and say so in ParameterStatus, which the client then follows).
   */
  applyStartup (name: string, value: string): void {
    const key = name.toLowerCase()
    if (key === 'user' || key === 'database' || key === 'options' || key === 'replication') return
    try { this.set(name, value) } catch { /* keep ours; ParameterStatus tells the client */ }
  }

  set (name: string, value: string): SetOutcome {
    const key = name.toLowerCase()
    if (READ_ONLY.has(key)) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `parameter "${key}" cannot be changed`, { parameter: key })
    let v = value
    switch (key) {
      case 'client_encoding':
        if (!/^(utf-?8|unicode)$/i.test(v)) throw refuse(name, v, 'ScratchBird speaks UTF8 only')
        v = 'UTF8'
        break
      case 'datestyle':
        if (!/^\s*iso\b/i.test(v)) throw refuse(name, v, 'dates are printed in ISO style only')
        v = /dmy/i.test(v) ? 'ISO, DMY' : /ymd/i.test(v) ? 'ISO, YMD' : 'ISO, MDY'
        break
      case 'standard_conforming_strings':
        if (!/^(on|true|1)$/i.test(v)) throw refuse(name, v, 'backslashes in string literals are always literal')
        v = 'on'
        break
    }
    const existing = this.params.get(key)
    const p = { name: existing?.name ?? key, value: v }
    this.params.set(key, p)
    const reported = REPORTED.some(n => n.toLowerCase() === key)
    return { report: reported ? p : null, noEffect: !IN_EFFECT.has(key) }
  }
}

/** server_version_num of '15.0 (…)': 150000, as libpq computes it. */
function serverVersionNum (v: string): string {
  const m = /^(\d+)(?:\.(\d+))?/.exec(v)
  return m === null ? '0' : String(Number(m[1]) * 10000 + Number(m[2] ?? 0))
}
