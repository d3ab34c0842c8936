// One session's settings (table.ts says which exist): what SET changed, for the session or — SET
// LOCAL — for the open transaction only. As in PostgreSQL, a transaction that rolls back also
// undoes the SETs it ran, and SET LOCAL ends with the transaction either way. Pure state: the
// executor (exec/settings/statements.ts) tells it when transactions begin and end.
import { ScratchBirdError } from '../../core/errors'
import { isCustomSetting, SESSION_SETTINGS, settingDef, unknownSetting, type SettingDef } from './table'

export type ReadFrom = 'primary' | 'replica'

export interface SettingRow { readonly name: string, readonly setting: string, readonly description: string }

export interface SetOutcome {
  /** The setting's name as PostgreSQL spells it. */
  readonly name: string
  /** A notice for the client: SET LOCAL outside a transaction, a setting that changes nothing here. */
  readonly notice: string | null
}

/** Most custom (`prefix.name`) settings one session may hold: every input is bounded. */
export const MAX_CUSTOM_SETTINGS = 256
/** Longest value a setting takes. */
export const MAX_SETTING_VALUE = 4096

export class SessionSettings {
  /** Keys lower-cased; only values that differ from the default are kept. */
  private session = new Map<string, string>()
  private local = new Map<string, string>()
  /** The session values when the open transaction began (restored if it rolls back); null: none open. */
  private atBegin: Map<string, string> | null = null
  /** Values fixed for the session (server_version of the node, session_authorization). */
  private readonly fixed = new Map<string, string>()

  /** Fixes a read-only setting's value for this session (the user it runs as). */
  fix (name: string, value: string): void { this.fixed.set(name.toLowerCase(), value) }

  /** The value SHOW prints; throws SB_UNDEFINED_SETTING for a name that is no setting. */
  get (name: string): string {
    const key = name.toLowerCase()
    const v = this.local.get(key) ?? this.session.get(key) ?? this.fixed.get(key)
    if (v !== undefined) return v
    const def = settingDef(key)
    if (def === undefined) {
      // A custom setting never SET in this session: PostgreSQL says it does not exist either.
      throw unknownSetting(name)
    }
    return def.default
  }

  /**
   * SET name = value (null: DEFAULT). `inTxn`: a transaction is open. The checks of the table's
   * row run first: nothing changes when they throw.
   */
  set (name: string, value: string | null, local: boolean, inTxn: boolean): SetOutcome {
    const key = name.toLowerCase()
    const def = settingDef(key)
    if (def === undefined && !isCustomSetting(key)) throw unknownSetting(name)
    if (def !== undefined && def.parse === undefined) {
      throw new ScratchBirdError('SB_SETTING_READ_ONLY', `setting "${def.name}" cannot be changed`, { setting: def.name })
    }
    if (value !== null && value.length > MAX_SETTING_VALUE) {
      throw new ScratchBirdError('SB_INVALID_SETTING_VALUE', `value for setting "${key}" is too long (at most ${MAX_SETTING_VALUE} characters)`, { setting: key })
    }
    const shown = def === undefined ? key : def.name
    const parsed = value === null ? (def?.default ?? '') : def === undefined ? value : def.parse!(value)
    if (local && !inTxn) return { name: shown, notice: 'SET LOCAL has no effect outside a transaction block (BEGIN … COMMIT)' }
    if (def === undefined && !this.session.has(key) && !this.local.has(key) && this.customCount() >= MAX_CUSTOM_SETTINGS) {
      throw new ScratchBirdError('SB_INVALID_SETTING_VALUE', `too many custom settings in this session (at most ${MAX_CUSTOM_SETTINGS})`, { setting: key })
    }
    if (local) this.local.set(key, parsed)
    else {
      this.session.set(key, parsed)
      // A session SET inside the transaction replaces an earlier SET LOCAL of it (PostgreSQL too).
      this.local.delete(key)
    }
    return { name: shown, notice: def?.noEffect === true ? `setting "${def.name}" is accepted but has no effect in ScratchBird` : null }
  }

  /** RESET name (a SET of the default, so a rollback undoes it too); RESET ALL: every changeable setting. */
  reset (name: string | null): void {
    if (name === null) {
      this.session.clear()
      this.local.clear()
      return
    }
    const key = name.toLowerCase()
    const def = settingDef(key)
    if (def === undefined && !isCustomSetting(key)) throw unknownSetting(name)
    if (def !== undefined && def.parse === undefined) {
      throw new ScratchBirdError('SB_SETTING_READ_ONLY', `setting "${def.name}" cannot be changed`, { setting: def.name })
    }
    this.session.delete(key)
    this.local.delete(key)
  }

  /** A transaction began: its SETs are undone if it rolls back. */
  beginTxn (): void { this.atBegin = new Map(this.session) }

  /** The transaction ended: SET LOCAL values go; a rollback also restores the session's values. */
  endTxn (committed: boolean): void {
    if (!committed && this.atBegin !== null) this.session = this.atBegin
    this.atBegin = null
    this.local.clear()
  }

  /** Every setting (the table's, then custom ones set in this session), for SHOW ALL. */
  all (): SettingRow[] {
    const rows: SettingRow[] = SESSION_SETTINGS.map(d => ({ name: d.name, setting: this.get(d.name), description: describe(d) }))
    const custom = [...new Set([...this.session.keys(), ...this.local.keys()])].filter(k => settingDef(k) === undefined).sort()
    for (const k of custom) rows.push({ name: k, setting: this.get(k), description: 'custom setting (prefix.name)' })
    return rows
  }

  /** The settings PostgreSQL clients track (ParameterStatus), with their values now. */
  reported (): Array<[string, string]> {
    return SESSION_SETTINGS.filter(d => d.reported === true).map(d => [d.name, this.get(d.name)])
  }

  get readFrom (): ReadFrom { return this.get('read_from') as ReadFrom }
  /** 0: no limit. */
  get statementTimeoutMs (): number { return Number(this.get('statement_timeout')) }
  get defaultIsolation (): 'snapshot' | 'read_committed' { return this.get('default_transaction_isolation') === 'read committed' ? 'read_committed' : 'snapshot' }

  private customCount (): number {
    let n = 0
    for (const k of new Set([...this.session.keys(), ...this.local.keys()])) if (settingDef(k) === undefined) n++
    return n
  }
}

function describe (d: SettingDef): string {
  const ro = d.parse === undefined ? ' (read-only)' : ''
  return d.allowed === undefined ? `${d.description}${ro}` : `${d.description} Allowed: ${d.allowed}.${ro}`
}
