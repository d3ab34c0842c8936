// CREATE/DROP TOKEN back to SQL text (format.ts's helpers passed in: importing them would be a
// cycle). The HASH clause is printed only with `secrets` (the statement forwarded to the catalog
// coordinator): logs and audit lines show the statement as the client could have written it.
import { SqlTimestamp, timestampToIso } from '../types/datetime'
import type { TokenStatement } from './ast'

export function formatTokenStatement (s: TokenStatement, opts: { readonly secrets?: boolean }, ident: (name: string) => string): string {
  const user = s.user === null ? '' : ` FOR USER ${ident(s.user)}`
  if (s.kind === 'drop_token') return `DROP TOKEN ${s.ifExists ? 'IF EXISTS ' : ''}${ident(s.name)}${user}`
  const until = s.validUntil === null ? '' : ` VALID UNTIL '${timestampToIso(new SqlTimestamp(BigInt(s.validUntil) * 1000n))}'`
  const hash = s.hash === null || opts.secrets !== true ? '' : ` HASH '${s.hash}'`
  return `CREATE TOKEN ${ident(s.name)}${user}${until}${hash}`
}
