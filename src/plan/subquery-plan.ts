// Subquery expressions — `(SELECT …)`, EXISTS (SELECT …), x [NOT] IN (SELECT …) — planned to run
// on the coordinator (issue 19 item 4: correctness first, near the data later):
//   - an uncorrelated scalar or EXISTS subquery runs once before its query; its value reaches the
//     query's programs as an extra parameter (a slot), so the query still runs in the shards;
//   - a correlated subquery (it names a column of the query around it), and every IN subquery,
//     is evaluated per row of the enclosing query: that query's rows are fetched to the coordinator
//     (source `rows`), each gets one more column per such subquery, and the query's programs run
//     there over the extended rows. The subquery itself reads its table once (the fetch is cached
//     for the statement) and filters it per enclosing row with the row's values as parameters.
// Outer references reach one level up (a subquery's subquery sees its parent, not its grandparent).
import { ScratchBirdError } from '../core/errors'
import type { Expr, SelectStatement } from '../sql/ast'
import type { Program, ProgramColumn } from '../sblr/program'
import { T } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { coerce, compileExpr, exprChildren, posDetails, type Scope, type ScopeColumn, type TypedReg } from './compile-expr'
import { ProgramBuilder } from './program-builder'

export type SubqueryExpr = Extract<Expr, { kind: 'subquery' | 'exists' | 'in_subquery' }>

/** What an extra parameter (after the request's own) of a plan holds at run time. */
export type ParamSlot =
  | { readonly kind: 'outer', readonly column: number } // the enclosing row's column
  | { readonly kind: 'subquery', readonly index: number } // an uncorrelated subquery's value

export interface SubqueryPlan<P> {
  readonly mode: 'scalar' | 'exists' | 'in'
  readonly plan: P
  /** It reads columns of the enclosing row (its plan has `outer` slots). */
  readonly correlated: boolean
  /** Evaluated per enclosing row into a column of its own, or once into a parameter slot. */
  readonly perRow: boolean
  /** IN: computes the operand over the enclosing row, cast to the subquery column's type. */
  readonly operand: Program | null
  /** NOT IN. */
  readonly negated: boolean
}

/** The subquery expressions of `exprs`, outermost first (not those nested inside them). */
export function findSubqueries (exprs: readonly (Expr | null)[]): SubqueryExpr[] {
  const out: SubqueryExpr[] = []
  const walk = (e: Expr): void => {
    if (e.kind === 'subquery' || e.kind === 'exists') { out.push(e); return }
    if (e.kind === 'in_subquery') { walk(e.operand); out.push(e); return }
    for (const c of exprChildren(e)) walk(c)
  }
  for (const e of exprs) if (e !== null) walk(e)
  return out
}

interface PlannedShape { readonly columns: readonly ProgramColumn[], readonly slots: readonly ParamSlot[] }

/**
 * One query level's subqueries and extra parameters. `plan` plans a subquery's SELECT with this
 * level's columns as its outer scope (select-plan.ts passes planSelect: no import cycle).
 */
export class SubqueryLevel<P extends PlannedShape> {
  readonly slots: ParamSlot[] = []
  readonly subqueries: SubqueryPlan<P>[] = []
  private readonly nodes = new Map<Expr, number>()
  /** Index of the first per-row subquery column in the level's input rows. */
  private perRowBase = 0

  constructor (
    private readonly userParams: number,
    private readonly outer: readonly ScopeColumn[] | null,
    readonly nodesFound: readonly SubqueryExpr[],
    plan: (s: SelectStatement, outer: readonly ScopeColumn[]) => P,
    private readonly own: readonly ScopeColumn[]
  ) {
    for (const n of nodesFound) {
      const p = plan(n.select, own)
      const mode = n.kind === 'subquery' ? 'scalar' : n.kind === 'exists' ? 'exists' : 'in'
      if (mode !== 'exists' && p.columns.length !== 1) {
        throw new ScratchBirdError('SB_SYNTAX_ERROR', `subquery has ${p.columns.length} columns, must return only one`, posDetails(n.pos))
      }
      const correlated = p.slots.some(s => s.kind === 'outer')
      this.nodes.set(n, this.subqueries.length)
      this.subqueries.push({ mode, plan: p, correlated, perRow: correlated || mode === 'in', operand: null, negated: n.kind === 'in_subquery' && n.not })
    }
  }

