// Two catalog documents of the same version must be the same catalog: compared by content, in a
// key order that does not depend on how each document was built (a catalog read back from JSON
// and one built by DDL may list an object's keys in different orders).

/** Do the two JSON documents hold the same values (object key order ignored)? */
export function sameDocument (a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b)
}

function canonical (v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o).filter(k => o[k] !== undefined).sort().map(k => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}
