import type { VersionId } from './types'

// The last-writer-wins order of leaderless_quorum versions (DESIGN §3, §6 Mode 3), in one place:
// replicas apply with it (row-write.ts, 'lww' writes) and coordinators pick a read's winner and
// its repair targets with it (cluster/quorum/read.ts), so the two can never disagree on which
// version is newer. A version id is a UUIDv8-HLC; unsigned byte order = HLC order. Equal ids are
// the same version (one write seen twice: a retry, a hint, a read repair), never a conflict;
// tombstones order like any other version.

/** -1, 0 or 1: how version id `a` orders against `b` (unsigned bytes, 16 each). */
export function compareVersionIds (a: VersionId, b: VersionId): -1 | 0 | 1 {
  const n = a.length < b.length ? a.length : b.length
  for (let i = 0; i < n; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

/** Anything carrying a version id (a replica's row, a coordinator's reply). */
export interface HasVersionId { readonly versionId: VersionId }

/** The newer of two versions (absent loses; `a` on equal ids); null when both are absent. */
export function newerVersion<V extends HasVersionId> (a: V | null | undefined, b: V | null | undefined): V | null {
  if (a === null || a === undefined) return b ?? null
  if (b === null || b === undefined) return a
  return compareVersionIds(b.versionId, a.versionId) > 0 ? b : a
}
