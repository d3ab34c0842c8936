// SIGHUP (DESIGN §8): what a reloaded file changes. Pure: the node applies the plan (its I/O is
// reopening log files and writing log lines). Which key is live and which needs a restart is the
// schema's `reload` meta (schema.ts Reload) — one table, also printed in the generated docs.
import { describeConfigKeys } from './load'
import type { Config } from './schema'

export interface ConfigChange {
  /** Dotted key path, as in describeConfigKeys(). */
  readonly path: string
  /** The running value. */
  readonly running: unknown
  /** The value in the reloaded file. */
  readonly file: unknown
}

export interface ReloadPlan {
  /** Changed keys that take effect now (written into the running Config by applyLive). */
  readonly live: ConfigChange[]
  /** Changed keys whose running value stays until a restart. */
  readonly restart: ConfigChange[]
}

// Leaf keys only: list items (cluster.nodes[].id …) are compared as part of their list.
const KEYS = describeConfigKeys().filter(k => !k.path.includes('[]'))

function valueAt (c: unknown, path: string): unknown {
  let v = c
  for (const seg of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[seg] : undefined
  return v
}

// Config values are JSON data (numbers, strings, booleans, lists, plain mappings in schema order).
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** The keys whose value differs between the running configuration and the reloaded one, split by what SIGHUP can do with them. */
export function planReload (running: Config, next: Config): ReloadPlan {
  const live: ConfigChange[] = []
  const restart: ConfigChange[] = []
  for (const k of KEYS) {
    const a = valueAt(running, k.path)
    const b = valueAt(next, k.path)
    if (same(a, b)) continue
    ;(k.reload === 'live' ? live : restart).push({ path: k.path, running: a, file: b })
  }
  return { live, restart }
}

/**
 * Writes the live changes into `running` in place: every component holds this one object and
 * reads live keys from it at use, so the new values are in effect from the next read.
 */
export function applyLive (running: Config, changes: readonly ConfigChange[]): void {
  for (const c of changes) {
    const segs = c.path.split('.')
    const parent = valueAt(running, segs.slice(0, -1).join('.')) as Record<string, unknown>
    parent[segs.at(-1)!] = c.file
  }
}
