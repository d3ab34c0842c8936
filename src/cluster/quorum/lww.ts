// Last-write-wins by version id (DESIGN §3, §6): the higher UUIDv8-HLC in unsigned byte order wins;
// equal ids are the same version (one write seen twice: a retry, a hint, a read repair), never a
// conflict. Pure functions shared by the coordinators (read winner, repair targets) and replicas.
import { compareUuid } from '../../core/uuid'
import type { Versioned } from './types'

/** -1, 0 or 1 by versionId (unsigned bytes); tombstones order like any other version. */
export function compareVersions (a: Versioned, b: Versioned): -1 | 0 | 1 {
  return compareUuid(a.versionId, b.versionId)
}

/** The newer of two versions (absent loses; `a` on equal ids); null when both are absent. */
export function newer (a: Versioned | null | undefined, b: Versioned | null | undefined): Versioned | null {
  if (a === null || a === undefined) return b ?? null
  if (b === null || b === undefined) return a
  return compareVersions(b, a) > 0 ? b : a
}

export interface LwwApplied {
  /** What the replica holds afterwards. */
  store: Versioned
  /** The incoming version replaced what was there (the replica must persist `store`). */
  changed: boolean
}

/**
 * Replica-side apply: keep the higher version. An equal or older incoming version changes nothing
 * but is still acknowledged by the caller — the replica holds that version or a newer one, which
 * is all an ack promises (idempotent retries, hints and repairs).
 */
export function applyLww (current: Versioned | undefined, incoming: Versioned): LwwApplied {
  if (current !== undefined && compareVersions(incoming, current) <= 0) return { store: current, changed: false }
  return { store: incoming, changed: true }
}
