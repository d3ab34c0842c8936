import { ScratchBirdError } from '../core/errors'

// Table replication settings (DESIGN §5 "Validation", seed "Catalog Extensions"): the six
// sys_tables columns a table's WITH (…) clause or `ALTER TABLE t SET key = value` may set, their
// defaults, and the rules every change must pass. One table of options; the parser, the catalog,
// sys_tables and the docs derive from it. Every rejection names the offending option.

import { REPLICATION_MODE_RULES, REPLICATION_MODES, type ReplicationMode } from '../core/replication-modes'
export { REPLICATION_MODES, type ReplicationMode }
export const UUID_TYPES = ['v7', 'v8_hlc'] as const
export type UuidType = typeof UUID_TYPES[number]

export interface ReplicationOptions {
  replication_mode: ReplicationMode
  replication_factor: number
  write_quorum: number
  read_quorum: number
  uuid_type: UuidType
  /** Partition key columns; null = the primary key (sys_tables shows NULL). */
  partition_key_columns: string[] | null
}

/** The seed's defaults (Migration "Step 2", Phase 1 "Catalog Extensions"). */
export const REPLICATION_DEFAULTS: Readonly<ReplicationOptions> = Object.freeze({
  replication_mode: 'primary_replica',
  replication_factor: 1,
  write_quorum: 1,
  read_quorum: 1,
  uuid_type: 'v7',
  partition_key_columns: null
})

export type ReplicationOptionName = keyof ReplicationOptions
export const REPLICATION_OPTION_NAMES = Object.keys(REPLICATION_DEFAULTS) as ReplicationOptionName[]

/** Largest N/W/R accepted at all (the live cluster size bounds N further). */
export const MAX_REPLICATION_FACTOR = 64

function invalid (option: string, message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_INVALID_TABLE_OPTION', message, { option, ...details })
}

function asInt (option: string, v: unknown): number {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_REPLICATION_FACTOR) {
    throw invalid(option, `${option} must be an integer between 1 and ${MAX_REPLICATION_FACTOR}, got ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`)
  }
  return n
}

function asEnum<T extends string> (option: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v.toLowerCase())) {
    throw invalid(option, `${option} must be one of ${allowed.map(a => `'${a}'`).join(', ')}, got ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`)
  }
  return v.toLowerCase() as T
}

/** `'user_id'`, `'tenant_id, user_id'` or NULL → column list (lower-cased, as identifiers are). */
function asColumns (option: string, v: unknown): string[] | null {
  if (v === null) return null
  if (typeof v !== 'string') throw invalid(option, `${option} must be a quoted, comma-separated column list or NULL`)
  const cols = v.split(',').map(c => c.trim().toLowerCase())
  if (cols.some(c => !/^[a-z_][a-z0-9_$]*$/.test(c))) throw invalid(option, `${option} must name columns, got '${v}'`)
  if (new Set(cols).size !== cols.length) throw invalid(option, `${option} names a column twice: '${v}'`)
  return cols
}

/** Parses one option value as written in SQL (string, integer or NULL literal). */
export function parseReplicationOption (name: string, value: unknown): Partial<ReplicationOptions> {
  const option = name.toLowerCase()
  switch (option) {
    case 'replication_mode': return { replication_mode: asEnum(option, value, REPLICATION_MODES) }
    case 'uuid_type': return { uuid_type: asEnum(option, value, UUID_TYPES) }
    case 'replication_factor': return { replication_factor: asInt(option, value) }
    case 'write_quorum': return { write_quorum: asInt(option, value) }
    case 'read_quorum': return { read_quorum: asInt(option, value) }
    case 'partition_key_columns': return { partition_key_columns: asColumns(option, value) }
    default:
      throw invalid(option, `unknown table option '${name}' (expected one of ${REPLICATION_OPTION_NAMES.join(', ')})`)
  }
}

export interface ValidationContext {
  /**
   * Live nodes able to hold a replica; N may not exceed it. null: the change does not place
   * replicas (change-checks.ts decides), so the number of live nodes does not matter.
   */
  liveNodes: number | null
  /** The table's columns, to check partition key columns exist. */
  columns: readonly string[]
}

/**
 * Checks a complete option set; returns the warnings a client should see. Throws the first
 * violated rule (each names its option): 1 ≤ W ≤ N, 1 ≤ R ≤ N, N ≤ live nodes (when given),
 * leaderless_quorum requires uuid_type 'v8_hlc'.
 */
