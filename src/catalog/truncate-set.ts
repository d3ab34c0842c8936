// The tables one TRUNCATE empties (issue 19), as PostgreSQL decides them: the tables named, and
// with CASCADE every table whose foreign key references one of them, transitively. Under RESTRICT
// (the default) a referencing table left out refuses the statement: emptying the parent would
// leave its rows pointing at nothing, and TRUNCATE checks no rows (PostgreSQL: 0A000,
// feature_not_supported, "cannot truncate a table referenced in a foreign key constraint").
// Pure: the privilege check (security/privileges.ts) and the executor (exec/truncate.ts) agree.
import { ScratchBirdError } from '../core/errors'
import type { Catalog } from './catalog'

/** The names of the tables TRUNCATE empties, the named ones first; throws SB_FEATURE_NOT_SUPPORTED under RESTRICT as above. */
export function truncateSet (c: Catalog, named: readonly string[], cascade: boolean): string[] {
  const out: string[] = []
  for (const n of named) if (!out.includes(n)) out.push(n)
  for (let i = 0; i < out.length; i++) {
    for (const child of c.referencing(out[i]!)) {
      if (out.includes(child.name)) continue
      if (!cascade) {
        throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
          `cannot truncate a table referenced in a foreign key constraint: table "${child.name}" references "${out[i]!}"; truncate "${child.name}" at the same time, or use TRUNCATE … CASCADE`,
          { table: out[i]!, referencing: child.name })
      }
      out.push(child.name)
    }
  }
  return out
}