  get hasPerRow (): boolean { return this.subqueries.some(s => s.perRow) }
  get correlated (): boolean { return this.slots.some(s => s.kind === 'outer') }

  /** The hidden columns per-row subqueries add after `inputs` (their values, per enclosing row). */
  perRowColumns (inputs: number): ScopeColumn[] {
    this.perRowBase = inputs
    return this.subqueries.flatMap((s, i) => s.perRow
      ? [{ name: `?subquery${i}`, table: '?subquery', hidden: true, type: s.mode === 'scalar' ? s.plan.columns[0]!.type : T.boolean }]
      : [])
  }

  /** IN operands, compiled over the level's own input columns (before the per-row columns). */
  compileOperands (params: readonly SqlValue[], inputs: readonly ProgramColumn[]): void {
    this.subqueries.forEach((s, i) => {
      if (s.mode !== 'in') return
      const node = [...this.nodes].find(([, k]) => k === i)![0] as Extract<Expr, { kind: 'in_subquery' }>
      const b = new ProgramBuilder(params, inputs)
      const scope: Scope = { columns: this.own, substitute: (e, bb) => this.outerRef(e, bb), clause: 'IN' }
      if (findSubqueries([node.operand]).length > 0) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'a subquery in the operand of IN (SELECT …) is not supported', posDetails(node.operand.pos))
      const v = coerce(compileExpr(node.operand, scope, b), s.plan.columns[0]!.type, b)
      b.emit('EMIT', v.reg, 1)
      this.subqueries[i] = { ...s, operand: b.build([{ name: 'operand', type: v.type.kind === 'null' ? s.plan.columns[0]!.type : v.type }]) }
    })
  }

  /** Scope.substitute for the level's programs: subquery values and outer column references. */
  substitute (e: Expr, b: ProgramBuilder): TypedReg | undefined {
    const k = this.nodes.get(e)
    if (k !== undefined) {
      const s = this.subqueries[k]!
      const type = s.mode === 'scalar' ? s.plan.columns[0]!.type : T.boolean
      const r = b.reg()
      if (s.perRow) {
        const column = this.perRowBase + this.subqueries.slice(0, k).filter(x => x.perRow).length
        b.emit('LOAD_COLUMN', r, column)
      } else {
        b.emit('LOAD_PARAM', r, this.slot({ kind: 'subquery', index: k }, b))
      }
      return { reg: r, type, untyped: false }
    }
    return this.outerRef(e, b)
  }

  /** True for a per-row subquery node (it cannot be computed after grouping). */
  isPerRow (e: Expr): boolean {
    const k = this.nodes.get(e)
    return k !== undefined && this.subqueries[k]!.perRow
  }

  private outerRef (e: Expr, b: ProgramBuilder): TypedReg | undefined {
    if (this.outer === null || e.kind !== 'column') return undefined
    const matches = (cols: readonly ScopeColumn[]): number[] => cols.flatMap((c, i) => c.name === e.name && (e.table === null || c.table === e.table) ? [i] : [])
    if (matches(this.own).length > 0) return undefined
    const hits = matches(this.outer)
    if (hits.length !== 1) return undefined // undefined or ambiguous: compileExpr says which
    const r = b.reg()
    b.emit('LOAD_PARAM', r, this.slot({ kind: 'outer', column: hits[0]! }, b))
    return { reg: r, type: this.outer[hits[0]!]!.type, untyped: false }
  }

  private slot (s: ParamSlot, b: ProgramBuilder): number {
    let i = this.slots.findIndex(x => x.kind === s.kind && (x.kind === 'outer' ? x.column === (s as { column: number }).column : x.index === (s as { index: number }).index))
    if (i < 0) { this.slots.push(s); i = this.slots.length - 1 }
    b.useParam(this.userParams + i)
    return this.userParams + i
  }
}