export function validateReplicationOptions (o: ReplicationOptions, ctx: ValidationContext): string[] {
  if (ctx.liveNodes !== null && o.replication_factor > ctx.liveNodes) {
    throw invalid('replication_factor', `replication_factor=${o.replication_factor} exceeds the ${ctx.liveNodes} live node${ctx.liveNodes === 1 ? '' : 's'} of the cluster`,
      { replication_factor: o.replication_factor, live_nodes: ctx.liveNodes })
  }
  if (o.write_quorum > o.replication_factor) {
    throw invalid('write_quorum', `write_quorum=${o.write_quorum} exceeds replication_factor=${o.replication_factor} (W must be ≤ N)`)
  }
  if (o.read_quorum > o.replication_factor) {
    throw invalid('read_quorum', `read_quorum=${o.read_quorum} exceeds replication_factor=${o.replication_factor} (R must be ≤ N)`)
  }
  const rules = REPLICATION_MODE_RULES[o.replication_mode]
  if (rules.requiredUuidType !== null && o.uuid_type !== rules.requiredUuidType.type) {
    throw invalid('uuid_type', `replication_mode='${o.replication_mode}' requires uuid_type='${rules.requiredUuidType.type}' (${rules.requiredUuidType.why})`)
  }
  for (const c of o.partition_key_columns ?? []) {
    if (!ctx.columns.includes(c)) throw invalid('partition_key_columns', `partition key column '${c}' does not exist`, { column: c })
  }
  const warnings: string[] = []
  if (rules.quorums) {
    const { write_quorum: w, read_quorum: r, replication_factor: n } = o
    if (w + r <= n) warnings.push(`W + R ≤ N (${w} + ${r} ≤ ${n}): a read may miss the latest acknowledged write`)
    if (w <= n / 2) warnings.push(`W ≤ N/2 (${w} ≤ ${n}/2): both sides of a network partition may accept writes`)
  }
  return warnings
}

/** The configured defaults of new tables (config replication.default_mode, default_factor, write_quorum, read_quorum). */
export type TableDefaults = Pick<ReplicationOptions, 'replication_mode' | 'replication_factor' | 'write_quorum' | 'read_quorum'>

/** The seed's defaults as TableDefaults: what a node without a configuration gives new tables. */
export const SEED_TABLE_DEFAULTS: Readonly<TableDefaults> = Object.freeze({
  replication_mode: REPLICATION_DEFAULTS.replication_mode,
  replication_factor: REPLICATION_DEFAULTS.replication_factor,
  write_quorum: REPLICATION_DEFAULTS.write_quorum,
  read_quorum: REPLICATION_DEFAULTS.read_quorum
})

/**
 * The options CREATE TABLE starts from before its WITH (…) options apply: the configured
 * defaults, with the uuid_type the default mode needs — so a leaderless default gives UUIDv8-HLC
 * tables — unless the statement names a mode that needs none (primary_replica under a leaderless
 * default keeps the seed's UUIDv7). A statement naming leaderless_quorum under a primary_replica
 * default switches uuid_type as ALTER does (Catalog's optionsFrom, with its warning).
 */
export function createBase (d: TableDefaults, namedMode: ReplicationMode | undefined): ReplicationOptions {
  const need = (m: ReplicationMode): UuidType | undefined => REPLICATION_MODE_RULES[m].requiredUuidType?.type
  const keepsAny = namedMode !== undefined && need(namedMode) === undefined
  return { ...REPLICATION_DEFAULTS, ...d, uuid_type: (keepsAny ? undefined : need(d.replication_mode)) ?? REPLICATION_DEFAULTS.uuid_type }
}

/**
 * A configured write_quorum or read_quorum above the N a statement chose (it set
 * replication_factor but not the quorum) is lowered to that N, with a warning: the statement's
 * options win, and a default must not make them invalid. A quorum the statement names is kept
 * (and validated).
 */
export function fitDefaultQuorums (o: ReplicationOptions, named: ReadonlySet<string>, warnings: string[]): ReplicationOptions {
  let out = o
  for (const key of ['write_quorum', 'read_quorum'] as const) {
    if (named.has(key) || out[key] <= out.replication_factor) continue
    warnings.push(`${key} lowered from the configured default ${out[key]} (replication.${key}) to replication_factor=${out.replication_factor}`)
    out = { ...out, [key]: out.replication_factor }
  }
  return out
}

/**
 * One `ALTER TABLE t SET key = value` change applied to the current options (not validated:
 * the caller validates the result; see Catalog's optionsFrom for how uuid_type follows a switch
 * to leaderless_quorum so the seed's migration runs in its order).
 */
export function withOption (o: ReplicationOptions, name: string, value: unknown): ReplicationOptions {
  return { ...o, ...parseReplicationOption(name, value) }
}
