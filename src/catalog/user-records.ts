// Users and grants as the catalog document holds them (issue 18 item 2). They live in the same
// versioned document as the tables, so they travel the same path: a change is a catalog version
// built by the catalog coordinator, pushed to every node and persisted in catalog.json. A user
// keeps only its SCRAM-SHA-256 verifier (PostgreSQL's text form), never a password. Grants name
// users and tables by id, so a rename keeps them and a table created again under a dropped
// one's name does not inherit them.
import { ScratchBirdError } from '../core/errors'
import { TABLE_PRIVILEGES, type TablePrivilege, type UserRole } from '../sql/ast'

export interface UserInfo {
  /** Stable id, never reused (grants and sessions refer to it). */
  readonly id: number
  readonly name: string
  /** SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (security/scram-verifier.ts). */
  readonly verifier: string
  readonly role: UserRole | null
  /** Catalog version that last changed this user. */
  readonly version: number
}

export interface GrantInfo {
  readonly userId: number
  readonly tableId: number
  /** In TABLE_PRIVILEGES order, no repeats, never empty (a grant left with none is removed). */
  readonly privileges: readonly TablePrivilege[]
}

export const FIRST_USER_ID = 1
/** Users a catalog holds (bounded like every input: each login scans nothing, but the document travels whole). */
export const MAX_USERS = 10_000

function corrupt (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: ${what}`)
}

/** The users of a catalog document (absent in documents written before users existed: none). */
export function readUsers (v: unknown): UserInfo[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw corrupt('users is not a list')
  return v.map((u: Partial<UserInfo>) => {
    if (typeof u !== 'object' || u === null || !Number.isInteger(u.id) || typeof u.name !== 'string' || typeof u.verifier !== 'string' ||
      !(u.role === null || u.role === 'admin' || u.role === 'superuser') || !Number.isInteger(u.version)) {
      throw corrupt('a user entry is malformed')
    }
    return { id: u.id!, name: u.name, verifier: u.verifier, role: u.role, version: u.version! }
  })
}

/** The grants of a catalog document (absent: none). */
export function readGrants (v: unknown): GrantInfo[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw corrupt('grants is not a list')
  return v.map((g: Partial<GrantInfo>) => {
    if (typeof g !== 'object' || g === null || !Number.isInteger(g.userId) || !Number.isInteger(g.tableId) || !Array.isArray(g.privileges) ||
      g.privileges.some(p => !TABLE_PRIVILEGES.includes(p))) {
      throw corrupt('a grant entry is malformed')
    }
    return { userId: g.userId!, tableId: g.tableId!, privileges: [...g.privileges] }
  })
}
