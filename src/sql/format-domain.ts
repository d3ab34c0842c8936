// Domain DDL → canonical SQL text (the form a statement travels to the catalog coordinator in,
// and EXPLAIN/audit print); parse(formatDomainStatement(s)) gives s back.
import type { DataType, Expr } from './ast'
import type { DomainCheck, DomainStatement } from './ast'

/** format.ts's printers, passed in (format.ts calls this module, so it cannot import them back). */
export interface Printers {
  readonly expr: (e: Expr) => string
  readonly type: (t: DataType) => string
  readonly ident: (name: string) => string
  readonly string: (s: string) => string
}

export function formatDomainStatement (s: DomainStatement, p: Printers): string {
  const { expr: formatExpr, type: formatType, ident, string: quoteString } = p
  const check = (k: DomainCheck): string => `${k.name === null ? '' : `CONSTRAINT ${ident(k.name)} `}CHECK (${formatExpr(k.expr)})`
  switch (s.kind) {
    case 'create_domain': {
      let out = `CREATE DOMAIN ${ident(s.name)} AS `
      switch (s.domainKind) {
        case 'base': out += formatType(s.base!); break
        case 'enum': case 'set': out += `${s.domainKind.toUpperCase()} (${s.members.map(quoteString).join(', ')})`; break
        case 'variant': out += `VARIANT (${s.variants.map(formatType).join(', ')})`; break
      }
      if (s.default !== null) out += ` DEFAULT ${formatExpr(s.default)}`
      if (s.notNull) out += ' NOT NULL'
      for (const k of s.checks) out += ` ${check(k)}`
      return out
    }
    case 'alter_domain': {
      const head = `ALTER DOMAIN ${ident(s.name)}`
      const a = s.action
      switch (a.kind) {
        case 'set_default': return `${head} SET DEFAULT ${formatExpr(a.expr)}`
        case 'drop_default': return `${head} DROP DEFAULT`
        case 'set_not_null': return `${head} SET NOT NULL`
        case 'drop_not_null': return `${head} DROP NOT NULL`
        case 'add_check': return `${head} ADD ${check(a.check)}`
        case 'drop_constraint': return `${head} DROP CONSTRAINT ${a.ifExists ? 'IF EXISTS ' : ''}${ident(a.name)}`
        case 'add_value': {
          const where = a.before !== null ? ` BEFORE ${quoteString(a.before)}` : a.after !== null ? ` AFTER ${quoteString(a.after)}` : ''
          return `${head} ADD VALUE ${a.ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteString(a.value)}${where}`
        }
      }
      break
    }
    case 'drop_domain': return `DROP DOMAIN ${s.ifExists ? 'IF EXISTS ' : ''}${ident(s.name)}`
  }
  throw new TypeError('formatDomainStatement: unknown statement')
}
