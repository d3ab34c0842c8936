// CAST(x AS d) / x::d to a domain (issue 19): as PostgreSQL, the value is converted to the domain's
// base type and must then pass the domain — ENUM / SET labels, the VARIANT member type, NOT NULL
// (23502: PostgreSQL's "domain d does not allow null values") and its CHECKs (23514), the same
// rules as a column of the domain (plan/domain-rules.ts), domains it is over included.
//
// Done before planning, on the coordinator: the operand must be a constant (literals, operators,
// casts — no column, parameter, function or subquery: a plan is kept per statement text, so the
// value must be the same at every execution), which is evaluated once through the domain's rule
// and replaced by its value cast to the domain's storage type. Why only constants: the rules run
// here (CHECK programs, label lists), while a row's expression runs in the shard workers, whose
// programs have no domain to consult; a cast of a column is refused with SB_FEATURE_NOT_SUPPORTED
// (cast it to the domain's base type, or write it to a column of the domain).
import type { Catalog } from '../catalog/catalog'
import { ScratchBirdError } from '../core/errors'
import type { Cast, Expr, Statement } from '../sql/ast'
import { valueToText } from '../types/values'
import { domainRule } from './domain-rules'
import { posDetails } from './compile-expr'
import { evalConst } from './pins'
import type { PlanEnv } from './plan-env'

function constant (e: Expr): boolean {
  switch (e.kind) {
    case 'integer': case 'decimal': case 'string': case 'boolean': case 'null': case 'typed_literal': return true
    case 'cast': case 'unary': return constant(e.operand)
    case 'binary': return constant(e.left) && constant(e.right)
    default: return false
  }
}

function castToDomain (env: PlanEnv, catalog: Catalog, e: Cast, name: string): Expr {
  const d = catalog.domain(name)
  if (d === undefined) throw new ScratchBirdError('SB_UNDEFINED_OBJECT', `type "${name}" does not exist`, { domain: name, ...posDetails(e.pos) })
  if (!constant(e.operand)) {
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `CAST to domain "${name}" takes a constant (literals and operators on them); cast to its base type ${d.type.name.toUpperCase()} instead, or write the value to a column of the domain`,
      { domain: name, ...posDetails(e.pos) })
  }
  const rule = domainRule(d, n => catalog.domain(n))
  const v = rule.assign(evalConst(env, e.operand, []))
  if (v === null && rule.notNull) throw new ScratchBirdError('SB_NOT_NULL_VIOLATION', `domain "${name}" does not allow null values`, { domain: name, ...posDetails(e.pos) })
  rule.check(v, '', '')
  const pos = e.pos
  const literal: Expr = v === null ? { kind: 'null', pos } : { kind: 'string', pos, value: valueToText(v)! }
  return { kind: 'cast', pos, operand: literal, type: { kind: 'type', pos, name: d.type.name, length: d.type.length, precision: d.type.precision, scale: d.type.scale } }
}

/** `s` with every CAST to a domain replaced by its checked value; `s` itself when it has none. */
export function withDomainCasts<S extends Statement> (env: PlanEnv, s: S): S {
  const catalog = env.catalog()
  if (catalog.domains.length === 0) return s
  // Copies only the path to each CAST to a domain (a statement without one comes back as it is:
  // this runs at every execution, cached plan or not).
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) {
      const out = x.map(walk)
      return out.some((v, i) => v !== x[i]) ? out : x
    }
    if (typeof x !== 'object' || x === null || x instanceof Uint8Array) return x
    const o = x as Record<string, unknown>
    if (o.kind === 'cast' && (o as unknown as Cast).type.domain !== undefined) {
      const c = o as unknown as Cast
      return castToDomain(env, catalog, { ...c, operand: walk(c.operand) as Expr }, c.type.domain!)
    }
    let out: Record<string, unknown> | null = null
    for (const [k, v] of Object.entries(o)) {
      if (k === 'pos') continue
      const w = walk(v)
      if (w !== v) (out ??= { ...o })[k] = w
    }
    return out ?? o
  }
  return walk(s) as S
}
