// The plan cache (issue 16 item 3): parse → plan → SBLR compile runs once per distinct statement
// instead of once per request. An entry is keyed by the script text and the types of its
// parameters (a $n compiles to a register typed by its value: BIGINT, DOUBLE, BOOLEAN, text or
// NULL — so the same text with other parameter types is another plan); it holds the parsed
// statements, and for each statement the plan made under one catalog. A plan is used only while
// the node's catalog is that same catalog (a Catalog object is replaced exactly when its version
// changes: DDL here or from a peer), so CREATE/ALTER/DROP invalidate every plan made before them
// — the statement is planned again, and the error a dropped table or column gives comes back.
// What depends on parameter VALUES is recomputed on every use: routing (which shard, point
// lookup) from the WHERE clause. Plans that read data at planning time (system tables), joins
// (their routing is built into the join plan) and LIMIT/OFFSET given by parameters are not kept.
// Bounded: least recently used entries go first, a script is kept from its second use on, and
// long scripts (bulk INSERTs with literals) are not kept at all.
import type { Catalog } from '../catalog/catalog'
import type { Statement } from '../sql/ast'
import { parse } from '../sql/parser'
import type { SqlValue } from '../types/values'

/** Scripts kept (LRU). */
export const PLAN_CACHE_ENTRIES = 1024
/** Longer scripts are parsed and planned every time: they are rarely repeated and costly to keep. */
export const PLAN_CACHE_MAX_SQL_CHARS = 8192

/** What a slot keeps: a statement's plan, tagged by its kind (cached-plans.ts; opaque here, so
 *  this module imports no planner and the executor's environment can name it without a cycle). */
export interface CachedPlan { readonly kind: string, readonly plan: unknown }

/** One statement's plan slot in a cached script. */
export class PlanSlot {
  private catalog: Catalog | null = null
  private plan: CachedPlan | null = null

  constructor (private readonly cache: PlanCache | null) {}

  /** The plan made under `catalog`, or null (none yet, or made under another catalog). */
  get (catalog: Catalog): CachedPlan | null {
    const hit = this.catalog === catalog ? this.plan : null
    if (this.cache !== null) { if (hit === null) this.cache.misses++; else this.cache.hits++ }
    return hit
  }

  set (catalog: Catalog, plan: CachedPlan): void {
    if (this.cache === null) return
    this.catalog = catalog
    this.plan = plan
  }
}

export interface CachedScript {
  readonly statements: readonly Statement[]
  /** One per statement. */
  readonly slots: readonly PlanSlot[]
}

/** A one-type-per-character signature of the parameters (what compile-expr's valueType reads). */
export function paramSignature (params: readonly SqlValue[]): string {
  let sig = ''
  for (const p of params) {
    sig += p === null ? 'n' : typeof p === 'bigint' ? 'i' : typeof p === 'number' ? 'd' : typeof p === 'boolean' ? 'b' : 't'
  }
  return sig
}

export class PlanCache {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  private readonly entries = new Map<string, CachedScript>()
  // Texts seen once and not kept yet. A script is kept from its second use on: texts with their
  // values written in (the simple query protocol, pgbench -M simple) are seldom sent twice, and
  // keeping each one's statements and plans until it ages out only made garbage for the old
  // generation. Bounded like the entries; cleared when full.
  private readonly seenOnce = new Set<string>()
  hits = 0
  misses = 0

  constructor (readonly capacity = PLAN_CACHE_ENTRIES) {}

  get size (): number { return this.entries.size }

  /** The parsed script with its plan slots; parses on a miss (a syntax error throws and keeps nothing). */
  script (sql: string, params: readonly SqlValue[]): CachedScript {
    if (sql.length > PLAN_CACHE_MAX_SQL_CHARS || this.capacity <= 0) return uncachedScript(sql)
    const key = `${paramSignature(params)}\0${sql}`
    const found = this.entries.get(key)
    if (found !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, found)
      return found
    }
    if (!this.seenOnce.has(key)) {
      if (this.seenOnce.size >= this.capacity) this.seenOnce.clear()
      const once = uncachedScript(sql) // a syntax error throws before the text is remembered
      this.seenOnce.add(key)
      return once
    }
    this.seenOnce.delete(key)
    const statements = parse(sql)
    const entry: CachedScript = { statements, slots: statements.map(() => new PlanSlot(this)) }
    this.entries.set(key, entry)
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
    return entry
  }
}

/** A script parsed for one use: its slots keep nothing. */
export function uncachedScript (sql: string): CachedScript {
  const statements = parse(sql)
  const none = new PlanSlot(null)
  return { statements, slots: statements.map(() => none) }
}
