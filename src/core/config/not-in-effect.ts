// The keys the schema accepts — they are the seeds' and keep their place in a file — but whose
// feature does not exist yet (DESIGN §9: "A config key whose feature does not exist yet is marked
// planned in the schema and warned about at start — never silently accepted"). One table: the
// generated docs mark these keys, `scratchbird --check-config` lists the ones a configuration
// asks for, and the node logs a WARNING for each at start. A key leaves this table in the commit
// that makes it work.
import { defaultOf, schemaAt } from './load'
import { documentSchema, type Config } from './schema'

export interface NotInEffect {
  /** Dotted key path, as in describeConfigKeys(). */
  readonly path: string
  /** planned: a later release brings it; no_effect: the engine has no such knob. */
  readonly status: 'planned' | 'no_effect'
  /** What happens instead, and which issue brings it. */
  readonly why: string
  /**
   * Whether a value asks for the missing feature. Absent: any value but the key's default (a
   * default that promises the feature, like anti_entropy.enabled: true, says so here).
   */
  readonly asks?: (value: unknown) => boolean
  /**
   * For a key in effect for some values only: whether the whole configuration asks for the part
   * that is missing (replaces `asks`), and that part in words for the docs and messages.
   */
  readonly asksIn?: (c: Config) => boolean
  readonly when?: string
  /** Asking for it stops the node: running without it would mislead (plaintext under tls_enabled). */
  readonly refuse?: boolean
}

const NO_LEVELDB_KNOB = 'LevelDB as built into classic-level has no such option; the value is not applied'

export const NOT_IN_EFFECT: readonly NotInEffect[] = [
  { path: 'lsm.l0_compaction_trigger', status: 'no_effect', why: NO_LEVELDB_KNOB },
  { path: 'lsm.max_bytes_for_level_base', status: 'no_effect', why: NO_LEVELDB_KNOB }
]

const byPath = new Map(NOT_IN_EFFECT.map(k => [k.path, k]))

/** The table row of a key, if its feature is not in effect. */
export function notInEffect (path: string): NotInEffect | undefined {
  return byPath.get(path)
}

function valueAt (c: Config, path: string): unknown {
  let v: unknown = c
  for (const seg of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[seg] : undefined
  return v
}

function asks (k: NotInEffect, value: unknown): boolean {
  if (k.asks !== undefined) return k.asks(value)
  return value !== undefined && JSON.stringify(value) !== JSON.stringify(defaultOf(schemaAt(documentSchema, k.path.split('.'))!))
}

/** The keys a configuration asks for that are not in effect, in table order. */
export function askedNotInEffect (c: Config): NotInEffect[] {
  return NOT_IN_EFFECT.filter(k => k.asksIn !== undefined ? k.asksIn(c) : asks(k, valueAt(c, k.path)))
}

/** The line a WARNING or --check-config prints for one such key. */
export function notInEffectLine (k: NotInEffect): string {
  return `${k.path}${k.when === undefined ? '' : ` ${k.when}`}: ${k.status === 'planned' ? 'not in effect yet' : 'has no effect'}: ${k.why}`
}
